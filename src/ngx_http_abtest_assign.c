
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * A device's groups: the request context (the device id from its cookie,
 * or a new one), then per experiment the seed's rule (or a keyed draw), the
 * state, a group cookie from earlier weights, or a forced group.
 */


#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_cookie.h"
#include "ngx_http_abtest_experiment.h"
#include "ngx_http_abtest_hash.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_target.h"

#include <openssl/rand.h>


/* device ids are drawn from a per-process buffer of random bytes */
#define NGX_HTTP_ABTEST_RAND_BUF     1024


typedef struct {
    u_char                     buf[NGX_HTTP_ABTEST_RAND_BUF];
    size_t                     pos;
} ngx_http_abtest_random_t;


static ngx_http_abtest_ctx_t *ngx_http_abtest_find_ctx(ngx_http_request_t *r);
static void ngx_http_abtest_ctx_cleanup(void *data);
static ngx_int_t ngx_http_abtest_random(ngx_http_request_t *r, u_char *buf,
    size_t len);
static ngx_int_t ngx_http_abtest_new_device_id(ngx_http_request_t *r,
    ngx_http_abtest_ctx_t *ctx);
static void ngx_http_abtest_read_force(ngx_http_request_t *r,
    ngx_http_abtest_ctx_t *ctx);
static ngx_uint_t ngx_http_abtest_sticky_group(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_exp_state_t *state,
    u_char *md, ngx_uint_t current);
static ngx_uint_t ngx_http_abtest_forced_group(
    ngx_http_abtest_experiment_t *exp, ngx_str_t *force);
static ngx_uint_t ngx_http_abtest_same_device(ngx_str_t *a, ngx_str_t *b);


static ngx_http_abtest_random_t  ngx_http_abtest_random_bytes = {
    { 0 }, NGX_HTTP_ABTEST_RAND_BUF
};


void
ngx_http_abtest_assign_init_process(void)
{
    /* empty: a worker must never reuse bytes drawn before the fork */
    ngx_explicit_memzero(ngx_http_abtest_random_bytes.buf,
                         NGX_HTTP_ABTEST_RAND_BUF);
    ngx_http_abtest_random_bytes.pos = NGX_HTTP_ABTEST_RAND_BUF;
}


/*
 * The context lives on the main request.  An internal redirect (error_page,
 * try_files, rewrite ... last) clears module contexts, so it is also kept
 * in a pool cleanup and found again there, as the realip module does: the
 * device id issued before the redirect is the one the cookie carries.
 */

static ngx_http_abtest_ctx_t *
ngx_http_abtest_find_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_abtest_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_abtest_module);

    if (ctx || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_abtest_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_abtest_module);
            return ctx;
        }
    }

    return NULL;
}


static void
ngx_http_abtest_ctx_cleanup(void *data)
{
    /* only a marker to find the context again, see above */
}


ngx_http_abtest_ctx_t *
ngx_http_abtest_get_ctx(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_str_t                     cookie;
    ngx_uint_t                    i, n;
    ngx_pool_cleanup_t           *cln;
    ngx_http_abtest_ctx_t        *ctx;
    ngx_http_abtest_loc_conf_t   *alcf;
    ngx_http_abtest_main_conf_t  *amcf;

    r = r->main;

    ctx = ngx_http_abtest_find_ctx(r);
    if (ctx) {
        return ctx;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    n = amcf->experiments.nelts;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_abtest_ctx_t)
                               + 2 * n * sizeof(ngx_uint_t) + n);
    if (ctx == NULL) {
        return NULL;
    }

    ctx->group = (ngx_uint_t *) &ctx[1];
    ctx->assigned = ctx->group + n;
    ctx->reason = (u_char *) (ctx->assigned + n);

    for (i = 0; i < n; i++) {
        ctx->group[i] = NGX_HTTP_ABTEST_GROUP_UNSET;
        ctx->assigned[i] = NGX_HTTP_ABTEST_GROUP_UNSET;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_abtest_ctx_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_abtest_module);

    if (alcf->force) {
        ngx_http_abtest_read_force(r, ctx);
    }

    ctx->excluded = ngx_http_abtest_excluded(r);

    rc = ngx_http_abtest_cookie_device(r, &cookie);

    if (rc == NGX_OK) {
        ctx->device_id = cookie;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "abtest device id: \"%V\"", &cookie);
        return ctx;
    }

    if (ctx->excluded) {
        /* in no experiment, and no device id issued: an empty one */
        ctx->device_id.data = ctx->uuid;
        ctx->device_id.len = 0;
        return ctx;
    }

    if (rc == NGX_ERROR) {
        /* the value is not echoed: it is the client's, of any length */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "abtest: client sent an invalid \"%V\" cookie "
                      "(%uz bytes), issuing a new device id",
                      &alcf->cookie_name, cookie.len);
    }

    if (ngx_http_abtest_new_device_id(r, ctx) != NGX_OK) {
        return NULL;
    }

    return ctx;
}


