
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The statistics' mathematics, apart from nginx: counts in, figures out
 * (the formulas and their sources are in README.md, Statistics), so that
 * each can be read, and checked against another implementation, alone.
 * A figure that cannot be computed is NaN; nothing here is infinite.
 */


#include "ngx_http_abtest_stats_math.h"

#include <math.h>


#define NGX_HTTP_ABTEST_SQRT2        1.4142135623730951
#define NGX_HTTP_ABTEST_SQRT_2PI     2.5066282746310002
#define NGX_HTTP_ABTEST_LN10         2.302585092994046

/*
 * The chance to beat control sums one term per conversion (or
 * non-conversion) of the smallest count: beyond this many, every count is
 * so large that the posteriors are normal to within about 1e-4, and the
 * normal approximation keeps a request's work bounded (a few ms a group).
 */
#define NGX_HTTP_ABTEST_BETA_TERMS   1000000

/* the confidence sequence's interval is a 95% one, whatever the alpha */
#define NGX_HTTP_ABTEST_ALPHA95      0.05


static void ngx_http_abtest_stats_group(uint64_t n, uint64_t x, uint64_t nc,
    uint64_t xc, unsigned vs_control,
    const ngx_http_abtest_stats_setup_t *setup,
    ngx_http_abtest_figures_t *fig);
static void ngx_http_abtest_stats_sequential(double d, double var, double n,
    const ngx_http_abtest_stats_setup_t *setup,
    ngx_http_abtest_figures_t *fig);
static double ngx_http_abtest_sequential_half(double var, double n,
    double tuning);
static void ngx_http_abtest_stats_bayes(uint64_t n, uint64_t x, uint64_t nc,
    uint64_t xc, ngx_http_abtest_figures_t *fig);
static void ngx_http_abtest_holm(ngx_http_abtest_figures_t *figures,
    size_t ngroups, size_t control, size_t from, size_t to);
static double ngx_http_abtest_rho2(double alpha, double tuning);
static double ngx_http_abtest_beta_sum(double aw, double bw, double al,
    double bl);
static double ngx_http_abtest_lbeta(double a, double b);
static double ngx_http_abtest_digamma(double x);
static double ngx_http_abtest_trigamma(double x);
static double ngx_http_abtest_normal_cdf(double x);
static double ngx_http_abtest_gamma_q(double a, double x);


/* Acklam's coefficients of the normal quantile */
static const double  ngx_http_abtest_acklam_a[] = {
    -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
    1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00
};

static const double  ngx_http_abtest_acklam_b[] = {
    -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
    6.680131188771972e+01, -1.328068155288572e+01
};

static const double  ngx_http_abtest_acklam_c[] = {
    -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
    -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00
};

static const double  ngx_http_abtest_acklam_d[] = {
    7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
    3.754408661907416e+00
};


/*
 * Every group of one table (exposures and conversions per group, counted
 * in events or in devices) against its control.
 */

void
ngx_http_abtest_stats_compare(const uint64_t *exposures,
    const uint64_t *conversions, size_t ngroups, size_t control,
    const ngx_http_abtest_stats_setup_t *setup,
    ngx_http_abtest_figures_t *figures)
{
    size_t  i;

    for (i = 0; i < ngroups; i++) {
        ngx_http_abtest_stats_group(exposures[i], conversions[i],
                                    exposures[control], conversions[control],
                                    i != control, setup, &figures[i]);
    }

    /* with two groups there is one comparison, nothing to adjust */
    if (ngroups > 2) {
        ngx_http_abtest_holm(figures, ngroups, control,
                    offsetof(ngx_http_abtest_figures_t, p_value),
                    offsetof(ngx_http_abtest_figures_t, p_value_holm));
        ngx_http_abtest_holm(figures, ngroups, control,
                    offsetof(ngx_http_abtest_figures_t, p_value_sequential),
                    offsetof(ngx_http_abtest_figures_t,
                             p_value_sequential_holm));
    }
}


/*
 * One group: a rate is x / n with n exposures and x conversions; a group
 * with no exposures, or a "rate" above 1 (more goal events than
 * exposures), is no proportion, and what needs one is NaN.
 */

