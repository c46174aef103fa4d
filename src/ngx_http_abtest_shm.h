
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_SHM_H_INCLUDED_
#define _NGX_HTTP_ABTEST_SHM_H_INCLUDED_


#include "ngx_http_abtest_module.h"


typedef struct {
    ngx_uint_t                 has_weights;
    uint32_t                   weights[NGX_HTTP_ABTEST_GROUPS_MAX];
    uint64_t                   total;

    ngx_uint_t                 has_state;
    ngx_uint_t                 state;

    ngx_uint_t                 has_rollout;
    ngx_uint_t                 rollout;      /* NO_GROUP: null */

    ngx_uint_t                 reset_stats;
} ngx_http_abtest_update_t;


char *ngx_http_abtest_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_abtest_shm_prepare(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf);
void ngx_http_abtest_shm_apply(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log);


/* before any use of the zone by a process */
#define ngx_http_abtest_shm_ready(amcf, log)                                 \
    if ((amcf)->sh && !(amcf)->ready) {                                      \
        ngx_http_abtest_shm_apply(amcf, log);                                \
    }

ngx_http_abtest_exp_state_t *ngx_http_abtest_shm_state(
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_experiment_t *exp);
void ngx_http_abtest_shm_snapshot(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_node_t *nodes, uint64_t **counts);
ngx_uint_t ngx_http_abtest_node_valid(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp);
void ngx_http_abtest_node_from_conf(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp);
void ngx_http_abtest_push_history(ngx_http_abtest_exp_state_t *state,
    uint32_t *weights, ngx_uint_t ngroups);
int64_t ngx_http_abtest_now_ms(void);
ngx_int_t ngx_http_abtest_shm_update(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_update_t *up,
    ngx_http_abtest_node_t *result, const char **err);


#endif /* _NGX_HTTP_ABTEST_SHM_H_INCLUDED_ */
