
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * A request's Cookie headers and its ?abtest_force= argument, as every
 * request with abtest on meets them (ngx_http_abtest_assign.c,
 * ngx_http_abtest_cookie.c).  The input, by lines:
 *
 *   line 1      the request's arguments (r->args), where abtest_force=
 *               (URI-escaped) is looked for
 *   lines 2-9   one Cookie header each: the device cookie (device_id),
 *               the experiments' group cookies (exp_group, exp_headline,
 *               exp_pricing, exp_many) and abtest_force
 *
 * each cut at CR or NUL and stripped of spaces around it, as nginx's
 * header parser leaves a value.  With abtest_force on, the request's
 * context is made (ngx_http_abtest_get_ctx()), then its group in every
 * experiment (ngx_http_abtest_get_group()): one active with a group
 * cookie and earlier weights, one "assign random", one inactive, one in
 * rollout, one of 64 groups.
 *
 * The context must hold a valid device id (the cookie's, or a new UUID),
 * a forced value of the characters that may go back out in a cookie;
 * every group must be one of the experiment's and follow the state: a
 * forced group first, the fallback when inactive, the rollout group in
 * rollout, the rule's group or one an earlier weight setting gave.
 */


#include "fuzz_common.h"
#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_cookie.h"
#include "ngx_http_abtest_experiment.h"
#include "ngx_http_abtest_hash.h"
#include "ngx_http_abtest_util.h"


static void ngx_fuzz_cookie_ctx(ngx_http_request_t *r,
    ngx_http_abtest_ctx_t *ctx);
static void ngx_fuzz_cookie_group(ngx_http_request_t *r,
    ngx_http_abtest_ctx_t *ctx, ngx_http_abtest_experiment_t *exp);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                         n;
    ngx_str_t                      args, cookies[NGX_FUZZ_COOKIES_MAX];
    ngx_uint_t                     i, ncookies;
    ngx_pool_t                    *pool;
    ngx_http_request_t            *r;
    ngx_http_abtest_ctx_t         *ctx;
    ngx_http_abtest_experiment_t  *exp;

    n = ngx_fuzz_line(data, size, &args);
    data += n;
    size -= n;

    for (ncookies = 0; size && ncookies < NGX_FUZZ_COOKIES_MAX; ncookies++) {
        n = ngx_fuzz_line(data, size, &cookies[ncookies]);
        data += n;
        size -= n;
    }

    pool = ngx_fuzz_pool();
    r = ngx_fuzz_request(pool, &args, cookies, ncookies);

    ctx = ngx_http_abtest_get_ctx(r);
    if (ctx == NULL) {
        ngx_fuzz_fail("get_ctx(): no context");
    }

    /* made once per request */
    ngx_fuzz_check(ngx_http_abtest_get_ctx(r) == ctx);

    ngx_fuzz_cookie_ctx(r, ctx);

    ngx_fuzz_say("device \"%V\" new %ui, force \"%V\" arg %ui",
                 &ctx->device_id, (ngx_uint_t) ctx->new_device, &ctx->force,
                 (ngx_uint_t) ctx->force_arg);

    exp = ngx_fuzz_amcf->experiments.elts;

    for (i = 0; i < ngx_fuzz_amcf->experiments.nelts; i++) {
        ngx_fuzz_cookie_group(r, ctx, &exp[i]);
    }

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_cookie_ctx(ngx_http_request_t *r, ngx_http_abtest_ctx_t *ctx)
{
    u_char                  c;
    ngx_str_t               own, value, name = ngx_string("abtest_force");
    ngx_uint_t              i;
    ngx_http_abtest_ctx_t  *own_ctx;

    ngx_fuzz_check(ngx_http_abtest_valid_device_id(&ctx->device_id)
                   == NGX_OK);

    ngx_http_abtest_own_device(r, &own);

    if (own.len) {
        /* a valid device cookie is the device */
        ngx_fuzz_check(!ctx->new_device);
        ngx_fuzz_check(ctx->device_id.len == own.len
                       && ngx_strncmp(ctx->device_id.data, own.data,
                                      own.len)
                          == 0);

        own_ctx = NULL;
        ngx_fuzz_check(ngx_http_abtest_own_ctx(r, &own, &own, &own_ctx)
                       == NGX_OK);
        ngx_fuzz_check(own_ctx == ctx);

    } else {
        ngx_fuzz_check(ctx->new_device);
        ngx_fuzz_check(ctx->device_id.data == ctx->uuid);
        ngx_fuzz_check(ctx->device_id.len == NGX_HTTP_ABTEST_UUID_LEN);
    }

    /* the forced groups go back out in a cookie as they are */
    ngx_fuzz_check(ctx->force.len <= NGX_HTTP_ABTEST_FORCE_MAX);

    for (i = 0; i < ctx->force.len; i++) {
        c = ctx->force.data[i];

        ngx_fuzz_check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                       || (c >= '0' && c <= '9') || c == '_' || c == '-'
                       || c == '.' || c == ':' || c == ',');
    }

    if (ctx->force_arg) {
        ngx_fuzz_check(ngx_http_arg(r, name.data, name.len, &value)
                       == NGX_OK);

    } else if (ctx->force.len) {
        ngx_fuzz_check(ngx_http_abtest_read_cookie(r, &name, &value)
                       == NGX_OK);
        ngx_fuzz_check(value.len == ctx->force.len
                       && value.data == ctx->force.data);
    }
}


