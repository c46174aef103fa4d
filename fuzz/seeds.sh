#!/bin/sh
# Writes the seed corpus, fuzz/corpus/<harness>/ (README.md, "Fuzzing: make
# fuzz"): valid and near-valid inputs of each parser, and the hostile
# inputs of README.md's "Hostile input" table that reach it.  The files
# are committed; this script says how each was made.
#
#   fuzz/seeds.sh

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
corpus=$top/fuzz/corpus

uuid=0b8d2f1e-5a4c-4b7e-9d2a-3c1f6e8a9b70

# raw bytes: UTF-8 (e acute, an emoji) and bytes that are never UTF-8
eacute=$(printf '\303\251')
emoji=$(printf '\360\237\230\200')
bad=$(printf '\377\376')

# n copies of a string
rep() {
    awk -v n="$1" -v s="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s", s }'
}

# events: a head of 4 bytes (fuzz/fuzz_events.c), then the body.
#   flags: 0 no device cookie, 1 the UUID's cookie, 2 backend-7's,
#   3 a 64-character id's; +4 trusted location; +8 one byte per part
ev() {
    name=$1 flags=$2
    shift 2
    mkdir -p "$corpus/events"
    { printf "\\$(printf '%03o' "$flags")\\100\\200\\300"; printf '%s' "$@"; } \
        > "$corpus/events/$name"
}

rm -rf "$corpus"

# the seed demo's two shapes, and what the server adds for backends
ev valid-pageview 1 '{"event":"pageview","ts":1732541234567,' \
    '"source":"frontend","params":{"page":"/","referrer":null}}'
ev valid-click-device 1 '{"event":"button_click","deviceId":"'$uuid'",' \
    '"exp_group":"B","ts":"2026-11-25T14:23:07.668Z",' \
    '"params":{"btn_type":"B","x":12.5,"ok":true,"tags":["a","b"]}}'
ev valid-batch-trusted 5 '[{"event":"pageview","device_id":"dev-1"},' \
    '{"event":"button_click","deviceId":"dev-2","device_id":"dev-2",' \
    '"params":{}},{"event":"pageview","deviceId":"'$uuid'","ts":null,' \
    '"source":null,"exp_group":null,"params":null}]'
ev valid-exp-groups-backend 6 '{"event":"exp_groups","source":"backend",' \
    '"params":{"groups":{"homepage_button_test":"A","headline_test":' \
    '"Future"}}}'
ev valid-params-deep 9 '{"event":"e","params":{"a":[{"b":[{"c":[{"d":' \
    '[1,-0,1e308,1.5E-3,"\u00e9\ud83d\ude00",false]}]}]}]}}'
ev valid-utf8-name 3 '{"event":"caf'"$eacute $emoji"'","deviceId":' \
    '"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"}'
ev valid-whitespace 13 ' [ { "event" : "pageview" , "params" : { } } ] '
ev valid-1000-events 1 '[' "$(rep 999 '{"event":"e"},')" '{"event":"e"}]'

# the "Hostile input" table, events rows
ev hostile-premature-eof 1 '{"event": '
ev hostile-empty 1
ev hostile-empty-array 1 '[]'
ev hostile-string 1 '"pageview"'
ev hostile-array-of-number 1 '[1]'
ev hostile-1001-events 1 '[' "$(rep 1000 '{"event":"e"},')" '{"event":"e"}]'
ev hostile-name-65 1 '{"event":"'"$(rep 65 a)"'"}'
ev hostile-name-control 1 '{"event":"page\u0001view"}'
ev hostile-name-number 1 '{"event":42}'
ev hostile-field-twice 1 '{"event":"a","event":"b"}'
ev hostile-unknown-field 1 '{"event":"a","colour":"red"}'
ev hostile-params-4097 1 '{"event":"a","params":{"k":"'"$(rep 4090 x)"'"}}'
ev hostile-params-array 1 '{"event":"a","params":[1]}'
ev hostile-params-small-values 1 '{"event":"a","params":{"v":['"$(rep 2100 '0,')"'0]}}'
ev hostile-device-space 1 '{"event":"a","deviceId":"dev 1"}'
ev hostile-devices-differ 5 '{"event":"a","deviceId":"d1","device_id":"d2"}'
ev hostile-no-device 0 '{"event":"a"}'
ev hostile-other-device 1 '{"event":"a","deviceId":"someone-else"}'
ev hostile-escaped-nul 1 '{"event":"a\u0000b"}'
printf '\001\100\200\300{"event":"a\000b"}' > "$corpus/events/hostile-raw-nul"
ev hostile-invalid-utf8 1 '{"event":"'"$bad"'"}'
ev hostile-deep 1 "$(rep 4096 '[')"
ev hostile-deep-params 1 '{"event":"a","params":{"a":{"b":{"c":{"d":{"e":' \
    '{"f":{"g":{"h":{"i":{"j":1}}}}}}}}}}}'
