# vim:set ft= ts=4 sw=4 et fdm=marker:

# Every configuration error fails "nginx -t" with [emerg], the problem,
# and the file and line (ngx_conf_log_error appends "in FILE:LINE";
# errors found after parsing name them in the message).

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: unknown fallback group
--- http_config
abtest_experiment e {
    group A 1;
    group B 1;
    fallback C;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown fallback group "C" in experiment "e"/



=== TEST 2: unknown rollout group
--- http_config
abtest_experiment e {
    group A 1;
    rollout C;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown rollout group "C" in experiment "e"/



=== TEST 3: zero weight
--- http_config
abtest_experiment e {
    group A 0;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid weight "0" of group "A": use a positive integer/



=== TEST 4: negative weight
--- http_config
abtest_experiment e {
    group A -5;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid weight "-5" of group "A": use a positive integer/



=== TEST 5: non-integer weight
--- http_config
abtest_experiment e {
    group A 1.5;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid weight "1\.5" of group "A": use a positive integer/



=== TEST 6: percent weight
--- http_config
abtest_experiment e {
    group A 50%;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid weight "50%" of group "A": use a positive integer/



=== TEST 7: weight beyond 2^31
--- http_config
abtest_experiment e {
    group A 2147483649;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid weight "2147483649" of group "A"/



=== TEST 8: weights summing above 2^31
--- http_config
abtest_experiment e {
    group A 2147483647;
    group B 2;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*weights of experiment "e" sum to 2147483649, more than 2\^31/



=== TEST 9: duplicate group
--- http_config
abtest_experiment e {
    group A 1;
    group A 2;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate group "A" in experiment "e"/



=== TEST 10: duplicate experiment
--- http_config
abtest_experiment e {
    group A 1;
}
abtest_experiment e {
    group B 1;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate experiment "e", first declared in \S+:\d+/



=== TEST 11: experiment names that differ only in case
--- http_config
abtest_experiment Checkout {
    group A 1;
}
abtest_experiment checkout {
    group B 1;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate experiment "checkout" \(names differ only in case\)/



=== TEST 12: experiment without groups
--- http_config
abtest_experiment e {
    fallback A;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "e" has no groups/



=== TEST 13: invalid experiment name
--- http_config
abtest_experiment e/x {
    group A 1;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid experiment name "e\/x"/



=== TEST 14: invalid group name
--- http_config
abtest_experiment e {
    group "A/B" 1;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid group name "A\/B"/



=== TEST 15: invalid state
--- http_config
abtest_experiment e {
    group A 1;
    state paused;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid state "paused": use active, inactive or rollout/



=== TEST 16: state rollout without a rollout group
--- http_config
abtest_experiment e {
    group A 1;
    state rollout;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "e" is in state rollout but has no "rollout" group/



=== TEST 17: invalid assign
--- http_config
abtest_experiment e {
    group A 1;
    assign murmur;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid assign "murmur": use hash or random/



=== TEST 18: assign random without a cookie: taken, the draw is kept by the device id
--- http_config
abtest_experiment e {
    group A 1;
    assign random;
}
--- config
    location = /t {
        abtest on;
        return 200 "$ab_group_e\n";
    }
--- request
GET /t
--- response_body
A



=== TEST 19: duplicate setting in a block
--- http_config
abtest_experiment e {
    group A 1;
    fallback A;
    fallback A;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"fallback" directive is duplicate/



=== TEST 20: unknown setting in a block
--- http_config
abtest_experiment e {
    group A 1;
    colour red;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown or malformed "colour" in experiment "e"/



=== TEST 21: two experiments writing one group cookie
--- http_config
abtest_experiment e1 {
    group A 1;
    cookie exp_group;
}
abtest_experiment e2 {
    group B 1;
    cookie exp_group;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*experiments "e1" and "e2" in \S+:\d+ both write the group cookie "exp_group"/



=== TEST 22: a group cookie named like the device cookie
--- http_config
abtest_experiment e {
    group A 1;
    cookie device_id;
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "e" in \S+:\d+ uses the device cookie "device_id" as its group cookie/



=== TEST 23: invalid group cookie name
--- http_config
abtest_experiment e {
    group A 1;
    cookie "a b";
}
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid cookie name "a b"/



=== TEST 24: unknown abtest_use experiment
--- http_config
abtest_experiment e {
    group A 1;
}
abtest_use nosuch;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown experiment "nosuch" in "abtest_use" in \S+:\d+/



=== TEST 25: unknown cookie flag
--- http_config
abtest_cookie_flags secure sometimes;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "sometimes"/



=== TEST 26: cookie flags off with others
--- http_config
abtest_cookie_flags off secure;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_cookie_flags off" cannot be combined with other flags/



=== TEST 27: two samesite values
--- http_config
abtest_cookie_flags samesite=lax samesite=strict;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_cookie_flags" takes one samesite= value only/



=== TEST 28: invalid cookie expiry
--- http_config
abtest_cookie_expires soon;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "abtest_cookie_expires" value "soon"/



=== TEST 29: invalid cookie path
--- http_config
abtest_cookie_path "/; Secure";
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid cookie attribute "\/; Secure"/



=== TEST 30: invalid device cookie name
--- http_config
abtest_cookie_name "dev id";
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid cookie name "dev id"/



=== TEST 31: abtest_experiment is for the http level only
--- config
    abtest_experiment e {
        group A 1;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_experiment" directive is not allowed here/



=== TEST 32: the whole configuration contract is accepted
--- http_config
abtest_experiment homepage_button_test {
    group    A 50;
    group    B 50;
    fallback A;
    state    active;
    rollout  B;
    cookie   exp_group;
    assign   hash;
    title    "Homepage button";
}
abtest_experiment headline_test {
    group    Future 50;
    group    Journey 50;
    fallback Future;
    state    inactive;
}
abtest_cookie_name    device_id;
abtest_cookie_expires 365d;
abtest_cookie_path    /;
abtest_cookie_domain  none;
abtest_cookie_flags   off;
--- config
    abtest on;
    location = /t {
        abtest_use headline_test;
        return 200 "$ab_group\n";
    }
--- request
GET /t
--- response_body
Future
--- no_error_log
[emerg]
[error]



=== TEST 33: a title that is not UTF-8
--- http_config eval
"abtest_experiment e {
    group A 1;
    title \"caf\xe9\";
}"
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid title "caf.": not UTF-8/



=== TEST 34: a title with a broken UTF-8 sequence
--- http_config eval
"abtest_experiment e {
    group A 1;
    title \"bad\xc3\xc3x\";
}"
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid title "bad..x": not UTF-8/



=== TEST 35: titles in UTF-8 of every length are taken
--- http_config eval
"abtest_experiment e {
    group A 1;
    title \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\";
}"
--- config
    location /api/experiments {
        abtest_api experiments;
    }
--- request
GET /api/experiments
--- response_body_like eval
qr/"title":"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"/



=== TEST 36: a title with a UTF-16 surrogate (not UTF-8)
--- http_config eval
"abtest_experiment e {
    group A 1;
    title \"x\xed\xa0\x80\";
}"
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid title "x...": not UTF-8/