static void
ngx_http_abtest_stats_group(uint64_t n, uint64_t x, uint64_t nc, uint64_t xc,
    unsigned vs_control, const ngx_http_abtest_stats_setup_t *setup,
    ngx_http_abtest_figures_t *fig)
{
    double    p, pc, se, pooled, var, half;
    unsigned  proportion, control_proportion;

    fig->rate = NAN;
    fig->error = NAN;
    fig->ci95[0] = NAN;
    fig->ci95[1] = NAN;
    fig->uplift = NAN;
    fig->uplift_ci95[0] = NAN;
    fig->uplift_ci95[1] = NAN;
    fig->p_value = NAN;
    fig->p_value_holm = NAN;
    fig->p_value_sequential = NAN;
    fig->p_value_sequential_holm = NAN;
    fig->ci95_sequential[0] = NAN;
    fig->ci95_sequential[1] = NAN;
    fig->uplift_ci95_sequential[0] = NAN;
    fig->uplift_ci95_sequential[1] = NAN;
    fig->uplift_credible95[0] = NAN;
    fig->uplift_credible95[1] = NAN;
    fig->chance_to_beat_control = NAN;
    fig->expected_loss = NAN;

    p = n ? (double) x / n : NAN;
    pc = nc ? (double) xc / nc : NAN;

    proportion = (n && x <= n);
    control_proportion = (nc && xc <= nc);

    fig->rate = p;

    if (proportion) {
        /* the seed's "Conv = p +- 2 standard errors"; Wald's interval */
        se = sqrt(p * (1 - p) / n);
        half = NGX_HTTP_ABTEST_Z95 * se;

        fig->error = 2 * se;
        fig->ci95[0] = (p - half < 0) ? 0 : p - half;
        fig->ci95[1] = (p + half > 1) ? 1 : p + half;
    }

    if (!vs_control) {
        return;
    }

    if (n && xc) {
        fig->uplift = (p - pc) / pc;
    }

    if (!proportion || !control_proportion) {
        return;
    }

    /* the pooled two-proportion z-test, two-sided */
    pooled = (double) (x + xc) / (n + nc);

    if (pooled > 0 && pooled < 1) {
        se = sqrt(pooled * (1 - pooled) * (1.0 / n + 1.0 / nc));
        fig->p_value = erfc(fabs(p - pc) / se / NGX_HTTP_ABTEST_SQRT2);
    }

    /* the relative uplift's variance by the delta method */
    if (xc) {
        var = p * (1 - p) / (n * pc * pc)
              + pc * (1 - pc) * p * p / (nc * pc * pc * pc * pc);

        if (var > 0) {
            half = NGX_HTTP_ABTEST_Z95 * sqrt(var);
            fig->uplift_ci95[0] = fig->uplift - half;
            fig->uplift_ci95[1] = fig->uplift + half;

            /* the same sequence for the relative uplift, as GrowthBook's */
            if (setup->sequential) {
                half = ngx_http_abtest_sequential_half(var, (double) n + nc,
                                                       setup->tuning);
                fig->uplift_ci95_sequential[0] = fig->uplift - half;
                fig->uplift_ci95_sequential[1] = fig->uplift + half;
            }
        }
    }

    /* the difference's variance, unpooled */
    var = p * (1 - p) / n + pc * (1 - pc) / nc;

    if (setup->sequential && var > 0) {
        ngx_http_abtest_stats_sequential(p - pc, var, (double) n + nc, setup,
                                         fig);
    }

    ngx_http_abtest_stats_bayes(n, x, nc, xc, fig);
}


/*
 * The asymptotic confidence sequence of Waudby-Smith et al. (2023,
 * arXiv:2103.06476, eq. 155 and 161), as GrowthBook's sequential engine
 * uses it: for the difference d with variance var after N devices of both
 * groups, s2 = var N the variance of one, and rho from the tuning N*,
 *
 *     d +- sqrt(s2) sqrt(2 (N rho^2 + 1) / (N^2 rho^2)
 *                        ln(sqrt(N rho^2 + 1) / alpha)),
 *
 * and the always-valid p-value, the inverse of the mixture martingale:
 *
 *     min(1, sqrt(N rho^2 + 1) exp(-rho^2 N z^2 / (2 (N rho^2 + 1)))),
 *
 * z = d / sqrt(var).  The p-value is below alpha exactly when the
 * (1 - alpha) sequence leaves out 0.
 */

static void
ngx_http_abtest_stats_sequential(double d, double var, double n,
    const ngx_http_abtest_stats_setup_t *setup,
    ngx_http_abtest_figures_t *fig)
{
    double  rho2, grow, half, p;

    half = ngx_http_abtest_sequential_half(var, n, setup->tuning);

    fig->ci95_sequential[0] = d - half;
    fig->ci95_sequential[1] = d + half;

    rho2 = ngx_http_abtest_rho2(setup->alpha, setup->tuning);
    grow = n * rho2 + 1;
    p = sqrt(grow) * exp(-rho2 * n * (d * d / var) / (2 * grow));

    fig->p_value_sequential = (p < 1) ? p : 1;
}


