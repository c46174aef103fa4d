
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * Live statistics: counters per experiment, group and event name in the
 * shared zone, counted as events are accepted, and the stats location
 * that turns them into results (formulas in README.md, Statistics).
 */


#include "ngx_http_abtest_stats.h"
#include "ngx_http_abtest_stats_math.h"
#include "ngx_http_abtest_http.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_util.h"

#include <math.h>


/* a sample ratio mismatch is flagged below this p-value */
#define NGX_HTTP_ABTEST_SRM_ALPHA  0.001


/* where an experiment's figures on devices come from */
typedef struct {
    ngx_http_abtest_device_counts_t  *devices;  /* NULL: none counted */
    ngx_uint_t                   store;      /* the fleet's, read from it */
    ngx_http_abtest_store_sh_t  *sh;
    int64_t                      now;
} ngx_http_abtest_stats_fleet_t;


/* one table of counts, in events or in devices, and its figures */
typedef struct {
    uint64_t                    *exposures;
    uint64_t                    *conversions;
    ngx_http_abtest_figures_t   *figures;
} ngx_http_abtest_stats_table_t;


static void ngx_http_abtest_stats_experiment(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_node_t *node,
    ngx_http_abtest_stats_fleet_t *sf);
static void ngx_http_abtest_stats_source(yajl_gen g,
    ngx_http_abtest_stats_fleet_t *sf);
static void ngx_http_abtest_stats_group(yajl_gen g,
    ngx_http_abtest_node_t *node, ngx_uint_t group,
    ngx_http_abtest_stats_table_t *events,
    ngx_http_abtest_stats_table_t *devices);
static void ngx_http_abtest_stats_figures(yajl_gen g,
    ngx_http_abtest_stats_table_t *table, ngx_uint_t group);
static void ngx_http_abtest_stats_interval(yajl_gen g, double *interval);
static void ngx_http_abtest_stats_sample_size(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, uint64_t *exposures,
    uint64_t *conversions);
static void ngx_http_abtest_stats_srm(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_node_t *node);


