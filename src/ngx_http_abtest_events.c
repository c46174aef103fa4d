
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The events location (abtest_api events): POST takes the seed demo's
 * analytics events, one object or an array of them, checks them whole,
 * adds what the server knows (receive time, device, groups) and hands
 * them to the ring and the events log, and counts them in the
 * statistics; GET pages through the ring.
 */


#include "ngx_http_abtest_events.h"
#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_event_log.h"
#include "ngx_http_abtest_http.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_util.h"


#define NGX_HTTP_ABTEST_EVENTS_BATCH     1000
#define NGX_HTTP_ABTEST_EVENTS_PAGE      1000
#define NGX_HTTP_ABTEST_EVENTS_PAGE_MAX  10000

/* an array of events, an event, its params: params nest 8 levels */
#define NGX_HTTP_ABTEST_EVENTS_DEPTH     10

/* ts, source and exp_group as strings */
#define NGX_HTTP_ABTEST_FIELD_MAX        64
#define NGX_HTTP_ABTEST_PARAMS_MAX       4096


/* an event object being read */
typedef struct {
    ngx_http_request_t              *r;
    yajl_gen                         gen;        /* params, made again */
    ngx_http_abtest_event_fields_t   f;
    ngx_str_t                        device[2];  /* deviceId, device_id */
    u_char                          *err;
    size_t                           err_len;
} ngx_http_abtest_event_parse_t;


/* reads one field's value into "field", or says in ep->err what is wrong */
typedef ngx_int_t (*ngx_http_abtest_field_pt)(
    ngx_http_abtest_event_parse_t *ep, ngx_str_t *key, yajl_val v,
    ngx_str_t *field);


typedef struct {
    ngx_str_t                  key;
    ngx_http_abtest_field_pt   parse;
    size_t                     offset;       /* of its ngx_str_t in "ep" */
} ngx_http_abtest_event_field_t;


