
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * Reads a body of the seed's events (one event object, or an array of at
 * most 1000) as it streams through yajl, checking every limit while it
 * reads: nothing but the accepted fields is kept, so that a body costs
 * memory in proportion to what is accepted, never a tree of all of it.
 *
 * What is wrong is told as a whole-tree parser would tell it: a NUL byte
 * anywhere first, then the first error of the JSON itself (syntax, depth,
 * "\u0000"), then the body's shape (not an object or array, an empty
 * array, too many events), then the first event that is not valid.  Past
 * an event's error the rest is only checked, not kept.
 */


#include "ngx_http_abtest_event_parser.h"
#include "ngx_http_abtest_json.h"
#include "ngx_http_abtest_util.h"

#include <yajl/yajl_parse.h>


#define NGX_HTTP_ABTEST_ROOT_NONE    0
#define NGX_HTTP_ABTEST_ROOT_SCALAR  1
#define NGX_HTTP_ABTEST_ROOT_OBJECT  2
#define NGX_HTTP_ABTEST_ROOT_ARRAY   3

#define NGX_HTTP_ABTEST_VALUE_NULL       0
#define NGX_HTTP_ABTEST_VALUE_BOOLEAN    1
#define NGX_HTTP_ABTEST_VALUE_NUMBER     2
#define NGX_HTTP_ABTEST_VALUE_STRING     3
#define NGX_HTTP_ABTEST_VALUE_CONTAINER  4

#define NGX_HTTP_ABTEST_NO_FIELD         ((ngx_uint_t) -1)

/* what happens inside params */
#define NGX_HTTP_ABTEST_PARAMS_VALUE     0
#define NGX_HTTP_ABTEST_PARAMS_OPEN      1
#define NGX_HTTP_ABTEST_PARAMS_CLOSE     2


/* a value as yajl hands it over: its text for strings and numbers */
typedef struct {
    ngx_uint_t                 type;
    u_char                    *data;
    size_t                     len;
    ngx_uint_t                 boolean;
} ngx_http_abtest_json_value_t;


struct ngx_http_abtest_event_parser_s {
    ngx_pool_t                      *pool;
    yajl_handle                      handle;
    yajl_gen                         gen;          /* params, made again */
    ngx_str_t                        own;          /* the request's device */
    ngx_uint_t                       trusted;      /* any device may be */
    ngx_uint_t                       status;       /* of event_err */

    ngx_array_t                     *events;       /* event_fields_t */
    ngx_uint_t                       nevents;      /* begun, all counted */

    ngx_uint_t                       root;
    ngx_uint_t                       depth;        /* open containers */
    ngx_uint_t                       event_depth;  /* depth of an event */
    ngx_uint_t                       params_depth; /* in params, or 0 */
    ngx_uint_t                       ignore_depth; /* skipped value, or 0 */

    /* the event being read */
    ngx_uint_t                       field;        /* next value's */
    ngx_uint_t                       seen;
    ngx_http_abtest_event_fields_t   f;
    ngx_str_t                        device[2];    /* deviceId, device_id */

    unsigned                         in_event:1;
    unsigned                         skip:1;       /* an event was wrong */
    unsigned                         failed:1;     /* the JSON was wrong */
    unsigned                         nul:1;
    unsigned                         no_memory:1;

    u_char                           fatal[128];
    u_char                           event_err[256];
};


typedef ngx_int_t (*ngx_http_abtest_field_pt)(
    ngx_http_abtest_event_parser_t *p, ngx_str_t *key,
    ngx_http_abtest_json_value_t *v, ngx_str_t *field);


typedef struct {
    ngx_str_t                  key;
    ngx_http_abtest_field_pt   parse;
    size_t                     offset;       /* of its ngx_str_t in "p" */
} ngx_http_abtest_event_field_t;


static int ngx_http_abtest_ep_null(void *ctx);
static int ngx_http_abtest_ep_boolean(void *ctx, int b);
static int ngx_http_abtest_ep_number(void *ctx, const char *s, size_t len);
static ngx_int_t ngx_http_abtest_ep_text(ngx_http_abtest_event_parser_t *p,
    const unsigned char *s, size_t len);