ngx_int_t
ngx_http_abtest_stats_handler(ngx_http_request_t *r)
{
    size_t                          size;
    yajl_gen                        g;
    uint64_t                      **counts;
    ngx_int_t                       rc;
    ngx_uint_t                      i, n;
    ngx_http_abtest_node_t         *nodes;
    ngx_http_abtest_fleet_t        *fleet;
    ngx_http_abtest_store_sh_t      sh;
    ngx_http_abtest_main_conf_t    *amcf;
    ngx_http_abtest_experiment_t   *exp;
    ngx_http_abtest_stats_fleet_t   sf;

    rc = ngx_http_abtest_http_get(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    exp = amcf->experiments.elts;
    n = amcf->experiments.nelts;

    nodes = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_abtest_node_t));
    counts = ngx_palloc(r->pool, (n + 1) * sizeof(uint64_t *));
    g = ngx_http_abtest_json_gen(r->pool);

    if (nodes == NULL || counts == NULL || g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        counts[i] = ngx_pcalloc(r->pool,
                        ngx_http_abtest_counts_size(exp[i].groups.nelts));
        if (counts[i] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_http_abtest_shm_snapshot(amcf, nodes, counts);

    fleet = NULL;

    if (amcf->store && amcf->zone) {
        /* with a store, the fleet's figures: every server's events */
        fleet = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_abtest_fleet_t));
        if (fleet == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        for (i = 0; i < n; i++) {
            size = ngx_http_abtest_counts_size(exp[i].groups.nelts);

            fleet[i].counts = ngx_pcalloc(r->pool, size);
            if (fleet[i].counts == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        ngx_http_abtest_shm_fleet(amcf, fleet, &sh);

        for (i = 0; i < n; i++) {
            /* of another epoch (not read since a reset): none yet */
            if (fleet[i].start != nodes[i].stats_start) {
                ngx_memzero(&fleet[i].devices, sizeof(fleet[i].devices));
                ngx_memzero(fleet[i].counts,
                        ngx_http_abtest_counts_size(exp[i].groups.nelts));
            }

            nodes[i].counts = fleet[i].counts;
        }
    }

    sf.store = (fleet != NULL);
    sf.sh = &sh;
    sf.now = ngx_http_abtest_now_ms();

    yajl_gen_map_open(g);

    for (i = 0; i < n; i++) {
        /* the fleet's devices, or this server's table (devices=N) */
        sf.devices = fleet ? &fleet[i].devices
                     : (amcf->zone && amcf->zone->devices)
                       ? &nodes[i].devices : NULL;
        ngx_http_abtest_json_str(g, exp[i].name.data, exp[i].name.len);
        ngx_http_abtest_stats_experiment(g, &exp[i], &nodes[i], &sf);
    }

    yajl_gen_map_close(g);

    return ngx_http_abtest_http_send_json(r, NGX_HTTP_OK, g);
}


static void
ngx_http_abtest_stats_experiment(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_node_t *node,
    ngx_http_abtest_stats_fleet_t *sf)
{
    uint64_t                        exposures[NGX_HTTP_ABTEST_GROUPS_MAX];
    uint64_t                        conversions[NGX_HTTP_ABTEST_GROUPS_MAX];
    ngx_uint_t                      i, k;
    ngx_http_abtest_group_t        *group;
    ngx_http_abtest_figures_t       by_event[NGX_HTTP_ABTEST_GROUPS_MAX];
    ngx_http_abtest_figures_t       by_device[NGX_HTTP_ABTEST_GROUPS_MAX];
    ngx_http_abtest_stats_table_t   events, devices, *plan;
    ngx_http_abtest_stats_setup_t   setup;

    group = exp->groups.elts;
    k = exp->groups.nelts;

    setup.sequential = exp->sequential;
    setup.tuning = (double) exp->sequential_tuning;
    setup.alpha = exp->alpha;

    /*
     * the groups are compared together (Holm's adjustment takes them all):
     * counted in events, and in devices where they are counted
     */
    for (i = 0; i < k; i++) {
        exposures[i] = ngx_http_abtest_count(node, i,
                                             NGX_HTTP_ABTEST_EXPOSURE);
        conversions[i] = ngx_http_abtest_count(node, i, NGX_HTTP_ABTEST_GOAL);
    }

    events.exposures = exposures;
    events.conversions = conversions;
    events.figures = by_event;

    ngx_http_abtest_stats_compare(exposures, conversions, k, exp->fallback,
                                  &setup, by_event);

    /* the plan is of devices where they are counted */
    plan = &events;

    if (sf->devices) {
        devices.exposures = sf->devices->exposed;
        devices.conversions = sf->devices->converted;
        devices.figures = by_device;

        ngx_http_abtest_stats_compare(devices.exposures, devices.conversions,
                                      k, exp->fallback, &setup, by_device);
        plan = &devices;
    }

    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "title");
    ngx_http_abtest_json_str(g, exp->title.data, exp->title.len);

    ngx_http_abtest_json_literal(g, "state");
    ngx_http_abtest_json_state_name(g, node->state.state);

    ngx_http_abtest_json_literal(g, "since");
    ngx_http_abtest_json_time(g, node->stats_start);

    ngx_http_abtest_json_literal(g, "exposure");
    ngx_http_abtest_json_str(g, exp->exposure.data, exp->exposure.len);

    ngx_http_abtest_json_literal(g, "goal");
    ngx_http_abtest_json_str(g, exp->goal.data, exp->goal.len);

    ngx_http_abtest_json_literal(g, "control");
    ngx_http_abtest_json_str(g, group[exp->fallback].name.data,
                             group[exp->fallback].name.len);

    ngx_http_abtest_json_literal(g, "sequential");
    yajl_gen_bool(g, exp->sequential);

    ngx_http_abtest_json_literal(g, "sequential_tuning");
    yajl_gen_integer(g, exp->sequential_tuning);

    ngx_http_abtest_json_literal(g, "groups");
    yajl_gen_map_open(g);

    for (i = 0; i < k; i++) {
        ngx_http_abtest_json_str(g, group[i].name.data, group[i].name.len);
        ngx_http_abtest_stats_group(g, node, i, &events,
                                    sf->devices ? &devices : NULL);
    }

    yajl_gen_map_close(g);

    ngx_http_abtest_json_literal(g, "srm");
    ngx_http_abtest_stats_srm(g, exp, node);

    ngx_http_abtest_json_literal(g, "sample_size");
    ngx_http_abtest_stats_sample_size(g, exp, plan->exposures,
                                      plan->conversions);

    if (sf->devices) {
        ngx_http_abtest_json_literal(g, "multiple");
        yajl_gen_integer(g, (long long) sf->devices->multiple);

        ngx_http_abtest_json_literal(g, "devices_complete");
        yajl_gen_bool(g, !sf->devices->incomplete);
    }

    if (sf->store) {
        ngx_http_abtest_stats_source(g, sf);
    }

    yajl_gen_map_close(g);
}


/*
 * Where the figures come from: the store, when the listener read them
 * (as_of), how old the newest event in them is (lag, seconds), whether
 * they are the last ones read because the store cannot be read now, and
 * the servers whose events arrived within the last minute.
 */

static void
ngx_http_abtest_stats_source(yajl_gen g, ngx_http_abtest_stats_fleet_t *sf)
{
    int64_t                      newest;
    ngx_uint_t                   i, stale;
    const u_char                *reason;
    ngx_http_abtest_store_sh_t  *sh;

    sh = sf->sh;

    ngx_http_abtest_json_literal(g, "source");
    ngx_http_abtest_json_literal(g, "store");

    ngx_http_abtest_json_literal(g, "as_of");
    ngx_http_abtest_json_time(g, sh->figures_at ? sh->figures_at : -1);

    newest = 0;

    for (i = 0; i < sh->nnodes; i++) {
        newest = ngx_max(newest, sh->nodes[i].newest);
    }

    ngx_http_abtest_json_literal(g, "lag");

    if (newest && sh->figures_at) {
        ngx_http_abtest_json_double(g, (sf->now - newest) / 1000.0);

    } else {
        yajl_gen_null(g);
    }

    stale = 1;

    if (sh->figures_stale) {
        reason = sh->figures_error;

    } else if (!sh->connected) {
        reason = sh->error[0] ? sh->error
                              : (u_char *) "the store is not connected";

    } else if (sh->figures_at == 0) {
        reason = (u_char *) "not read from the store yet";

    } else {
        reason = NULL;
        stale = 0;
    }

    ngx_http_abtest_json_literal(g, "stale");
    yajl_gen_bool(g, stale);

    if (reason) {
        ngx_http_abtest_json_literal(g, "reason");
        ngx_http_abtest_json_str(g, (u_char *) reason,
                                 ngx_strlen(reason));
    }

    ngx_http_abtest_json_literal(g, "nodes");
    yajl_gen_map_open(g);

    for (i = 0; i < sh->nnodes; i++) {
        if (sf->now - sh->nodes[i].newest <= 60000) {
            ngx_http_abtest_json_str(g, sh->nodes[i].name, sh->nodes[i].len);
            ngx_http_abtest_json_time(g, sh->nodes[i].newest);
        }
    }

    yajl_gen_map_close(g);
}


/*
 * One group: its weight, its figures counted in events (and where counted
 * in devices too), its events by name.
 */

static void
ngx_http_abtest_stats_group(yajl_gen g, ngx_http_abtest_node_t *node,
    ngx_uint_t group, ngx_http_abtest_stats_table_t *events,
    ngx_http_abtest_stats_table_t *devices)
{
    uint64_t    count;
    ngx_uint_t  i;

    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "weight");
    yajl_gen_integer(g, node->state.weights[group]);

    ngx_http_abtest_stats_figures(g, events, group);

    ngx_http_abtest_json_literal(g, "events");
    yajl_gen_map_open(g);

    for (i = 0; i < node->nnames; i++) {
        count = ngx_http_abtest_count(node, group, i);

        if (count) {
            ngx_http_abtest_json_str(g, node->names[i], node->name_lens[i]);
            yajl_gen_integer(g, (long long) count);
        }
    }

    yajl_gen_map_close(g);

    ngx_http_abtest_json_literal(g, "other_events");
    yajl_gen_integer(g, (long long) ngx_http_abtest_count(node, group,
                                                NGX_HTTP_ABTEST_EVENT_NAMES));

    if (devices) {
        /* the same figures on devices: exposed, and converted after it */
        ngx_http_abtest_json_literal(g, "devices");
        yajl_gen_map_open(g);

        ngx_http_abtest_stats_figures(g, devices, group);

        yajl_gen_map_close(g);
    }

    yajl_gen_map_close(g);
}