/* the 95% sequence's half width for an estimate of variance var */

static double
ngx_http_abtest_sequential_half(double var, double n, double tuning)
{
    double  rho2, grow;

    rho2 = ngx_http_abtest_rho2(NGX_HTTP_ABTEST_ALPHA95, tuning);
    grow = n * rho2 + 1;

    return sqrt(var * n) * sqrt(2 * grow / (n * n * rho2)
                                * log(sqrt(grow) / NGX_HTTP_ABTEST_ALPHA95));
}


/* the mixing parameter that makes the sequence tightest at N* devices */

static double
ngx_http_abtest_rho2(double alpha, double tuning)
{
    double  l;

    l = -2 * log(alpha);

    return (l + log(l + 1)) / tuning;
}


/*
 * Bayesian: Beta(1 + x, 1 + n - x) posteriors of each rate, from a
 * uniform prior.  The chance to beat control is P(p > pc); the expected
 * loss of choosing the group E[max(pc - p, 0)], which is
 *
 *     E[pc 1(pc > p)] - E[p 1(pc > p)]
 *         = mc P(pc' > p) - m P(pc > p'),
 *
 * m and mc the posterior means, p' and pc' Beta(a + 1, b) (a density
 * times its variable is the mean times the density of a + 1).
 */

static void
ngx_http_abtest_stats_bayes(uint64_t n, uint64_t x, uint64_t nc,
    uint64_t xc, ngx_http_abtest_figures_t *fig)
{
    double  a, b, ac, bc, loss, chance, mean, sd;

    a = 1 + (double) x;
    b = 1 + (double) (n - x);
    ac = 1 + (double) xc;
    bc = 1 + (double) (nc - xc);

    /* the "1 - sum" forms may round a hair outside [0, 1] */
    chance = ngx_http_abtest_beta_beats(a, b, ac, bc);
    fig->chance_to_beat_control = (chance < 0) ? 0 : (chance > 1) ? 1 : chance;

    loss = ac / (ac + bc) * ngx_http_abtest_beta_beats(ac + 1, bc, a, b)
           - a / (a + b) * ngx_http_abtest_beta_beats(ac, bc, a + 1, b);

    /* a difference of two probabilities: rounding may leave it below 0 */
    fig->expected_loss = (loss > 0) ? loss : 0;

    /*
     * the uplift's 95% credible interval as GrowthBook's Bayesian engine
     * gives it: log(p / pc) taken as normal, with the exact mean and
     * variance of the log of a Beta, digamma(a) - digamma(a + b) and
     * trigamma(a) - trigamma(a + b)
     */
    mean = ngx_http_abtest_digamma(a) - ngx_http_abtest_digamma(a + b)
           - ngx_http_abtest_digamma(ac) + ngx_http_abtest_digamma(ac + bc);
    sd = sqrt(ngx_http_abtest_trigamma(a) - ngx_http_abtest_trigamma(a + b)
              + ngx_http_abtest_trigamma(ac)
              - ngx_http_abtest_trigamma(ac + bc));

    fig->uplift_credible95[0] = exp(mean - NGX_HTTP_ABTEST_Z95 * sd) - 1;
    fig->uplift_credible95[1] = exp(mean + NGX_HTTP_ABTEST_Z95 * sd) - 1;
}


/*
 * P(X1 > X2) for X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2), whole a and b:
 * Evan Miller's closed form ("Formulas for Bayesian A/B Testing", 2015),
 * a sum of one term per unit of one parameter.  By symmetry (1 - X is
 * Beta(b, a), and P(X1 > X2) = 1 - P(X2 > X1)) any of the four can be
 * the one summed over: the smallest.
 */

double
ngx_http_abtest_beta_beats(double a1, double b1, double a2, double b2)
{
    double  fewest, m1, m2, v1, v2;

    fewest = a1;
    fewest = (a2 < fewest) ? a2 : fewest;
    fewest = (b1 < fewest) ? b1 : fewest;
    fewest = (b2 < fewest) ? b2 : fewest;

    if (fewest > NGX_HTTP_ABTEST_BETA_TERMS) {
        m1 = a1 / (a1 + b1);
        m2 = a2 / (a2 + b2);
        v1 = m1 * (1 - m1) / (a1 + b1 + 1);
        v2 = m2 * (1 - m2) / (a2 + b2 + 1);

        return ngx_http_abtest_normal_cdf((m1 - m2) / sqrt(v1 + v2));
    }

    if (fewest == a1) {
        return ngx_http_abtest_beta_sum(a1, b1, a2, b2);
    }

    if (fewest == a2) {
        return 1 - ngx_http_abtest_beta_sum(a2, b2, a1, b1);
    }

    /* X1 > X2 exactly when 1 - X2 > 1 - X1 */
    if (fewest == b2) {
        return ngx_http_abtest_beta_sum(b2, a2, b1, a1);
    }

    return 1 - ngx_http_abtest_beta_sum(b1, a1, b2, a2);
}


