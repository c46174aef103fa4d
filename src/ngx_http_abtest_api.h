
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_API_H_INCLUDED_
#define _NGX_HTTP_ABTEST_API_H_INCLUDED_


#include "ngx_http_abtest_module.h"
#include "ngx_http_abtest_json.h"
#include "ngx_http_abtest_shm.h"


#define NGX_HTTP_ABTEST_API_NONE         0
#define NGX_HTTP_ABTEST_API_EXPERIMENTS  1
#define NGX_HTTP_ABTEST_API_EXPGROUPS    2
#define NGX_HTTP_ABTEST_API_EVENTS       3
#define NGX_HTTP_ABTEST_API_STATS        4
#define NGX_HTTP_ABTEST_API_STATUS       5
#define NGX_HTTP_ABTEST_API_METRICS      6

/* an update is an object of objects of numbers */
#define NGX_HTTP_ABTEST_UPDATE_DEPTH     4


char *ngx_http_abtest_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_abtest_api_check(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf);
void ngx_http_abtest_api_merge(ngx_conf_t *cf,
    ngx_http_abtest_loc_conf_t *prev, ngx_http_abtest_loc_conf_t *alcf);
ngx_uint_t ngx_http_abtest_api_parse_update(ngx_http_abtest_main_conf_t *amcf,
    yajl_val obj, ngx_http_abtest_experiment_t **expp,
    ngx_http_abtest_update_t *up, u_char *err, size_t err_len);


#endif /* _NGX_HTTP_ABTEST_API_H_INCLUDED_ */
