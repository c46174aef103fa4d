
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_EXPERIMENT_H_INCLUDED_
#define _NGX_HTTP_ABTEST_EXPERIMENT_H_INCLUDED_


#include "ngx_http_abtest_module.h"


/* the event names an experiment lists, beside its exposure and goal */
#define NGX_HTTP_ABTEST_EVENTS_LISTED  30


char *ngx_http_abtest_experiment_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_abtest_experiment_t *ngx_http_abtest_find_experiment(
    ngx_http_abtest_main_conf_t *amcf, u_char *name, size_t len,
    ngx_uint_t caseless);
ngx_uint_t ngx_http_abtest_find_group(ngx_http_abtest_experiment_t *exp,
    u_char *name, size_t len);
ngx_str_t *ngx_http_abtest_state_name(ngx_uint_t state);
ngx_int_t ngx_http_abtest_state_by_name(u_char *name, size_t len);


#endif /* _NGX_HTTP_ABTEST_EXPERIMENT_H_INCLUDED_ */
