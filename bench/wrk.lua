-- wrk script for every workload: the request comes from the environment, and done() prints the
-- figures as one JSON line (prefixed BENCH_RESULT) for run.py, so nothing parses wrk's text.
--   BENCH_METHOD, BENCH_BODY, BENCH_HEADERS ("Name: value" lines): the request
--   BENCH_PATHS (comma-separated): cycle through these paths (journal fill, W5)
--   BENCH_STOP_AFTER: stop after this many responses (journal fill, W5)

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
if body ~= "" then
  wrk.body = body
end
for name, value in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([^:\n]+):%s*([^\n]*)") do
  wrk.headers[name] = value
end

-- request() and response() are defined only when needed: without them wrk sends one
-- pre-built request and skips parsing responses, which keeps the client cheap.
local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS") or "", "[^,]+") do
  paths[#paths + 1] = path
end
if #paths > 0 then
  local built, next_index = {}, 0
  function init()
    -- wrk adds the Host header just before init(), so the requests are built here
    for i, path in ipairs(paths) do
      built[i] = wrk.format(nil, path)
    end
  end
  function request()
    next_index = next_index % #built + 1
    return built[next_index]
  end
end

local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "")
if stop_after then
  local seen = 0
  function response()
    seen = seen + 1
    if seen == stop_after then
      wrk.thread:stop()
      io.write("BENCH_STOPPED\n")
      io.flush()
    end
  end
end

function done(summary, latency)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