static void
ngx_http_abtest_read_force(ngx_http_request_t *r, ngx_http_abtest_ctx_t *ctx)
{
    u_char     *src, *dst, c;
    ngx_str_t   value, name = ngx_string("abtest_force");
    ngx_uint_t  i;

    if (ngx_http_arg(r, name.data, name.len, &value) == NGX_OK) {
        dst = ngx_pnalloc(r->pool, value.len);
        if (dst == NULL) {
            return;
        }

        src = value.data;
        value.data = dst;
        ngx_unescape_uri(&dst, &src, value.len, NGX_UNESCAPE_URI);
        value.len = dst - value.data;

        ctx->force_arg = 1;

    } else if (ngx_http_abtest_read_cookie(r, &name, &value) != NGX_OK) {
        return;
    }

    /* it goes back out in a cookie: only the characters names can have */

    for (i = 0; i < value.len; i++) {
        c = value.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')
              || c == '_' || c == '-' || c == '.' || c == ':' || c == ','))
        {
            break;
        }
    }

    if (i < value.len || value.len > NGX_HTTP_ABTEST_FORCE_MAX) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "abtest: ignoring an invalid abtest_force value "
                      "(%uz bytes)", value.len);
        ctx->force_arg = 0;
        return;
    }

    ctx->force = value;
}


static ngx_int_t
ngx_http_abtest_random(ngx_http_request_t *r, u_char *buf, size_t len)
{
    ngx_http_abtest_random_t  *rb = &ngx_http_abtest_random_bytes;

    /* one RAND_bytes() call serves many requests */

    if (rb->pos + len > NGX_HTTP_ABTEST_RAND_BUF) {
        if (RAND_bytes(rb->buf, NGX_HTTP_ABTEST_RAND_BUF) != 1) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "abtest: RAND_bytes() failed");
            return NGX_ERROR;
        }

        rb->pos = 0;
    }

    ngx_memcpy(buf, rb->buf + rb->pos, len);

    /* bytes handed out are not kept in memory */
    ngx_explicit_memzero(rb->buf + rb->pos, len);
    rb->pos += len;

    return NGX_OK;
}


/* a UUIDv4, formatted as Python's str(uuid.uuid4()) */

static ngx_int_t
ngx_http_abtest_new_device_id(ngx_http_request_t *r,
    ngx_http_abtest_ctx_t *ctx)
{
    u_char  *p, b[16];

    if (ngx_http_abtest_random(r, b, sizeof(b)) != NGX_OK) {
        return NGX_ERROR;
    }

    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;

    p = ngx_hex_dump(ctx->uuid, b, 4);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 4, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 6, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 8, 2);
    *p++ = '-';
    (void) ngx_hex_dump(p, b + 10, 6);

    ctx->device_id.data = ctx->uuid;
    ctx->device_id.len = NGX_HTTP_ABTEST_UUID_LEN;
    ctx->new_device = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abtest new device id: \"%V\"", &ctx->device_id);

    return NGX_OK;
}