static int ngx_http_abtest_ep_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_abtest_ep_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_abtest_ep_start_map(void *ctx);
static int ngx_http_abtest_ep_start_array(void *ctx);
static int ngx_http_abtest_ep_end_map(void *ctx);
static int ngx_http_abtest_ep_end_array(void *ctx);
static int ngx_http_abtest_ep_close(ngx_http_abtest_event_parser_t *p,
    ngx_uint_t map);
static int ngx_http_abtest_ep_scalar(ngx_http_abtest_event_parser_t *p,
    ngx_http_abtest_json_value_t *v);
static int ngx_http_abtest_ep_open(ngx_http_abtest_event_parser_t *p,
    ngx_uint_t map);
static ngx_int_t ngx_http_abtest_ep_params(ngx_http_abtest_event_parser_t *p,
    ngx_uint_t what, ngx_http_abtest_json_value_t *v, ngx_uint_t map);
static ngx_int_t ngx_http_abtest_ep_field(ngx_http_abtest_event_parser_t *p,
    ngx_http_abtest_json_value_t *v);
static void ngx_http_abtest_ep_begin_event(ngx_http_abtest_event_parser_t *p);
static ngx_int_t ngx_http_abtest_ep_end_event(
    ngx_http_abtest_event_parser_t *p);
static void ngx_http_abtest_ep_error(ngx_http_abtest_event_parser_t *p,
    const char *fmt, ...);
static int ngx_http_abtest_ep_result(ngx_http_abtest_event_parser_t *p,
    ngx_int_t rc);
static ngx_int_t ngx_http_abtest_ep_copy(ngx_http_abtest_event_parser_t *p,
    ngx_str_t *to, u_char *data, size_t len, ngx_uint_t quote);
static ngx_int_t ngx_http_abtest_field_name(
    ngx_http_abtest_event_parser_t *p, ngx_str_t *key,
    ngx_http_abtest_json_value_t *v, ngx_str_t *field);
static ngx_int_t ngx_http_abtest_field_ts(ngx_http_abtest_event_parser_t *p,
    ngx_str_t *key, ngx_http_abtest_json_value_t *v, ngx_str_t *field);
static ngx_int_t ngx_http_abtest_field_text(
    ngx_http_abtest_event_parser_t *p, ngx_str_t *key,
    ngx_http_abtest_json_value_t *v, ngx_str_t *field);
static ngx_int_t ngx_http_abtest_field_device(
    ngx_http_abtest_event_parser_t *p, ngx_str_t *key,
    ngx_http_abtest_json_value_t *v, ngx_str_t *field);
static ngx_int_t ngx_http_abtest_field_params(
    ngx_http_abtest_event_parser_t *p, ngx_str_t *key,
    ngx_http_abtest_json_value_t *v, ngx_str_t *field);


static yajl_callbacks  ngx_http_abtest_ep_callbacks = {
    ngx_http_abtest_ep_null,
    ngx_http_abtest_ep_boolean,
    NULL,
    NULL,
    ngx_http_abtest_ep_number,
    ngx_http_abtest_ep_string,
    ngx_http_abtest_ep_start_map,
    ngx_http_abtest_ep_key,
    ngx_http_abtest_ep_end_map,
    ngx_http_abtest_ep_start_array,
    ngx_http_abtest_ep_end_array
};


#define ngx_http_abtest_field(name)                                         \
    offsetof(ngx_http_abtest_event_parser_t, name)

#define NGX_HTTP_ABTEST_FIELD_PARAMS  6


/* the seed's event fields, each at most once in an event */
static ngx_http_abtest_event_field_t  ngx_http_abtest_event_fields[] = {
    { ngx_string("event"), ngx_http_abtest_field_name,
      ngx_http_abtest_field(f.name) },
    { ngx_string("ts"), ngx_http_abtest_field_ts,
      ngx_http_abtest_field(f.ts) },
    { ngx_string("source"), ngx_http_abtest_field_text,
      ngx_http_abtest_field(f.source) },
    { ngx_string("exp_group"), ngx_http_abtest_field_text,
      ngx_http_abtest_field(f.exp_group) },
    { ngx_string("deviceId"), ngx_http_abtest_field_device,
      ngx_http_abtest_field(device[0]) },
    { ngx_string("device_id"), ngx_http_abtest_field_device,
      ngx_http_abtest_field(device[1]) },
    { ngx_string("params"), ngx_http_abtest_field_params,
      ngx_http_abtest_field(f.params) },
    { ngx_null_string, NULL, 0 }
};


