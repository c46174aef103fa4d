
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The module's filters: the cookies a response carries (a new device's
 * id, the forced groups of a tester and each experiment's group cookie);
 * in API locations, request bodies bounded as they are read and nginx's
 * own error pages answered as JSON.
 */


#include "ngx_http_abtest_filter.h"
#include "ngx_http_abtest_api.h"
#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_cookie.h"
#include "ngx_http_abtest_http.h"


static ngx_int_t ngx_http_abtest_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_cookie_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_abtest_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_abtest_error_json(ngx_http_request_t *r,
    ngx_str_t *json);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;
static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;


/*
 * The Content-Type of an nginx error page made JSON, and once its body
 * is sent: distinct arrays, so that the body filter tells them apart.
 */
static u_char  ngx_http_abtest_error_type[] = "application/json";
static u_char  ngx_http_abtest_error_sent[] = "application/json";


ngx_int_t
ngx_http_abtest_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_abtest_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_abtest_body_filter;

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_abtest_request_body_filter;

    return NGX_OK;
}


/*
 * An API location answers in JSON, nginx's own refusals too (a body too
 * large as it was read, a broken chunked body, a timeout): where nginx
 * sends its HTML error page, the header says JSON and the body filter
 * puts the JSON in the page's place.
 */

static ngx_int_t
ngx_http_abtest_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                    json;
    ngx_http_abtest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    if (r == r->main
        && alcf->api != NGX_HTTP_ABTEST_API_NONE
        && r->headers_out.status >= NGX_HTTP_BAD_REQUEST
        && r->headers_out.content_type.len == sizeof("text/html") - 1
        && ngx_strncmp(r->headers_out.content_type.data, "text/html",
                       sizeof("text/html") - 1) == 0)
    {
        if (ngx_http_abtest_error_json(r, &json) != NGX_OK) {
            return NGX_ERROR;
        }

        r->headers_out.content_type.data = ngx_http_abtest_error_type;
        r->headers_out.content_type.len = sizeof("application/json") - 1;
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;
        r->headers_out.content_length_n = json.len;

        if (r->headers_out.content_length) {
            r->headers_out.content_length->hash = 0;
            r->headers_out.content_length = NULL;
        }
    }

    return ngx_http_abtest_cookie_filter(r);
}


static ngx_int_t
ngx_http_abtest_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_str_t     json;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (r->headers_out.content_type.data != ngx_http_abtest_error_type
        || in == NULL)
    {
        return ngx_http_next_body_filter(r, in);
    }

    r->headers_out.content_type.data = ngx_http_abtest_error_sent;

    if (ngx_http_abtest_error_json(r, &json) != NGX_OK) {
        return NGX_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = json.data;
    b->last = json.data + json.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    /* the page's own buffers are static: nothing to give back */
    for ( /* void */ ; in; in = in->next) {
        in->buf->pos = in->buf->last;
    }

    return ngx_http_next_body_filter(r, &out);
}


/* {"error": "..."} for an nginx error page in an API location */

static ngx_int_t
ngx_http_abtest_error_json(ngx_http_request_t *r, ngx_str_t *json)
{
    u_char                      *p, msg[128];
    size_t                       len;
    ngx_http_abtest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    switch (r->headers_out.status) {

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        p = ngx_snprintf(msg, sizeof(msg), "body: larger than %O bytes (%s)",
                         alcf->body_max,
                         alcf->body_max_name ? alcf->body_max_name
                                             : "client_max_body_size");
        break;

    case NGX_HTTP_REQUEST_TIME_OUT:
        p = ngx_snprintf(msg, sizeof(msg), "body: not received in time "
                         "(client_body_timeout)");
        break;

    case NGX_HTTP_BAD_REQUEST:
        p = ngx_snprintf(msg, sizeof(msg), "the request is malformed (see "
                         "the error log)");
        break;

    default:
        p = ngx_snprintf(msg, sizeof(msg), "%s (HTTP %ui, see the error log)",
                         r->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR
                         ? "the server failed" : "the request was refused",
                         r->headers_out.status);
    }

    len = p - msg;

    json->data = ngx_pnalloc(r->pool, sizeof("{\"error\":}\n") - 1
                             + ngx_http_abtest_json_quoted_len(msg, len));
    if (json->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(json->data, "{\"error\":", sizeof("{\"error\":") - 1);
    p = ngx_http_abtest_json_quote(p, msg, len);
    *p++ = '}';
    *p++ = LF;

    json->len = p - json->data;

    return NGX_OK;
}


/*
 * A body of unknown length (chunked, HTTP/2 without a Content-Length) is
 * bounded as it is read, at the location's body_max; a known length was
 * checked before reading.  The refusal is a 413, which the filters above
 * answer as JSON.
 */

static ngx_int_t
ngx_http_abtest_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    off_t                        size;
    ngx_http_abtest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    if (alcf->api == NGX_HTTP_ABTEST_API_NONE || alcf->body_max == 0) {
        return ngx_http_next_request_body_filter(r, in);
    }

    /* read so far: a chunked body's sum of chunks, HTTP/2's "received" */
    size = r->request_body ? r->request_body->received : 0;
    size = ngx_max(size, r->headers_in.content_length_n);

    if (size > alcf->body_max) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "abtest api: 413 body: larger than %O bytes (%s)",
                      alcf->body_max, alcf->body_max_name);

        r->lingering_close = 1;

        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    return ngx_http_next_request_body_filter(r, in);
}


/*
 * As in the userid module, cookies go out from a header filter: every
 * response of the main request passes here, error pages and proxied
 * responses included, which a phase handler would miss.
 */

static ngx_int_t
ngx_http_abtest_cookie_filter(ngx_http_request_t *r)
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