/* one group's figures (ngx_http_abtest_stats_compare()), NaN as null */

static void
ngx_http_abtest_stats_figures(yajl_gen g, ngx_http_abtest_stats_table_t *table,
    ngx_uint_t group)
{
    ngx_http_abtest_figures_t  *fig;

    fig = &table->figures[group];

    ngx_http_abtest_json_literal(g, "exposures");
    yajl_gen_integer(g, (long long) table->exposures[group]);

    ngx_http_abtest_json_literal(g, "conversions");
    yajl_gen_integer(g, (long long) table->conversions[group]);

    ngx_http_abtest_json_literal(g, "rate");
    ngx_http_abtest_json_double(g, fig->rate);

    ngx_http_abtest_json_literal(g, "error");
    ngx_http_abtest_json_double(g, fig->error);

    ngx_http_abtest_json_literal(g, "ci95");
    ngx_http_abtest_stats_interval(g, fig->ci95);

    ngx_http_abtest_json_literal(g, "uplift");
    ngx_http_abtest_json_double(g, fig->uplift);

    ngx_http_abtest_json_literal(g, "uplift_ci95");
    ngx_http_abtest_stats_interval(g, fig->uplift_ci95);

    ngx_http_abtest_json_literal(g, "p_value");
    ngx_http_abtest_json_double(g, fig->p_value);

    ngx_http_abtest_json_literal(g, "p_value_holm");
    ngx_http_abtest_json_double(g, fig->p_value_holm);

    ngx_http_abtest_json_literal(g, "p_value_sequential");
    ngx_http_abtest_json_double(g, fig->p_value_sequential);

    ngx_http_abtest_json_literal(g, "p_value_sequential_holm");
    ngx_http_abtest_json_double(g, fig->p_value_sequential_holm);

    ngx_http_abtest_json_literal(g, "ci95_sequential");
    ngx_http_abtest_stats_interval(g, fig->ci95_sequential);

    ngx_http_abtest_json_literal(g, "uplift_ci95_sequential");
    ngx_http_abtest_stats_interval(g, fig->uplift_ci95_sequential);

    ngx_http_abtest_json_literal(g, "uplift_credible95");
    ngx_http_abtest_stats_interval(g, fig->uplift_credible95);

    ngx_http_abtest_json_literal(g, "chance_to_beat_control");
    ngx_http_abtest_json_double(g, fig->chance_to_beat_control);

    ngx_http_abtest_json_literal(g, "expected_loss");
    ngx_http_abtest_json_double(g, fig->expected_loss);
}