/*
 * Stickiness without a record per device: the group cookie is trusted
 * when the group it names is the one the current or an earlier weight
 * setting (up to NGX_HTTP_ABTEST_HISTORY of them) gave this device, so a
 * device keeps its group across weight changes, and a client can only
 * name a group it was really given.
 */

static ngx_uint_t
ngx_http_abtest_sticky_group(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_exp_state_t *state,
    u_char *md, ngx_uint_t current)
{
    uint64_t    total;
    ngx_str_t   cookie;
    ngx_uint_t  group, i, k;

    if (exp->cookie.len == 0 || state->nhistory == 0
        || ngx_http_abtest_read_cookie(r, &exp->cookie, &cookie) != NGX_OK)
    {
        return current;
    }

    group = ngx_http_abtest_find_group(exp, cookie.data, cookie.len);

    if (group == NGX_HTTP_ABTEST_NO_GROUP || group == current) {
        return current;
    }

    for (k = 0; k < state->nhistory; k++) {
        total = 0;

        for (i = 0; i < exp->groups.nelts; i++) {
            total += state->history[k][i];
        }

        if (total
            && ngx_http_abtest_hash_pick(state->history[k], exp->groups.nelts,
                                         ngx_http_abtest_hash_mod(md, total))
               == group)
        {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "abtest experiment \"%V\" keeps group %ui "
                           "from earlier weights", &exp->name, group);
            return group;
        }
    }

    return current;
}


/*
 * "?abtest_force=exp:group,exp2:group" or its cookie, where abtest_force
 * is on: a tester's browser in a chosen group, whatever the state.
 */

static ngx_uint_t
ngx_http_abtest_forced_group(ngx_http_abtest_experiment_t *exp,
    ngx_str_t *force)
{
    u_char  *p, *last, *colon, *end;

    p = force->data;
    last = p + force->len;

    while (p < last) {
        end = ngx_strlchr(p, last, ',');
        if (end == NULL) {
            end = last;
        }

        colon = ngx_strlchr(p, end, ':');

        if (colon
            && (size_t) (colon - p) == exp->name.len
            && ngx_strncmp(p, exp->name.data, exp->name.len) == 0)
        {
            return ngx_http_abtest_find_group(exp, colon + 1,
                                              end - colon - 1);
        }

        p = end + 1;
    }

    return NGX_HTTP_ABTEST_NO_GROUP;
}


/*
 * The group of a device: "ctx" is the request's own device context, whose
 * cookies (group cookie, forced group) count; NULL for another device, as
 * in /api/expgroups?device_id=, where only the hash rule can tell.
 * "assigned" receives the hash rule's group under the current weights,
 * "reason" why the device is not in the experiment, or 0: a device that
 * is not in it gets the fallback, whatever the state.
 */

ngx_uint_t
ngx_http_abtest_device_group(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *device_id,
    ngx_http_abtest_ctx_t *ctx, ngx_uint_t *assigned, ngx_uint_t *reason)
{
    u_char                        md[NGX_HTTP_ABTEST_DIGEST_LEN];
    ngx_uint_t                    group, current;
    ngx_http_abtest_exp_state_t  *state;
    ngx_http_abtest_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    state = ngx_http_abtest_shm_state(amcf, exp);

    current = NGX_HTTP_ABTEST_NO_GROUP;

    /* the seed's digest, or for "assign random" a keyed one */
    if (device_id->len
        && ngx_http_abtest_hash_digest(amcf, device_id, exp, md) == NGX_OK)
    {
        current = ngx_http_abtest_hash_pick(state->weights, exp->groups.nelts,
                                            ngx_http_abtest_hash_mod(md,
                                                                state->total));

        if (current == NGX_HTTP_ABTEST_NO_GROUP) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "abtest: no group for experiment \"%V\"",
                          &exp->name);
        }
    }

    *assigned = current;
    *reason = NGX_HTTP_ABTEST_ENTERS;

    if (ctx && ctx->force.len) {
        group = ngx_http_abtest_forced_group(exp, &ctx->force);

        if (group != NGX_HTTP_ABTEST_NO_GROUP) {
            return group;
        }
    }

    *reason = (device_id->len == 0)
              ? NGX_HTTP_ABTEST_OUT_EXCLUDED
              : ngx_http_abtest_enters(r, exp, state, device_id, ctx);

    if (*reason != NGX_HTTP_ABTEST_ENTERS) {
        return exp->fallback;
    }

    switch (state->state) {

    case NGX_HTTP_ABTEST_STATE_INACTIVE:
        return exp->fallback;

    case NGX_HTTP_ABTEST_STATE_ROLLOUT:
        return state->rollout;
    }

    if (ctx && current != NGX_HTTP_ABTEST_NO_GROUP) {
        return ngx_http_abtest_sticky_group(r, exp, state, md, current);
    }

    return current;
}


