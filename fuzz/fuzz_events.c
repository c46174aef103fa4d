
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The events body (POST to an events location), through the streaming
 * parser (ngx_http_abtest_event_parser.c) as ngx_http_abtest_events.c
 * feeds it.  The input:
 *
 *   byte 0      flags: bits 0-1 the request's own device (its device
 *               cookie): none, a UUID, "backend-7", 64 characters;
 *               bit 2 a trusted location (trusted=on); bit 3 the body
 *               fed one byte at a time
 *   bytes 1-3   where the body is cut into parts, each a fraction n/256
 *               of its length
 *   the rest    the body
 *
 * The body is parsed twice, in one part and in the parts the input says,
 * each part in a buffer of its own that is freed once fed (a parser that
 * kept a pointer into an earlier part reads freed memory); both readings
 * must agree.  What is accepted must be what the events handler can
 * store: valid names and device ids, the request's own device unless
 * trusted, JSON text in UTF-8 for ts, source, exp_group and params
 * within their limits; what is refused has a message that fits in JSON
 * (UTF-8, as the answer's generator is asked to check).
 */


#include "fuzz_common.h"
#include "ngx_http_abtest_event_parser.h"
#include "ngx_http_abtest_json.h"
#include "ngx_http_abtest_util.h"


#define NGX_FUZZ_EVENTS_HEAD  4


typedef struct {
    ngx_str_t                  own;
    ngx_uint_t                 trusted;
    ngx_uint_t                 bytewise;
    size_t                     cuts[3];
    ngx_uint_t                 ncuts;
} ngx_fuzz_events_how_t;


static u_char *ngx_fuzz_events_parse(u_char *body, size_t len,
    ngx_fuzz_events_how_t *how, ngx_uint_t split);
static void ngx_fuzz_events_feed(ngx_http_abtest_event_parser_t *p,
    u_char *data, size_t len);
static void ngx_fuzz_events_check(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_fuzz_events_how_t *how, ngx_array_t *events, ngx_uint_t batch);
static void ngx_fuzz_events_json(ngx_pool_t *pool, ngx_str_t *text,
    ngx_uint_t types);
static ngx_int_t ngx_libc_cdecl ngx_fuzz_cmp_cuts(const void *one,
    const void *two);


static ngx_str_t  ngx_fuzz_own[] = {
    ngx_null_string,
    ngx_string("0b8d2f1e-5a4c-4b7e-9d2a-3c1f6e8a9b70"),
    ngx_string("backend-7"),
    ngx_string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
               "0123456789_-")
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                 *body, *whole, *split;
    size_t                  len;
    ngx_uint_t              i;
    ngx_fuzz_events_how_t   how;

    if (size < NGX_FUZZ_EVENTS_HEAD) {
        return 0;
    }

    ngx_memzero(&how, sizeof(ngx_fuzz_events_how_t));

    how.own = ngx_fuzz_own[data[0] & 3];
    how.trusted = (data[0] & 4) != 0;
    how.bytewise = (data[0] & 8) != 0;

    /* the body in a buffer of its own size, as an in-memory body part */
    len = size - NGX_FUZZ_EVENTS_HEAD;
    body = ngx_alloc(len ? len : 1, ngx_fuzz_log);
    if (body == NULL) {
        ngx_fuzz_fail("no memory");
    }

    ngx_memcpy(body, data + NGX_FUZZ_EVENTS_HEAD, len);

    for (i = 0; i < 3; i++) {
        how.cuts[i] = len * data[1 + i] / 256;
    }

    how.ncuts = 3;
    ngx_sort(how.cuts, 3, sizeof(size_t), ngx_fuzz_cmp_cuts);

    whole = ngx_fuzz_events_parse(body, len, &how, 0);
    split = ngx_fuzz_events_parse(body, len, &how, 1);

    ngx_fuzz_say("%s", whole);

    if (ngx_strcmp(whole, split) != 0) {
        ngx_fuzz_fail("the body read in parts is not the body read whole:\n"
                      "whole: %s\nparts: %s", whole, split);
    }

    ngx_free(whole);
    ngx_free(split);
    ngx_free(body);

    return 0;
}


/*
 * What the parser made of the body, as text: its answer, its message,
 * and every event's fields.
 */

