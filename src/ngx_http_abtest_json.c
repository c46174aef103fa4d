
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#include "ngx_http_abtest_json.h"
#include "ngx_http_abtest_directive.h"


static void ngx_http_abtest_json_gen_cleanup(void *data);
static void ngx_http_abtest_json_tree_cleanup(void *data);


static ngx_str_t  ngx_http_abtest_state_json[] = {
    ngx_string("active"),
    ngx_string("inactive"),
    ngx_string("rollout"),
};


/* yajl allocates with malloc(): a pool cleanup frees it on every path */

yajl_gen
ngx_http_abtest_json_gen(ngx_pool_t *pool)
{
    yajl_gen             g;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NULL;
    }

    /* a string that is not UTF-8 fails instead of producing bad JSON */
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);

    cln->handler = ngx_http_abtest_json_gen_cleanup;
    cln->data = g;

    return g;
}


static void
ngx_http_abtest_json_gen_cleanup(void *data)
{
    yajl_gen_free(data);
}


/* "text" is NUL-terminated; the tree is freed with the pool */

yajl_val
ngx_http_abtest_json_parse(ngx_pool_t *pool, u_char *text, u_char *err,
    size_t err_len)
{
    yajl_val             tree;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    tree = yajl_tree_parse((const char *) text, (char *) err, err_len);
    if (tree == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_abtest_json_tree_cleanup;
    cln->data = tree;

    return tree;
}


static void
ngx_http_abtest_json_tree_cleanup(void *data)
{
    yajl_tree_free(data);
}


/* ISO 8601 in UTC with milliseconds: NGX_HTTP_ABTEST_ISO_LEN bytes */

u_char *
ngx_http_abtest_iso_time(u_char *buf, int64_t ms)
{
    ngx_tm_t  tm;

    ngx_gmtime((time_t) (ms / 1000), &tm);

    return ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                       (int) (ms % 1000));
}


/* an ISO 8601 time, or null for a negative "ms" */

void
ngx_http_abtest_json_time(yajl_gen g, int64_t ms)
{
    u_char  buf[NGX_HTTP_ABTEST_ISO_LEN], *p;

    if (ms < 0) {
        yajl_gen_null(g);
        return;
    }

    p = ngx_http_abtest_iso_time(buf, ms);

    ngx_http_abtest_json_str(g, buf, p - buf);
}


ngx_int_t
ngx_http_abtest_json_buf(yajl_gen g, ngx_pool_t *pool, ngx_str_t *out)
{
    size_t                len;
    const unsigned char  *buf;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, buf, len);
    out->data[len] = '\n';
    out->len = len + 1;

    return NGX_OK;
}


ngx_int_t
ngx_http_abtest_add_header(ngx_http_request_t *r, char *key, char *value)
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
ngx_http_abtest_json_send(ngx_http_request_t *r, ngx_uint_t status,
    yajl_gen g)
{
    ngx_str_t  body;

    if (ngx_http_abtest_json_buf(g, r->pool, &body) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "abtest: could not produce JSON");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_abtest_json_send_text(r, status, &body);
}


/* "body" is JSON text, sent as it is */

ngx_int_t
ngx_http_abtest_json_send_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;

    /* run-time state: never from a cache */
    if (ngx_http_abtest_add_header(r, "Cache-Control", "no-store") != NGX_OK) {
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
 * as nginx logs its own client errors
 */

ngx_int_t
ngx_http_abtest_json_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char      *p, msg[NGX_MAX_ERROR_STR];
    va_list      args;
    yajl_gen     g;
    ngx_uint_t   level;

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    level = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) ? NGX_LOG_ERR
                                                       : NGX_LOG_INFO;

    ngx_log_error(level, r->connection->log, 0,
                  "abtest api: %d %*s", (int) status, p - msg, msg);

    g = ngx_http_abtest_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* messages may quote client bytes: keep the JSON valid regardless */
    yajl_gen_config(g, yajl_gen_validate_utf8, 0);

    yajl_gen_map_open(g);
    ngx_http_abtest_json_literal(g, "error");
    ngx_http_abtest_json_str(g, msg, p - msg);
    yajl_gen_map_close(g);

    return ngx_http_abtest_json_send(r, status, g);
}


/*
 * One experiment as GET /api/experiments shows it: a superset of both
 * seed versions ("active" of the first, "state" of the later ones).
 */

