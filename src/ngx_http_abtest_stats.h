
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_STATS_H_INCLUDED_
#define _NGX_HTTP_ABTEST_STATS_H_INCLUDED_


#include "ngx_http_abtest_module.h"


void ngx_http_abtest_stats_restart(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp);
ngx_uint_t ngx_http_abtest_stats_same_names(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp);
void ngx_http_abtest_stats_count_locked(ngx_http_abtest_node_t *node,
    ngx_str_t *name, ngx_uint_t group);
ngx_int_t ngx_http_abtest_stats_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_ABTEST_STATS_H_INCLUDED_ */
