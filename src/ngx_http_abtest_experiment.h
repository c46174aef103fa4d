
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_EXPERIMENT_H_INCLUDED_
#define _NGX_HTTP_ABTEST_EXPERIMENT_H_INCLUDED_


#include "ngx_http_abtest_module.h"


/* the event names an experiment lists, beside its exposure and goal */
#define NGX_HTTP_ABTEST_EVENTS_LISTED  30


/* an experiment's run-time record, wherever it is kept (zone, store) */
typedef struct {
    ngx_http_abtest_exp_state_t  state;
    int64_t                    start;        /* ms since the epoch, or -1 */
    int64_t                    end;
    int64_t                    stats_start;
} ngx_http_abtest_runtime_t;


/* a validated change of one experiment, through the API */
typedef struct {
    ngx_uint_t                 has_weights;
    uint32_t                   weights[NGX_HTTP_ABTEST_GROUPS_MAX];
    uint64_t                   total;

    ngx_uint_t                 has_state;
    ngx_uint_t                 state;

    ngx_uint_t                 has_rollout;
    ngx_uint_t                 rollout;      /* NO_GROUP: null */

    ngx_uint_t                 reset_stats;

    ngx_uint_t                 has_coverage;
    ngx_uint_t                 coverage;     /* of SHARE_ALL */

    ngx_uint_t                 has_schedule_start;
    int64_t                    schedule_start;   /* -1: none */
    ngx_uint_t                 has_schedule_stop;
    int64_t                    schedule_stop;

    /* a transition of the schedule: the moment it was due, the same on
       every server, or 0 for now */
    int64_t                    at;
} ngx_http_abtest_update_t;


char *ngx_http_abtest_experiment_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_abtest_experiment_t *ngx_http_abtest_find_experiment(
    ngx_http_abtest_main_conf_t *amcf, u_char *name, size_t len,
    ngx_uint_t caseless);
ngx_uint_t ngx_http_abtest_find_group(ngx_http_abtest_experiment_t *exp,
    u_char *name, size_t len);
ngx_int_t ngx_http_abtest_change(ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_runtime_t *rt, ngx_uint_t configured_rollout,
    ngx_http_abtest_update_t *up, const char **err);
void ngx_http_abtest_push_history(ngx_http_abtest_exp_state_t *state,
    uint32_t *weights, ngx_uint_t ngroups);
ngx_str_t *ngx_http_abtest_state_name(ngx_uint_t state);
ngx_int_t ngx_http_abtest_state_by_name(u_char *name, size_t len);


#endif /* _NGX_HTTP_ABTEST_EXPERIMENT_H_INCLUDED_ */
