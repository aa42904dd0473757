-- wrk script: POST the PDFs listed in a file (one path per line) to /v1/extract in turn.
-- Usage: wrk -s bench/extract.lua URL -- LIST_FILE [FORMAT]
local bodies = {}
local idx = 0
local format = "text"

function init(args)
  format = args[2] or "text"
  for path in io.lines(args[1]) do
    local f = assert(io.open(path, "rb"))
    bodies[#bodies + 1] = f:read("*a")
    f:close()
  end
  -- Threads start at different documents.
  idx = (id or 0) * 7
end

function setup(thread)
  thread:set("id", setup_count or 0)
  setup_count = (setup_count or 0) + 1
end

function request()
  idx = idx % #bodies + 1
  return wrk.format("POST", "/v1/extract?format=" .. format, { ["Content-Type"] = "application/pdf" }, bodies[idx])
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local ok = summary.requests - summary.errors.status - summary.errors.connect - summary.errors.read
    - summary.errors.write - summary.errors.timeout
  io.write(string.format("requests %d ok %d non-2xx %d socket-errors %d duration_s %.1f\n", summary.requests, ok,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, secs))
  io.write(string.format("docs_per_minute %.0f\n", ok / secs * 60))
  for _, p in ipairs({ 50, 90, 95, 99 }) do
    io.write(string.format("p%d_ms %.2f\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("max_ms %.2f\n", latency.max / 1000))
end