static ngx_str_t  ngx_http_abtest_json_null = ngx_string("null");


/*
 * "own" is the request's device, for events that name none; unless the
 * sender is "trusted", no other device may be named.
 */

ngx_http_abtest_event_parser_t *
ngx_http_abtest_event_parser_create(ngx_pool_t *pool, ngx_str_t *own,
    ngx_uint_t trusted)
{
    yajl_alloc_funcs                 funcs;
    ngx_http_abtest_event_parser_t  *p;

    p = ngx_pcalloc(pool, sizeof(ngx_http_abtest_event_parser_t));
    if (p == NULL) {
        return NULL;
    }

    p->pool = pool;
    p->own = *own;
    p->trusted = trusted;
    p->status = NGX_HTTP_BAD_REQUEST;
    p->field = NGX_HTTP_ABTEST_NO_FIELD;

    p->events = ngx_array_create(pool, 4,
                                 sizeof(ngx_http_abtest_event_fields_t));
    p->gen = ngx_http_abtest_json_gen(pool);

    if (p->events == NULL || p->gen == NULL) {
        return NULL;
    }

    ngx_http_abtest_json_alloc_funcs(&funcs, pool);

    p->handle = yajl_alloc(&ngx_http_abtest_ep_callbacks, &funcs, p);
    if (p->handle == NULL) {
        return NULL;
    }

    return p;
}


/*
 * A part of the body.  After an error of the JSON itself only NUL bytes
 * are looked for, which a whole-body check would have told first.
 */

ngx_int_t
ngx_http_abtest_event_parser_feed(ngx_http_abtest_event_parser_t *p,
    u_char *data, size_t len)
{
    u_char       *msg, *nl;
    yajl_status   rc;

    if (len == 0 || p->nul) {
        return NGX_OK;
    }

    if (memchr(data, '\0', len)) {
        p->nul = 1;
        p->failed = 1;
        return NGX_OK;
    }

    if (p->failed) {
        return NGX_OK;
    }

    rc = yajl_parse(p->handle, data, len);

    if (rc == yajl_status_ok) {
        return NGX_OK;
    }

    p->failed = 1;

    if (p->no_memory) {
        return NGX_ERROR;
    }

    if (p->fatal[0] == '\0') {
        /* yajl's message ends with a newline, or spans lines: the first */
        msg = yajl_get_error(p->handle, 0, data, len);

        if (msg) {
            nl = (u_char *) ngx_strchr(msg, '\n');
            if (nl) {
                *nl = '\0';
            }
        }

        ngx_snprintf(p->fatal, sizeof(p->fatal), "body: invalid JSON: %s%Z",
                     msg ? msg : (u_char *) "");
    }

    return NGX_OK;
}


/*
 * NGX_OK with the events (and "batch" set for an array of them),
 * NGX_DECLINED with "err" saying what is wrong and the HTTP "status" to
 * answer, NGX_ERROR without memory.
 */

ngx_int_t
ngx_http_abtest_event_parser_finish(ngx_http_abtest_event_parser_t *p,
    ngx_array_t **events, ngx_uint_t *batch, u_char **err,
    ngx_uint_t *status)
{
    if (!p->failed) {
        if (yajl_complete_parse(p->handle) != yajl_status_ok) {
            if (p->no_memory) {
                return NGX_ERROR;
            }

            p->failed = 1;

            if (p->fatal[0] == '\0') {
                ngx_sprintf(p->fatal,
                            "body: invalid JSON: parse error: premature EOF%Z");
            }
        }
    }

    if (p->no_memory) {
        return NGX_ERROR;
    }

    *err = p->fatal;
    *status = NGX_HTTP_BAD_REQUEST;

    if (p->nul) {
        ngx_sprintf(p->fatal, "body: holds a NUL byte%Z");
        return NGX_DECLINED;
    }

    if (p->failed) {
        return NGX_DECLINED;
    }

    if (p->root == NGX_HTTP_ABTEST_ROOT_SCALAR) {
        ngx_sprintf(p->fatal,
                    "body: must be an event object or an array of them%Z");
        return NGX_DECLINED;
    }

    if (p->root == NGX_HTTP_ABTEST_ROOT_ARRAY && p->nevents == 0) {
        ngx_sprintf(p->fatal, "body: an empty array, expected events%Z");
        return NGX_DECLINED;
    }

    if (p->nevents > NGX_HTTP_ABTEST_EVENTS_BATCH) {
        ngx_sprintf(p->fatal, "body: more than %d events in one request%Z",
                    NGX_HTTP_ABTEST_EVENTS_BATCH);
        return NGX_DECLINED;
    }

    if (p->event_err[0]) {
        *err = p->event_err;
        *status = p->status;
        return NGX_DECLINED;
    }

    *events = p->events;
    *batch = (p->root == NGX_HTTP_ABTEST_ROOT_ARRAY);

    return NGX_OK;
}


