-- wrk's summary as one line the bench scripts parse (run from the repository's
-- root; load with dofile("bench/result.lua")): requests, seconds, p50 and p99
-- in ms, and errors — answers other than 2xx/3xx and socket errors together.
function done(summary, latency, requests)
    io.write(string.format("RESULT requests=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
        summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect
            + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