ev hostile-log-forgery 1 '{"event":"a","a\nFAKE [emerg] forged":1}'
ev hostile-trailing-garbage 1 '{"event":"a"} {"event":"b"}'
ev hostile-ts-long 1 '{"event":"a","ts":"'"$(rep 65 9)"'"}'
ev hostile-ts-object 1 '{"event":"a","ts":{}}'

# update: the body of a POST to the experiments location
up() {
    mkdir -p "$corpus/update"
    printf '%s' "$2" > "$corpus/update/$1"
}

up valid-weights '{"name":"homepage_button_test","groups":{"A":30,"B":70}}'
up valid-rollout '{"name":"homepage_button_test","state":"rollout",'\
'"rollout_group":"B"}'
up valid-inactive-reset '{"name":"headline_test","state":"inactive",'\
'"reset_stats":true}'
up valid-rollout-null '{"name":"checkout.flow-v2","rollout_group":null,'\
'"state":"active","reset_stats":false}'
up valid-three-groups '{"groups":{"premium":1,"control":2,"cheap":1},'\
'"name":"pricing"}'
up valid-64-groups '{"name":"many","groups":{'"$(i=0; while [ $i -lt 63 ]; do
    printf '"g%02d":%d,' $i $((i + 1)); i=$((i + 1)); done)"'"g63":64}}'
up valid-max-total '{"name":"homepage_button_test","groups":'\
'{"A":1073741824,"B":1073741824}}'

# the "Hostile input" table, update rows, and near misses
up hostile-unknown-field '{"name":"homepage_button_test","colour":"red"}'
up hostile-wrong-groups '{"name":"homepage_button_test","groups":'\
'{"A":1,"C":1}}'
up hostile-extra-group '{"name":"homepage_button_test","groups":'\
'{"A":1,"B":1,"C":1}}'
up hostile-group-twice '{"name":"homepage_button_test","groups":{"A":1,"A":2}}'
up hostile-weight-0 '{"name":"homepage_button_test","groups":{"A":0,"B":1}}'
up hostile-weight-negative '{"name":"homepage_button_test","groups":'\
'{"A":-1,"B":1}}'
up hostile-weight-fraction '{"name":"homepage_button_test","groups":'\
'{"A":1.5,"B":1}}'
up hostile-weight-huge '{"name":"homepage_button_test","groups":'\
'{"A":9223372036854775808,"B":1}}'
up hostile-sum-over '{"name":"homepage_button_test","groups":'\
'{"A":2147483648,"B":1}}'
up hostile-unknown-experiment '{"name":"'"$(rep 200 x)"'","state":"active"}'
up hostile-name-number '{"name":1}'
up hostile-no-name '{"state":"active"}'
up hostile-not-object '[{"name":"homepage_button_test"}]'
up hostile-state '{"name":"homepage_button_test","state":"paused"}'
up hostile-rollout-group '{"name":"homepage_button_test","rollout_group":"C"}'
up hostile-reset-string '{"name":"homepage_button_test","reset_stats":"yes"}'
up hostile-deep '{"name":"pricing","groups":{"a":{"b":{"c":{}}}}}'
up hostile-invalid-json '{"name":"homepage_button_test",'
up hostile-escaped-nul '{"name":"homepage_button_test\u0000"}'
printf '{"name":"a\000"}' > "$corpus/update/hostile-raw-nul"
up hostile-invalid-utf8 '{"name":"'"$bad"'"}'
up hostile-empty ''

# state_file: the file as ngx_http_abtest_state_file_write() makes it for
# the harness's experiments (fuzz/fuzz_common.c), and broken ones
sf() {
    mkdir -p "$corpus/state_file"
    printf '%s' "$2" > "$corpus/state_file/$1"
}