static int
ngx_http_abtest_ep_null(void *ctx)
{
    ngx_http_abtest_json_value_t  v = { NGX_HTTP_ABTEST_VALUE_NULL,
                                        NULL, 0, 0 };

    return ngx_http_abtest_ep_scalar(ctx, &v);
}


static int
ngx_http_abtest_ep_boolean(void *ctx, int b)
{
    ngx_http_abtest_json_value_t  v = { NGX_HTTP_ABTEST_VALUE_BOOLEAN,
                                        NULL, 0, 0 };

    v.boolean = b;

    return ngx_http_abtest_ep_scalar(ctx, &v);
}


/* the number as it was written */

static int
ngx_http_abtest_ep_number(void *ctx, const char *s, size_t len)
{
    ngx_http_abtest_json_value_t  v = { NGX_HTTP_ABTEST_VALUE_NUMBER,
                                        NULL, 0, 0 };

    v.data = (u_char *) s;
    v.len = len;

    return ngx_http_abtest_ep_scalar(ctx, &v);
}


/*
 * A string or key as the body has it: JSON's "\u0000" would cut a C
 * string, and what yajl lets through of invalid UTF-8 (overlong forms,
 * surrogates, code points above U+10FFFF) would be stored and echoed:
 * both refused, the second with yajl's own message for the rest.
 */

static ngx_int_t
ngx_http_abtest_ep_text(ngx_http_abtest_event_parser_t *p,
    const unsigned char *s, size_t len)
{
    ngx_str_t  text;

    if (memchr(s, '\0', len)) {
        ngx_sprintf(p->fatal, "body: \\u0000 in a string is not supported%Z");
        return NGX_ERROR;
    }

    text.data = (u_char *) s;
    text.len = len;

    if (ngx_http_abtest_valid_utf8(&text) != NGX_OK) {
        ngx_sprintf(p->fatal, "body: " NGX_HTTP_ABTEST_JSON_BAD_UTF8 "%Z");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static int
ngx_http_abtest_ep_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_abtest_event_parser_t *p = ctx;

    ngx_http_abtest_json_value_t  v = { NGX_HTTP_ABTEST_VALUE_STRING,
                                        NULL, 0, 0 };

    if (ngx_http_abtest_ep_text(p, s, len) != NGX_OK) {
        return 0;
    }

    v.data = (u_char *) s;
    v.len = len;

    return ngx_http_abtest_ep_scalar(p, &v);
}


static int
ngx_http_abtest_ep_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_abtest_event_parser_t *p = ctx;

    ngx_str_t                       name;
    ngx_uint_t                      k;
    ngx_http_abtest_event_field_t  *field;

    if (ngx_http_abtest_ep_text(p, s, len) != NGX_OK) {
        return 0;
    }

    if (p->ignore_depth || p->skip) {
        return 1;
    }

    if (p->params_depth) {
        if (yajl_gen_string(p->gen, s, len) != yajl_gen_status_ok) {
            ngx_http_abtest_ep_error(p, "params: cannot be stored");
        }

        return 1;
    }

    field = ngx_http_abtest_event_fields;

    for (k = 0; field[k].key.len; k++) {
        if (field[k].key.len == len
            && ngx_strncmp(field[k].key.data, s, len) == 0)
        {
            p->field = k;
            return 1;
        }
    }

    /* a client's name is whole in a message, or left out (it is UTF-8) */
    if (len <= NGX_HTTP_ABTEST_NAME_MAX) {
        name.data = (u_char *) s;
        name.len = len;

    } else {
        ngx_str_set(&name, "(a name longer than 64 bytes)");
    }

    ngx_http_abtest_ep_error(p, "%V: unknown field (extra data goes in "
                             "params)", &name);

    return 1;
}


