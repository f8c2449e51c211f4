-- wrk script: like unique-events.lua (a unique event_id on every request), with the
-- event_type cycling through type.0 … type.<TYPES-1> (env TYPES, default 100), so that
-- each of TYPES endpoints filtering on its own type gets an equal share.

local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  counter = tonumber(os.getenv("ID_BASE") or "0") + thread_index * 1000000000
  types = tonumber(os.getenv("TYPES") or "100")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  return wrk.format(nil, "/webhook", nil, string.format(
    '{"event_id": %d, "timestamp": "2023-10-05T12:34:56Z", "event_type": "type.%d", "description": "Event description"}',
    counter, counter % types))
end
