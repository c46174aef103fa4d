-- wrk script for the exact count: each thread posts "limit" events (the
-- first argument), then only GET /noop, so that no event is in flight
-- when wrk stops; done() prints the events that got a 200.

local threads = {}

local head = '{"ts":"2026-11-25T10:00:00.000Z","deviceId":"'
local tail = '","source":"browser","event":"button_click",'
             .. '"params":{"btn_type":"B",'
             .. '"page":"/pricing?plan=pro&ref=newsletter-nov-26"}}'

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    limit = tonumber(args[1])
    sent = 0
    ok = 0
    refused = 0
end

function request()
    if sent < limit then
        sent = sent + 1
        return wrk.format("POST", "/events",
                          { ["Content-Type"] = "application/json" },
                          head .. string.format("%08x-5d3c-4d8e-9a43-2b7e6c1d9f10",
                                                sent) .. tail)
    end
    return wrk.format("GET", "/noop", {}, nil)
end

function response(status, headers, body)
    if body == '{"status":"ok"}\n' then
        if status == 200 then ok = ok + 1 end
    elseif status ~= 204 then
        refused = refused + 1
    end
end

function done(summary, latency, requests)
    local total, bad = 0, 0
    for _, t in ipairs(threads) do
        total = total + t:get("ok")
        bad = bad + t:get("refused")
    end
    io.write(string.format("events-2xx %d\nrefused %d\n", total, bad))
end
