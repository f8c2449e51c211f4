"""Schemathesis hooks for scripts/schemathesis.sh: drop the generated requests whose
verdict OpenAPI cannot state, so that every remaining finding is a real disagreement.

- JSON Schema counts 1.0 as an integer; hookrelay refuses an `event_id` with a fraction
  part, even a zero one (422), as `hookrelay validate` does.
- `POST /deliveries/replay` needs at least one of `status`, `target`, `event_id` (400
  otherwise, so that a bare POST cannot replay everything); OpenAPI has no way to say
  "one of these query parameters".
"""

import schemathesis

REPLAY_FILTERS = ("status", "target", "event_id")


def _path(ctx):
    operation = getattr(ctx, "operation", None)
    return getattr(operation, "path", None)


@schemathesis.hook
def filter_body(ctx, body):
    if _path(ctx) != "/webhook" or not isinstance(body, dict):
        return True
    event_id = body.get("event_id")
    return not (isinstance(event_id, float) and event_id.is_integer())


@schemathesis.hook
def filter_query(ctx, query):
    if _path(ctx) != "/deliveries/replay":
        return True
    return any(key in (query or {}) for key in REPLAY_FILTERS)