void
ngx_http_abtest_json_experiment(yajl_gen g, ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_node_t *node)
{
    ngx_uint_t                i;
    ngx_http_abtest_group_t  *group;

    group = exp->groups.elts;

    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "title");
    ngx_http_abtest_json_str(g, exp->title.data, exp->title.len);

    ngx_http_abtest_json_literal(g, "groups");
    yajl_gen_map_open(g);

    for (i = 0; i < exp->groups.nelts; i++) {
        ngx_http_abtest_json_str(g, group[i].name.data, group[i].name.len);
        yajl_gen_integer(g, node->state.weights[i]);
    }

    yajl_gen_map_close(g);

    ngx_http_abtest_json_literal(g, "fallback");
    ngx_http_abtest_json_str(g, group[exp->fallback].name.data,
                             group[exp->fallback].name.len);

    ngx_http_abtest_json_literal(g, "state");
    ngx_http_abtest_json_state_name(g, node->state.state);

    ngx_http_abtest_json_literal(g, "active");
    yajl_gen_bool(g, node->state.state == NGX_HTTP_ABTEST_STATE_ACTIVE);

    ngx_http_abtest_json_literal(g, "rollout_group");

    if (node->state.rollout == NGX_HTTP_ABTEST_NO_GROUP) {
        yajl_gen_null(g);

    } else {
        ngx_http_abtest_json_str(g, group[node->state.rollout].name.data,
                                 group[node->state.rollout].name.len);
    }

    ngx_http_abtest_json_literal(g, "start");
    ngx_http_abtest_json_time(g, node->start);

    ngx_http_abtest_json_literal(g, "end");
    ngx_http_abtest_json_time(g, node->end);

    yajl_gen_map_close(g);
}


/*
 * {"A": 30, "B": 70}: exactly the experiment's groups, positive integer
 * weights summing to at most 2^31.  Weights come out in group order.
 */

ngx_int_t
ngx_http_abtest_json_weights(yajl_val obj, ngx_http_abtest_experiment_t *exp,
    uint32_t *weights, uint64_t *total, u_char *err, size_t err_len)
{
    size_t      i, len;
    uint64_t    sum;
    ngx_uint_t  group;
    long long   w;

    if (!YAJL_IS_OBJECT(obj)) {
        ngx_snprintf(err, err_len, "groups: must be an object%Z");
        return NGX_ERROR;
    }

    if (obj->u.object.len != exp->groups.nelts) {
        ngx_snprintf(err, err_len, "groups: must name the %ui groups of "
                     "\"%V\", no more, no less%Z", exp->groups.nelts,
                     &exp->name);
        return NGX_ERROR;
    }

    ngx_memzero(weights, exp->groups.nelts * sizeof(uint32_t));
    sum = 0;

    for (i = 0; i < obj->u.object.len; i++) {
        len = ngx_strlen(obj->u.object.keys[i]);
        group = ngx_http_abtest_find_group(exp,
                                        (u_char *) obj->u.object.keys[i],
                                        len);

        if (group == NGX_HTTP_ABTEST_NO_GROUP || weights[group] != 0) {
            ngx_snprintf(err, err_len, "groups: \"%*s\" is not a group of "
                         "\"%V\", or named twice%Z",
                         ngx_min(len, NGX_HTTP_ABTEST_NAME_MAX),
                         obj->u.object.keys[i], &exp->name);
            return NGX_ERROR;
        }

        if (!YAJL_IS_INTEGER(obj->u.object.values[i])) {
            ngx_snprintf(err, err_len, "groups.%*s: the weight must be a "
                         "positive integer%Z", len, obj->u.object.keys[i]);
            return NGX_ERROR;
        }

        w = YAJL_GET_INTEGER(obj->u.object.values[i]);

        if (w <= 0 || (uint64_t) w > NGX_HTTP_ABTEST_WEIGHT_TOTAL_MAX) {
            ngx_snprintf(err, err_len, "groups.%*s: the weight must be a "
                         "positive integer%Z", len, obj->u.object.keys[i]);
            return NGX_ERROR;
        }

        weights[group] = (uint32_t) w;
        sum += w;
    }

    if (sum > NGX_HTTP_ABTEST_WEIGHT_TOTAL_MAX) {
        ngx_snprintf(err, err_len, "groups: the weights sum to %uL, more "
                     "than 2^31%Z", sum);
        return NGX_ERROR;
    }

    *total = sum;

    return NGX_OK;
}


/* "active" | "inactive" | "rollout" */

