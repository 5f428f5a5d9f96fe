-- wrk script for bench/small.sh: every request a raw PUT of a distinct 4 KiB
-- file under a name of its own. AUTH (the Authorization header) and PREFIX (a
-- name prefix, distinct per run) come from the environment.
dofile("bench/result.lua")

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
