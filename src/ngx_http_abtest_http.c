
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * Talking HTTP, for every handler of the module: the methods a location
 * takes, where a write may come from, JSON bodies read within limits and
 * parsed, headers, and JSON answers and errors.
 */


#include "ngx_http_abtest_http.h"


static ngx_int_t ngx_http_abtest_http_copy(void *ctx, u_char *data,
    size_t len);
static ngx_int_t ngx_http_abtest_http_server_name(ngx_http_request_t *r,
    ngx_str_t *host);
static ngx_int_t ngx_http_abtest_http_local_address(ngx_http_request_t *r,
    ngx_str_t *host);


/* a body in a temporary file is read in parts of this size */
#define NGX_HTTP_ABTEST_BODY_PART  16384


/*
 * The opening of a read-only location: NGX_DECLINED for a GET or HEAD,
 * whose body is not wanted, that the handler goes on to answer; else
 * what the handler returns (a 405 was sent, or the discard failed).
 */

ngx_int_t
ngx_http_abtest_http_get(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_abtest_http_not_allowed(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);

    return (rc == NGX_OK) ? NGX_DECLINED : rc;
}


ngx_int_t
ngx_http_abtest_http_not_allowed(ngx_http_request_t *r, char *allow)
{
    if (ngx_http_abtest_http_add_header(r, "Allow", allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_abtest_http_error(r, NGX_HTTP_NOT_ALLOWED,
                                      "method %V is not allowed here, "
                                      "only %s", &r->method_name, allow);
}


/*
 * A browser says where a request comes from (Origin, Sec-Fetch-Site):
 * writes from another site's page are refused, so that no page can drive
 * the API with the user's credentials or address.  Requests that say
 * nothing (curl, scripts) are not a browser's.
 */

ngx_int_t
ngx_http_abtest_http_same_origin(ngx_http_request_t *r)
{
    u_char     *p, *last;
    ngx_str_t   origin, site, *host;

    if (ngx_http_abtest_http_header(r, "Sec-Fetch-Site", &site) == NGX_OK
        && !(site.len == sizeof("same-origin") - 1
             && ngx_strncasecmp(site.data, (u_char *) "same-origin",
                                site.len) == 0)
        && !(site.len == sizeof("none") - 1
             && ngx_strncasecmp(site.data, (u_char *) "none", site.len) == 0))
    {
        return NGX_DECLINED;
    }

    if (ngx_http_abtest_http_header(r, "Origin", &origin) != NGX_OK) {
        return NGX_OK;
    }

    /* "scheme://host[:port]", whose authority must be the Host */

    last = origin.data + origin.len;
    p = ngx_strlcasestrn(origin.data, last, (u_char *) "://", 3 - 1);

    if (p == NULL || r->headers_in.host == NULL) {
        return NGX_DECLINED;
    }

    p += 3;
    host = &r->headers_in.host->value;

    return ((size_t) (last - p) == host->len
            && ngx_strncasecmp(p, host->data, host->len) == 0)
           ? NGX_OK : NGX_DECLINED;
}


/*
 * Writes and the admin page answer only for a Host that is one of the
 * server's names (server_name: exact, wildcard or regular expression) or
 * the address the request came in on: a page whose own host name was
 * made to resolve to this server (DNS rebinding) is same-origin to the
 * browser, and "allow 127.0.0.1" lets it in, but its Host is its own.
 * A request without a Host (HTTP/1.0) is no browser's.  NGX_OK, or
 * NGX_DECLINED: not_own_host() answers.
 */

ngx_int_t
ngx_http_abtest_http_own_host(ngx_http_request_t *r)
{
    ngx_str_t  *host;

    host = &r->headers_in.server;

    return (host->len == 0
            || ngx_http_abtest_http_server_name(r, host) == NGX_OK
            || ngx_http_abtest_http_local_address(r, host) == NGX_OK)
           ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_http_abtest_http_not_own_host(ngx_http_request_t *r)
{
    return ngx_http_abtest_http_error(r, NGX_HTTP_MISDIRECTED_REQUEST,
                                      "Host: \"%V\" is not a name or an "
                                      "address of this server (server_name)",
                                      &r->headers_in.server);
}


/*
 * Every server's server_name, copied when the http block is parsed:
 * nginx keeps the list in its temporary pool, and builds the hash it
 * finds servers by only where several share an address.
 */

ngx_int_t
ngx_http_abtest_http_keep_names(ngx_conf_t *cf)
{
    ngx_uint_t                   i, k;
    ngx_http_server_name_t      *sn, *copy;
    ngx_http_core_srv_conf_t   **cscfp;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_abtest_srv_conf_t  *ascf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;

    for (i = 0; i < cmcf->servers.nelts; i++) {
        ascf = cscfp[i]->ctx->srv_conf[ngx_http_abtest_module.ctx_index];
        sn = cscfp[i]->server_names.elts;

        if (ngx_array_init(&ascf->names, cf->pool,
                           ngx_max(cscfp[i]->server_names.nelts, 1),
                           sizeof(ngx_http_server_name_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (k = 0; k < cscfp[i]->server_names.nelts; k++) {
            copy = ngx_array_push(&ascf->names);
            if (copy == NULL) {
                return NGX_ERROR;
            }

            *copy = sn[k];
        }
    }

    return NGX_OK;
}


/* the Host is one of the server's names: exact, wildcard or regex */

static ngx_int_t
ngx_http_abtest_http_server_name(ngx_http_request_t *r, ngx_str_t *host)
{
    u_char                      *name;
    size_t                       len;
    ngx_uint_t                   i;
    ngx_http_server_name_t      *sn;
    ngx_http_abtest_srv_conf_t  *ascf;

    ascf = ngx_http_get_module_srv_conf(r, ngx_http_abtest_module);
    sn = ascf->names.elts;

    for (i = 0; i < ascf->names.nelts; i++) {

#if (NGX_PCRE)
        if (sn[i].regex) {
            if (ngx_http_regex_exec(r, sn[i].regex, host) == NGX_OK) {
                return NGX_OK;
            }

            continue;
        }
#endif

        name = sn[i].name.data;
        len = sn[i].name.len;

        if (len == 0) {
            continue;
        }

        if (len == host->len && ngx_strncasecmp(name, host->data, len) == 0) {
            return NGX_OK;
        }

        /* "*.example.com" and ".example.com": any name below */
        if (name[0] == '*' || name[0] == '.') {
            if (name[0] == '*') {
                name++;
                len--;

            } else if (len - 1 == host->len
                       && ngx_strncasecmp(name + 1, host->data, len - 1)
                          == 0)
            {
                return NGX_OK;
            }

            if (host->len > len
                && ngx_strncasecmp(name, host->data + host->len - len, len)
                   == 0)
            {
                return NGX_OK;
            }

            continue;
        }

        /* "www.example.*": any name of that start */
        if (len > 2 && name[len - 1] == '*' && name[len - 2] == '.'
            && host->len > len - 1
            && ngx_strncasecmp(name, host->data, len - 1) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_abtest_http_local_address(ngx_http_request_t *r, ngx_str_t *host)
{
    u_char     addr[NGX_SOCKADDR_STRLEN];
    ngx_str_t  local, name;

    local.data = addr;
    local.len = NGX_SOCKADDR_STRLEN;

    if (ngx_connection_local_sockaddr(r->connection, &local, 0) != NGX_OK) {
        return NGX_DECLINED;
    }

    name = *host;

    /* "[::1]" */
    if (name.len > 2 && name.data[0] == '[' && name.data[name.len - 1] == ']')
    {
        name.data++;
        name.len -= 2;
    }

    return (name.len == local.len
            && ngx_strncasecmp(name.data, local.data, local.len) == 0)
           ? NGX_OK : NGX_DECLINED;
}


/*
 * Starts reading a JSON body of at most the location's body_max bytes:
 * another media type (form posts included) is a 415, a larger body a
 * 413, at once where its length is known, else as it is read (the
 * module's request body filter); all as JSON.
 */

ngx_int_t
ngx_http_abtest_http_read_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t                    rc;
    ngx_str_t                   *type;
    ngx_http_abtest_loc_conf_t  *alcf;

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (type == NULL
        || type->len < sizeof("application/json") - 1
        || ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) != 0
        || (type->len > sizeof("application/json") - 1
            && type->data[sizeof("application/json") - 1] != ';'
            && type->data[sizeof("application/json") - 1] != ' '))
    {
        /* form posts from other sites are refused here as well */
        return ngx_http_abtest_http_error(r,
                                    NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                    "Content-Type: must be application/json");
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    if (r->headers_in.content_length_n > alcf->body_max) {
        return ngx_http_abtest_http_too_large(r);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the location's limit on bodies, as JSON */

ngx_int_t
ngx_http_abtest_http_too_large(ngx_http_request_t *r)
{
    ngx_http_abtest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    return ngx_http_abtest_http_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "body: larger than %O bytes (%s)",
                                      alcf->body_max, alcf->body_max_name);
}


/*
 * The body that was read, parsed as JSON nested at most "max_depth"
 * levels, into "tree"; where it is NULL, what the handler returns: a 400
 * naming what is wrong (an empty body, where "expected" says what was
 * wanted), or a 500.  For small bodies only (the tree takes several
 * times the body's size).
 */

ngx_int_t
ngx_http_abtest_http_parse_body(ngx_http_request_t *r, ngx_uint_t max_depth,
    const char *expected, yajl_val *tree)
{
    u_char        err[256];
    off_t         len;
    ngx_int_t     rc;
    ngx_str_t     body;
    ngx_chain_t  *cl;

    *tree = NULL;

    len = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (len == 0) {
        return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                          "body: empty, expected %s",
                                          expected);
    }

    body.data = ngx_pnalloc(r->pool, (size_t) len + 1);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = 0;

    rc = ngx_http_abtest_http_read_body(r, ngx_http_abtest_http_copy, &body,
                                        &len);
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data[body.len] = '\0';

    err[0] = '\0';
    *tree = ngx_http_abtest_json_parse(r->pool, body.data, body.len,
                                       max_depth, err, sizeof(err));
    if (*tree == NULL) {
        return err[0] ? ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                                   "body: %s", err)
                      : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_abtest_http_copy(void *ctx, u_char *data, size_t len)
{
    ngx_str_t  *body = ctx;

    body->len = ngx_cpymem(body->data + body->len, data, len) - body->data;

    return NGX_OK;
}


/*
 * Hands the body that was read to "feed" part by part, as it lies in
 * memory or, from a temporary file, NGX_HTTP_ABTEST_BODY_PART bytes at a
 * time; "len" gets its size.  NGX_DECLINED: there is no body.
 */

ngx_int_t
ngx_http_abtest_http_read_body(ngx_http_request_t *r,
    ngx_http_abtest_body_pt feed, void *ctx, off_t *len)
{
    off_t         offset;
    u_char       *part;
    size_t        size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    *len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_DECLINED;
    }

    part = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            size = b->last - b->pos;

            /* an empty buffer may have no memory at all */
            if (size && feed(ctx, b->pos, size) != NGX_OK) {
                return NGX_ERROR;
            }

            *len += size;
            continue;
        }

        /* a body larger than client_body_buffer_size, in a temp file */

        if (part == NULL) {
            part = ngx_pnalloc(r->pool, NGX_HTTP_ABTEST_BODY_PART);
            if (part == NULL) {
                return NGX_ERROR;
            }
        }

        for (offset = b->file_pos; offset < b->file_last; offset += n) {
            size = (size_t) ngx_min(b->file_last - offset,
                                    NGX_HTTP_ABTEST_BODY_PART);

            n = ngx_read_file(b->file, part, size, offset);

            if (n != (ssize_t) size || feed(ctx, part, size) != NGX_OK) {
                return NGX_ERROR;
            }

            *len += size;
        }
    }

    return NGX_OK;
}


/* an optional integer argument; absent leaves "value" as it is */

ngx_int_t
ngx_http_abtest_http_arg(ngx_http_request_t *r, char *name, off_t min,
    off_t max, off_t *value)
{
    off_t      n;
    ngx_str_t  arg;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_OK;
    }

    n = ngx_atoof(arg.data, arg.len);

    if (n == NGX_ERROR || n < min || n > max) {
        return NGX_ERROR;
    }

    *value = n;

    return NGX_OK;
}


/* the first request header of that name */

ngx_int_t
ngx_http_abtest_http_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_DECLINED;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            *value = h[i].value;
            return NGX_OK;
        }
    }
}


ngx_int_t
ngx_http_abtest_http_add_header(ngx_http_request_t *r, char *key,
    char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


ngx_int_t
ngx_http_abtest_http_send_json(ngx_http_request_t *r, ngx_uint_t status,
    yajl_gen g)
{
    ngx_str_t  body;

    if (ngx_http_abtest_json_buf(g, r->pool, &body) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "abtest: could not produce JSON");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_abtest_http_send_text(r, status, &body);
}


/* "body" is JSON text, sent as it is */

ngx_int_t
ngx_http_abtest_http_send_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    static ngx_str_t  json = ngx_string("application/json");

    return ngx_http_abtest_http_send_typed(r, status, &json, body);
}


/* "body" of that Content-Type, never cached: run-time state */

ngx_int_t
ngx_http_abtest_http_send_typed(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    /* run-time state: never from a cache */
    if (ngx_http_abtest_http_add_header(r, "Cache-Control", "no-store")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * {"error": "..."} with the status; client mistakes are logged at info,
 * as nginx logs its own client errors, failures at error
 */

ngx_int_t
ngx_http_abtest_http_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char      *p, *s, *line, msg[NGX_MAX_ERROR_STR],
                 safe[NGX_MAX_ERROR_STR];
    va_list      args;
    yajl_gen     g;
    ngx_int_t    rc;
    ngx_uint_t   level;

    /* a body not read yet is not wanted: no "100 Continue" for it */
    r->expect_tested = 1;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    /*
     * a 503 is a condition the module logs once when it begins (a failing
     * events log, a store out of reach), not once per request it refuses
     */
    level = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR
             && status != NGX_HTTP_SERVICE_UNAVAILABLE)
            ? NGX_LOG_ERR : NGX_LOG_INFO;

    /* a message may quote a client's bytes: no line of its own in the log */
    for (s = msg, line = safe; s < p; s++) {
        *line++ = (*s < 0x20 || *s == 0x7f) ? '?' : *s;
    }

    ngx_log_error(level, r->connection->log, 0,
                  "abtest api: %d %*s", (int) status, p - msg, safe);

    g = ngx_http_abtest_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);
    ngx_http_abtest_json_literal(g, "error");
    ngx_http_abtest_json_str(g, msg, p - msg);
    yajl_gen_map_close(g);

    return ngx_http_abtest_http_send_json(r, status, g);
}