/* [low, high], or null for an interval that could not be computed */

static void
ngx_http_abtest_stats_interval(yajl_gen g, double *interval)
{
    if (!isfinite(interval[0]) || !isfinite(interval[1])) {
        yajl_gen_null(g);
        return;
    }

    yajl_gen_array_open(g);
    ngx_http_abtest_json_double(g, interval[0]);
    ngx_http_abtest_json_double(g, interval[1]);
    yajl_gen_array_close(g);
}


/*
 * The devices each group needs to find the experiment's relative mde from
 * the control's rate (stats_math.c), and the share of it the smallest
 * group has; null while the control has no rate to plan from.
 */

static void
ngx_http_abtest_stats_sample_size(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, uint64_t *exposures,
    uint64_t *conversions)
{
    double      rate, per_group;
    uint64_t    fewest, nc, xc;
    ngx_uint_t  i;

    nc = exposures[exp->fallback];
    xc = conversions[exp->fallback];

    rate = (nc && xc <= nc) ? (double) xc / nc : NAN;
    per_group = ngx_http_abtest_sample_size(rate, exp->mde, exp->alpha,
                                            NGX_HTTP_ABTEST_POWER);

    fewest = exposures[0];

    for (i = 1; i < exp->groups.nelts; i++) {
        fewest = ngx_min(fewest, exposures[i]);
    }

    yajl_gen_map_open(g);

    /* a double: a tiny rate and mde may ask for more than 2^63 */
    ngx_http_abtest_json_literal(g, "per_group");
    ngx_http_abtest_json_double(g, per_group);

    ngx_http_abtest_json_literal(g, "reached");
    ngx_http_abtest_json_double(g, fewest / per_group);

    ngx_http_abtest_json_literal(g, "mde");
    ngx_http_abtest_json_double(g, exp->mde);

    ngx_http_abtest_json_literal(g, "alpha");
    ngx_http_abtest_json_double(g, exp->alpha);

    ngx_http_abtest_json_literal(g, "power");
    ngx_http_abtest_json_double(g, NGX_HTTP_ABTEST_POWER);

    yajl_gen_map_close(g);
}