ngx_uint_t
ngx_http_abtest_get_group(ngx_http_request_t *r, ngx_http_abtest_ctx_t *ctx,
    ngx_http_abtest_experiment_t *exp)
{
    ngx_uint_t  group, reason;

    if (ctx->group[exp->index] != NGX_HTTP_ABTEST_GROUP_UNSET) {
        return ctx->group[exp->index];
    }

    r = r->main;

    group = ngx_http_abtest_device_group(r, exp, &ctx->device_id, ctx,
                                         &ctx->assigned[exp->index],
                                         &reason);

    ctx->reason[exp->index] = (u_char) reason;

    if (group == NGX_HTTP_ABTEST_NO_GROUP) {
        group = exp->fallback;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abtest experiment \"%V\" device \"%V\" group %ui",
                   &exp->name, &ctx->device_id, group);

    ctx->group[exp->index] = group;

    return group;
}


/* the device the request's cookie names, if it is a valid id, or empty */

void
ngx_http_abtest_own_device(ngx_http_request_t *r, ngx_str_t *own)
{
    if (ngx_http_abtest_cookie_device(r, own) != NGX_OK) {
        ngx_str_null(own);
    }
}


static ngx_uint_t
ngx_http_abtest_same_device(ngx_str_t *a, ngx_str_t *b)
{
    return a->len && a->len == b->len
           && ngx_strncmp(a->data, b->data, a->len) == 0;
}


/*
 * Where "device" is the request's own device ("own", from its cookie) and
 * abtest is on, "*ctxp" is the request's context, so that its group and
 * forcing cookies count; otherwise NULL: only the rule can tell.
 */

ngx_int_t
ngx_http_abtest_own_ctx(ngx_http_request_t *r, ngx_str_t *device,
    ngx_str_t *own, ngx_http_abtest_ctx_t **ctxp)
{
    ngx_http_abtest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    *ctxp = NULL;

    if (!alcf->enable || !ngx_http_abtest_same_device(device, own)) {
        return NGX_OK;
    }

    *ctxp = ngx_http_abtest_get_ctx(r);

    return (*ctxp == NULL) ? NGX_ERROR : NGX_OK;
}


/*
 * a device's group now, the rule's ("assigned") and why it is not in the
 * experiment ("reason", 0 where it is), as the API tells
 */

ngx_uint_t
ngx_http_abtest_group_of(ngx_http_request_t *r, ngx_http_abtest_ctx_t *ctx,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *device,
    ngx_uint_t *assigned, ngx_uint_t *reason)
{
    ngx_uint_t  group;

    if (ctx == NULL) {
        return ngx_http_abtest_device_group(r, exp, device, NULL, assigned,
                                            reason);
    }

    group = ngx_http_abtest_get_group(r, ctx, exp);
    *assigned = ctx->assigned[exp->index];
    *reason = ctx->reason[exp->index];

    return group;
}


ngx_uint_t
ngx_http_abtest_is_forced(ngx_http_abtest_ctx_t *ctx,
    ngx_http_abtest_experiment_t *exp)
{
    return ctx->force.len
           && ngx_http_abtest_forced_group(exp, &ctx->force)
              != NGX_HTTP_ABTEST_NO_GROUP;
}
