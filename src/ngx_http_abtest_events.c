
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The events location (abtest_api events): POST takes the seed demo's
 * analytics events, one object or an array of them, checks them whole,
 * adds what the server knows (receive time, device, groups) and hands
 * them to the ring, the statistics and the events log; GET pages through
 * the ring.
 */


#include "ngx_http_abtest_events.h"
#include "ngx_http_abtest_api.h"
#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_directive.h"
#include "ngx_http_abtest_event_log.h"
#include "ngx_http_abtest_json.h"
#include "ngx_http_abtest_ring.h"
#include "ngx_http_abtest_shm.h"


#define NGX_HTTP_ABTEST_EVENTS_BATCH     1000
#define NGX_HTTP_ABTEST_EVENTS_PAGE      1000
#define NGX_HTTP_ABTEST_EVENTS_PAGE_MAX  10000

/* an array of events, an event, its params: params nest 8 levels */
#define NGX_HTTP_ABTEST_EVENTS_DEPTH     10

/* ts, source and exp_group as strings */
#define NGX_HTTP_ABTEST_FIELD_MAX        64
#define NGX_HTTP_ABTEST_PARAMS_MAX       4096

/* what an event object may hold, each at most once */
#define NGX_HTTP_ABTEST_F_EVENT          0x01
#define NGX_HTTP_ABTEST_F_TS             0x02
#define NGX_HTTP_ABTEST_F_SOURCE         0x04
#define NGX_HTTP_ABTEST_F_DEVICEID       0x08
#define NGX_HTTP_ABTEST_F_DEVICE_ID      0x10
#define NGX_HTTP_ABTEST_F_EXP_GROUP      0x20
#define NGX_HTTP_ABTEST_F_PARAMS         0x40


