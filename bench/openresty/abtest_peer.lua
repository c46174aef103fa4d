-- A benchmark peer, not part of the module: the job the module does on
-- its hot paths, done the way an OpenResty site would do it, so that
-- bench/run.sh and bench/events.sh can put the two side by side.  It runs
-- in Debian's nginx with libnginx-mod-http-lua (LuaJIT), lua-cjson and
-- lua-resty-lrucache, and never loads ngx_http_abtest_module.
--
--   assign()   the seed's rule, int(sha256("<device>:<experiment>")) %
--              sum(weights) walked through the groups in name order, with
--              SHA-256 from libcrypto through LuaJIT's FFI; a new device
--              gets a UUIDv4 from RAND_bytes() and a Set-Cookie; each
--              worker caches the groups of its last 1024 devices (the
--              module keeps their digests in as many slots)
--   events()   POST /events: the seed's event in JSON (cjson), checked,
--              the server's fields added, stored in a ring in a shared
--              dict with counters per experiment, group and event name,
--              and one JSON line each in a log file (stdio-buffered)

local ffi = require "ffi"
local cjson = require "cjson.safe"
-- pureffi: for keys that keep changing (the plain one rehashes its table)
local lrucache = require "resty.lrucache.pureffi"

local C = ffi.C
local fmt, find = string.format, string.find
local concat = table.concat
local ngx_var, ngx_header, ngx_print, ngx_say = ngx.var, ngx.header,
                                                ngx.print, ngx.say
local ngx_req = ngx.req

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;
EVP_MD *EVP_MD_fetch(void *libctx, const char *algorithm,
                     const char *properties);
EVP_MD_CTX *EVP_MD_CTX_new(void);
int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, void *impl);
int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt);
int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md,
                       unsigned int *s);
int RAND_bytes(unsigned char *buf, int num);
]]

-- nginx links libcrypto; else load it
local crypto = C
if not pcall(function() return C.EVP_MD_fetch end) then
    crypto = ffi.load("crypto.so.3")
end

local _M = {}

-- the bench's experiments, groups in name order (the seed's
-- sorted(groups.items()))
local experiments = {
    { name = "homepage_button_test",
      groups = { { "A", 50 }, { "B", 50 } } },
    { name = "headline_test",
      groups = { { "Future", 50 }, { "Journey", 50 } } },
}

for _, e in ipairs(experiments) do
    e.total = 0
    for _, g in ipairs(e.groups) do e.total = e.total + g[2] end
end

local sha256, md_ctx
local md = ffi.new("unsigned char[32]")
local mdlen = ffi.new("unsigned int[1]")
local rnd = ffi.new("unsigned char[16]")
local cache

local cookie_max_age = 365 * 24 * 3600
local log_file

-- in the master (init_by_lua), as nginx opens its logs: the workers
-- inherit the file
function _M.init(log_path)
    if log_path then
        log_file = assert(io.open(log_path, "a"))
        log_file:setvbuf("full", 65536)
    end
end

function _M.init_worker()
    sha256 = crypto.EVP_MD_fetch(nil, "SHA256", nil)
    md_ctx = crypto.EVP_MD_CTX_new()
    cache = lrucache.new(1024)
end

-- the seed's rule for one experiment
local function group_of(device, e)
    local key = device .. ":" .. e.name

    if crypto.EVP_DigestInit_ex(md_ctx, sha256, nil) ~= 1
       or crypto.EVP_DigestUpdate(md_ctx, key, #key) ~= 1
       or crypto.EVP_DigestFinal_ex(md_ctx, md, mdlen) ~= 1
    then
        return nil
    end

    -- the 256-bit big-endian number modulo the total, a byte at a time
    -- (exact in doubles: the total is below 2^31)
    local rem, total = 0, e.total
    for i = 0, 31 do
        rem = (rem * 256 + md[i]) % total
    end

    local upper = 0
    for _, g in ipairs(e.groups) do
        upper = upper + g[2]
        if rem < upper then return g[1] end
    end
end

-- every experiment's group of a device: { "A", "Future" }
local function groups_of(device)
    local groups = cache:get(device)
    if groups then return groups end

    groups = {}
    for i, e in ipairs(experiments) do
        groups[i] = group_of(device, e) or e.groups[1][1]
    end

    cache:set(device, groups)
    return groups
end

local function valid_device(id)
    return id and #id <= 64 and find(id, "^[%w_-]+$") ~= nil
end

-- a UUIDv4, as Python's str(uuid.uuid4()), written into a buffer (LuaJIT
-- compiles this; string.format() with many arguments it does not)
local hex = ffi.new("const char[16]", "0123456789abcdef")
local uuid = ffi.new("char[36]")
local dash = { [4] = true, [6] = true, [8] = true, [10] = true }