static ngx_int_t ngx_http_abtest_events_get(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_events_arg(ngx_http_request_t *r,
    char *name, off_t min, off_t max, off_t *value);
static void ngx_http_abtest_events_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_events_accept(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_event_parse(ngx_http_request_t *r,
    yajl_val obj, ngx_str_t *own, yajl_gen g,
    ngx_http_abtest_event_fields_t *f, u_char *err, size_t err_len);
static ngx_int_t ngx_http_abtest_field_name(ngx_http_abtest_event_parse_t *ep,
    ngx_str_t *key, yajl_val v, ngx_str_t *field);
static ngx_int_t ngx_http_abtest_field_ts(ngx_http_abtest_event_parse_t *ep,
    ngx_str_t *key, yajl_val v, ngx_str_t *field);
static ngx_int_t ngx_http_abtest_field_text(ngx_http_abtest_event_parse_t *ep,
    ngx_str_t *key, yajl_val v, ngx_str_t *field);
static ngx_int_t ngx_http_abtest_field_device(
    ngx_http_abtest_event_parse_t *ep, ngx_str_t *key, yajl_val v,
    ngx_str_t *field);
static ngx_int_t ngx_http_abtest_field_params(
    ngx_http_abtest_event_parse_t *ep, ngx_str_t *key, yajl_val v,
    ngx_str_t *field);
static ngx_int_t ngx_http_abtest_event_string(yajl_val v, ngx_uint_t null,
    ngx_str_t *s);
static ngx_int_t ngx_http_abtest_event_quote(ngx_pool_t *pool, ngx_str_t *s,
    ngx_str_t *json);
static void ngx_http_abtest_events_count_locked(
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_event_t *ev);
static void ngx_http_abtest_count_locked(ngx_http_abtest_node_t *node,
    ngx_str_t *name, ngx_uint_t group);


#define ngx_http_abtest_field(name)                                         \
    offsetof(ngx_http_abtest_event_parse_t, name)


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


ngx_int_t
ngx_http_abtest_events_handler(ngx_http_request_t *r)
{
    ngx_http_abtest_loc_conf_t  *alcf;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        return ngx_http_abtest_events_get(r);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_abtest_http_not_allowed(r, "GET, HEAD, POST");
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    return ngx_http_abtest_http_read_json(r, alcf->events_body_max,
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
    ngx_http_abtest_zone_t       *zone;
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
        return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                          "since: must be an event id, a "
                                          "non-negative integer");
    }

    if (ngx_http_abtest_events_arg(r, "limit", 1,
                                   NGX_HTTP_ABTEST_EVENTS_PAGE_MAX, &limit)
        != NGX_OK)
    {
        return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                          "limit: must be an integer from "
                                          "1 to %d",
                                          NGX_HTTP_ABTEST_EVENTS_PAGE_MAX);
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    zone = amcf->zone;

    ngx_http_abtest_shm_ready(amcf, r->connection->log);

    if (ngx_http_abtest_ring_read(&zone->sh->ring, zone->shpool,
                                  (uint64_t) since, (ngx_uint_t) limit,
                                  r->pool, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_abtest_http_send_text(r, NGX_HTTP_OK, &body);
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

    rc = ngx_http_abtest_http_parse_body(r, NGX_HTTP_ABTEST_EVENTS_DEPTH,
                                         "an event object or an array of "
                                         "them", &tree);
    if (tree == NULL) {
        return rc;
    }

    if (YAJL_IS_OBJECT(tree)) {
        items = &tree;
        n = 1;

    } else if (YAJL_IS_ARRAY(tree)) {
        items = tree->u.array.values;
        n = tree->u.array.len;

        if (n == 0) {
            return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                              "body: an empty array, "
                                              "expected events");
        }

        if (n > NGX_HTTP_ABTEST_EVENTS_BATCH) {
            return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                              "body: more than %d events "
                                              "in one request",
                                              NGX_HTTP_ABTEST_EVENTS_BATCH);
        }

    } else {
        return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
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
            return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                              "[%ui]: must be an event "
                                              "object", i);
        }

        rc = ngx_http_abtest_event_parse(r, items[i], &own, g, &f, err,
                                         sizeof(err));

        if (rc == NGX_DECLINED) {
            return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                              "%s%s", prefix, err);
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_abtest_own_ctx(r, &f.device_id, &own, &ctx) != NGX_OK
            || ngx_http_abtest_event_make(r, &f, ctx, &events[i]) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_abtest_events_store(r, events, n, &msg);
    if (rc != NGX_OK) {
        return ngx_http_abtest_http_error(r, rc, "%s", msg);
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

    return ngx_http_abtest_http_send_text(r, NGX_HTTP_OK, &body);
}


/*
 * The seed's event fields ("event" required), nothing else.  "f" gets
 * them as JSON text, the name and device id as they are.  NGX_DECLINED:
 * not a valid event, "err" says why.
 */

static ngx_int_t
ngx_http_abtest_event_parse(ngx_http_request_t *r, yajl_val obj,
    ngx_str_t *own, yajl_gen g, ngx_http_abtest_event_fields_t *f,
    u_char *err, size_t err_len)
{
    size_t                          i;
    ngx_int_t                       rc;
    ngx_str_t                       key, *device;
    ngx_uint_t                      k, seen;
    ngx_http_abtest_event_field_t  *field;
    ngx_http_abtest_event_parse_t   ep;

    ngx_memzero(&ep, sizeof(ngx_http_abtest_event_parse_t));
    ep.r = r;
    ep.gen = g;
    ep.err = err;
    ep.err_len = err_len;
    ep.f.ts = ngx_http_abtest_json_null;
    ep.f.source = ngx_http_abtest_json_null;
    ngx_str_set(&ep.f.params, "{}");

    field = ngx_http_abtest_event_fields;
    seen = 0;

    for (i = 0; i < obj->u.object.len; i++) {
        key.data = (u_char *) obj->u.object.keys[i];
        key.len = ngx_strlen(key.data);

        for (k = 0; field[k].key.len; k++) {
            if (field[k].key.len == key.len
                && ngx_strncmp(field[k].key.data, key.data, key.len) == 0)
            {
                break;
            }
        }

        if (field[k].key.len == 0) {
            ngx_snprintf(err, err_len, "%s: unknown field (extra data goes "
                         "in params)%Z",
                         ngx_http_abtest_client_name((char *) key.data));
            return NGX_DECLINED;
        }

        rc = field[k].parse(&ep, &key, obj->u.object.values[i],
                            (ngx_str_t *) ((u_char *) &ep + field[k].offset));
        if (rc != NGX_OK) {
            return rc;
        }

        if (seen & (1 << k)) {
            ngx_snprintf(err, err_len, "%V: given twice%Z", &key);
            return NGX_DECLINED;
        }

        seen |= 1 << k;
    }

    if (ep.f.name.data == NULL) {
        return ngx_http_abtest_field_name(&ep, &field[0].key, NULL,
                                          &ep.f.name);
    }

    device = ep.device;

    if (device[0].data && device[1].data
        && (device[0].len != device[1].len
            || ngx_strncmp(device[0].data, device[1].data, device[0].len)
               != 0))
    {
        ngx_snprintf(err, err_len, "device_id: differs from deviceId%Z");
        return NGX_DECLINED;
    }

    ep.f.device_id = device[0].data ? device[0]
                                    : (device[1].data ? device[1] : *own);

    if (ep.f.device_id.len == 0) {
        ngx_snprintf(err, err_len, "deviceId: missing, and the request has "
                     "no device cookie%Z");
        return NGX_DECLINED;
    }

    *f = ep.f;

    return NGX_OK;
}


/* "event": a name of 1 to 64 bytes; "v" NULL: the event has none */

static ngx_int_t
ngx_http_abtest_field_name(ngx_http_abtest_event_parse_t *ep, ngx_str_t *key,
    yajl_val v, ngx_str_t *field)
{
    if (v == NULL
        || ngx_http_abtest_event_string(v, 0, field) != NGX_OK
        || ngx_http_abtest_valid_event_name(field) != NGX_OK)
    {
        ngx_snprintf(ep->err, ep->err_len, "event: a name of 1 to %d bytes "
                     "without control characters is required%Z",
                     NGX_HTTP_ABTEST_NAME_MAX);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* "ts": a number as it was written, a string, or null */

static ngx_int_t
ngx_http_abtest_field_ts(ngx_http_abtest_event_parse_t *ep, ngx_str_t *key,
    yajl_val v, ngx_str_t *field)
{
    ngx_str_t  s;

    if (YAJL_IS_NUMBER(v)) {
        s.data = (u_char *) v->u.number.r;
        s.len = ngx_strlen(s.data);

        if (s.len <= NGX_HTTP_ABTEST_FIELD_MAX) {
            *field = s;
            return NGX_OK;
        }

    } else if (ngx_http_abtest_event_string(v, 1, &s) == NGX_OK) {
        return s.data ? ngx_http_abtest_event_quote(ep->r->pool, &s, field)
                      : NGX_OK;
    }

    ngx_snprintf(ep->err, ep->err_len, "ts: must be a string or a number of "
                 "at most %d bytes, or null%Z", NGX_HTTP_ABTEST_FIELD_MAX);

    return NGX_DECLINED;
}


/* "source", "exp_group": a string or null, kept as JSON */

static ngx_int_t
ngx_http_abtest_field_text(ngx_http_abtest_event_parse_t *ep, ngx_str_t *key,
    yajl_val v, ngx_str_t *field)
{
    ngx_str_t  s;

    if (ngx_http_abtest_event_string(v, 1, &s) != NGX_OK) {
        ngx_snprintf(ep->err, ep->err_len, "%V: must be a string of at most "
                     "%d bytes, or null%Z", key, NGX_HTTP_ABTEST_FIELD_MAX);
        return NGX_DECLINED;
    }

    return s.data ? ngx_http_abtest_event_quote(ep->r->pool, &s, field)
                  : NGX_OK;
}


/* "deviceId", "device_id": a device id or null */

static ngx_int_t
ngx_http_abtest_field_device(ngx_http_abtest_event_parse_t *ep,
    ngx_str_t *key, yajl_val v, ngx_str_t *field)
{
    if (ngx_http_abtest_event_string(v, 1, field) != NGX_OK
        || (field->data
            && ngx_http_abtest_valid_device_id(field) != NGX_OK))
    {
        ngx_snprintf(ep->err, ep->err_len, "%V: must be 1 to %d characters "
                     "of [A-Za-z0-9_-], or null%Z", key,
                     NGX_HTTP_ABTEST_DEVICE_ID_MAX);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* "params": an object of at most PARAMS_MAX bytes as JSON, or null */

static ngx_int_t
ngx_http_abtest_field_params(ngx_http_abtest_event_parse_t *ep,
    ngx_str_t *key, yajl_val v, ngx_str_t *field)
{
    size_t                len;
    const unsigned char  *buf;

    if (YAJL_IS_NULL(v)) {
        return NGX_OK;
    }

    if (!YAJL_IS_OBJECT(v)) {
        ngx_snprintf(ep->err, ep->err_len,
                     "params: must be an object or null%Z");
        return NGX_DECLINED;
    }

    yajl_gen_clear(ep->gen);
    yajl_gen_reset(ep->gen, NULL);

    if (ngx_http_abtest_json_copy(ep->gen, v) != yajl_gen_status_ok
        || yajl_gen_get_buf(ep->gen, &buf, &len) != yajl_gen_status_ok)
    {
        ngx_snprintf(ep->err, ep->err_len, "params: cannot be stored%Z");
        return NGX_DECLINED;
    }

    if (len > NGX_HTTP_ABTEST_PARAMS_MAX) {
        ngx_snprintf(ep->err, ep->err_len, "params: larger than %d bytes%Z",
                     NGX_HTTP_ABTEST_PARAMS_MAX);
        return NGX_DECLINED;
    }

    field->data = ngx_pnalloc(ep->r->pool, len);
    if (field->data == NULL) {
        return NGX_ERROR;
    }

    field->len = len;
    ngx_memcpy(field->data, buf, len);

    return NGX_OK;
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
 * Hands accepted events to the ring and to the events log, and counts
 * them, under the one lock the ring takes.  Returns NGX_OK, or an HTTP
 * status with "err" saying why: 503 when nothing was stored, 500 when
 * the ring took the events but the log did not.
 */

ngx_int_t
ngx_http_abtest_events_store(ngx_http_request_t *r,
    ngx_http_abtest_event_t *events, ngx_uint_t n, const char **err)
{
    u_char                      **mem;
    size_t                        len;
    ngx_int_t                     rc;
    ngx_uint_t                    i, full;
    ngx_http_abtest_zone_t       *zone;
    ngx_http_abtest_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    zone = amcf->zone;

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

    mem = ngx_palloc(r->pool, n * sizeof(u_char *));
    if (mem == NULL) {
        *err = "the events could not be stored";
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_abtest_shm_ready(amcf, r->connection->log);

    ngx_shmtx_lock(&zone->shpool->mutex);

    rc = ngx_http_abtest_ring_append_locked(&zone->sh->ring, zone->shpool,
                                            events, n, mem, &full);

    if (rc == NGX_OK) {
        for (i = 0; i < n; i++) {
            ngx_http_abtest_events_count_locked(amcf, &events[i]);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (full) {
        ngx_http_abtest_ring_warn_full(&zone->sh->ring, r->connection->log);
    }

    if (rc != NGX_OK) {
        *err = "the zone has no room for these events: a larger "
               "abtest_zone is needed";
        return NGX_HTTP_SERVICE_UNAVAILABLE;
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


/* the statistics of experiments that are active now */

static void
ngx_http_abtest_events_count_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_event_t *ev)
{
    ngx_uint_t                     i;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_experiment_t  *exp;

    exp = amcf->experiments.elts;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        node = amcf->zone->nodes[i];

        if (ev->counted[i] == NGX_HTTP_ABTEST_NO_GROUP
            || !ngx_http_abtest_node_valid(node, &exp[i])
            || node->state.state != NGX_HTTP_ABTEST_STATE_ACTIVE)
        {
            continue;
        }

        ngx_http_abtest_count_locked(node, &ev->name, ev->counted[i]);
    }
}


/*
 * Names get a counter in the order they come; past EVENT_NAMES of them,
 * the rest share one.  Names are at most NAME_MAX bytes (checked when
 * the event was accepted).
 */

static void
ngx_http_abtest_count_locked(ngx_http_abtest_node_t *node, ngx_str_t *name,
    ngx_uint_t group)
{
    ngx_uint_t  i;

    if (node->counts == NULL || group >= node->ngroups) {
        return;
    }

    for (i = 0; i < node->nnames; i++) {
        if (node->name_lens[i] == name->len
            && ngx_memcmp(node->names[i], name->data, name->len) == 0)
        {
            break;
        }
    }

    if (i == node->nnames && i < NGX_HTTP_ABTEST_EVENT_NAMES) {
        ngx_memcpy(node->names[i], name->data, name->len);
        node->name_lens[i] = (u_char) name->len;
        node->nnames++;
    }

    ngx_http_abtest_count(node, group, i)++;
}
