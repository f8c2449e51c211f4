"""Schemathesis hooks for scripts/schemathesis.sh: drop the generated requests whose
verdict OpenAPI cannot state, so that every remaining finding is a real disagreement.

- JSON Schema counts 1.0 as an integer; hookrelay refuses an `event_id` with a fraction
  part, even a zero one (422), as `hookrelay validate` does.
- `POST /deliveries/replay` needs at least one of `status`, `target`, `event_id` (400
  otherwise, so that a bare POST cannot replay everything); OpenAPI has no way to say
  "one of these query parameters".
"""

import re

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


# Endpoints: what the server checks beyond what JSON Schema can say, and where generated
# endpoints may send. An endpoint's `url` receives the relay's deliveries of the events
# Schemathesis posts, so every generated one the schema allows is pointed at 127.0.0.1 port 1 (nothing
# listens: each attempt fails at once, locally). A base64 text whose length is not a
# whole number of bytes, a header the relay sets itself and a name starting with `ep_`
# (kept for ids) are refused (422) and cannot be told apart in a schema's pattern.
RESERVED_HEADERS = ("host", "content-type", "content-length", "transfer-encoding", "connection")
VALID_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


URL_PATTERN = re.compile(
    r"^https?://[a-z]{1,20}(\.[a-z]{1,20}){0,3}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]{0,20}){0,5}$"
)
SECRET_PATTERN = re.compile(r"^(whsec_)?[A-Za-z0-9+/]{32,86}={0,2}$")


@schemathesis.hook
def map_body(ctx, body):
    """Only values the schema allows are changed, each for another it allows: a request
    made to break the schema still does."""
    path = _path(ctx) or ""
    if not path.startswith("/endpoints") or not isinstance(body, dict):
        return body
    if isinstance(body.get("url"), str) and URL_PATTERN.search(body["url"]):
        body["url"] = "http://127.0.0.1:1/endpoint"
    if isinstance(body.get("secret"), str) and SECRET_PATTERN.search(body["secret"]):
        body["secret"] = VALID_SECRET
    if isinstance(body.get("headers"), dict):
        body["headers"] = {
            k: v
            for k, v in body["headers"].items()
            if not k.lower().startswith("webhook-") and k.lower() not in RESERVED_HEADERS
        }
    if isinstance(body.get("name"), str) and body["name"].startswith("ep_"):
        body["name"] = "np_" + body["name"][3:]
    return body