local function new_device()
    if C.RAND_bytes(rnd, 16) ~= 1 then return nil end
    rnd[6] = bit.bor(bit.band(rnd[6], 0x0f), 0x40)
    rnd[8] = bit.bor(bit.band(rnd[8], 0x3f), 0x80)
    local j = 0
    for i = 0, 15 do
        if dash[i] then
            uuid[j] = 45    -- "-"
            j = j + 1
        end
        uuid[j] = hex[bit.rshift(rnd[i], 4)]
        uuid[j + 1] = hex[bit.band(rnd[i], 15)]
        j = j + 2
    end
    return ffi.string(uuid, 36)
end

-- the module's job in bench/run.sh: "$ab_group" in a header, both groups
-- in the body, the device cookie for a new device
function _M.assign()
    local device = ngx_var.cookie_device_id

    if not valid_device(device) then
        device = new_device()
        if not device then return ngx.exit(500) end
        ngx_header["Set-Cookie"] = "device_id=" .. device .. "; Expires="
            .. ngx.cookie_time(ngx.time() + cookie_max_age)
            .. "; Max-Age=" .. cookie_max_age .. "; Path=/"
    end

    local groups = groups_of(device)

    ngx_header["X-AB-Group"] = groups[1]
    ngx_print("ok ", groups[1], " ", groups[2], "\n")
end

-- events: the fields of the seed's event the module checks too
local fields = { ts = "string", deviceId = "string", source = "string",
                 event = "string", params = "table", exp_group = "string" }

local function refuse(msg)
    ngx.status = 400
    ngx_header["Content-Type"] = "application/json"
    ngx_say(cjson.encode({ error = msg }))
    return ngx.exit(400)
end

local function iso_now()
    local now = ngx.now()
    local sec = math.floor(now)
    return os.date("!%Y-%m-%dT%H:%M:%S", sec)
           .. fmt(".%03dZ", math.floor((now - sec) * 1000 + 0.5) % 1000)
end

function _M.events(dict_name, ring_size)
    local dict = ngx.shared[dict_name]

    ngx_req.read_body()
    local body = ngx_req.get_body_data()
    if not body then return refuse("body: empty or not in memory") end

    local ev = cjson.decode(body)
    if type(ev) ~= "table" then return refuse("body: not a JSON object") end

    for k, v in pairs(ev) do
        local want = fields[k]
        if not want then return refuse(k .. ": unknown field") end
        if type(v) ~= want then return refuse(k .. ": must be a " .. want) end
    end

    if not valid_device(ev.deviceId) then
        return refuse("deviceId: not a device id")
    end

    local name = ev.event
    if not name or #name == 0 or #name > 64 or find(name, "%c") then
        return refuse("event: 1 to 64 bytes, no control characters")
    end

    local groups = groups_of(ev.deviceId)
    local named = {}
    for i, e in ipairs(experiments) do named[e.name] = groups[i] end

    ev.received = iso_now()
    ev.device_id = ev.deviceId
    ev.groups = named

    local id = dict:incr("next", 1, 0)
    ev.id = id
    local line = cjson.encode(ev)

    -- the ring: the newest ring_size events
    dict:set("e" .. (id % ring_size), line)

    for i, e in ipairs(experiments) do
        dict:incr(concat({ "c", e.name, groups[i], name }, ":"), 1, 0)
    end

    if log_file then log_file:write(line, "\n") end

    ngx_header["Content-Type"] = "application/json"
    ngx_print('{"status":"ok"}\n')
end

return _M
