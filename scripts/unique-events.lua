-- wrk script: POST a ~120-byte event with a unique event_id on every request, so the
-- server pays validation + storage with dedup lookups that miss, never the duplicate path.
-- wrk thread k posts ids ID_BASE + k*1e9 + 1, + 2, ...; set ID_BASE (env) so that several
-- runs against one server stay unique. wrk itself reports "Non-2xx or 3xx responses".

local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  counter = tonumber(os.getenv("ID_BASE") or "0") + thread_index * 1000000000
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  return wrk.format(nil, "/webhook", nil, string.format(
    '{"event_id": %d, "timestamp": "2023-10-05T12:34:56Z", "event_type": "notification", "description": "Event description"}',
    counter))
end
