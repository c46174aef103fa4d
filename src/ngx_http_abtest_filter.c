
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The header filter: the cookies a response carries, a new device's id,
 * the forced groups of a tester and each experiment's group cookie.
 */


#include "ngx_http_abtest_filter.h"
#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_cookie.h"


static ngx_int_t ngx_http_abtest_header_filter(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_abtest_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_abtest_header_filter;

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
        if (ngx_http_abtest_cookie_set(r, alcf, &alcf->cookie_name,
                                       &ctx->device_id,
                                       NGX_HTTP_ABTEST_LIFETIME_CONF)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* a forced group lasts for the browser session; "?abtest_force=" ends it */
    if (ctx->force_arg) {
        if (ngx_http_abtest_cookie_set(r, alcf, &force_name, &ctx->force,
                                       ctx->force.len
                                       ? NGX_HTTP_ABTEST_LIFETIME_SESSION
                                       : NGX_HTTP_ABTEST_LIFETIME_DELETE)
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

        if (ngx_http_abtest_cookie_set(r, alcf, &exp[i].cookie, &value,
                                       NGX_HTTP_ABTEST_LIFETIME_CONF)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}