static ngx_int_t ngx_http_abtest_events_get(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_events_arg(ngx_http_request_t *r,
    char *name, off_t min, off_t max, off_t *value);
static void ngx_http_abtest_events_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_events_accept(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_event_parse(ngx_http_request_t *r,
    yajl_val obj, ngx_str_t *own, yajl_gen g,
    ngx_http_abtest_event_fields_t *f, u_char *err, size_t err_len);
static ngx_int_t ngx_http_abtest_event_string(yajl_val v, ngx_uint_t null,
    ngx_str_t *s);
static ngx_int_t ngx_http_abtest_event_quote(ngx_pool_t *pool, ngx_str_t *s,
    ngx_str_t *json);


static ngx_str_t  ngx_http_abtest_json_null = ngx_string("null");


ngx_int_t
ngx_http_abtest_events_handler(ngx_http_request_t *r)
{
    ngx_http_abtest_loc_conf_t  *alcf;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        return ngx_http_abtest_events_get(r);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_abtest_api_not_allowed(r, "GET, HEAD, POST");
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    return ngx_http_abtest_api_read_json(r, alcf->events_body_max,
                                         "client_max_body_size",
                                         ngx_http_abtest_events_body);
}


/* GET ...?since=<id>&limit=<n>: the next events, oldest first */

static ngx_int_t
ngx_http_abtest_events_get(ngx_http_request_t *r)
{
    off_t                         since, limit;
    ngx_int_t                     rc;
    ngx_str_t                     body;
    ngx_http_abtest_main_conf_t  *amcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    since = 0;
    limit = NGX_HTTP_ABTEST_EVENTS_PAGE;

    if (ngx_http_abtest_events_arg(r, "since", 0, NGX_MAX_OFF_T_VALUE, &since)
        != NGX_OK)
    {
        return ngx_http_abtest_json_error(r, NGX_HTTP_BAD_REQUEST,
                                          "since: must be an event id, a "
                                          "non-negative integer");
    }

    if (ngx_http_abtest_events_arg(r, "limit", 1,
                                   NGX_HTTP_ABTEST_EVENTS_PAGE_MAX, &limit)
        != NGX_OK)
    {
        return ngx_http_abtest_json_error(r, NGX_HTTP_BAD_REQUEST,
                                          "limit: must be an integer from "
                                          "1 to %d",
                                          NGX_HTTP_ABTEST_EVENTS_PAGE_MAX);
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    if (ngx_http_abtest_ring_read(amcf, (uint64_t) since, (ngx_uint_t) limit,
                                  r->pool, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_abtest_json_send_text(r, NGX_HTTP_OK, &body);
}


/* an optional integer argument; absent leaves "value" as it is */

static ngx_int_t
ngx_http_abtest_events_arg(ngx_http_request_t *r, char *name, off_t min,
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


static void
ngx_http_abtest_events_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_abtest_events_accept(r));
}


static ngx_int_t
ngx_http_abtest_events_accept(ngx_http_request_t *r)
{
    u_char                          err[256], prefix[16];
    yajl_gen                        g;
    yajl_val                        tree, *items;
    ngx_int_t                       rc;
    ngx_str_t                       body, own;
    ngx_uint_t                      i, n;
    const char                     *msg;
    ngx_http_abtest_ctx_t          *ctx;
    ngx_http_abtest_event_t        *events;
    ngx_http_abtest_event_fields_t  f;

    rc = ngx_http_abtest_api_read_body(r, &body);

    if (rc == NGX_DECLINED || (rc == NGX_OK && body.len == 0)) {
        return ngx_http_abtest_json_error(r, NGX_HTTP_BAD_REQUEST,
                                          "body: empty, expected an event "
                                          "object or an array of them");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err[0] = '\0';
    tree = ngx_http_abtest_json_parse(r->pool, body.data, body.len,
                                      NGX_HTTP_ABTEST_EVENTS_DEPTH, err,
                                      sizeof(err));
    if (tree == NULL) {
        return err[0] ? ngx_http_abtest_json_error(r, NGX_HTTP_BAD_REQUEST,
                                                   "body: %s", err)
                      : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (YAJL_IS_OBJECT(tree)) {
        items = &tree;
        n = 1;

    } else if (YAJL_IS_ARRAY(tree)) {
        items = tree->u.array.values;
        n = tree->u.array.len;

        if (n == 0) {
            return ngx_http_abtest_json_error(r, NGX_HTTP_BAD_REQUEST,
                                              "body: an empty array, "
                                              "expected events");
        }

        if (n > NGX_HTTP_ABTEST_EVENTS_BATCH) {
            return ngx_http_abtest_json_error(r, NGX_HTTP_BAD_REQUEST,
                                              "body: more than %d events "
                                              "in one request",
                                              NGX_HTTP_ABTEST_EVENTS_BATCH);
        }

    } else {
        return ngx_http_abtest_json_error(r, NGX_HTTP_BAD_REQUEST,
                                          "body: must be an event object "
                                          "or an array of them");
    }

    events = ngx_pcalloc(r->pool, n * sizeof(ngx_http_abtest_event_t));
    g = ngx_http_abtest_json_gen(r->pool);

    if (events == NULL || g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_abtest_own_device(r, &own);

    /* every event is checked before any is stored */

    for (i = 0; i < n; i++) {
        prefix[0] = '\0';

        if (YAJL_IS_ARRAY(tree)) {
            ngx_sprintf(prefix, "[%ui].%Z", i);
        }

        if (!YAJL_IS_OBJECT(items[i])) {
            return ngx_http_abtest_json_error(r, NGX_HTTP_BAD_REQUEST,
                                              "[%ui]: must be an event "
                                              "object", i);
        }

        if (ngx_http_abtest_event_parse(r, items[i], &own, g, &f, err,
                                        sizeof(err))
            != NGX_OK)
        {
            return ngx_http_abtest_json_error(r, NGX_HTTP_BAD_REQUEST,
                                              "%s%s", prefix, err);
        }

        if (ngx_http_abtest_own_ctx(r, &f.device_id, &own, &ctx) != NGX_OK
            || ngx_http_abtest_event_make(r, &f, ctx, &events[i]) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_abtest_events_store(r, events, n, &msg);
    if (rc != NGX_OK) {
        return ngx_http_abtest_json_error(r, rc, "%s", msg);
    }

    ngx_str_set(&body, "{\"status\":\"ok\"}\n");

    if (YAJL_IS_ARRAY(tree)) {
        body.data = ngx_pnalloc(r->pool, sizeof("{\"status\":\"ok\","
                                                "\"accepted\":}\n")
                                         + NGX_INT_T_LEN);
        if (body.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        body.len = ngx_sprintf(body.data,
                               "{\"status\":\"ok\",\"accepted\":%ui}\n", n)
                   - body.data;
    }

    return ngx_http_abtest_json_send_text(r, NGX_HTTP_OK, &body);
}


/*
 * The seed's event fields: "event" (required), "ts", "source",
 * "deviceId" or "device_id", "exp_group", "params"; nothing else.  "f"
 * gets them as JSON text, the name and device id as they are.
 */

static ngx_int_t
ngx_http_abtest_event_parse(ngx_http_request_t *r, yajl_val obj,
    ngx_str_t *own, yajl_gen g, ngx_http_abtest_event_fields_t *f,
    u_char *err, size_t err_len)
{
    size_t                 i, len;
    yajl_val               v;
    ngx_str_t              s, device, device2;
    ngx_uint_t             seen, bit;
    const char            *key;
    const unsigned char   *buf;

    ngx_memzero(f, sizeof(ngx_http_abtest_event_fields_t));
    f->ts = ngx_http_abtest_json_null;
    f->source = ngx_http_abtest_json_null;
    ngx_str_set(&f->params, "{}");

    ngx_str_null(&device);
    ngx_str_null(&device2);
    seen = 0;

    for (i = 0; i < obj->u.object.len; i++) {
        key = obj->u.object.keys[i];
        v = obj->u.object.values[i];

        if (ngx_strcmp(key, "event") == 0) {
            bit = NGX_HTTP_ABTEST_F_EVENT;

            if (ngx_http_abtest_event_string(v, 0, &f->name) != NGX_OK
                || ngx_http_abtest_valid_event_name(&f->name) != NGX_OK)
            {
                goto bad_event;
            }

        } else if (ngx_strcmp(key, "ts") == 0) {
            bit = NGX_HTTP_ABTEST_F_TS;

            if (YAJL_IS_NUMBER(v)) {
                /* the number as it was written */
                f->ts.data = (u_char *) v->u.number.r;
                f->ts.len = ngx_strlen(v->u.number.r);

                if (f->ts.len > NGX_HTTP_ABTEST_FIELD_MAX) {
                    goto bad_ts;
                }

            } else if (ngx_http_abtest_event_string(v, 1, &s) != NGX_OK) {
                goto bad_ts;

            } else if (s.data
                       && ngx_http_abtest_event_quote(r->pool, &s, &f->ts)
                          != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else if (ngx_strcmp(key, "source") == 0
                   || ngx_strcmp(key, "exp_group") == 0)
        {
            bit = (key[0] == 's') ? NGX_HTTP_ABTEST_F_SOURCE
                                  : NGX_HTTP_ABTEST_F_EXP_GROUP;

            if (ngx_http_abtest_event_string(v, 1, &s) != NGX_OK) {
                ngx_snprintf(err, err_len, "%s: must be a string of at most "
                             "%d bytes, or null%Z", key,
                             NGX_HTTP_ABTEST_FIELD_MAX);
                return NGX_ERROR;
            }

            if (s.data
                && ngx_http_abtest_event_quote(r->pool, &s,
                                     (bit == NGX_HTTP_ABTEST_F_SOURCE)
                                     ? &f->source : &f->exp_group)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else if (ngx_strcmp(key, "deviceId") == 0
                   || ngx_strcmp(key, "device_id") == 0)
        {
            bit = (key[6] == 'I') ? NGX_HTTP_ABTEST_F_DEVICEID
                                  : NGX_HTTP_ABTEST_F_DEVICE_ID;

            if (ngx_http_abtest_event_string(v, 1, &s) != NGX_OK
                || (s.data && ngx_http_abtest_valid_device_id(&s) != NGX_OK))
            {
                ngx_snprintf(err, err_len, "%s: must be 1 to %d characters "
                             "of [A-Za-z0-9_-], or null%Z", key,
                             NGX_HTTP_ABTEST_DEVICE_ID_MAX);
                return NGX_ERROR;
            }

            if (device.data == NULL) {
                device = s;

            } else {
                device2 = s;
            }

        } else if (ngx_strcmp(key, "params") == 0) {
            bit = NGX_HTTP_ABTEST_F_PARAMS;

            if (YAJL_IS_NULL(v)) {
                goto next;
            }

            if (!YAJL_IS_OBJECT(v)) {
                ngx_snprintf(err, err_len, "params: must be an object or "
                             "null%Z");
                return NGX_ERROR;
            }

            yajl_gen_clear(g);
            yajl_gen_reset(g, NULL);

            if (ngx_http_abtest_json_copy(g, v) != yajl_gen_status_ok
                || yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
            {
                ngx_snprintf(err, err_len, "params: cannot be stored%Z");
                return NGX_ERROR;
            }

            if (len > NGX_HTTP_ABTEST_PARAMS_MAX) {
                ngx_snprintf(err, err_len, "params: larger than %d bytes%Z",
                             NGX_HTTP_ABTEST_PARAMS_MAX);
                return NGX_ERROR;
            }

            f->params.data = ngx_pnalloc(r->pool, len);
            if (f->params.data == NULL) {
                return NGX_ERROR;
            }

            f->params.len = len;
            ngx_memcpy(f->params.data, buf, len);

        } else {
            ngx_snprintf(err, err_len, "%s: unknown field (extra data goes "
                         "in params)%Z", ngx_http_abtest_client_name(key));
            return NGX_ERROR;
        }

    next:

        if (seen & bit) {
            ngx_snprintf(err, err_len, "%s: given twice%Z", key);
            return NGX_ERROR;
        }

        seen |= bit;
    }

    if (!(seen & NGX_HTTP_ABTEST_F_EVENT)) {
        goto bad_event;
    }

    if (device.data && device2.data
        && (device.len != device2.len
            || ngx_strncmp(device.data, device2.data, device.len) != 0))
    {
        ngx_snprintf(err, err_len, "device_id: differs from deviceId%Z");
        return NGX_ERROR;
    }

    if (device.data == NULL) {
        device = device2;
    }

    if (device.data == NULL) {
        device = *own;
    }

    if (device.len == 0) {
        ngx_snprintf(err, err_len, "deviceId: missing, and the request has "
                     "no device cookie%Z");
        return NGX_ERROR;
    }

    f->device_id = device;

    return NGX_OK;

bad_event:

    ngx_snprintf(err, err_len, "event: a name of 1 to %d bytes without "
                 "control characters is required%Z",
                 NGX_HTTP_ABTEST_NAME_MAX);

    return NGX_ERROR;

bad_ts:

    ngx_snprintf(err, err_len, "ts: must be a string or a number of at most "
                 "%d bytes, or null%Z", NGX_HTTP_ABTEST_FIELD_MAX);

    return NGX_ERROR;
}


/* a string of at most FIELD_MAX bytes; null gives an empty "s" */

static ngx_int_t
ngx_http_abtest_event_string(yajl_val v, ngx_uint_t null, ngx_str_t *s)
{
    if (null && YAJL_IS_NULL(v)) {
        ngx_str_null(s);
        return NGX_OK;
    }

    if (!YAJL_IS_STRING(v)) {
        return NGX_ERROR;
    }

    s->data = (u_char *) YAJL_GET_STRING(v);
    s->len = ngx_strlen(s->data);

    return (s->len <= NGX_HTTP_ABTEST_FIELD_MAX) ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_abtest_event_quote(ngx_pool_t *pool, ngx_str_t *s, ngx_str_t *json)
{
    json->data = ngx_pnalloc(pool,
                             ngx_http_abtest_json_quoted_len(s->data, s->len));
    if (json->data == NULL) {
        return NGX_ERROR;
    }

    json->len = ngx_http_abtest_json_quote(json->data, s->data, s->len)
                - json->data;

    return NGX_OK;
}


/*
 * The stored event: what the client sent, and what the server knows, the
 * receive time and the device's group in every experiment (the fallback
 * when inactive, the rollout group in rollout, null where it cannot be
 * told).  "text" is the JSON after "{"id":N,", with room for it before
 * and for a newline after.  An event counts in the statistics for the
 * groups the rule gave (not forced ones).
 */

ngx_int_t
ngx_http_abtest_event_make(ngx_http_request_t *r,
    ngx_http_abtest_event_fields_t *f, ngx_http_abtest_ctx_t *ctx,
    ngx_http_abtest_event_t *ev)
{
    u_char                        *p;
    size_t                         len;
    ngx_uint_t                     i, n, group, assigned, *groups;
    ngx_http_abtest_group_t       *names;
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    exp = amcf->experiments.elts;
    n = amcf->experiments.nelts;

    groups = ngx_palloc(r->pool, 2 * (n + 1) * sizeof(ngx_uint_t));
    if (groups == NULL) {
        return NGX_ERROR;
    }

    ev->counted = groups + n + 1;

    len = sizeof("\"received\":\"\",\"ts\":,\"source\":,\"event\":,"
                 "\"deviceId\":\"\",\"device_id\":\"\",\"exp_group\":,"
                 "\"params\":,\"groups\":{}}") - 1
          + NGX_HTTP_ABTEST_ISO_LEN + f->ts.len + f->source.len
          + ngx_http_abtest_json_quoted_len(f->name.data, f->name.len)
          + 2 * f->device_id.len + f->exp_group.len + f->params.len;

    for (i = 0; i < n; i++) {
        group = ngx_http_abtest_group_of(r, ctx, &exp[i], &f->device_id,
                                         &assigned);
        if (group >= exp[i].groups.nelts) {
            group = NGX_HTTP_ABTEST_NO_GROUP;
        }

        groups[i] = group;
        ev->counted[i] = (ctx && ngx_http_abtest_is_forced(ctx, &exp[i]))
                         ? NGX_HTTP_ABTEST_NO_GROUP : group;

        /* names and groups need no escaping: [A-Za-z0-9_.-] */
        len += sizeof("\"\":\"\",") - 1 + exp[i].name.len
               + NGX_HTTP_ABTEST_NAME_MAX;
    }

    p = ngx_pnalloc(r->pool, NGX_HTTP_ABTEST_ID_PREFIX_LEN + len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p += NGX_HTTP_ABTEST_ID_PREFIX_LEN;
    ev->text.data = p;

    p = ngx_cpymem(p, "\"received\":\"", sizeof("\"received\":\"") - 1);
    p = ngx_http_abtest_iso_time(p, ngx_http_abtest_now_ms());
    p = ngx_cpymem(p, "\",\"ts\":", sizeof("\",\"ts\":") - 1);
    p = ngx_cpymem(p, f->ts.data, f->ts.len);
    p = ngx_cpymem(p, ",\"source\":", sizeof(",\"source\":") - 1);
    p = ngx_cpymem(p, f->source.data, f->source.len);
    p = ngx_cpymem(p, ",\"event\":", sizeof(",\"event\":") - 1);
    p = ngx_http_abtest_json_quote(p, f->name.data, f->name.len);
    p = ngx_cpymem(p, ",\"deviceId\":\"", sizeof(",\"deviceId\":\"") - 1);
    p = ngx_cpymem(p, f->device_id.data, f->device_id.len);
    p = ngx_cpymem(p, "\",\"device_id\":\"", sizeof("\",\"device_id\":\"") - 1);
    p = ngx_cpymem(p, f->device_id.data, f->device_id.len);
    *p++ = '"';

    if (f->exp_group.len) {
        p = ngx_cpymem(p, ",\"exp_group\":", sizeof(",\"exp_group\":") - 1);
        p = ngx_cpymem(p, f->exp_group.data, f->exp_group.len);
    }

    p = ngx_cpymem(p, ",\"params\":", sizeof(",\"params\":") - 1);
    p = ngx_cpymem(p, f->params.data, f->params.len);
    p = ngx_cpymem(p, ",\"groups\":{", sizeof(",\"groups\":{") - 1);

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_cpymem(p, exp[i].name.data, exp[i].name.len);
        *p++ = '"';
        *p++ = ':';

        if (groups[i] == NGX_HTTP_ABTEST_NO_GROUP) {
            p = ngx_cpymem(p, "null", sizeof("null") - 1);
            continue;
        }

        names = exp[i].groups.elts;
        *p++ = '"';
        p = ngx_cpymem(p, names[groups[i]].name.data,
                       names[groups[i]].name.len);
        *p++ = '"';
    }

    *p++ = '}';
    *p++ = '}';

    ev->text.len = p - ev->text.data;
    ev->name = f->name;

    return NGX_OK;
}


/*
 * Hands accepted events to the ring (with the statistics) and to the
 * events log.  Returns NGX_OK, or an HTTP status with "err" saying why:
 * 503 when nothing was stored, 500 when the ring took the events but the
 * log did not.
 */

ngx_int_t
ngx_http_abtest_events_store(ngx_http_request_t *r,
    ngx_http_abtest_event_t *events, ngx_uint_t n, const char **err)
{
    size_t                        len;
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_http_abtest_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    if (amcf->event_log) {
        len = 0;

        for (i = 0; i < n; i++) {
            len += NGX_HTTP_ABTEST_ID_PREFIX_LEN + events[i].text.len + 1;
        }

        if (ngx_http_abtest_event_log_reserve(amcf->event_log, len,
                                              r->connection->log)
            != NGX_OK)
        {
            *err = "the events log cannot be written now, the events were "
                   "not stored: see the error log";
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }
    }

    rc = ngx_http_abtest_ring_append(amcf, events, n, r->pool,
                                     r->connection->log);

    if (rc == NGX_DECLINED) {
        *err = "the zone has no room for these events: a larger "
               "abtest_zone is needed";
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (rc != NGX_OK) {
        *err = "the events could not be stored";
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (amcf->event_log
        && ngx_http_abtest_event_log_write(amcf->event_log, events, n,
                                           r->pool, r->connection->log)
           != NGX_OK)
    {
        *err = "the events are stored, but the events log did not take "
               "them: see the error log";
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}
