
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_STATS_H_INCLUDED_
#define _NGX_HTTP_ABTEST_STATS_H_INCLUDED_


#include "ngx_http_abtest_module.h"


/* event names counted per experiment, exposure and goal included */
#define NGX_HTTP_ABTEST_EVENT_NAMES      32
#define NGX_HTTP_ABTEST_EXPOSURE         0        /* name index */
#define NGX_HTTP_ABTEST_GOAL             1


/*
 * An experiment's counters, in its node in the zone: per group, one per
 * event name (names[0] is the exposure, names[1] the goal, the others as
 * they come) and one for the names that found no place.
 */

#define ngx_http_abtest_count(node, group, name)                             \
    (node)->counts[(group) * (NGX_HTTP_ABTEST_EVENT_NAMES + 1) + (name)]

#define ngx_http_abtest_counts_size(ngroups)                                 \
    ((ngroups) * (NGX_HTTP_ABTEST_EVENT_NAMES + 1) * sizeof(uint64_t))


ngx_int_t ngx_http_abtest_stats_handler(ngx_http_request_t *r);
double ngx_http_abtest_stats_srm_test(ngx_uint_t ngroups, uint64_t *counts,
    ngx_http_abtest_exp_state_t *state, double *chi2);


#endif /* _NGX_HTTP_ABTEST_STATS_H_INCLUDED_ */