static u_char *
ngx_fuzz_events_parse(u_char *body, size_t len, ngx_fuzz_events_how_t *how,
    ngx_uint_t split)
{
    u_char                          *err, *out, *p, *last;
    size_t                           size, from, to;
    ngx_int_t                        rc;
    ngx_str_t                        msg;
    ngx_uint_t                       i, batch, status;
    ngx_pool_t                      *pool;
    ngx_array_t                     *events;
    ngx_http_abtest_event_fields_t  *f;
    ngx_http_abtest_event_parser_t  *ep;

    pool = ngx_fuzz_pool();

    ep = ngx_http_abtest_event_parser_create(pool, &how->own, how->trusted);
    if (ep == NULL) {
        ngx_fuzz_fail("no memory");
    }

    if (!split) {
        ngx_fuzz_events_feed(ep, body, len);

    } else if (how->bytewise) {
        for (i = 0; i < len; i++) {
            ngx_fuzz_events_feed(ep, body + i, 1);
        }

    } else {
        from = 0;

        for (i = 0; i <= how->ncuts; i++) {
            to = (i < how->ncuts) ? how->cuts[i] : len;
            ngx_fuzz_events_feed(ep, body + from, to - from);
            from = to;
        }
    }

    events = NULL;
    batch = 0;
    err = NULL;
    status = 0;

    rc = ngx_http_abtest_event_parser_finish(ep, &events, &batch, &err,
                                             &status);

    size = 256 + NGX_MAX_ERROR_STR;

    if (rc == NGX_OK) {
        f = events->elts;

        for (i = 0; i < events->nelts; i++) {
            size += 6 * (NGX_SIZE_T_LEN + 2) + f[i].name.len + f[i].ts.len
                    + f[i].source.len + f[i].device_id.len
                    + f[i].exp_group.len + f[i].params.len;
        }

        if (!split) {
            ngx_fuzz_events_check(pool, body, len, how, events, batch);
        }

    } else if (rc == NGX_DECLINED) {
        ngx_fuzz_check(err != NULL && err[0] != '\0');
        ngx_fuzz_check(status == NGX_HTTP_BAD_REQUEST
                       || status == NGX_HTTP_FORBIDDEN);

        /* the message is an answer's JSON string: UTF-8 */
        msg.data = err;
        msg.len = ngx_strlen(err);

        ngx_fuzz_check(msg.len < 256);
        ngx_fuzz_check(ngx_fuzz_ignore("utf8")
                       || ngx_http_abtest_valid_utf8(&msg) == NGX_OK);

    } else {
        ngx_fuzz_fail("event_parser_finish(): %i without a shortage of "
                      "memory", rc);
    }

    out = ngx_alloc(size, ngx_fuzz_log);
    if (out == NULL) {
        ngx_fuzz_fail("no memory");
    }

    last = out + size - 1;

    p = ngx_slprintf(out, last, "rc=%i status=%ui batch=%ui err=\"%s\"",
                     rc, status, batch,
                     (rc == NGX_DECLINED) ? err : (u_char *) "");

    if (rc == NGX_OK) {
        f = events->elts;

        for (i = 0; i < events->nelts; i++) {
            p = ngx_slprintf(p, last, "\n[%ui] %uz:%V %uz:%V %uz:%V %uz:%V "
                             "%uz:%V %uz:%V", i,
                             f[i].name.len, &f[i].name,
                             f[i].ts.len, &f[i].ts,
                             f[i].source.len, &f[i].source,
                             f[i].device_id.len, &f[i].device_id,
                             f[i].exp_group.len, &f[i].exp_group,
                             f[i].params.len, &f[i].params);
        }
    }

    *p = '\0';

    ngx_destroy_pool(pool);

    return out;
}


/* a part of the body, in memory of its own that is freed once fed */

static void
ngx_fuzz_events_feed(ngx_http_abtest_event_parser_t *p, u_char *data,
    size_t len)
{
    u_char  *part;

    if (len == 0) {
        /* nginx hands over no empty part; the parser ignores one */
        (void) ngx_http_abtest_event_parser_feed(p, data, 0);
        return;
    }

    part = ngx_alloc(len, ngx_fuzz_log);
    if (part == NULL) {
        ngx_fuzz_fail("no memory");
    }

    ngx_memcpy(part, data, len);

    if (ngx_http_abtest_event_parser_feed(p, part, len) != NGX_OK) {
        ngx_fuzz_fail("event_parser_feed(): an error without a shortage "
                      "of memory");
    }

    ngx_free(part);
}


