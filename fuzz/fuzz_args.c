
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The integer and device arguments of the API's reads: the input's first
 * line (cut at CR, LF or NUL, as a request line ends) is the request's
 * arguments (r->args), read as the events location reads ?since= and
 * ?limit= (ngx_http_abtest_http_arg()) and as the expgroups location
 * reads ?device_id= (ngx_http_abtest_valid_device_id(), then that
 * device's group in every experiment by the rule alone).
 *
 * Each answer is checked against a plain reading of the same value:
 * since 0 to 2^63-1, limit 1 to 10000, in decimal digits only; a device
 * id of 1 to 64 characters of [A-Za-z0-9_-].
 */


#include "fuzz_common.h"
#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_http.h"
#include "ngx_http_abtest_util.h"


static void ngx_fuzz_args_integer(ngx_http_request_t *r, char *name,
    off_t min, off_t max);
static void ngx_fuzz_args_device(ngx_http_request_t *r);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t            args;
    ngx_pool_t          *pool;
    ngx_http_request_t  *r;

    (void) ngx_fuzz_line(data, size, &args);

    pool = ngx_fuzz_pool();
    r = ngx_fuzz_request(pool, &args, NULL, 0);

    /* as ngx_http_abtest_events_get() */
    ngx_fuzz_args_integer(r, "since", 0, NGX_MAX_OFF_T_VALUE);
    ngx_fuzz_args_integer(r, "limit", 1, 10000);

    /* as ngx_http_abtest_api_expgroups() */
    ngx_fuzz_args_device(r);

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_args_integer(ngx_http_request_t *r, char *name, off_t min,
    off_t max)
{
    off_t       value, n;
    size_t      i;
    ngx_int_t   rc;
    ngx_str_t   arg;
    ngx_uint_t  valid;

    value = -2;
    rc = ngx_http_abtest_http_arg(r, name, min, max, &value);

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        /* no such argument: the default stays */
        ngx_fuzz_check(rc == NGX_OK && value == -2);
        return;
    }

    /* decimal digits, no sign, no overflow, within min and max */
    valid = (arg.len > 0);
    n = 0;

    for (i = 0; valid && i < arg.len; i++) {
        if (arg.data[i] < '0' || arg.data[i] > '9'
            || n > (NGX_MAX_OFF_T_VALUE - (arg.data[i] - '0')) / 10)
        {
            valid = 0;
            break;
        }

        n = n * 10 + (arg.data[i] - '0');
    }

    valid = valid && n >= min && n <= max;

    ngx_fuzz_say("%s: \"%V\" %s", name, &arg, valid ? "valid" : "refused");

    if (valid) {
        ngx_fuzz_check(rc == NGX_OK && value == n);

    } else {
        ngx_fuzz_check(rc == NGX_ERROR && value == -2);
    }
}


static void
ngx_fuzz_args_device(ngx_http_request_t *r)
{
    u_char                         c;
    size_t                         i;
    ngx_str_t                      device;
    ngx_uint_t                     valid, k, group, assigned, reason;
    ngx_http_abtest_exp_state_t   *st;
    ngx_http_abtest_experiment_t  *exp;

    if (ngx_http_arg(r, (u_char *) "device_id", sizeof("device_id") - 1,
                     &device)
        != NGX_OK)
    {
        return;
    }

    valid = (device.len >= 1 && device.len <= NGX_HTTP_ABTEST_DEVICE_ID_MAX);

    for (i = 0; valid && i < device.len; i++) {
        c = device.data[i];

        valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9') || c == '_' || c == '-';
    }

    ngx_fuzz_check((ngx_http_abtest_valid_device_id(&device) == NGX_OK)
                   == valid);

    ngx_fuzz_say("device_id: \"%V\" %s", &device,
                 valid ? "valid" : "refused");

    if (!valid) {
        /* a 400 */
        return;
    }

    exp = ngx_fuzz_amcf->experiments.elts;

    for (k = 0; k < ngx_fuzz_amcf->experiments.nelts; k++) {
        st = &exp[k].conf_state;

        assigned = NGX_HTTP_ABTEST_GROUP_UNSET;
        group = ngx_http_abtest_device_group(r, &exp[k], &device, NULL,
                                             &assigned, &reason);

        ngx_fuzz_check(assigned < exp[k].groups.nelts);

        switch (st->state) {

        case NGX_HTTP_ABTEST_STATE_INACTIVE:
            ngx_fuzz_check(group == exp[k].fallback);
            break;

        case NGX_HTTP_ABTEST_STATE_ROLLOUT:
            ngx_fuzz_check(group == st->rollout);
            break;

        default:
            ngx_fuzz_check(group == assigned);
        }
    }
}