static int
ngx_http_abtest_ep_start_map(void *ctx)
{
    return ngx_http_abtest_ep_open(ctx, 1);
}


static int
ngx_http_abtest_ep_start_array(void *ctx)
{
    return ngx_http_abtest_ep_open(ctx, 0);
}


static int
ngx_http_abtest_ep_open(ngx_http_abtest_event_parser_t *p, ngx_uint_t map)
{
    ngx_http_abtest_json_value_t  v = { NGX_HTTP_ABTEST_VALUE_CONTAINER,
                                        NULL, 0, 0 };

    if (p->depth == NGX_HTTP_ABTEST_EVENTS_DEPTH) {
        ngx_sprintf(p->fatal, "body: nested deeper than %d levels%Z",
                    NGX_HTTP_ABTEST_EVENTS_DEPTH);
        return 0;
    }

    p->depth++;

    if (p->ignore_depth) {
        return 1;
    }

    if (p->params_depth) {
        return ngx_http_abtest_ep_result(p,
                                ngx_http_abtest_ep_params(p,
                                                NGX_HTTP_ABTEST_PARAMS_OPEN,
                                                NULL, map));
    }

    if (p->depth == 1) {
        p->root = map ? NGX_HTTP_ABTEST_ROOT_OBJECT
                      : NGX_HTTP_ABTEST_ROOT_ARRAY;

        if (map) {
            p->event_depth = 1;
            ngx_http_abtest_ep_begin_event(p);
        }

        return 1;
    }

    if (p->root == NGX_HTTP_ABTEST_ROOT_ARRAY && p->depth == 2) {
        p->event_depth = 2;
        ngx_http_abtest_ep_begin_event(p);

        if (!map) {
            ngx_http_abtest_ep_error(p, ": must be an event object");
            p->ignore_depth = p->depth;
            p->in_event = 0;
        }

        return 1;
    }

    /* an object or array as a field's value */

    if (p->skip) {
        p->ignore_depth = p->depth;
        return 1;
    }

    if (map && p->field == NGX_HTTP_ABTEST_FIELD_PARAMS) {
        p->params_depth = p->depth;

        yajl_gen_clear(p->gen);
        yajl_gen_reset(p->gen, NULL);

        return ngx_http_abtest_ep_result(p,
                                ngx_http_abtest_ep_params(p,
                                                NGX_HTTP_ABTEST_PARAMS_OPEN,
                                                NULL, 1));
    }

    /* which no field but params can be: the field's own refusal */
    p->ignore_depth = p->depth;

    return ngx_http_abtest_ep_result(p, ngx_http_abtest_ep_field(p, &v));
}


static int
ngx_http_abtest_ep_end_map(void *ctx)
{
    return ngx_http_abtest_ep_close(ctx, 1);
}


static int
ngx_http_abtest_ep_end_array(void *ctx)
{
    return ngx_http_abtest_ep_close(ctx, 0);
}


static int
ngx_http_abtest_ep_close(ngx_http_abtest_event_parser_t *p, ngx_uint_t map)
{
    ngx_uint_t  depth;

    depth = p->depth--;

    if (p->ignore_depth) {
        if (depth == p->ignore_depth) {
            p->ignore_depth = 0;
            p->field = NGX_HTTP_ABTEST_NO_FIELD;
        }

        return 1;
    }

    if (p->params_depth) {
        return ngx_http_abtest_ep_result(p,
                                ngx_http_abtest_ep_params(p,
                                                NGX_HTTP_ABTEST_PARAMS_CLOSE,
                                                NULL, map));
    }

    if (depth == p->event_depth && p->in_event) {
        return ngx_http_abtest_ep_result(p, ngx_http_abtest_ep_end_event(p));
    }

    return 1;
}