static void
ngx_fuzz_cookie_group(ngx_http_request_t *r, ngx_http_abtest_ctx_t *ctx,
    ngx_http_abtest_experiment_t *exp)
{
    u_char                        md[NGX_HTTP_ABTEST_DIGEST_LEN];
    uint64_t                      total;
    ngx_str_t                     cookie;
    ngx_uint_t                    group, assigned, reason, i, k, n;
    ngx_http_abtest_exp_state_t  *st;

    n = exp->groups.nelts;
    st = &exp->conf_state;

    group = ngx_http_abtest_get_group(r, ctx, exp);

    ngx_fuzz_check(group < n);
    ngx_fuzz_check(ctx->assigned[exp->index] < n);

    /* worked out once per request */
    ngx_fuzz_check(ngx_http_abtest_get_group(r, ctx, exp) == group);

    assigned = NGX_HTTP_ABTEST_GROUP_UNSET;
    ngx_fuzz_check(ngx_http_abtest_group_of(r, ctx, exp, &ctx->device_id,
                                            &assigned, &reason)
                   == group);
    ngx_fuzz_check(assigned == ctx->assigned[exp->index]);

    /* without the request's cookies only the rule tells */
    ngx_fuzz_check(ngx_http_abtest_device_group(r, exp, &ctx->device_id,
                                                NULL, &assigned, &reason)
                   == (st->state == NGX_HTTP_ABTEST_STATE_INACTIVE
                       ? exp->fallback
                       : st->state == NGX_HTTP_ABTEST_STATE_ROLLOUT
                       ? st->rollout : assigned));
    ngx_fuzz_check(assigned == ctx->assigned[exp->index]);

    ngx_fuzz_say("\"%V\": group %ui, the rule's %ui", &exp->name, group,
                 assigned);

    if (ngx_http_abtest_is_forced(ctx, exp)) {
        return;
    }

    switch (st->state) {

    case NGX_HTTP_ABTEST_STATE_INACTIVE:
        ngx_fuzz_check(group == exp->fallback);
        return;

    case NGX_HTTP_ABTEST_STATE_ROLLOUT:
        ngx_fuzz_check(group == st->rollout);
        return;
    }

    if (group == assigned) {
        return;
    }

    /* a group cookie kept: it names a group earlier weights gave */
    ngx_fuzz_check(exp->cookie.len && st->nhistory);

    ngx_fuzz_check(ngx_http_abtest_read_cookie(r, &exp->cookie, &cookie)
                   == NGX_OK);
    ngx_fuzz_check(ngx_http_abtest_find_group(exp, cookie.data, cookie.len)
                   == group);

    if (ngx_http_abtest_hash_digest(ngx_fuzz_amcf, &ctx->device_id, exp, md)
        != NGX_OK)
    {
        ngx_fuzz_fail("hash_digest() failed");
    }

    for (k = 0; k < st->nhistory; k++) {
        total = 0;

        for (i = 0; i < n; i++) {
            total += st->history[k][i];
        }

        if (total
            && ngx_http_abtest_hash_pick(st->history[k], n,
                                         ngx_http_abtest_hash_mod(md, total))
               == group)
        {
            return;
        }
    }

    ngx_fuzz_fail("experiment \"%V\": group %ui of the cookie \"%V\" was "
                  "never given to device \"%V\"", &exp->name, group,
                  &cookie, &ctx->device_id);
}