#define NGX_FUZZ_JSON_NULL    0x01
#define NGX_FUZZ_JSON_NUMBER  0x02
#define NGX_FUZZ_JSON_STRING  0x04
#define NGX_FUZZ_JSON_OBJECT  0x08


/* what ngx_http_abtest_event_make() splices into the stored JSON */

static void
ngx_fuzz_events_check(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_fuzz_events_how_t *how, ngx_array_t *events, ngx_uint_t batch)
{
    u_char                          *p;
    ngx_uint_t                       i;
    ngx_http_abtest_event_fields_t  *f;

    ngx_fuzz_check(events->nelts >= 1);
    ngx_fuzz_check(events->nelts <= NGX_HTTP_ABTEST_EVENTS_BATCH);

    /* an array of events, or one */
    for (p = body; p < body + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            break;
        }
    }

    ngx_fuzz_check(p < body + len);
    ngx_fuzz_check(batch == (*p == '['));
    ngx_fuzz_check(batch || events->nelts == 1);

    f = events->elts;

    for (i = 0; i < events->nelts; i++) {
        ngx_fuzz_check(ngx_http_abtest_valid_event_name(&f[i].name)
                       == NGX_OK);
        ngx_fuzz_check(memchr(f[i].name.data, '\0', f[i].name.len) == NULL);

        ngx_fuzz_check(ngx_http_abtest_valid_device_id(&f[i].device_id)
                       == NGX_OK);

        if (!how->trusted) {
            ngx_fuzz_check(f[i].device_id.len == how->own.len
                           && ngx_strncmp(f[i].device_id.data,
                                          how->own.data, how->own.len)
                              == 0);
        }

        ngx_fuzz_events_json(pool, &f[i].ts,
                             NGX_FUZZ_JSON_NULL | NGX_FUZZ_JSON_NUMBER
                             | NGX_FUZZ_JSON_STRING);
        ngx_fuzz_events_json(pool, &f[i].source,
                             NGX_FUZZ_JSON_NULL | NGX_FUZZ_JSON_STRING);

        if (f[i].exp_group.len) {
            ngx_fuzz_events_json(pool, &f[i].exp_group, NGX_FUZZ_JSON_STRING);
        }

        ngx_fuzz_check(f[i].params.len <= NGX_HTTP_ABTEST_PARAMS_MAX);
        ngx_fuzz_events_json(pool, &f[i].params, NGX_FUZZ_JSON_OBJECT);
    }
}


/* JSON text of one of the types, a string of at most FIELD_MAX bytes */

static void
ngx_fuzz_events_json(ngx_pool_t *pool, ngx_str_t *text, ngx_uint_t types)
{
    u_char    err[256];
    yajl_val  v;

    ngx_fuzz_check(text->len > 0);

    /* stored events are JSON lines: UTF-8 (invalid UTF-8 is a 400) */
    ngx_fuzz_check(ngx_fuzz_ignore("utf8")
                   || ngx_http_abtest_valid_utf8(text) == NGX_OK);

    err[0] = '\0';
    v = ngx_http_abtest_json_parse(pool, text->data, text->len,
                                   NGX_HTTP_ABTEST_EVENTS_DEPTH, err,
                                   sizeof(err));
    if (v == NULL) {
        ngx_fuzz_fail("a stored field is not JSON (%s): %V", err, text);
    }

    switch (v->type) {

    case yajl_t_null:
        ngx_fuzz_check(types & NGX_FUZZ_JSON_NULL);
        break;

    case yajl_t_number:
        ngx_fuzz_check(types & NGX_FUZZ_JSON_NUMBER);
        ngx_fuzz_check(text->len <= NGX_HTTP_ABTEST_FIELD_MAX);
        break;

    case yajl_t_string:
        ngx_fuzz_check(types & NGX_FUZZ_JSON_STRING);
        ngx_fuzz_check(ngx_strlen(v->u.string) <= NGX_HTTP_ABTEST_FIELD_MAX);
        break;

    case yajl_t_object:
        ngx_fuzz_check(types & NGX_FUZZ_JSON_OBJECT);
        break;

    default:
        ngx_fuzz_fail("a stored field of the wrong type: %V", text);
    }
}


static ngx_int_t ngx_libc_cdecl
ngx_fuzz_cmp_cuts(const void *one, const void *two)
{
    size_t  a, b;

    a = *(size_t *) one;
    b = *(size_t *) two;

    return (a > b) - (a < b);
}