static int
ngx_http_abtest_ep_scalar(ngx_http_abtest_event_parser_t *p,
    ngx_http_abtest_json_value_t *v)
{
    if (p->ignore_depth) {
        return 1;
    }

    if (p->params_depth) {
        return ngx_http_abtest_ep_result(p,
                                ngx_http_abtest_ep_params(p,
                                                NGX_HTTP_ABTEST_PARAMS_VALUE,
                                                v, 0));
    }

    if (p->depth == 0) {
        p->root = NGX_HTTP_ABTEST_ROOT_SCALAR;
        return 1;
    }

    if (p->root == NGX_HTTP_ABTEST_ROOT_ARRAY && p->depth == 1) {
        ngx_http_abtest_ep_begin_event(p);
        ngx_http_abtest_ep_error(p, ": must be an event object");
        p->in_event = 0;
        return 1;
    }

    if (p->skip) {
        return 1;
    }

    return ngx_http_abtest_ep_result(p, ngx_http_abtest_ep_field(p, v));
}


/*
 * Inside params: a value, an opening or a closing (of an object where
 * "map" is set), made again into the generator within PARAMS_MAX bytes.
 * The closing of params itself completes the field.
 */

static ngx_int_t
ngx_http_abtest_ep_params(ngx_http_abtest_event_parser_t *p, ngx_uint_t what,
    ngx_http_abtest_json_value_t *v, ngx_uint_t map)
{
    size_t                len;
    yajl_gen              g;
    ngx_uint_t            done;
    yajl_gen_status       rc;
    const unsigned char  *buf;

    /* the depth is already one less when params' own object closes */
    done = (what == NGX_HTTP_ABTEST_PARAMS_CLOSE
            && p->depth + 1 == p->params_depth);

    if (done) {
        p->params_depth = 0;
    }

    if (p->skip) {
        return NGX_OK;
    }

    g = p->gen;

    switch (what) {

    case NGX_HTTP_ABTEST_PARAMS_OPEN:
        rc = map ? yajl_gen_map_open(g) : yajl_gen_array_open(g);
        break;

    case NGX_HTTP_ABTEST_PARAMS_CLOSE:
        rc = map ? yajl_gen_map_close(g) : yajl_gen_array_close(g);
        break;

    default: /* NGX_HTTP_ABTEST_PARAMS_VALUE */

        switch (v->type) {

        case NGX_HTTP_ABTEST_VALUE_NULL:
            rc = yajl_gen_null(g);
            break;

        case NGX_HTTP_ABTEST_VALUE_BOOLEAN:
            rc = yajl_gen_bool(g, v->boolean);
            break;

        case NGX_HTTP_ABTEST_VALUE_NUMBER:
            rc = yajl_gen_number(g, (const char *) v->data, v->len);
            break;

        default: /* NGX_HTTP_ABTEST_VALUE_STRING */
            rc = yajl_gen_string(g, v->data, v->len);
        }
    }

    if (rc != yajl_gen_status_ok
        || yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
    {
        ngx_http_abtest_ep_error(p, "params: cannot be stored");
        return NGX_OK;
    }

    if (len > NGX_HTTP_ABTEST_PARAMS_MAX) {
        ngx_http_abtest_ep_error(p, "params: larger than %d bytes",
                                 NGX_HTTP_ABTEST_PARAMS_MAX);
        return NGX_OK;
    }

    if (!done) {
        return NGX_OK;
    }

    if (ngx_http_abtest_ep_copy(p, &p->f.params, (u_char *) buf, len, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_abtest_ep_field(p, NULL);
}


/*
 * A field's value ("v" NULL: params, made already).  Then the field is
 * marked seen, once only.
 */

static ngx_int_t
ngx_http_abtest_ep_field(ngx_http_abtest_event_parser_t *p,
    ngx_http_abtest_json_value_t *v)
{
    ngx_int_t                       rc;
    ngx_uint_t                      k;
    ngx_http_abtest_event_field_t  *field;

    k = p->field;
    p->field = NGX_HTTP_ABTEST_NO_FIELD;

    if (k == NGX_HTTP_ABTEST_NO_FIELD) {
        return NGX_OK;
    }

    field = &ngx_http_abtest_event_fields[k];

    if (v) {
        rc = field->parse(p, &field->key, v,
                          (ngx_str_t *) ((u_char *) p + field->offset));
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (p->seen & (1 << k)) {
        ngx_http_abtest_ep_error(p, "%V: given twice", &field->key);
        return NGX_OK;
    }

    p->seen |= 1 << k;

    return NGX_OK;
}


static void
ngx_http_abtest_ep_begin_event(ngx_http_abtest_event_parser_t *p)
{
    p->nevents++;

    if (p->skip || p->nevents > NGX_HTTP_ABTEST_EVENTS_BATCH) {
        /* only counted: the body is refused already */
        p->skip = 1;
        return;
    }

    ngx_memzero(&p->f, sizeof(ngx_http_abtest_event_fields_t));
    p->f.ts = ngx_http_abtest_json_null;
    p->f.source = ngx_http_abtest_json_null;
    ngx_str_set(&p->f.params, "{}");

    ngx_str_null(&p->device[0]);
    ngx_str_null(&p->device[1]);

    p->seen = 0;
    p->field = NGX_HTTP_ABTEST_NO_FIELD;
    p->in_event = 1;
}


/* what an event needs as a whole: a name, and one device */

static ngx_int_t
ngx_http_abtest_ep_end_event(ngx_http_abtest_event_parser_t *p)
{
    ngx_str_t                       *device;
    ngx_http_abtest_event_fields_t  *f;

    p->in_event = 0;

    if (p->skip) {
        return NGX_OK;
    }

    if (p->f.name.data == NULL) {
        ngx_http_abtest_json_value_t  none = { NGX_HTTP_ABTEST_VALUE_NULL,
                                               NULL, 0, 0 };

        return ngx_http_abtest_field_name(p, NULL, &none, &p->f.name);
    }

    device = p->device;

    if (device[0].data && device[1].data
        && (device[0].len != device[1].len
            || ngx_strncmp(device[0].data, device[1].data, device[0].len)
               != 0))
    {
        ngx_http_abtest_ep_error(p, "device_id: differs from deviceId");
        return NGX_OK;
    }

    p->f.device_id = device[0].data ? device[0]
                                    : (device[1].data ? device[1] : p->own);

    if (p->f.device_id.len == 0) {
        ngx_http_abtest_ep_error(p, "deviceId: missing, and the request has "
                                 "no device cookie");
        return NGX_OK;
    }

    /* a browser speaks for its own device only */
    if (!p->trusted
        && (p->f.device_id.len != p->own.len
            || ngx_strncmp(p->f.device_id.data, p->own.data, p->own.len)
               != 0))
    {
        ngx_http_abtest_ep_error(p, "deviceId: not the device of the "
                                 "request's device cookie; only a trusted "
                                 "events location (abtest_api events "
                                 "trusted=on) takes events of other "
                                 "devices");
        p->status = NGX_HTTP_FORBIDDEN;
        return NGX_OK;
    }

    f = ngx_array_push(p->events);
    if (f == NULL) {
        return NGX_ERROR;
    }

    *f = p->f;

    return NGX_OK;
}


/* the first event's error, "[i]." before it in a batch; then skip */

static void
ngx_http_abtest_ep_error(ngx_http_abtest_event_parser_t *p,
    const char *fmt, ...)
{
    u_char   *s, *last;
    va_list   args;

    if (p->skip) {
        return;
    }

    p->skip = 1;

    s = p->event_err;
    last = s + sizeof(p->event_err) - 1;

    if (p->root == NGX_HTTP_ABTEST_ROOT_ARRAY) {
        s = ngx_slprintf(s, last, "[%ui]", p->nevents - 1);

        if (fmt[0] != ':') {
            *s++ = '.';
        }

    } else if (fmt[0] == ':') {
        fmt += 2;
    }

    va_start(args, fmt);
    s = ngx_vslprintf(s, last, fmt, args);
    va_end(args);

    *s = '\0';
}


static int
ngx_http_abtest_ep_result(ngx_http_abtest_event_parser_t *p, ngx_int_t rc)
{
    if (rc == NGX_ERROR) {
        p->no_memory = 1;
        return 0;
    }

    return 1;
}


/* a client's short text, copied out of yajl's buffer, or quoted as JSON */

static ngx_int_t
ngx_http_abtest_ep_copy(ngx_http_abtest_event_parser_t *p, ngx_str_t *to,
    u_char *data, size_t len, ngx_uint_t quote)
{
    size_t  size;

    size = quote ? ngx_http_abtest_json_quoted_len(data, len) : len;

    to->data = ngx_pnalloc(p->pool, size ? size : 1);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    to->len = quote ? (size_t) (ngx_http_abtest_json_quote(to->data, data, len)
                                - to->data)
                    : (size_t) (ngx_cpymem(to->data, data, len) - to->data);

    return NGX_OK;
}


/* "event": a name of 1 to 64 bytes of UTF-8 without control characters */

static ngx_int_t
ngx_http_abtest_field_name(ngx_http_abtest_event_parser_t *p, ngx_str_t *key,
    ngx_http_abtest_json_value_t *v, ngx_str_t *field)
{
    ngx_str_t  name;

    name.data = v->data;
    name.len = v->len;

    if (v->type != NGX_HTTP_ABTEST_VALUE_STRING
        || ngx_http_abtest_valid_event_name(&name) != NGX_OK)
    {
        ngx_http_abtest_ep_error(p, "event: a name of 1 to %d bytes "
                                 "without control characters is required",
                                 NGX_HTTP_ABTEST_NAME_MAX);
        return NGX_OK;
    }

    return ngx_http_abtest_ep_copy(p, field, v->data, v->len, 0);
}


/* "ts": a number as it was written, a string, or null */

static ngx_int_t
ngx_http_abtest_field_ts(ngx_http_abtest_event_parser_t *p, ngx_str_t *key,
    ngx_http_abtest_json_value_t *v, ngx_str_t *field)
{
    if (v->type == NGX_HTTP_ABTEST_VALUE_NULL) {
        return NGX_OK;
    }

    if ((v->type == NGX_HTTP_ABTEST_VALUE_NUMBER
         || v->type == NGX_HTTP_ABTEST_VALUE_STRING)
        && v->len <= NGX_HTTP_ABTEST_FIELD_MAX)
    {
        return ngx_http_abtest_ep_copy(p, field, v->data, v->len,
                                   v->type == NGX_HTTP_ABTEST_VALUE_STRING);
    }

    ngx_http_abtest_ep_error(p, "ts: must be a string or a number of at "
                             "most %d bytes, or null",
                             NGX_HTTP_ABTEST_FIELD_MAX);

    return NGX_OK;
}


/* "source", "exp_group": a string or null, kept as JSON */

static ngx_int_t
ngx_http_abtest_field_text(ngx_http_abtest_event_parser_t *p, ngx_str_t *key,
    ngx_http_abtest_json_value_t *v, ngx_str_t *field)
{
    if (v->type == NGX_HTTP_ABTEST_VALUE_NULL) {
        return NGX_OK;
    }

    if (v->type == NGX_HTTP_ABTEST_VALUE_STRING
        && v->len <= NGX_HTTP_ABTEST_FIELD_MAX)
    {
        return ngx_http_abtest_ep_copy(p, field, v->data, v->len, 1);
    }

    ngx_http_abtest_ep_error(p, "%V: must be a string of at most %d bytes, "
                             "or null", key, NGX_HTTP_ABTEST_FIELD_MAX);

    return NGX_OK;
}


/* "deviceId", "device_id": a device id or null */

static ngx_int_t
ngx_http_abtest_field_device(ngx_http_abtest_event_parser_t *p,
    ngx_str_t *key, ngx_http_abtest_json_value_t *v, ngx_str_t *field)
{
    ngx_str_t  id;

    if (v->type == NGX_HTTP_ABTEST_VALUE_NULL) {
        return NGX_OK;
    }

    id.data = v->data;
    id.len = v->len;

    if (v->type != NGX_HTTP_ABTEST_VALUE_STRING
        || ngx_http_abtest_valid_device_id(&id) != NGX_OK)
    {
        ngx_http_abtest_ep_error(p, "%V: must be 1 to %d characters of "
                                 "[A-Za-z0-9_-], or null", key,
                                 NGX_HTTP_ABTEST_DEVICE_ID_MAX);
        return NGX_OK;
    }

    return ngx_http_abtest_ep_copy(p, field, v->data, v->len, 0);
}


/* "params": an object (read as it streams, see ep_open), or null */

static ngx_int_t
ngx_http_abtest_field_params(ngx_http_abtest_event_parser_t *p,
    ngx_str_t *key, ngx_http_abtest_json_value_t *v, ngx_str_t *field)
{
    if (v->type != NGX_HTTP_ABTEST_VALUE_NULL) {
        ngx_http_abtest_ep_error(p, "params: must be an object or null");
    }

    return NGX_OK;
}
