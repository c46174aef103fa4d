
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
#include "ngx_http_abtest_event_parser.h"
#include "ngx_http_abtest_http.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_target.h"
#include "ngx_http_abtest_util.h"


#define NGX_HTTP_ABTEST_EVENTS_PAGE      1000
#define NGX_HTTP_ABTEST_EVENTS_PAGE_MAX  10000


/* an accepted request's answer, once its lines are written */
typedef struct {
    ngx_str_t                  body;
    ngx_uint_t                 accepted;     /* events */
} ngx_http_abtest_events_answer_t;


/* as "counted" names them, by NGX_HTTP_ABTEST_ROLE_* */
static ngx_str_t  ngx_http_abtest_role_names[] = {
    ngx_string("exposure"),
    ngx_string("goal"),
    ngx_string("event")
};


static ngx_int_t ngx_http_abtest_events_get(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_events_answered(ngx_http_request_t *r,
    ngx_int_t rc, ngx_uint_t accepted);
static void ngx_http_abtest_events_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_events_accept(ngx_http_request_t *r,
    ngx_uint_t *accepted);
static ngx_int_t ngx_http_abtest_events_feed(void *parser, u_char *data,
    size_t len);
static void ngx_http_abtest_events_written(ngx_http_request_t *r,
    void *data);
static u_char *ngx_http_abtest_events_counted_locked(
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_event_t *ev,
    u_char *p);
static void ngx_http_abtest_events_count_locked(
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_event_t *ev);
static void ngx_http_abtest_count_locked(ngx_http_abtest_node_t *node,
    ngx_str_t *name, ngx_uint_t group);
static ngx_uint_t ngx_http_abtest_event_role(ngx_http_abtest_event_t *ev,
    ngx_http_abtest_experiment_t *exp);


/*
 * The statuses the metrics count apart (abtest_event_requests_total), in
 * the order of the zone's counters; any other is counted in the last.
 */

ngx_uint_t  ngx_http_abtest_events_statuses[NGX_HTTP_ABTEST_ANSWERS - 1] = {
    NGX_HTTP_OK,
    NGX_HTTP_BAD_REQUEST,
    NGX_HTTP_FORBIDDEN,
    NGX_HTTP_NOT_ALLOWED,
    NGX_HTTP_REQUEST_TIME_OUT,
    NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
    NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
    NGX_HTTP_MISDIRECTED_REQUEST,
    NGX_HTTP_INTERNAL_SERVER_ERROR,
    NGX_HTTP_SERVICE_UNAVAILABLE
};


ngx_int_t
ngx_http_abtest_events_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        return ngx_http_abtest_events_get(r);
    }

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_abtest_http_not_allowed(r, "GET, HEAD, POST");
        return ngx_http_abtest_events_answered(r, rc, 0);
    }

    if (ngx_http_abtest_http_own_host(r) != NGX_OK) {
        rc = ngx_http_abtest_http_not_own_host(r);
        return ngx_http_abtest_events_answered(r, rc, 0);
    }

    /* refused before the body is read (415, 413), or answered later */
    rc = ngx_http_abtest_http_read_json(r, ngx_http_abtest_events_body);

    return ngx_http_abtest_events_answered(r, rc, 0);
}


/*
 * Counts an answer of the events location in the zone, by its status,
 * with the events a 200 accepted: atomic additions, no lock.  NGX_DONE
 * and NGX_AGAIN are not answers yet; "rc" is the status where the
 * handler returns one for nginx to send, else the one that was sent.
 */

