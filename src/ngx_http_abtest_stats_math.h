
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_STATS_MATH_H_INCLUDED_
#define _NGX_HTTP_ABTEST_STATS_MATH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* the 0.975 quantile of the normal distribution: a 95% interval */
#define NGX_HTTP_ABTEST_Z95               1.959963984540054

/* the power the sample size is planned for */
#define NGX_HTTP_ABTEST_POWER             0.8


/* how one experiment's groups are compared, from its configuration */
typedef struct {
    unsigned                   sequential;   /* the sequential figures */
    double                     tuning;       /* N*, where they are tightest */
    double                     alpha;
} ngx_http_abtest_stats_setup_t;


/*
 * The figures of one group against the control; NaN for a figure that
 * cannot be computed (no data, no proportion, the control itself), which
 * the JSON writes as null.  Intervals are [low, high].
 */
typedef struct {
    double                     rate;
    double                     error;        /* the seed's 2 SE */
    double                     ci95[2];
    double                     uplift;
    double                     uplift_ci95[2];
    double                     p_value;      /* fixed horizon */
    double                     p_value_holm;
    double                     p_value_sequential;
    double                     p_value_sequential_holm;
    double                     ci95_sequential[2];
    double                     uplift_ci95_sequential[2];
    double                     uplift_credible95[2];
    double                     chance_to_beat_control;
    double                     expected_loss;
} ngx_http_abtest_figures_t;


void ngx_http_abtest_stats_compare(const uint64_t *exposures,
    const uint64_t *conversions, size_t ngroups, size_t control,
    const ngx_http_abtest_stats_setup_t *setup,
    ngx_http_abtest_figures_t *figures);
double ngx_http_abtest_sample_size(double control_rate, double mde,
    double alpha, double power);
double ngx_http_abtest_beta_beats(double a1, double b1, double a2, double b2);
double ngx_http_abtest_normal_quantile(double p);
double ngx_http_abtest_chi2_sf(double chi2, double df);


#endif /* _NGX_HTTP_ABTEST_STATS_MATH_H_INCLUDED_ */
