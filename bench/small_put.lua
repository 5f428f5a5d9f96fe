-- wrk script for bench/small.sh: every request a raw PUT of a distinct 4 KiB
-- file under a name of its own. AUTH (the Authorization header) and PREFIX (a
-- name prefix, distinct per run) come from the environment.
local counter = 0
local threads = 0
-- thread_id: set in each thread's state by setup().
local auth = os.getenv("AUTH")
local prefix = os.getenv("PREFIX") or "small"
local size = tonumber(os.getenv("SIZE") or "4096")

function setup(thread)
    thread:set("thread_id", threads)
    threads = threads + 1
end

function request()
    counter = counter + 1
    local name = string.format("%s-%d-%d.bin", prefix, thread_id, counter)
    local head = name .. "\n"
    local body = head .. string.rep("x", size - #head)
    return wrk.format("PUT", "/api/v1/files/" .. name .. "/content",
        { ["Authorization"] = auth:gsub("^Authorization: ", ""), ["Content-Type"] = "application/octet-stream" }, body)
end

function done(summary, latency, requests)
    io.write(string.format("RESULT requests=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
        summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect
            + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