static ngx_int_t
ngx_http_abtest_events_answered(ngx_http_request_t *r, ngx_int_t rc,
    ngx_uint_t accepted)
{
    ngx_uint_t                    i, status;
    ngx_http_abtest_counters_t   *counters;
    ngx_http_abtest_main_conf_t  *amcf;

    if (rc == NGX_DONE || rc == NGX_AGAIN) {
        return rc;
    }

    status = (rc >= NGX_HTTP_SPECIAL_RESPONSE) ? (ngx_uint_t) rc
                                               : r->headers_out.status;
    if (status == 0) {
        return rc;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    counters = &amcf->zone->sh->counters;

    for (i = 0; i < NGX_HTTP_ABTEST_ANSWERS - 1; i++) {
        if (ngx_http_abtest_events_statuses[i] == status) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&counters->answers[i], 1);

    if (status == NGX_HTTP_OK && accepted) {
        (void) ngx_atomic_fetch_add(&counters->accepted, accepted);
    }

    return rc;
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

    if (ngx_http_abtest_http_arg(r, "since", 0, NGX_MAX_OFF_T_VALUE, &since)
        != NGX_OK)
    {
        return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                          "since: must be an event id, a "
                                          "non-negative integer");
    }

    if (ngx_http_abtest_http_arg(r, "limit", 1,
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


static void
ngx_http_abtest_events_body(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_uint_t  accepted;

    accepted = 0;
    rc = ngx_http_abtest_events_accept(r, &accepted);

    ngx_http_finalize_request(r,
                              ngx_http_abtest_events_answered(r, rc,
                                                              accepted));
}


static ngx_int_t
ngx_http_abtest_events_accept(ngx_http_request_t *r, ngx_uint_t *accepted)
{
    u_char                           *err;
    off_t                             len;
    ngx_int_t                         rc;
    ngx_str_t                        *body, own;
    ngx_uint_t                        i, batch, status;
    ngx_array_t                      *fields;
    const char                       *msg;
    ngx_http_abtest_ctx_t            *ctx;
    ngx_http_abtest_loc_conf_t       *alcf;
    ngx_http_abtest_main_conf_t      *amcf;
    ngx_http_abtest_event_t          *events;
    ngx_http_abtest_event_fields_t   *f;
    ngx_http_abtest_event_parser_t   *parser;
    ngx_http_abtest_events_answer_t  *answer;

    ngx_http_abtest_own_device(r, &own);

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    parser = ngx_http_abtest_event_parser_create(r->pool, &own,
                                                 alcf->api_trusted);
    if (parser == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* every event is checked as the body streams, before any is stored */

    rc = ngx_http_abtest_http_read_body(r, ngx_http_abtest_events_feed,
                                        parser, &len);

    if (rc == NGX_DECLINED || (rc == NGX_OK && len == 0)) {
        return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                          "body: empty, expected an event "
                                          "object or an array of them");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_abtest_event_parser_finish(parser, &fields, &batch, &err,
                                             &status);

    if (rc == NGX_DECLINED) {
        return ngx_http_abtest_http_error(r, status, "%s", err);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f = fields->elts;

    events = ngx_pcalloc(r->pool,
                         fields->nelts * sizeof(ngx_http_abtest_event_t));
    if (events == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < fields->nelts; i++) {
        if (ngx_http_abtest_own_ctx(r, &f[i].device_id, &own, &ctx) != NGX_OK
            || ngx_http_abtest_event_make(r, &f[i], ctx, &events[i])
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_abtest_events_store(r, events, fields->nelts, &msg);
    if (rc != NGX_OK) {
        return ngx_http_abtest_http_error(r, rc, "%s", msg);
    }

    answer = ngx_palloc(r->pool, sizeof(ngx_http_abtest_events_answer_t));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = &answer->body;
    answer->accepted = fields->nelts;

    ngx_str_set(body, "{\"status\":\"ok\"}\n");

    if (batch) {
        body->data = ngx_pnalloc(r->pool, sizeof("{\"status\":\"ok\","
                                                 "\"accepted\":}\n")
                                          + NGX_INT_T_LEN);
        if (body->data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        body->len = ngx_sprintf(body->data,
                                "{\"status\":\"ok\",\"accepted\":%ui}\n",
                                fields->nelts)
                    - body->data;
    }

    /* without buffer=, the answer waits until the lines are written */

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    if (amcf->event_log) {
        rc = ngx_http_abtest_event_log_wait(amcf->event_log, r,
                                            ngx_http_abtest_events_written,
                                            answer);
        if (rc != NGX_OK) {
            return (rc == NGX_DONE) ? NGX_DONE
                                    : NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    *accepted = answer->accepted;

    return ngx_http_abtest_http_send_text(r, NGX_HTTP_OK, body);
}


static void
ngx_http_abtest_events_written(ngx_http_request_t *r, void *data)
{
    ngx_int_t                         rc;
    ngx_http_abtest_events_answer_t  *answer = data;

    rc = ngx_http_abtest_http_send_text(r, NGX_HTTP_OK, &answer->body);

    ngx_http_finalize_request(r,
                              ngx_http_abtest_events_answered(r, rc,
                                                      answer->accepted));
}


static ngx_int_t
ngx_http_abtest_events_feed(void *parser, u_char *data, size_t len)
{
    return ngx_http_abtest_event_parser_feed(parser, data, len);
}


/*
 * The stored event: what the client sent, and what the server knows, its
 * node, the receive time and the device's group in every experiment (the
 * fallback when inactive, the rollout group in rollout, null where it
 * cannot be told).  "text" is the JSON after "{"id":N,", with room for it
 * before and for a newline after, and without its end: "counted" is
 * written with the counts (ngx_http_abtest_events_counted_locked()).  An
 * event counts in the statistics for the groups the rule gave (not forced
 * ones).
 */

ngx_int_t
ngx_http_abtest_event_make(ngx_http_request_t *r,
    ngx_http_abtest_event_fields_t *f, ngx_http_abtest_ctx_t *ctx,
    ngx_http_abtest_event_t *ev)
{
    u_char                        *p;
    size_t                         len;
    ngx_str_t                     *why;
    ngx_uint_t                     i, n, group, assigned, out, *groups,
                                  *reasons;
    ngx_http_abtest_group_t       *names;
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    exp = amcf->experiments.elts;
    n = amcf->experiments.nelts;

    groups = ngx_palloc(r->pool, 3 * (n + 1) * sizeof(ngx_uint_t));
    if (groups == NULL) {
        return NGX_ERROR;
    }

    ev->counted = groups + n + 1;
    reasons = ev->counted + n + 1;
    out = 0;

    /* "counted" is at most every experiment's entry */
    ev->counted_room = sizeof(",\"counted\":{}}") - 1;

    len = sizeof("\"node\":,\"received\":\"\",\"ts\":,\"source\":,"
                 "\"event\":,\"deviceId\":\"\",\"device_id\":\"\","
                 "\"exp_group\":,\"params\":,\"groups\":{}") - 1
          + ngx_http_abtest_json_quoted_len(amcf->node.data, amcf->node.len)
          + NGX_HTTP_ABTEST_ISO_LEN + f->ts.len + f->source.len
          + ngx_http_abtest_json_quoted_len(f->name.data, f->name.len)
          + 2 * f->device_id.len + f->exp_group.len + f->params.len;

    for (i = 0; i < n; i++) {
        group = ngx_http_abtest_group_of(r, ctx, &exp[i], &f->device_id,
                                         &assigned, &reasons[i]);
        if (group >= exp[i].groups.nelts) {
            group = NGX_HTTP_ABTEST_NO_GROUP;
        }

        groups[i] = group;

        /* a device not in the experiment, or forced, is not counted */
        ev->counted[i] = (reasons[i] != NGX_HTTP_ABTEST_ENTERS
                          || (ctx && ngx_http_abtest_is_forced(ctx, &exp[i])))
                         ? NGX_HTTP_ABTEST_NO_GROUP : group;

        if (reasons[i] != NGX_HTTP_ABTEST_ENTERS) {
            out++;
        }

        /* names and groups need no escaping: [A-Za-z0-9_.-] */
        len += sizeof("\"\":\"\",") - 1 + exp[i].name.len
               + NGX_HTTP_ABTEST_NAME_MAX;

        ev->counted_room += sizeof("\"\":{\"group\":\"\",\"groups\":\"\","
                                   "\"start\":,\"role\":\"exposure\"},") - 1
                            + exp[i].name.len + NGX_HTTP_ABTEST_NAME_MAX
                            + exp[i].generation.len + NGX_INT64_LEN;
    }

    if (out) {
        /* ,"reasons":{"<name>":"coverage",...} */
        len += sizeof(",\"reasons\":{}") - 1
               + out * (sizeof("\"\":\"excluded\",") - 1
                        + NGX_HTTP_ABTEST_NAME_MAX);
    }

    len += ev->counted_room;

    p = ngx_pnalloc(r->pool, NGX_HTTP_ABTEST_ID_PREFIX_LEN + len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p += NGX_HTTP_ABTEST_ID_PREFIX_LEN;
    ev->text.data = p;

    p = ngx_cpymem(p, "\"node\":", sizeof("\"node\":") - 1);
    p = ngx_http_abtest_json_quote(p, amcf->node.data, amcf->node.len);
    ev->received = ngx_http_abtest_now_ms();
    ev->device = f->device_id;

    p = ngx_cpymem(p, ",\"received\":\"", sizeof(",\"received\":\"") - 1);
    p = ngx_http_abtest_iso_time(p, ev->received);
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

    /* why the device is not in some: its groups there are the fallback */
    if (out) {
        p = ngx_cpymem(p, ",\"reasons\":{", sizeof(",\"reasons\":{") - 1);

        for (i = 0; i < n; i++) {
            if (reasons[i] == NGX_HTTP_ABTEST_ENTERS) {
                continue;
            }

            why = ngx_http_abtest_reason_name(reasons[i]);

            *p++ = '"';
            p = ngx_cpymem(p, exp[i].name.data, exp[i].name.len);
            p = ngx_cpymem(p, "\":\"", 3);
            p = ngx_cpymem(p, why->data, why->len);
            *p++ = '"';

            if (--out) {
                *p++ = ',';
            }
        }

        *p++ = '}';
    }

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
    u_char                      **mem, *p;
    size_t                        len;
    ngx_int_t                     rc;
    ngx_uint_t                    i, full;
    ngx_http_abtest_zone_t       *zone;
    ngx_http_abtest_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    zone = amcf->zone;

    if (amcf->event_log) {
        ngx_http_abtest_event_log_set_lock(amcf->event_log,
                                           &zone->shpool->mutex);
        ngx_http_abtest_event_log_set_counters(amcf->event_log,
                &zone->sh->counters.log_errors,
                &zone->sh->counters.log_buffered[ngx_process_slot]);
        len = 0;

        for (i = 0; i < n; i++) {
            len += NGX_HTTP_ABTEST_ID_PREFIX_LEN + events[i].text.len
                   + events[i].counted_room + 1;
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

    for (i = 0; i < n; i++) {
        p = events[i].text.data + events[i].text.len;
        p = ngx_http_abtest_events_counted_locked(amcf, &events[i], p);
        events[i].text.len = p - events[i].text.data;
    }

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


/*
 * Which experiments count the event (those active now, in the group the
 * rule gave), written at the end of its text as "counted": the group,
 * the generation, the statistics' start and the name's role, all that
 * results computed from the events log alone need (the fleet's, in
 * PostgreSQL).  What it does not name is left out of ev->counted too, so
 * that the line and the zone's counters agree.
 */

static u_char *
ngx_http_abtest_events_counted_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_event_t *ev, u_char *p)
{
    ngx_str_t                     *group, *role;
    ngx_uint_t                     i, first;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_group_t       *groups;
    ngx_http_abtest_experiment_t  *exp;

    exp = amcf->experiments.elts;
    first = 1;

    p = ngx_cpymem(p, ",\"counted\":{", sizeof(",\"counted\":{") - 1);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        node = amcf->zone->nodes[i];

        if (ev->counted[i] == NGX_HTTP_ABTEST_NO_GROUP
            || !ngx_http_abtest_node_valid(node, &exp[i])
            || node->state.state != NGX_HTTP_ABTEST_STATE_ACTIVE
            || ev->counted[i] >= node->ngroups)
        {
            ev->counted[i] = NGX_HTTP_ABTEST_NO_GROUP;
            continue;
        }

        groups = exp[i].groups.elts;
        group = &groups[ev->counted[i]].name;

        /* under the lock: copies, not ngx_sprintf() */

        if (!first) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_cpymem(p, exp[i].name.data, exp[i].name.len);
        p = ngx_cpymem(p, "\":{\"group\":\"", sizeof("\":{\"group\":\"") - 1);
        p = ngx_cpymem(p, group->data, group->len);
        p = ngx_cpymem(p, "\",\"groups\":\"", sizeof("\",\"groups\":\"") - 1);
        p = ngx_cpymem(p, exp[i].generation.data, exp[i].generation.len);
        p = ngx_cpymem(p, "\",\"start\":", sizeof("\",\"start\":") - 1);
        p = ngx_http_abtest_int64(p, node->stats_start);
        role = &ngx_http_abtest_role_names[
                   ngx_http_abtest_event_role(ev, &exp[i])];
        p = ngx_cpymem(p, ",\"role\":\"", sizeof(",\"role\":\"") - 1);
        p = ngx_cpymem(p, role->data, role->len);
        *p++ = '"';
        *p++ = '}';

        first = 0;
    }

    *p++ = '}';
    *p++ = '}';

    return p;
}


/* an event name's part in an experiment: NGX_HTTP_ABTEST_ROLE_* */

static ngx_uint_t
ngx_http_abtest_event_role(ngx_http_abtest_event_t *ev,
    ngx_http_abtest_experiment_t *exp)
{
    if (ev->name.len == exp->exposure.len
        && ngx_memcmp(ev->name.data, exp->exposure.data, ev->name.len) == 0)
    {
        return NGX_HTTP_ABTEST_ROLE_EXPOSURE;
    }

    if (ev->name.len == exp->goal.len
        && ngx_memcmp(ev->name.data, exp->goal.data, ev->name.len) == 0)
    {
        return NGX_HTTP_ABTEST_ROLE_GOAL;
    }

    return NGX_HTTP_ABTEST_ROLE_EVENT;
}


/*
 * The statistics of the experiments the event's "counted" names: its
 * name's counter, and its device's record (devices=N)
 */

static void
ngx_http_abtest_events_count_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_event_t *ev)
{
    ngx_uint_t                     i;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_zone_t        *zone;
    ngx_http_abtest_experiment_t  *exp;

    zone = amcf->zone;
    exp = amcf->experiments.elts;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        if (ev->counted[i] == NGX_HTTP_ABTEST_NO_GROUP) {
            continue;
        }

        node = zone->nodes[i];

        ngx_http_abtest_count_locked(node, &ev->name, ev->counted[i]);

        ngx_http_abtest_devices_count_locked(&zone->sh->devices,
                                             zone->shpool, &node->devices,
                                             &ev->device, ev->counted[i],
                                             ngx_http_abtest_event_role(ev,
                                                                   &exp[i]),
                                             ev->received);
    }
}


/*
 * The names the configuration lists (exposure, goal, "events") have a
 * counter each; every other name shares the last one (other_events).
 */

static void
ngx_http_abtest_count_locked(ngx_http_abtest_node_t *node, ngx_str_t *name,
    ngx_uint_t group)
{
    if (node->counts == NULL || group >= node->ngroups) {
        return;
    }

    ngx_http_abtest_count(node, group,
                          ngx_http_abtest_node_name(node, name))++;
}
