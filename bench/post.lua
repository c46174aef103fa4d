-- wrk script: a ~200-byte seed event per request, a new device each time
-- (so the module hashes every time: no per-worker digest cache hit).

local n = 0

local head = '{"ts":"2026-11-25T10:00:00.000Z","deviceId":"'
local tail = '","source":"browser","event":"button_click",'
             .. '"params":{"btn_type":"B",'
             .. '"page":"/pricing?plan=pro&ref=newsletter-nov-26"}}'

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function event_body(i)
    return head .. string.format("%08x-5d3c-4d8e-9a43-2b7e6c1d9f10", i) .. tail
end

function request()
    n = n + 1
    return wrk.format(nil, nil, nil, event_body(n))
end