g64=$(i=0; while [ $i -lt 63 ]; do
    printf '"g%02d":%d,' $i $((i + 1)); i=$((i + 1)); done; printf '"g63":64')
key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

state='{"version":1,"random_key":"'$key'","experiments":{'\
'"homepage_button_test":{"groups":{"A":30,"B":70},"state":"active",'\
'"rollout_group":null,"start_ms":1764590000000,"end_ms":null,'\
'"history":[{"A":50,"B":50},{"A":90,"B":10}],"configured":{"groups":'\
'{"A":50,"B":50},"state":"active","rollout_group":null}},'\
'"headline_test":{"groups":{"Future":1,"Journey":1},"state":"rollout",'\
'"rollout_group":1,"start_ms":1764590000000,"end_ms":1764595000000,'\
'"history":[],"configured":{"groups":{"Future":1,"Journey":1},'\
'"state":"active","rollout_group":null}},'\
'"pricing":{"groups":{"cheap":1,"control":2,"premium":1},"state":'\
'"inactive","rollout_group":null,"start_ms":null,"end_ms":null,'\
'"history":[],"configured":{"groups":{"cheap":1,"control":2,'\
'"premium":1},"state":"inactive","rollout_group":null}},'\
'"checkout.flow-v2":{"groups":{"new":1,"old":1},"state":"rollout",'\
'"rollout_group":0,"start_ms":null,"end_ms":null,"history":[],'\
'"configured":{"groups":{"new":1,"old":1},"state":"rollout",'\
'"rollout_group":0}},'\
'"many":{"groups":{'$g64'},"state":"active","rollout_group":null,'\
'"start_ms":0,"end_ms":null,"history":[{'$g64'}],"configured":{"groups":'\
'{'$g64'},"state":"active","rollout_group":null}}}}'

sf valid "$state"
sf valid-no-key '{"version":1,"experiments":{"homepage_button_test":'\
'{"groups":{"A":1,"B":1},"state":"active","rollout_group":null,'\
'"history":[],"configured":{"groups":{"A":50,"B":50},"state":"active",'\
'"rollout_group":null}}}}'
sf valid-unknown-experiment '{"version":1,"experiments":{"gone":'\
'{"groups":{"X":1},"state":"active","rollout_group":null,"configured":'\
'{"groups":{"X":1},"state":"active","rollout_group":null}}}}'
sf valid-history-9 '{"version":1,"experiments":{"homepage_button_test":'\
'{"groups":{"A":1,"B":1},"state":"active","rollout_group":null,'\
'"history":['"$(rep 8 '{"A":1,"B":2},')"'{"A":1,"B":2}],"configured":'\
'{"groups":{"A":50,"B":50},"state":"active","rollout_group":null}}}}'

# the "Hostile input" table: corrupt, truncated, ill-fitting files and a
# random_key that is not 64 hex digits
sf hostile-truncated "$(printf '%s' "$state" | cut -c1-700)"
sf hostile-key-short '{"version":1,"random_key":"0011","experiments":{}}'
sf hostile-key-not-hex '{"version":1,"random_key":"'"$(rep 64 g)"'",'\
'"experiments":{}}'
sf hostile-key-number '{"version":1,"random_key":12,"experiments":{}}'
sf hostile-no-experiments '{"version":1}'
sf hostile-not-object '[1,2,3]'
sf hostile-reconfigured '{"version":1,"experiments":{"homepage_button_test":'\
'{"groups":{"A":1,"B":1},"state":"active","rollout_group":null,'\
'"configured":{"groups":{"A":40,"B":60},"state":"active",'\
'"rollout_group":null}}}}'
sf hostile-rollout-range '{"version":1,"experiments":{"homepage_button_test":'\
'{"groups":{"A":1,"B":1},"state":"rollout","rollout_group":2,'\
'"configured":{"groups":{"A":50,"B":50},"state":"active",'\
'"rollout_group":null}}}}'
sf hostile-rollout-negative '{"version":1,"experiments":{"pricing":'\
'{"groups":{"cheap":1,"control":2,"premium":1},"state":"rollout",'\
'"rollout_group":-1,"configured":{"groups":{"cheap":1,"control":2,'\
'"premium":1},"state":"inactive","rollout_group":null}}}}'
sf hostile-rollout-without-group '{"version":1,"experiments":'\
'{"homepage_button_test":{"groups":{"A":1,"B":1},"state":"rollout",'\
'"rollout_group":null,"configured":{"groups":{"A":50,"B":50},'\
'"state":"active","rollout_group":null}}}}'
sf hostile-weights-zero '{"version":1,"experiments":{"homepage_button_test":'\
'{"groups":{"A":0,"B":1},"state":"active","rollout_group":null,'\
'"configured":{"groups":{"A":50,"B":50},"state":"active",'\
'"rollout_group":null}}}}'
sf hostile-history-bad '{"version":1,"experiments":{"homepage_button_test":'\
'{"groups":{"A":1,"B":1},"state":"active","rollout_group":null,'\
'"history":[{"A":1,"B":1},{"A":1},"x"],"configured":{"groups":{"A":50,'\
'"B":50},"state":"active","rollout_group":null}}}}'
sf hostile-deep '{"experiments":{"a":{"b":{"c":{"d":{"e":{}}}}}}}'
sf hostile-escaped-nul '{"version":1,"experiments":{"pricing\u0000":{}}}'
sf hostile-empty ''