/*
 * P(W > L), W ~ Beta(aw, bw), L ~ Beta(al, bl), as the sum over
 * i < aw of B(al + i, bl + bw) / ((bw + i) B(1 + i, bw) B(al, bl)).
 * Each term is the one before times
 * (al + i)(bw + i) / ((al + bl + bw + i)(1 + i)), so the sum runs on
 * products; it is kept scaled (the first term may be far below the
 * smallest double while later ones are not).
 */

static double
ngx_http_abtest_beta_sum(double aw, double bw, double al, double bl)
{
    double  i, term, sum, log_scale;

    log_scale = ngx_http_abtest_lbeta(al, bl + bw)
                - ngx_http_abtest_lbeta(al, bl);
    term = 1;
    sum = 0;

    for (i = 0; i < aw; i++) {
        sum += term;
        term *= (al + i) * (bw + i) / ((al + bl + bw + i) * (1 + i));

        if (sum > 1e280) {
            sum *= 1e-280;
            term *= 1e-280;
            log_scale += 280 * NGX_HTTP_ABTEST_LN10;
        }
    }

    return exp(log_scale + log(sum));
}


static double
ngx_http_abtest_lbeta(double a, double b)
{
    return lgamma(a) + lgamma(b) - lgamma(a + b);
}


/*
 * Devices per group to find a relative difference "mde" from the control's
 * rate with the given power, two-sided alpha, for the pooled z-test
 * (Fleiss, "Statistical Methods for Rates and Proportions", 1981, without
 * the continuity correction):
 *
 *     n = (z(1 - alpha/2) sqrt(2 pm (1 - pm))
 *          + z(power) sqrt(p1 (1 - p1) + p2 (1 - p2)))^2 / (p2 - p1)^2,
 *
 * p1 the control's rate, p2 = p1 (1 + mde), pm their mean; rounded up.
 * NaN when there is no such difference to find (no rate, a rate of 0, or
 * p2 above 1).
 */

double
ngx_http_abtest_sample_size(double control_rate, double mde, double alpha,
    double power)
{
    double  p1, p2, pm, za, zb, s;

    p1 = control_rate;

    if (!(p1 > 0 && p1 <= 1) || !(mde > 0)) {
        return NAN;
    }

    p2 = p1 * (1 + mde);

    if (p2 > 1) {
        return NAN;
    }

    pm = (p1 + p2) / 2;
    za = ngx_http_abtest_normal_quantile(1 - alpha / 2);
    zb = ngx_http_abtest_normal_quantile(power);

    s = za * sqrt(2 * pm * (1 - pm))
        + zb * sqrt(p1 * (1 - p1) + p2 * (1 - p2));

    return ceil(s * s / ((p2 - p1) * (p2 - p1)));
}


/*
 * Holm's step-down adjustment of the groups' p-values against the
 * control (the field at "from", into the one at "to"): the i-th smallest
 * of m becomes the largest of (m - j + 1) p(j) over j <= i, at most 1.
 * Groups without a p-value are not among the m.
 */

static void
ngx_http_abtest_holm(ngx_http_abtest_figures_t *figures, size_t ngroups,
    size_t control, size_t from, size_t to)
{
    double  p, q, adjusted, step;
    size_t  i, j, k, m, rank_i, rank_j;

#define ngx_http_abtest_field(i, off)                                        \
    (*(double *) ((char *) &figures[i] + (off)))

    m = 0;

    for (i = 0; i < ngroups; i++) {
        if (i != control && !isnan(ngx_http_abtest_field(i, from))) {
            m++;
        }
    }

    for (i = 0; i < ngroups; i++) {
        p = ngx_http_abtest_field(i, from);

        if (i == control || isnan(p)) {
            continue;
        }

        /* ranks, ties in group order, so that equal p-values get one */
        adjusted = 0;
        rank_i = 1;

        for (k = 0; k < ngroups; k++) {
            q = ngx_http_abtest_field(k, from);

            if (k != control && !isnan(q) && (q < p || (q == p && k < i))) {
                rank_i++;
            }
        }

        for (j = 0; j < ngroups; j++) {
            q = ngx_http_abtest_field(j, from);

            if (j == control || isnan(q)) {
                continue;
            }

            rank_j = 1;

            for (k = 0; k < ngroups; k++) {
                p = ngx_http_abtest_field(k, from);

                if (k != control && !isnan(p)
                    && (p < q || (p == q && k < j)))
                {
                    rank_j++;
                }
            }

            if (rank_j <= rank_i) {
                step = (double) (m - rank_j + 1) * q;
                adjusted = (step > adjusted) ? step : adjusted;
            }
        }

        ngx_http_abtest_field(i, to) = (adjusted < 1) ? adjusted : 1;
    }

#undef ngx_http_abtest_field
}