ngx_int_t
ngx_http_abtest_json_state(yajl_val v, ngx_uint_t *state)
{
    ngx_uint_t   i;
    const char  *s;

    s = YAJL_GET_STRING(v);

    if (s == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(ngx_http_abtest_state_json) / sizeof(ngx_str_t);
         i++)
    {
        if (ngx_strcmp(s, ngx_http_abtest_state_json[i].data) == 0) {
            *state = i;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


/* a group name or null (NO_GROUP) */

ngx_int_t
ngx_http_abtest_json_group(yajl_val v, ngx_http_abtest_experiment_t *exp,
    ngx_uint_t *group)
{
    const char  *s;

    if (YAJL_IS_NULL(v)) {
        *group = NGX_HTTP_ABTEST_NO_GROUP;
        return NGX_OK;
    }

    s = YAJL_GET_STRING(v);

    if (s == NULL) {
        return NGX_ERROR;
    }

    *group = ngx_http_abtest_find_group(exp, (u_char *) s, ngx_strlen(s));

    return (*group == NGX_HTTP_ABTEST_NO_GROUP) ? NGX_ERROR : NGX_OK;
}


void
ngx_http_abtest_json_state_name(yajl_gen g, ngx_uint_t state)
{
    ngx_http_abtest_json_str(g, ngx_http_abtest_state_json[state].data,
                             ngx_http_abtest_state_json[state].len);
}


/*
 * Checks client JSON before yajl's tree parser sees it: the tree is freed
 * recursively, so its depth is bounded first, and yajl's strings end at a
 * NUL, so neither a NUL byte nor an escaped one (\u0000) is accepted,
 * rather than being silently cut.  Syntax is left to yajl.
 */

ngx_int_t
ngx_http_abtest_json_check(u_char *p, size_t len, ngx_uint_t max_depth,
    u_char *err, size_t err_len)
{
    u_char      *last;
    ngx_uint_t   depth;

    last = p + len;
    depth = 0;

    while (p < last) {

        switch (*p++) {

        case '\0':
            ngx_snprintf(err, err_len, "body: holds a NUL byte%Z");
            return NGX_ERROR;

        case '"':
            /* to the end of the string: its bytes need no other look */

            while (p < last && *p != '"') {

                if (*p == '\0') {
                    ngx_snprintf(err, err_len, "body: holds a NUL byte%Z");
                    return NGX_ERROR;
                }

                if (*p++ != '\\' || p == last) {
                    continue;
                }

                if (*p == 'u' && last - p > 4
                    && ngx_strncmp(p + 1, "0000", 4) == 0)
                {
                    ngx_snprintf(err, err_len, "body: \\u0000 in a string "
                                 "is not supported%Z");
                    return NGX_ERROR;
                }

                p++;
            }

            p++;
            break;

        case '{':
        case '[':
            if (++depth > max_depth) {
                ngx_snprintf(err, err_len, "body: nested deeper than %ui "
                             "levels%Z", max_depth);
                return NGX_ERROR;
            }

            break;

        case '}':
        case ']':
            if (depth) {
                depth--;
            }

            break;
        }
    }

    return NGX_OK;
}


/* generates a parsed value again; its depth was bounded by json_check */

yajl_gen_status
ngx_http_abtest_json_copy(yajl_gen g, yajl_val v)
{
    size_t           i;
    const char      *s;
    yajl_gen_status  rc;

    switch (v->type) {

    case yajl_t_string:
        s = YAJL_GET_STRING(v);
        return yajl_gen_string(g, (const unsigned char *) s, ngx_strlen(s));

    case yajl_t_number:
        /* the number as it was written, not as a double rounded it */
        return yajl_gen_number(g, v->u.number.r, ngx_strlen(v->u.number.r));

    case yajl_t_object:
        rc = yajl_gen_map_open(g);

        for (i = 0; rc == yajl_gen_status_ok && i < v->u.object.len; i++) {
            s = v->u.object.keys[i];
            rc = yajl_gen_string(g, (const unsigned char *) s,
                                 ngx_strlen(s));

            if (rc == yajl_gen_status_ok) {
                rc = ngx_http_abtest_json_copy(g, v->u.object.values[i]);
            }
        }

        return (rc == yajl_gen_status_ok) ? yajl_gen_map_close(g) : rc;

    case yajl_t_array:
        rc = yajl_gen_array_open(g);

        for (i = 0; rc == yajl_gen_status_ok && i < v->u.array.len; i++) {
            rc = ngx_http_abtest_json_copy(g, v->u.array.values[i]);
        }

        return (rc == yajl_gen_status_ok) ? yajl_gen_array_close(g) : rc;

    case yajl_t_true:
        return yajl_gen_bool(g, 1);

    case yajl_t_false:
        return yajl_gen_bool(g, 0);

    default:
        return yajl_gen_null(g);
    }
}


/* the length of a string as a quoted JSON string */

size_t
ngx_http_abtest_json_quoted_len(u_char *s, size_t len)
{
    return len + 2 + ngx_escape_json(NULL, s, len);
}


u_char *
ngx_http_abtest_json_quote(u_char *dst, u_char *s, size_t len)
{
    *dst++ = '"';
    dst = (u_char *) ngx_escape_json(dst, s, len);
    *dst++ = '"';

    return dst;
}


/* a number with 15 significant digits, or null where it is not finite */

void
ngx_http_abtest_json_double(yajl_gen g, double v)
{
    int   n;
    char  buf[32];

    if (!isfinite(v)) {
        yajl_gen_null(g);
        return;
    }

    n = snprintf(buf, sizeof(buf), "%.15g", v);

    yajl_gen_number(g, buf, n);
}
