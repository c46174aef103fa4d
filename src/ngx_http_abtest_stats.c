
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * Live statistics: counters per experiment, group and event name in the
 * shared zone, counted as events are accepted, and the stats location
 * that turns them into results (formulas in README.md, Statistics).
 */


#include "ngx_http_abtest_stats.h"
#include "ngx_http_abtest_http.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_util.h"

#include <math.h>


/* the 0.975 quantile of the normal distribution: a 95% interval */
#define NGX_HTTP_ABTEST_Z95        1.959963984540054

/* a sample ratio mismatch is flagged below this p-value */
#define NGX_HTTP_ABTEST_SRM_ALPHA  0.001


/* the fleet's figures, where a store gives them */
typedef struct {
    ngx_http_abtest_fleet_t     *fleet;      /* NULL: this server's own */
    ngx_http_abtest_store_sh_t  *sh;
    int64_t                      now;
} ngx_http_abtest_stats_fleet_t;


static void ngx_http_abtest_stats_experiment(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_node_t *node,
    ngx_http_abtest_stats_fleet_t *sf);
static void ngx_http_abtest_stats_source(yajl_gen g,
    ngx_http_abtest_stats_fleet_t *sf);
static void ngx_http_abtest_stats_group(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_node_t *node,
    ngx_uint_t group, ngx_http_abtest_stats_fleet_t *sf);
static void ngx_http_abtest_stats_figures(yajl_gen g, uint64_t n, uint64_t x,
    uint64_t nc, uint64_t xc, ngx_uint_t vs_control);
