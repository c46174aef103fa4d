
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * abtest_api metrics: the module's figures in Prometheus' text exposition
 * format 0.0.4, for a scraper.  Every figure is read through the
 * functions the status and the stats locations read the zone with, so
 * that the metrics say what they say.  One family follows another, each
 * with its HELP and TYPE lines, never twice; names follow Prometheus'
 * conventions (counters end in _total, times are seconds, sizes bytes).
 */


#include "ngx_http_abtest_metrics.h"
#include "ngx_http_abtest_event_log.h"
#include "ngx_http_abtest_events.h"
#include "ngx_http_abtest_experiment.h"
#include "ngx_http_abtest_http.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_stats.h"
#include "ngx_http_abtest_util.h"

#include <math.h>


/* room made before each line: a line's labels are short */
#define NGX_HTTP_ABTEST_METRICS_LINE   2048
#define NGX_HTTP_ABTEST_METRICS_START  16384


/* the exposition as it is written, in the request's pool */
typedef struct {
    ngx_pool_t                *pool;
    u_char                    *start;
    u_char                    *pos;
    u_char                    *end;
    ngx_uint_t                 failed;
} ngx_http_abtest_metrics_t;


/* what one scrape read of the zone */
typedef struct {
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_node_t        *nodes;
    ngx_http_abtest_fleet_t       *fleet;     /* with a store, else NULL */
    ngx_http_abtest_store_sh_t     sh;
    ngx_http_abtest_shm_status_t   st;

    /* the labels, escaped: experiment="x", and experiment="x",group="A" */
    ngx_str_t                     *exp_labels;
    ngx_str_t                    **group_labels;
} ngx_http_abtest_scrape_t;


static ngx_int_t ngx_http_abtest_metrics_read(ngx_http_request_t *r,
    ngx_http_abtest_scrape_t *s);
static ngx_int_t ngx_http_abtest_metrics_labels(ngx_http_request_t *r,
    ngx_http_abtest_scrape_t *s);
static void ngx_http_abtest_metrics_info(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s);
static void ngx_http_abtest_metrics_states(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s);
static void ngx_http_abtest_metrics_counts(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s);
static void ngx_http_abtest_metrics_srm(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s);
static void ngx_http_abtest_metrics_devices(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s);
static ngx_http_abtest_device_counts_t *ngx_http_abtest_metrics_devices_of(
    ngx_http_abtest_scrape_t *s, ngx_uint_t i);
static void ngx_http_abtest_metrics_zone(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s);
static void ngx_http_abtest_metrics_answers(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s);
static void ngx_http_abtest_metrics_events_log(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s);
static void ngx_http_abtest_metrics_store(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s);
static void ngx_http_abtest_metrics_family(ngx_http_abtest_metrics_t *m,
    const char *name, const char *type, const char *help);
static void ngx_http_abtest_metrics_print(ngx_http_abtest_metrics_t *m,
    const char *fmt, ...);
static void ngx_http_abtest_metrics_double(ngx_http_abtest_metrics_t *m,
    const char *name, ngx_str_t *labels, double value);
static ngx_int_t ngx_http_abtest_metrics_escape(ngx_pool_t *pool,
    ngx_str_t *out, const char *fmt, ngx_str_t *a, ngx_str_t *b);
static u_char *ngx_http_abtest_metrics_escaped(u_char *p, ngx_str_t *value);


static ngx_str_t  ngx_http_abtest_metrics_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");