/*
 * Sample ratio mismatch: Pearson's chi-square of the exposures against
 * the current weights, k - 1 degrees of freedom.
 */

static void
ngx_http_abtest_stats_srm(yajl_gen g, ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_node_t *node)
{
    double  chi2, p;

    p = ngx_http_abtest_stats_srm_test(exp->groups.nelts, node->counts,
                                       &node->state, &chi2);

    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "chi2");
    ngx_http_abtest_json_double(g, chi2);

    ngx_http_abtest_json_literal(g, "p_value");
    ngx_http_abtest_json_double(g, p);

    ngx_http_abtest_json_literal(g, "mismatch");

    if (isnan(p)) {
        yajl_gen_null(g);

    } else {
        yajl_gen_bool(g, p < NGX_HTTP_ABTEST_SRM_ALPHA);
    }

    yajl_gen_map_close(g);
}


/*
 * The test itself, for the JSON and the metrics: its p-value, and
 * Pearson's chi-square in "chi2"; NaN for both when it cannot be made (a
 * single group, no exposures).
 */

double
ngx_http_abtest_stats_srm_test(ngx_uint_t ngroups, uint64_t *counts,
    ngx_http_abtest_exp_state_t *state, double *chi2)
{
    double       expected, diff, p;
    uint64_t     total, weights;
    ngx_uint_t   i, k;
    struct {
        uint64_t  *counts;
    }            node;

    /* the counters' layout is the node's (ngx_http_abtest_count()) */
    node.counts = counts;

    k = ngroups;
    total = 0;
    weights = 0;

    for (i = 0; i < k; i++) {
        total += ngx_http_abtest_count(&node, i, NGX_HTTP_ABTEST_EXPOSURE);
        weights += state->weights[i];
    }

    *chi2 = NAN;
    p = NAN;

    if (k > 1 && total && weights) {
        *chi2 = 0;

        for (i = 0; i < k; i++) {
            expected = (double) total * state->weights[i] / weights;
            diff = (double) ngx_http_abtest_count(&node, i,
                                                  NGX_HTTP_ABTEST_EXPOSURE)
                   - expected;
            *chi2 += diff * diff / expected;
        }

        p = ngx_http_abtest_chi2_sf(*chi2, k - 1);
    }

    return p;
}