/*
 * digamma(x) and trigamma(x), x > 0: the recurrence up to 10, then the
 * asymptotic series (Abramowitz and Stegun, 6.3.18 and 6.4.12), whose
 * first omitted term is below 1e-13 there.
 */

static double
ngx_http_abtest_digamma(double x)
{
    double  r, f;

    r = 0;

    while (x < 10) {
        r -= 1 / x;
        x += 1;
    }

    f = 1 / (x * x);

    return r + log(x) - 0.5 / x
           - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252
                  - f * (1.0 / 240 - f * (1.0 / 132)))));
}


static double
ngx_http_abtest_trigamma(double x)
{
    double  r, f;

    r = 0;

    while (x < 10) {
        r += 1 / (x * x);
        x += 1;
    }

    f = 1 / (x * x);

    return r + 1 / x + f / 2
           + f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42
                      - f * (1.0 / 30 - f * (5.0 / 66)))));
}


static double
ngx_http_abtest_normal_cdf(double x)
{
    return 0.5 * erfc(-x / NGX_HTTP_ABTEST_SQRT2);
}


/*
 * The normal distribution's quantile: Acklam's rational approximation
 * (relative error below 1.2e-9), then two of Halley's steps on erfc(),
 * which leave it exact to the double's precision.
 */

double
ngx_http_abtest_normal_quantile(double p)
{
    double    q, r, x, e, u;
    unsigned  i;

    if (!(p > 0 && p < 1)) {
        return NAN;
    }

    if (p < 0.02425 || p > 1 - 0.02425) {
        /* the tails */
        q = sqrt(-2 * log(p < 0.5 ? p : 1 - p));
        x = (((((ngx_http_abtest_acklam_c[0] * q
                 + ngx_http_abtest_acklam_c[1]) * q
                + ngx_http_abtest_acklam_c[2]) * q
               + ngx_http_abtest_acklam_c[3]) * q
              + ngx_http_abtest_acklam_c[4]) * q
             + ngx_http_abtest_acklam_c[5])
            / ((((ngx_http_abtest_acklam_d[0] * q
                  + ngx_http_abtest_acklam_d[1]) * q
                 + ngx_http_abtest_acklam_d[2]) * q
                + ngx_http_abtest_acklam_d[3]) * q + 1);

        x = (p < 0.5) ? x : -x;

    } else {
        q = p - 0.5;
        r = q * q;
        x = (((((ngx_http_abtest_acklam_a[0] * r
                 + ngx_http_abtest_acklam_a[1]) * r
                + ngx_http_abtest_acklam_a[2]) * r
               + ngx_http_abtest_acklam_a[3]) * r
              + ngx_http_abtest_acklam_a[4]) * r
             + ngx_http_abtest_acklam_a[5]) * q
            / (((((ngx_http_abtest_acklam_b[0] * r
                   + ngx_http_abtest_acklam_b[1]) * r
                  + ngx_http_abtest_acklam_b[2]) * r
                 + ngx_http_abtest_acklam_b[3]) * r
                + ngx_http_abtest_acklam_b[4]) * r + 1);
    }

    for (i = 0; i < 2; i++) {
        e = ngx_http_abtest_normal_cdf(x) - p;
        u = e * NGX_HTTP_ABTEST_SQRT_2PI * exp(x * x / 2);
        x = x - u / (1 + x * u / 2);
    }

    return x;
}


/* the chi-square distribution's survival function */

double
ngx_http_abtest_chi2_sf(double chi2, double df)
{
    return ngx_http_abtest_gamma_q(df / 2, chi2 / 2);
}


/*
 * The regularized upper incomplete gamma function Q(a, x): a series below
 * a + 1, a continued fraction (modified Lentz) above, as in Numerical
 * Recipes, 6.2.
 */

static double
ngx_http_abtest_gamma_q(double a, double x)
{
    double    sum, term, ap, b, c, d, h, an, delta, tiny;
    unsigned  i;

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