ngx_int_t
ngx_http_abtest_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_http_abtest_scrape_t   s;
    ngx_http_abtest_metrics_t  m;

    rc = ngx_http_abtest_http_get(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* a scrape takes no arguments: a misspelt one is said, not ignored */
    if (r->args.len) {
        return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                          "arguments: none are taken, got "
                                          "\"%V\"", &r->args);
    }

    ngx_memzero(&s, sizeof(ngx_http_abtest_scrape_t));
    s.amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    if (ngx_http_abtest_metrics_read(r, &s) != NGX_OK
        || ngx_http_abtest_metrics_labels(r, &s) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    m.pool = r->pool;
    m.start = ngx_pnalloc(r->pool, NGX_HTTP_ABTEST_METRICS_START);
    m.pos = m.start;
    m.end = m.start + NGX_HTTP_ABTEST_METRICS_START;
    m.failed = (m.start == NULL);

    ngx_http_abtest_metrics_info(&m, &s);
    ngx_http_abtest_metrics_states(&m, &s);
    ngx_http_abtest_metrics_counts(&m, &s);
    ngx_http_abtest_metrics_srm(&m, &s);
    ngx_http_abtest_metrics_devices(&m, &s);
    ngx_http_abtest_metrics_zone(&m, &s);
    ngx_http_abtest_metrics_answers(&m, &s);
    ngx_http_abtest_metrics_events_log(&m, &s);
    ngx_http_abtest_metrics_store(&m, &s);

    if (m.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = m.start;
    body.len = m.pos - m.start;

    return ngx_http_abtest_http_send_typed(r, NGX_HTTP_OK,
                                           &ngx_http_abtest_metrics_type,
                                           &body);
}


/*
 * The experiments' records and counters (ngx_http_abtest_shm_snapshot),
 * the zone's use (ngx_http_abtest_shm_status) and, with a store, the
 * fleet's figures (ngx_http_abtest_shm_fleet), as the stats location
 * takes them: of another epoch than the server's, they are none yet.
 */

static ngx_int_t
ngx_http_abtest_metrics_read(ngx_http_request_t *r,
    ngx_http_abtest_scrape_t *s)
{
    size_t                         size;
    uint64_t                     **counts;
    ngx_uint_t                     i, n;
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    amcf = s->amcf;
    exp = amcf->experiments.elts;
    n = amcf->experiments.nelts;

    s->nodes = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_abtest_node_t));
    counts = ngx_palloc(r->pool, (n + 1) * sizeof(uint64_t *));

    if (s->nodes == NULL || counts == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        counts[i] = ngx_pcalloc(r->pool,
                        ngx_http_abtest_counts_size(exp[i].groups.nelts));
        if (counts[i] == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_http_abtest_shm_snapshot(amcf, s->nodes, counts);

    if (amcf->zone == NULL) {
        return NGX_OK;
    }

    ngx_http_abtest_shm_status(amcf, &s->st);

    if (amcf->store == NULL) {
        return NGX_OK;
    }

    s->fleet = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_abtest_fleet_t));
    if (s->fleet == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        size = ngx_http_abtest_counts_size(exp[i].groups.nelts);

        s->fleet[i].counts = ngx_pcalloc(r->pool, size);
        if (s->fleet[i].counts == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_http_abtest_shm_fleet(amcf, s->fleet, &s->sh);

    for (i = 0; i < n; i++) {
        if (s->fleet[i].start != s->nodes[i].stats_start) {
            s->fleet[i].start = -1;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_abtest_metrics_labels(ngx_http_request_t *r,
    ngx_http_abtest_scrape_t *s)
{
    ngx_uint_t                     i, k, n;
    ngx_http_abtest_group_t       *group;
    ngx_http_abtest_experiment_t  *exp;

    exp = s->amcf->experiments.elts;
    n = s->amcf->experiments.nelts;

    s->exp_labels = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_str_t));
    s->group_labels = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_str_t *));

    if (s->exp_labels == NULL || s->group_labels == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        group = exp[i].groups.elts;

        s->group_labels[i] = ngx_palloc(r->pool, exp[i].groups.nelts
                                                 * sizeof(ngx_str_t));
        if (s->group_labels[i] == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_abtest_metrics_escape(r->pool, &s->exp_labels[i],
                                           "experiment=\"%\"",
                                           &exp[i].name, NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (k = 0; k < exp[i].groups.nelts; k++) {
            if (ngx_http_abtest_metrics_escape(r->pool,
                                          &s->group_labels[i][k],
                                          "experiment=\"%\",group=\"%\"",
                                          &exp[i].name, &group[k].name)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* which server and module answer: the node's name, the versions */

static void
ngx_http_abtest_metrics_info(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s)
{
    ngx_str_t  labels, module, nginx;

    ngx_str_set(&module, NGX_HTTP_ABTEST_VERSION);
    ngx_str_set(&nginx, NGINX_VERSION);

    if (ngx_http_abtest_metrics_escape(m->pool, &labels,
                                       "node=\"%\",version=\"%\"",
                                       &s->amcf->node, &module)
        != NGX_OK)
    {
        m->failed = 1;
        return;
    }

    ngx_http_abtest_metrics_family(m, "abtest_info", "gauge",
                                   "The server's node name and the "
                                   "module's version; always 1.");
    ngx_http_abtest_metrics_print(m, "abtest_info{%V,nginx=\"%V\"} 1\n",
                                  &labels, &nginx);
}


/*
 * Each experiment's state (one series per state, 1 for the one it is
 * in, so that a change is a change of value), the experiments per state,
 * and the groups' weights.
 */

static void
ngx_http_abtest_metrics_states(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s)
{
    ngx_uint_t                     i, k, n, state, count;
    ngx_http_abtest_experiment_t  *exp;

    exp = s->amcf->experiments.elts;
    n = s->amcf->experiments.nelts;

    ngx_http_abtest_metrics_family(m, "abtest_experiments", "gauge",
                                   "Experiments configured, by their "
                                   "run-time state.");

    for (state = NGX_HTTP_ABTEST_STATE_ACTIVE;
         state <= NGX_HTTP_ABTEST_STATE_ROLLOUT;
         state++)
    {
        count = 0;

        for (i = 0; i < n; i++) {
            count += (s->nodes[i].state.state == state);
        }

        ngx_http_abtest_metrics_print(m, "abtest_experiments{state=\"%V\"} "
                                      "%ui\n",
                                      ngx_http_abtest_state_name(state),
                                      count);
    }

    if (n == 0) {
        return;
    }

    ngx_http_abtest_metrics_family(m, "abtest_experiment_state", "gauge",
                                   "1 for the state the experiment is in, "
                                   "0 for the others.");

    for (i = 0; i < n; i++) {
        for (state = NGX_HTTP_ABTEST_STATE_ACTIVE;
             state <= NGX_HTTP_ABTEST_STATE_ROLLOUT;
             state++)
        {
            ngx_http_abtest_metrics_print(m, "abtest_experiment_state{%V,"
                                          "state=\"%V\"} %d\n",
                                          &s->exp_labels[i],
                                          ngx_http_abtest_state_name(state),
                                          s->nodes[i].state.state == state);
        }
    }

    ngx_http_abtest_metrics_family(m, "abtest_group_weight", "gauge",
                                   "The group's current weight.");

    for (i = 0; i < n; i++) {
        for (k = 0; k < exp[i].groups.nelts; k++) {
            ngx_http_abtest_metrics_print(m, "abtest_group_weight{%V} %uD\n",
                                          &s->group_labels[i][k],
                                          s->nodes[i].state.weights[k]);
        }
    }
}


/*
 * This server's counters, as the stats location has them without a
 * store: since the statistics' start (a re-activation, a weight change, a
 * reset start them afresh, which Prometheus takes as a counter reset).
 * Summed over a fleet's servers, they are the fleet's.
 */

static void
ngx_http_abtest_metrics_counts(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s)
{
    ngx_str_t                      name, labels;
    ngx_uint_t                     i, k, e, n;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_experiment_t  *exp;

    if (s->amcf->zone == NULL || s->amcf->experiments.nelts == 0) {
        return;
    }

    exp = s->amcf->experiments.elts;
    n = s->amcf->experiments.nelts;

    ngx_http_abtest_metrics_family(m,
        "abtest_statistics_start_timestamp_seconds", "gauge",
        "When the experiment's statistics started, in seconds since the "
        "epoch: its counters count from then.");

    for (i = 0; i < n; i++) {
        if (s->nodes[i].stats_start >= 0) {
            ngx_http_abtest_metrics_print(m,
                "abtest_statistics_start_timestamp_seconds{%V} %L.%03L\n",
                &s->exp_labels[i], s->nodes[i].stats_start / 1000,
                s->nodes[i].stats_start % 1000);
        }
    }

    ngx_http_abtest_metrics_family(m, "abtest_exposures_total", "counter",
                                   "Exposure events counted in the group "
                                   "by this server.");

    for (i = 0; i < n; i++) {
        for (k = 0; k < exp[i].groups.nelts; k++) {
            ngx_http_abtest_metrics_print(m, "abtest_exposures_total{%V} "
                                          "%uL\n", &s->group_labels[i][k],
                                          ngx_http_abtest_count(&s->nodes[i],
                                              k, NGX_HTTP_ABTEST_EXPOSURE));
        }
    }

    ngx_http_abtest_metrics_family(m, "abtest_conversions_total", "counter",
                                   "Goal events counted in the group by "
                                   "this server.");

    for (i = 0; i < n; i++) {
        for (k = 0; k < exp[i].groups.nelts; k++) {
            ngx_http_abtest_metrics_print(m, "abtest_conversions_total{%V} "
                                          "%uL\n", &s->group_labels[i][k],
                                          ngx_http_abtest_count(&s->nodes[i],
                                              k, NGX_HTTP_ABTEST_GOAL));
        }
    }

    ngx_http_abtest_metrics_family(m, "abtest_events_total", "counter",
                                   "Events counted in the group by this "
                                   "server, by the names the experiment "
                                   "lists.");

    for (i = 0; i < n; i++) {
        node = &s->nodes[i];

        for (e = 0; e < node->nnames; e++) {
            name.data = node->names[e];
            name.len = node->name_lens[e];

            /* a client's event name may hold quotes and backslashes */
            if (ngx_http_abtest_metrics_escape(m->pool, &labels,
                                               "event=\"%\"", &name, NULL)
                != NGX_OK)
            {
                m->failed = 1;
                return;
            }

            for (k = 0; k < exp[i].groups.nelts; k++) {
                ngx_http_abtest_metrics_print(m, "abtest_events_total{%V,%V}"
                                              " %uL\n",
                                              &s->group_labels[i][k], &labels,
                                              ngx_http_abtest_count(node, k,
                                                                    e));
            }
        }
    }

    ngx_http_abtest_metrics_family(m, "abtest_other_events_total", "counter",
                                   "Events counted in the group by this "
                                   "server under names the experiment "
                                   "does not list (other_events).");

    for (i = 0; i < n; i++) {
        for (k = 0; k < exp[i].groups.nelts; k++) {
            ngx_http_abtest_metrics_print(m, "abtest_other_events_total{%V} "
                                          "%uL\n", &s->group_labels[i][k],
                                          ngx_http_abtest_count(&s->nodes[i],
                                              k,
                                              NGX_HTTP_ABTEST_EVENT_NAMES));
        }
    }
}


/*
 * The sample ratio mismatch test on the figures the stats location
 * gives (with a store, the fleet's); no sample where it cannot be made.
 */

static void
ngx_http_abtest_metrics_srm(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s)
{
    double                         chi2, p;
    uint64_t                      *counts;
    ngx_uint_t                     i, n, family;
    ngx_http_abtest_experiment_t  *exp;

    if (s->amcf->zone == NULL) {
        return;
    }

    exp = s->amcf->experiments.elts;
    n = s->amcf->experiments.nelts;
    family = 0;

    for (i = 0; i < n; i++) {
        counts = s->nodes[i].counts;

        if (s->fleet) {
            if (s->fleet[i].start < 0) {
                continue;
            }

            counts = s->fleet[i].counts;
        }

        p = ngx_http_abtest_stats_srm_test(exp[i].groups.nelts, counts,
                                           &s->nodes[i].state, &chi2);
        if (isnan(p)) {
            continue;
        }

        if (!family) {
            ngx_http_abtest_metrics_family(m, "abtest_srm_p_value", "gauge",
                "The sample ratio mismatch test's p-value (Pearson's "
                "chi-square of the exposures against the weights); a "
                "mismatch below 0.001.");
            family = 1;
        }

        ngx_http_abtest_metrics_double(m, "abtest_srm_p_value",
                                       &s->exp_labels[i], p);
    }
}


/*
 * Devices, as the stats location counts them: with a store the fleet's
 * (the same on every server: aggregate them with max(), not sum()), else
 * this server's table (abtest_zone devices=N); none otherwise.
 */

static void
ngx_http_abtest_metrics_devices(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s)
{
    ngx_uint_t                        i, k, n, any;
    ngx_http_abtest_experiment_t     *exp;
    ngx_http_abtest_device_counts_t  *devices;

    exp = s->amcf->experiments.elts;
    n = s->amcf->experiments.nelts;
    any = 0;

    for (i = 0; i < n; i++) {
        any |= (ngx_http_abtest_metrics_devices_of(s, i) != NULL);
    }

    /* no figures of the current epochs yet: no family without them */
    if (!any) {
        return;
    }

    ngx_http_abtest_metrics_family(m, "abtest_exposed_devices", "gauge",
                                   "Devices exposed in the group (with a "
                                   "store, fleet-wide).");

    for (i = 0; i < n; i++) {
        devices = ngx_http_abtest_metrics_devices_of(s, i);

        for (k = 0; devices && k < exp[i].groups.nelts; k++) {
            ngx_http_abtest_metrics_print(m, "abtest_exposed_devices{%V} "
                                          "%uL\n", &s->group_labels[i][k],
                                          devices->exposed[k]);
        }
    }

    ngx_http_abtest_metrics_family(m, "abtest_converted_devices", "gauge",
                                   "Devices with a goal event at or after "
                                   "their first exposure in the group "
                                   "(with a store, fleet-wide).");

    for (i = 0; i < n; i++) {
        devices = ngx_http_abtest_metrics_devices_of(s, i);

        for (k = 0; devices && k < exp[i].groups.nelts; k++) {
            ngx_http_abtest_metrics_print(m, "abtest_converted_devices{%V} "
                                          "%uL\n", &s->group_labels[i][k],
                                          devices->converted[k]);
        }
    }

    ngx_http_abtest_metrics_family(m, "abtest_multiple_devices", "gauge",
                                   "Devices counted in more than one group "
                                   "of the experiment, in none of them.");

    for (i = 0; i < n; i++) {
        devices = ngx_http_abtest_metrics_devices_of(s, i);

        if (devices) {
            ngx_http_abtest_metrics_print(m, "abtest_multiple_devices{%V} "
                                          "%uL\n", &s->exp_labels[i],
                                          devices->multiple);
        }
    }

    if (s->fleet) {
        return;
    }

    ngx_http_abtest_metrics_family(m, "abtest_devices_complete", "gauge",
                                   "0 when a device found no room in the "
                                   "devices' table: the figures miss it.");

    for (i = 0; i < n; i++) {
        devices = ngx_http_abtest_metrics_devices_of(s, i);

        if (devices) {
            ngx_http_abtest_metrics_print(m, "abtest_devices_complete{%V} "
                                          "%d\n", &s->exp_labels[i],
                                          !devices->incomplete);
        }
    }
}


/* where an experiment's figures on devices come from, or NULL: none */

static ngx_http_abtest_device_counts_t *
ngx_http_abtest_metrics_devices_of(ngx_http_abtest_scrape_t *s, ngx_uint_t i)
{
    if (s->fleet) {
        return (s->fleet[i].start >= 0) ? &s->fleet[i].devices : NULL;
    }

    if (s->amcf->zone && s->amcf->zone->devices) {
        return &s->nodes[i].devices;
    }

    return NULL;
}


/* the zone: the states' version, its use, the events ring */

static void
ngx_http_abtest_metrics_zone(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s)
{
    ngx_http_abtest_shm_status_t  *st;

    if (s->amcf->zone == NULL) {
        return;
    }

    st = &s->st;

    ngx_http_abtest_metrics_family(m, "abtest_state_version", "gauge",
                                   "The zone's version of the run-time "
                                   "states: it moves with every change.");
    ngx_http_abtest_metrics_print(m, "abtest_state_version %uA\n",
                                  st->version);

    ngx_http_abtest_metrics_family(m, "abtest_zone_size_bytes", "gauge",
                                   "The shared zone's size.");
    ngx_http_abtest_metrics_print(m, "abtest_zone_size_bytes %uz\n",
                                  st->size);

    ngx_http_abtest_metrics_family(m, "abtest_zone_used_bytes", "gauge",
                                   "The shared zone's pages in use.");
    ngx_http_abtest_metrics_print(m, "abtest_zone_used_bytes %uz\n",
                                  st->used);

    if (s->amcf->zone->devices) {
        ngx_http_abtest_metrics_family(m, "abtest_devices_table_records",
                                       "gauge",
                                       "Records in the devices' table (a "
                                       "device in an experiment each).");
        ngx_http_abtest_metrics_print(m, "abtest_devices_table_records %ui\n",
                                      st->devices);

        ngx_http_abtest_metrics_family(m,
                                       "abtest_devices_table_capacity_records",
                                       "gauge",
                                       "Records the devices' table can hold "
                                       "(devices=).");
        ngx_http_abtest_metrics_print(m,
                                      "abtest_devices_table_capacity_records "
                                      "%ui\n", st->devices_max);
    }

    ngx_http_abtest_metrics_family(m, "abtest_ring_events", "gauge",
                                   "Events the ring keeps now.");
    ngx_http_abtest_metrics_print(m, "abtest_ring_events %uL\n",
                                  st->next_id - st->first_id);

    ngx_http_abtest_metrics_family(m, "abtest_ring_capacity_events", "gauge",
                                   "Events the ring can keep (events=).");
    ngx_http_abtest_metrics_print(m, "abtest_ring_capacity_events %ui\n",
                                  st->nslots);

    ngx_http_abtest_metrics_family(m, "abtest_ring_evicted_events_total",
                                   "counter",
                                   "Events that left the ring early, for "
                                   "lack of room in the zone.");
    ngx_http_abtest_metrics_print(m, "abtest_ring_evicted_events_total %uL\n",
                                  st->evicted);
}


/*
 * The events locations' answers to posts (any method but GET and HEAD),
 * by status, and the events the 200 answers accepted; counted in the
 * zone by every worker.
 */

static void
ngx_http_abtest_metrics_answers(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s)
{
    ngx_uint_t                   i;
    ngx_http_abtest_counters_t  *counters;

    if (s->amcf->zone == NULL) {
        return;
    }

    counters = &s->amcf->zone->sh->counters;

    ngx_http_abtest_metrics_family(m, "abtest_event_requests_total",
                                   "counter",
                                   "Requests to the events locations other "
                                   "than GET and HEAD, by the status "
                                   "answered (a 200 accepted its events, "
                                   "any other refused them all).");

    for (i = 0; i < NGX_HTTP_ABTEST_ANSWERS - 1; i++) {
        ngx_http_abtest_metrics_print(m, "abtest_event_requests_total{"
                                      "status=\"%ui\"} %uA\n",
                                      ngx_http_abtest_events_statuses[i],
                                      counters->answers[i]);
    }

    ngx_http_abtest_metrics_print(m, "abtest_event_requests_total{"
                                  "status=\"other\"} %uA\n",
                                  counters->answers[i]);

    ngx_http_abtest_metrics_family(m, "abtest_events_accepted_total",
                                   "counter",
                                   "Events accepted (stored in the ring, "
                                   "counted, logged).");
    ngx_http_abtest_metrics_print(m, "abtest_events_accepted_total %uA\n",
                                  counters->accepted);
}


/*
 * The events log: failed writes, and the bytes of lines not written yet
 * of every process (each keeps its own in its slot of the zone).  The
 * file's target and whether this worker's writes fail are in the status.
 */

static void
ngx_http_abtest_metrics_events_log(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s)
{
    uint64_t                     buffered;
    ngx_uint_t                   i;
    ngx_http_abtest_counters_t  *counters;

    if (s->amcf->event_log == NULL || s->amcf->zone == NULL) {
        return;
    }

    counters = &s->amcf->zone->sh->counters;
    buffered = 0;

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        buffered += counters->log_buffered[i];
    }

    ngx_http_abtest_metrics_family(m, "abtest_events_log_write_errors_total",
                                   "counter",
                                   "Writes of the events log that failed "
                                   "(a full disk): their lines wait and "
                                   "are tried again every second.");
    ngx_http_abtest_metrics_print(m, "abtest_events_log_write_errors_total "
                                  "%uA\n", counters->log_errors);

    ngx_http_abtest_metrics_family(m, "abtest_events_log_buffered_bytes",
                                   "gauge",
                                   "Bytes of accepted events' lines not "
                                   "written to the events log yet, all "
                                   "workers together.");
    ngx_http_abtest_metrics_print(m, "abtest_events_log_buffered_bytes %uL\n",
                                  buffered);
}


/*
 * The store, as the listener sees it: connected, caught up, the version
 * read, when; and how old the newest event in the fleet's figures is.
 */

static void
ngx_http_abtest_metrics_store(ngx_http_abtest_metrics_t *m,
    ngx_http_abtest_scrape_t *s)
{
    int64_t                      newest, now;
    ngx_uint_t                   i, stale;
    ngx_http_abtest_store_sh_t  *sh;

    if (s->amcf->store == NULL || s->amcf->zone == NULL) {
        return;
    }

    sh = &s->sh;
    now = ngx_http_abtest_now_ms();

    ngx_http_abtest_metrics_family(m, "abtest_store_connected", "gauge",
                                   "1 while the listener is connected to "
                                   "the store.");
    ngx_http_abtest_metrics_print(m, "abtest_store_connected %d\n",
                                  sh->connected != 0);

    ngx_http_abtest_metrics_family(m, "abtest_store_ready", "gauge",
                                   "1 while the listener has caught up "
                                   "with the store: updates are taken.");
    ngx_http_abtest_metrics_print(m, "abtest_store_ready %d\n",
                                  sh->ready != 0);

    ngx_http_abtest_metrics_family(m, "abtest_store_version", "gauge",
                                   "The highest version of the store's "
                                   "rows read.");
    ngx_http_abtest_metrics_print(m, "abtest_store_version %L\n",
                                  sh->version);

    if (sh->applied) {
        ngx_http_abtest_metrics_family(m,
            "abtest_store_last_read_timestamp_seconds", "gauge",
            "When the listener last read the store, in seconds since the "
            "epoch.");
        ngx_http_abtest_metrics_print(m,
            "abtest_store_last_read_timestamp_seconds %L.%03L\n",
            sh->applied / 1000, sh->applied % 1000);
    }

    newest = 0;

    for (i = 0; i < sh->nnodes; i++) {
        newest = ngx_max(newest, sh->nodes[i].newest);
    }

    if (newest && sh->figures_at) {
        ngx_http_abtest_metrics_family(m, "abtest_store_figures_lag_seconds",
                                       "gauge",
                                       "The age of the newest event in the "
                                       "fleet's figures read from the "
                                       "store.");
        ngx_http_abtest_metrics_double(m, "abtest_store_figures_lag_seconds",
                                       NULL, (now - newest) / 1000.0);
    }

    /* as the stats location says: the last figures, not fresh ones */
    stale = sh->figures_stale || !sh->connected || sh->figures_at == 0;

    ngx_http_abtest_metrics_family(m, "abtest_store_figures_stale", "gauge",
                                   "1 when the fleet's figures are the last "
                                   "ones read, not fresh ones.");
    ngx_http_abtest_metrics_print(m, "abtest_store_figures_stale %ui\n",
                                  stale);
}


static void
ngx_http_abtest_metrics_family(ngx_http_abtest_metrics_t *m,
    const char *name, const char *type, const char *help)
{
    ngx_http_abtest_metrics_print(m, "# HELP %s %s\n# TYPE %s %s\n",
                                  name, help, name, type);
}


/*
 * One line or a few, formatted by ngx_vslprintf() after making room for
 * NGX_HTTP_ABTEST_METRICS_LINE bytes: the exposition grows by doubling.
 */

static void
ngx_http_abtest_metrics_print(ngx_http_abtest_metrics_t *m,
    const char *fmt, ...)
{
    u_char   *p;
    size_t    size, used;
    va_list   args;

    if (m->failed) {
        return;
    }

    if ((size_t) (m->end - m->pos) < NGX_HTTP_ABTEST_METRICS_LINE) {
        used = m->pos - m->start;
        size = 2 * (m->end - m->start);

        p = ngx_pnalloc(m->pool, size);
        if (p == NULL) {
            m->failed = 1;
            return;
        }

        ngx_memcpy(p, m->start, used);
        m->start = p;
        m->pos = p + used;
        m->end = p + size;
    }

    va_start(args, fmt);
    m->pos = ngx_vslprintf(m->pos, m->end, fmt, args);
    va_end(args);
}


/* a value that is no whole number: as Go's strconv, NaN and +Inf too */

static void
ngx_http_abtest_metrics_double(ngx_http_abtest_metrics_t *m,
    const char *name, ngx_str_t *labels, double value)
{
    char  text[64];

    if (isnan(value)) {
        ngx_cpystrn((u_char *) text, (u_char *) "NaN", sizeof(text));

    } else if (isinf(value)) {
        ngx_cpystrn((u_char *) text, (u_char *) (value > 0 ? "+Inf" : "-Inf"),
                    sizeof(text));

    } else {
        /* ngx_sprintf() has no exponent: a p-value can be 1e-300 */
        (void) snprintf(text, sizeof(text), "%.17g", value);
    }

    if (labels) {
        ngx_http_abtest_metrics_print(m, "%s{%V} %s\n", name, labels, text);

    } else {
        ngx_http_abtest_metrics_print(m, "%s %s\n", name, text);
    }
}


/*
 * "out" is "fmt" with each "%" replaced by a label value, escaped as the
 * exposition format says (backslash, double quote, line feed); "b" may be
 * NULL when "fmt" has one "%".
 */

static ngx_int_t
ngx_http_abtest_metrics_escape(ngx_pool_t *pool, ngx_str_t *out,
    const char *fmt, ngx_str_t *a, ngx_str_t *b)
{
    u_char       *p;
    size_t        len;
    ngx_str_t    *value;
    const char   *f;

    len = ngx_strlen(fmt) + 2 * a->len + (b ? 2 * b->len : 0);

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    value = a;

    for (f = fmt; *f; f++) {
        if (*f != '%') {
            *p++ = *f;
            continue;
        }

        if (value) {
            p = ngx_http_abtest_metrics_escaped(p, value);
        }

        value = (value == a) ? b : NULL;
    }

    out->len = p - out->data;

    return NGX_OK;
}


static u_char *
ngx_http_abtest_metrics_escaped(u_char *p, ngx_str_t *value)
{
    u_char  *s, *last;

    last = value->data + value->len;

    for (s = value->data; s < last; s++) {
        switch (*s) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *s;
            break;

        case LF:
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = *s;
        }
    }

    return p;
}
