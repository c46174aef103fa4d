
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#include "ngx_http_abtest_cookie.h"
#include "ngx_http_abtest_assign.h"


static ngx_int_t ngx_http_abtest_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_set_cookie(ngx_http_request_t *r,
    ngx_http_abtest_loc_conf_t *alcf, ngx_str_t *name, ngx_str_t *value,
    ngx_uint_t lifetime);


#define NGX_HTTP_ABTEST_COOKIE_KEEP     0    /* abtest_cookie_expires */
#define NGX_HTTP_ABTEST_COOKIE_SESSION  1
#define NGX_HTTP_ABTEST_COOKIE_DELETE   2


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_abtest_cookie_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_abtest_header_filter;

    return NGX_OK;
}


/*
 * Everything after "name=value" but Expires, which depends on the time
 * of the response, is put together once per location at merge time.
 */

ngx_int_t
ngx_http_abtest_cookie_attrs(ngx_conf_t *cf, ngx_http_abtest_loc_conf_t *alcf)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   flags;

    flags = alcf->cookie_flags;

    len = sizeof("; Path=") - 1 + alcf->cookie_path.len
          + sizeof("; Secure; HttpOnly; SameSite=Strict") - 1;

    if (alcf->cookie_domain.len) {
        len += sizeof("; Domain=") - 1 + alcf->cookie_domain.len;
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    alcf->cookie_attrs.data = p;

    if (alcf->cookie_domain.len) {
        p = ngx_cpymem(p, "; Domain=", sizeof("; Domain=") - 1);
        p = ngx_cpymem(p, alcf->cookie_domain.data, alcf->cookie_domain.len);
    }

    p = ngx_cpymem(p, "; Path=", sizeof("; Path=") - 1);
    p = ngx_cpymem(p, alcf->cookie_path.data, alcf->cookie_path.len);

    if (flags & NGX_HTTP_ABTEST_COOKIE_SECURE) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    if (flags & NGX_HTTP_ABTEST_COOKIE_HTTPONLY) {
        p = ngx_cpymem(p, "; HttpOnly", sizeof("; HttpOnly") - 1);
    }

    if (flags & NGX_HTTP_ABTEST_COOKIE_SS_STRICT) {
        p = ngx_cpymem(p, "; SameSite=Strict", sizeof("; SameSite=Strict") - 1);

    } else if (flags & NGX_HTTP_ABTEST_COOKIE_SS_LAX) {
        p = ngx_cpymem(p, "; SameSite=Lax", sizeof("; SameSite=Lax") - 1);

    } else if (flags & NGX_HTTP_ABTEST_COOKIE_SS_NONE) {
        p = ngx_cpymem(p, "; SameSite=None", sizeof("; SameSite=None") - 1);
    }

    alcf->cookie_attrs.len = p - alcf->cookie_attrs.data;

    ngx_str_null(&alcf->cookie_max_age);

    if (alcf->cookie_expires != NGX_HTTP_ABTEST_EXPIRES_OFF
        && alcf->cookie_expires != NGX_HTTP_ABTEST_EXPIRES_MAX)
    {
        p = ngx_pnalloc(cf->pool, sizeof("; Max-Age=") - 1 + NGX_TIME_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        alcf->cookie_max_age.data = p;
        p = ngx_sprintf(p, "; Max-Age=%T", alcf->cookie_expires);
        alcf->cookie_max_age.len = p - alcf->cookie_max_age.data;
    }

    return NGX_OK;
}


/*
 * As in the userid module, cookies go out from a header filter: every
 * response of the main request passes here, error pages and proxied
 * responses included, which a phase handler would miss.
 */

static ngx_int_t
ngx_http_abtest_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                      cookie, value;
    ngx_str_t                      force_name = ngx_string("abtest_force");
    ngx_uint_t                     i, group;
    ngx_http_abtest_ctx_t         *ctx;
    ngx_http_abtest_group_t       *groups;
    ngx_http_abtest_loc_conf_t    *alcf;
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    if (!alcf->enable) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_abtest_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->cookies_sent) {
        return ngx_http_next_header_filter(r);
    }

    ctx->cookies_sent = 1;

    if (ctx->new_device) {
        if (ngx_http_abtest_set_cookie(r, alcf, &alcf->cookie_name,
                                       &ctx->device_id,
                                       NGX_HTTP_ABTEST_COOKIE_KEEP)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* a forced group lasts for the browser session; "?abtest_force=" ends it */
    if (ctx->force_arg) {
        if (ngx_http_abtest_set_cookie(r, alcf, &force_name, &ctx->force,
                                       ctx->force.len
                                       ? NGX_HTTP_ABTEST_COOKIE_SESSION
                                       : NGX_HTTP_ABTEST_COOKIE_DELETE)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    exp = amcf->experiments.elts;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        if (exp[i].cookie.len == 0) {
            continue;
        }

        group = ngx_http_abtest_get_group(r, ctx, &exp[i]);
        groups = exp[i].groups.elts;
        value = groups[group].name;

        /* only when it changes, as the cookie is for the page's script */
        if (ngx_http_abtest_read_cookie(r, &exp[i].cookie, &cookie) == NGX_OK
            && cookie.len == value.len
            && ngx_strncmp(cookie.data, value.data, value.len) == 0)
        {
            continue;
        }

        if (ngx_http_abtest_set_cookie(r, alcf, &exp[i].cookie, &value,
                                       NGX_HTTP_ABTEST_COOKIE_KEEP)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_abtest_set_cookie(ngx_http_request_t *r,
    ngx_http_abtest_loc_conf_t *alcf, ngx_str_t *name, ngx_str_t *value,
    ngx_uint_t lifetime)
{
    u_char           *p;
    size_t            len;
    ngx_table_elt_t  *set_cookie;

    len = name->len + 1 + value->len + alcf->cookie_max_age.len
          + sizeof("; Expires=Mon, 28 Sep 1970 06:00:00 GMT") - 1
          + alcf->cookie_attrs.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    set_cookie = ngx_list_push(&r->headers_out.headers);
    if (set_cookie == NULL) {
        return NGX_ERROR;
    }

    set_cookie->hash = 1;
    ngx_str_set(&set_cookie->key, "Set-Cookie");
    set_cookie->value.data = p;
#if (nginx_version >= 1023000)
    set_cookie->next = NULL;
#endif

    p = ngx_copy(p, name->data, name->len);
    *p++ = '=';
    p = ngx_copy(p, value->data, value->len);

    if (lifetime == NGX_HTTP_ABTEST_COOKIE_DELETE) {
        p = ngx_cpymem(p, "; Max-Age=0", sizeof("; Max-Age=0") - 1);

    } else if (lifetime == NGX_HTTP_ABTEST_COOKIE_SESSION
               || alcf->cookie_expires == NGX_HTTP_ABTEST_EXPIRES_OFF)
    {
        /* no Expires, no Max-Age */

    } else if (alcf->cookie_expires == NGX_HTTP_ABTEST_EXPIRES_MAX) {
        p = ngx_cpymem(p, "; Expires=Thu, 31 Dec 2037 23:55:55 GMT",
                       sizeof("; Expires=Thu, 31 Dec 2037 23:55:55 GMT") - 1);

    } else {
        /* the RFC 1123 date that Flask's cookies carry too */
        p = ngx_cpymem(p, "; Expires=", sizeof("; Expires=") - 1);
        p = ngx_http_time(p, ngx_time() + alcf->cookie_expires);
        p = ngx_copy(p, alcf->cookie_max_age.data, alcf->cookie_max_age.len);
    }

    p = ngx_copy(p, alcf->cookie_attrs.data, alcf->cookie_attrs.len);

    set_cookie->value.len = p - set_cookie->value.data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abtest cookie: \"%V\"", &set_cookie->value);

    return NGX_OK;
}
