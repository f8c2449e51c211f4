-- wrk script of scripts/soak.sh: a mix of new valid events (70%), exact duplicates of
-- an earlier event (15%) and invalid bodies (15%), counting answers by status. New events
-- get ids unique across threads; the counts are written to $SOAK_COUNTS at the end.

local threads = {}
local next_thread = 0

function setup(thread)
   next_thread = next_thread + 1
   thread:set("tid", next_thread)
   table.insert(threads, thread)
end

local headers = { ["Content-Type"] = "application/json" }
local invalid = {
   '{"event_id": "12", "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": ""}',
   '{"event_id": 1, "timestamp": "2023-10-05", "event_type": "", "description": 5}',
   '{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "x",',
   '[1, 2, 3]',
   '{"event_id": 1, "event_id": 2, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": ""}',
   '{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": "", "deep": ' ..
      string.rep("[", 200) .. string.rep("]", 200) .. '}',
}

local function body_of(id)
   return string.format(
      '{"event_id": %d, "timestamp": "2023-10-05T12:34:56Z", "event_type": "soak.%d", ' ..
      '"description": "soak test event", "data": {"n": %d, "tags": ["a", "b"]}}', id, id % 7, id)
end

function init(args)
   n = 0
   last_id = nil
   new_sent, dup_sent, invalid_sent = 0, 0, 0
   accepted, duplicates, s4xx, s503, s5xx = 0, 0, 0, 0, 0
end

function request()
   n = n + 1
   local pick = n % 20
   if pick < 3 and last_id then
      dup_sent = dup_sent + 1
      return wrk.format("POST", "/webhook", headers, body_of(last_id))
   elseif pick < 6 then
      invalid_sent = invalid_sent + 1
      return wrk.format("POST", "/webhook", headers, invalid[(n % #invalid) + 1])
   end
   new_sent = new_sent + 1
   last_id = tid * 1000000000 + n
   return wrk.format("POST", "/webhook", headers, body_of(last_id))
end

function response(status, headers, body)
   if status == 200 then
      if string.find(body, '"duplicate"', 1, true) then
         duplicates = duplicates + 1
      else
         accepted = accepted + 1
      end
   elseif status == 503 then
      s503 = s503 + 1
   elseif status >= 500 then
      s5xx = s5xx + 1
   elseif status >= 400 then
      s4xx = s4xx + 1
   end
end

function done(summary, latency, requests)
   local keys = { "accepted", "duplicates", "s4xx", "s503", "s5xx" }
   local total = {}
   for _, k in ipairs(keys) do total[k] = 0 end
   for _, t in ipairs(threads) do
      for _, k in ipairs(keys) do total[k] = total[k] + t:get(k) end
   end
   local e = summary.errors
   local out = io.open(os.getenv("SOAK_COUNTS"), "w")
   out:write(string.format(
      "requests=%d accepted=%d duplicates=%d s4xx=%d s503=%d s5xx=%d " ..
      "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d non2xx3xx=%d " ..
      "p50_us=%d p99_us=%d max_us=%d\n",
      summary.requests, total.accepted, total.duplicates, total.s4xx, total.s503, total.s5xx,
      e.connect, e.read, e.write, e.timeout, e.status,
      latency:percentile(50), latency:percentile(99), latency.max))
   out:close()
end