static void ngx_http_abtest_stats_srm(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_node_t *node);
static double ngx_http_abtest_gamma_q(double a, double x);


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
                fleet[i].multiple = 0;
                ngx_memzero(fleet[i].exposed, sizeof(fleet[i].exposed));
                ngx_memzero(fleet[i].converted, sizeof(fleet[i].converted));
                ngx_memzero(fleet[i].counts,
                        ngx_http_abtest_counts_size(exp[i].groups.nelts));
            }

            nodes[i].counts = fleet[i].counts;
        }
    }

    sf.sh = &sh;
    sf.now = ngx_http_abtest_now_ms();

    yajl_gen_map_open(g);

    for (i = 0; i < n; i++) {
        sf.fleet = fleet ? &fleet[i] : NULL;
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
    ngx_uint_t                i;
    ngx_http_abtest_group_t  *group;

    group = exp->groups.elts;

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

    ngx_http_abtest_json_literal(g, "groups");
    yajl_gen_map_open(g);

    for (i = 0; i < exp->groups.nelts; i++) {
        ngx_http_abtest_json_str(g, group[i].name.data, group[i].name.len);
        ngx_http_abtest_stats_group(g, exp, node, i, sf);
    }

    yajl_gen_map_close(g);

    ngx_http_abtest_json_literal(g, "srm");
    ngx_http_abtest_stats_srm(g, exp, node);

    if (sf->fleet) {
        ngx_http_abtest_json_literal(g, "multiple");
        yajl_gen_integer(g, (long long) sf->fleet->multiple);

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
 * One group: its weight, its figures counted in events (and with a store
 * in devices too), its events by name.
 */

static void
ngx_http_abtest_stats_group(yajl_gen g, ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_node_t *node, ngx_uint_t group,
    ngx_http_abtest_stats_fleet_t *sf)
{
    uint64_t    count;
    ngx_uint_t  i, vs_control;

    vs_control = (group != exp->fallback);

    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "weight");
    yajl_gen_integer(g, node->state.weights[group]);

    ngx_http_abtest_stats_figures(g,
        ngx_http_abtest_count(node, group, NGX_HTTP_ABTEST_EXPOSURE),
        ngx_http_abtest_count(node, group, NGX_HTTP_ABTEST_GOAL),
        ngx_http_abtest_count(node, exp->fallback, NGX_HTTP_ABTEST_EXPOSURE),
        ngx_http_abtest_count(node, exp->fallback, NGX_HTTP_ABTEST_GOAL),
        vs_control);

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

    if (sf->fleet) {
        /* the same figures on devices: exposed, and converted after it */
        ngx_http_abtest_json_literal(g, "devices");
        yajl_gen_map_open(g);

        ngx_http_abtest_stats_figures(g, sf->fleet->exposed[group],
                                      sf->fleet->converted[group],
                                      sf->fleet->exposed[exp->fallback],
                                      sf->fleet->converted[exp->fallback],
                                      vs_control);

        yajl_gen_map_close(g);
    }

    yajl_gen_map_close(g);
}


/*
 * A group against the control (the fallback group): a rate is x / n
 * with n exposures and x conversions; a group with no exposures, or a
 * "rate" above 1 (more goal events than exposures), is no proportion,
 * and what needs one is null.
 */

static void
ngx_http_abtest_stats_figures(yajl_gen g, uint64_t n, uint64_t x,
    uint64_t nc, uint64_t xc, ngx_uint_t vs_control)
{
    double      p, pc, se, pooled, z;
    ngx_uint_t  proportion, control_proportion;

    p = n ? (double) x / n : NAN;
    pc = nc ? (double) xc / nc : NAN;

    proportion = (n && x <= n);
    control_proportion = (nc && xc <= nc);

    ngx_http_abtest_json_literal(g, "exposures");
    yajl_gen_integer(g, (long long) n);

    ngx_http_abtest_json_literal(g, "conversions");
    yajl_gen_integer(g, (long long) x);

    ngx_http_abtest_json_literal(g, "rate");
    ngx_http_abtest_json_double(g, p);

    se = proportion ? sqrt(p * (1 - p) / n) : NAN;

    /* the seed's "Conv = p +- 2 standard errors" */
    ngx_http_abtest_json_literal(g, "error");
    ngx_http_abtest_json_double(g, 2 * se);

    ngx_http_abtest_json_literal(g, "ci95");

    if (proportion) {
        /* Wald's interval, clipped to [0, 1] */
        yajl_gen_array_open(g);
        ngx_http_abtest_json_double(g,
                                    ngx_max(0, p - NGX_HTTP_ABTEST_Z95 * se));
        ngx_http_abtest_json_double(g,
                                    ngx_min(1, p + NGX_HTTP_ABTEST_Z95 * se));
        yajl_gen_array_close(g);

    } else {
        yajl_gen_null(g);
    }

    ngx_http_abtest_json_literal(g, "uplift");
    ngx_http_abtest_json_double(g, (vs_control && n && xc) ? (p - pc) / pc
                                                          : NAN);

    /* the pooled two-proportion z-test, two-sided */
    z = NAN;

    if (vs_control && proportion && control_proportion) {
        pooled = (double) (x + xc) / (n + nc);

        if (pooled > 0 && pooled < 1) {
            se = sqrt(pooled * (1 - pooled) * (1.0 / n + 1.0 / nc));
            z = (p - pc) / se;
        }
    }

    ngx_http_abtest_json_literal(g, "p_value");
    ngx_http_abtest_json_double(g, erfc(fabs(z) / M_SQRT2));
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

        p = ngx_http_abtest_gamma_q((k - 1) / 2.0, *chi2 / 2);
    }

    return p;
}


/*
 * The regularized upper incomplete gamma function Q(a, x), so that the
 * chi-square survival function is Q(df / 2, chi2 / 2): a series below
 * a + 1, a continued fraction (modified Lentz) above, as in Numerical
 * Recipes, 6.2.
 */

static double
ngx_http_abtest_gamma_q(double a, double x)
{
    double      sum, term, ap, b, c, d, h, an, delta, tiny;
    ngx_uint_t  i;

    if (x <= 0) {
        return 1;
    }

    if (x < a + 1) {
        ap = a;
        term = 1 / a;
        sum = term;

        for (i = 0; i < 1000; i++) {
            ap += 1;
            term *= x / ap;
            sum += term;

            if (fabs(term) < fabs(sum) * 1e-16) {
                break;
            }
        }

        return 1 - sum * exp(-x + a * log(x) - lgamma(a));
    }

    tiny = 1e-300;
    b = x + 1 - a;
    c = 1 / tiny;
    d = 1 / b;
    h = d;

    for (i = 1; i < 1000; i++) {
        an = -(double) i * (i - a);
        b += 2;

        d = an * d + b;
        if (fabs(d) < tiny) {
            d = tiny;
        }

        c = b + an / c;
        if (fabs(c) < tiny) {
            c = tiny;
        }

        d = 1 / d;
        delta = d * c;
        h *= delta;

        if (fabs(delta - 1) < 1e-16) {
            break;
        }
    }

    return exp(-x + a * log(x) - lgamma(a)) * h;
}