# cookie: the arguments on line 1, a Cookie header on each line after
ck() {
    mkdir -p "$corpus/cookie"
    printf '%s' "$2" > "$corpus/cookie/$1"
}

ck valid-device '
device_id='$uuid
ck valid-device-groups 'page=1
device_id='$uuid'; exp_group=B; exp_headline=Journey
exp_pricing=cheap; exp_many=g07'
ck valid-force-arg 'abtest_force=homepage_button_test:B,pricing:premium
device_id=backend-7'
ck valid-force-arg-escaped 'x=1&abtest_force=headline_test%3AFuture%2Cmany%3Ag63&y
device_id=dev_1'
ck valid-force-cookie '
device_id=dev_1; abtest_force=checkout.flow-v2:old,many:g00'
ck valid-two-headers 'a=b
other=1; device_id=two
exp_group=A'

# the "Hostile input" table, cookie and abtest_force rows
ck hostile-device-chars '
device_id=dev/1'
ck hostile-device-65 '
device_id='"$(rep 65 a)"
ck hostile-device-empty '
device_id=; device_id=dev-2'
ck hostile-group-never-given '
device_id='$uuid'; exp_group=A; exp_headline=Future; exp_many=g63'
ck hostile-group-unknown '
device_id=dev_1; exp_group=C'
ck hostile-force-chars 'abtest_force=homepage_button_test:B%00<script>
device_id=dev_1'
ck hostile-force-unknown 'abtest_force=nope:A,homepage_button_test:Z,:,,:B
device_id=dev_1'
ck hostile-force-long 'abtest_force='"$(rep 100 'pricing:cheap,')"'
device_id=dev_1'
ck hostile-force-cookie-chars '
abtest_force=pricing:cheap;abtest_force=x y'
ck hostile-many-headers '
'"$(rep 10 'device_id=a
')"

# args: the arguments of GET /events and /api/expgroups
ar() {
    mkdir -p "$corpus/args"
    printf '%s' "$2" > "$corpus/args/$1"
}

ar valid-since-limit 'since=12&limit=100'
ar valid-max 'since=9223372036854775807&limit=10000'
ar valid-device 'device_id='$uuid
ar valid-all 'limit=1&device_id=dev_1&since=0'
ar valid-64 'device_id='"$(rep 64 Z)"

# the "Hostile input" table, argument rows
ar hostile-since-abc 'since=abc'
ar hostile-since-negative 'since=-1'
ar hostile-limit-0 'limit=0'
ar hostile-limit-10001 'limit=10001'
ar hostile-since-overflow 'since=9223372036854775808'
ar hostile-empty 'since=&limit=&device_id='
ar hostile-device-chars 'device_id=dev%201'
ar hostile-device-65 'device_id='"$(rep 65 a)"
ar hostile-twice 'limit=5&limit=abc&xsince=1&since=2'

for d in "$corpus"/*; do
    echo "seeds.sh: $(ls "$d" | wc -l) in $d"
done
