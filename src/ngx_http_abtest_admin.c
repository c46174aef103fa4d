
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The experiments admin page (abtest_admin): one HTML page, built into
 * the module from admin/admin.html, that works through the JSON API.
 * Its Content-Security-Policy lets only its own script and style run.
 */


#include "ngx_http_abtest_admin.h"
#include "ngx_http_abtest_http.h"


/* what follows a part of the page */
#define NGX_HTTP_ABTEST_ADMIN_EXPERIMENTS  0
#define NGX_HTTP_ABTEST_ADMIN_STATS        1
#define NGX_HTTP_ABTEST_ADMIN_END          2


typedef struct {
    ngx_str_t                  text;
    ngx_uint_t                 fill;
} ngx_http_abtest_admin_part_t;


#include "ngx_http_abtest_admin_page.h"


#define NGX_HTTP_ABTEST_ADMIN_PARTS                                          \
    (sizeof(ngx_http_abtest_admin_page) / sizeof(ngx_http_abtest_admin_part_t))


/* the page is never cached, framed, sniffed, or told where it was */
static char  *ngx_http_abtest_admin_headers[][2] = {
    { "Cache-Control", "no-store" },
    { "Content-Security-Policy", NGX_HTTP_ABTEST_ADMIN_CSP },
    { "X-Content-Type-Options", "nosniff" },
    { "X-Frame-Options", "DENY" },
    { "Referrer-Policy", "no-referrer" },
    { NULL, NULL }
};


static ngx_int_t ngx_http_abtest_admin_handler(ngx_http_request_t *r);
static char *ngx_http_abtest_admin_uri(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, ngx_str_t *uri);


/*
 * From the location's merge: blocks inside an admin location (if,
 * limit_except) serve the same page.
 */

void
ngx_http_abtest_admin_merge(ngx_conf_t *cf, ngx_http_abtest_loc_conf_t *prev,
    ngx_http_abtest_loc_conf_t *alcf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* only blocks without a name (if, limit_except) inherit the page */
    if (alcf->admin_experiments.data == NULL && clcf->noname) {
        alcf->admin_experiments = prev->admin_experiments;
        alcf->admin_stats = prev->admin_stats;
    }

    if (clcf->lmt_excpt && clcf->handler == NULL
        && alcf->admin_experiments.data)
    {
        clcf->handler = ngx_http_abtest_admin_handler;
    }
}


/* abtest_admin [experiments=uri] [stats=uri] */

char *
ngx_http_abtest_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_loc_conf_t *alcf = conf;

    char                      *rv;
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    if (alcf->admin_experiments.data) {
        return "is duplicate";
    }

    ngx_str_set(&alcf->admin_experiments, "/api/experiments");
    ngx_str_set(&alcf->admin_stats, "/api/stats");

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "experiments=", 12) == 0) {
            rv = ngx_http_abtest_admin_uri(cf, &value[i], 12,
                                           &alcf->admin_experiments);

        } else if (ngx_strncmp(value[i].data, "stats=", 6) == 0) {
            rv = ngx_http_abtest_admin_uri(cf, &value[i], 6,
                                           &alcf->admin_stats);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_abtest_admin_handler;

    return NGX_CONF_OK;
}


/* a URI goes into an HTML attribute as it is: only characters that can */

static char *
ngx_http_abtest_admin_uri(ngx_conf_t *cf, ngx_str_t *value, size_t skip,
    ngx_str_t *uri)
{
    u_char      c;
    ngx_uint_t  i;

    uri->data = value->data + skip;
    uri->len = value->len - skip;

    for (i = 0; i < uri->len; i++) {
        c = uri->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')
              || c == '/' || c == '_' || c == '-' || c == '.' || c == '~'))
        {
            break;
        }
    }

    if (uri->len == 0 || uri->data[0] != '/' || i < uri->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\": use a path starting with \"/\", "
                           "of [A-Za-z0-9/_.~-]", value);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_abtest_admin_handler(ngx_http_request_t *r)
{
    off_t                          len;
    ngx_int_t                      rc;
    ngx_str_t                     *fill;
    ngx_buf_t                     *b;
    ngx_uint_t                     i, n;
    ngx_chain_t                    out[2 * NGX_HTTP_ABTEST_ADMIN_PARTS];
    ngx_http_abtest_loc_conf_t    *alcf;
    ngx_http_abtest_admin_part_t  *part;

    rc = ngx_http_abtest_http_get(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_http_abtest_http_own_host(r) != NGX_OK) {
        return ngx_http_abtest_http_not_own_host(r);
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);
    part = ngx_http_abtest_admin_page;

    n = 0;
    len = 0;

    for (i = 0; i < NGX_HTTP_ABTEST_ADMIN_PARTS; i++) {

        switch (part[i].fill) {

        case NGX_HTTP_ABTEST_ADMIN_EXPERIMENTS:
            fill = &alcf->admin_experiments;
            break;

        case NGX_HTTP_ABTEST_ADMIN_STATS:
            fill = &alcf->admin_stats;
            break;

        default:
            fill = NULL;
        }

        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->pos = part[i].text.data;
        b->last = b->pos + part[i].text.len;
        b->memory = 1;
        out[n].buf = b;
        out[n].next = &out[n + 1];
        n++;
        len += part[i].text.len;

        if (fill == NULL) {
            continue;
        }

        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->pos = fill->data;
        b->last = fill->data + fill->len;
        b->memory = 1;
        out[n].buf = b;
        out[n].next = &out[n + 1];
        n++;
        len += fill->len;
    }

    out[n - 1].next = NULL;
    out[n - 1].buf->last_buf = (r == r->main) ? 1 : 0;
    out[n - 1].buf->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/html") - 1;
    r->headers_out.content_type_lowcase = NULL;

    for (i = 0; ngx_http_abtest_admin_headers[i][0]; i++) {
        if (ngx_http_abtest_http_add_header(r,
                                            ngx_http_abtest_admin_headers[i][0],
                                            ngx_http_abtest_admin_headers[i][1])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}
