
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_DIRECTIVE_H_INCLUDED_
#define _NGX_HTTP_ABTEST_DIRECTIVE_H_INCLUDED_


#include "ngx_http_abtest_module.h"


char *ngx_http_abtest_experiment_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_abtest_use(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_abtest_cookie_expires(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_abtest_cookie_name_check(ngx_conf_t *cf, void *post,
    void *data);
char *ngx_http_abtest_cookie_attr_check(ngx_conf_t *cf, void *post,
    void *data);

ngx_int_t ngx_http_abtest_check_experiments(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_loc_conf_t *alcf);
char *ngx_http_abtest_resolve_use(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_loc_conf_t *alcf);
ngx_int_t ngx_http_abtest_valid_name(ngx_str_t *name, ngx_uint_t dot);
ngx_int_t ngx_http_abtest_valid_event_name(ngx_str_t *name);
ngx_int_t ngx_http_abtest_valid_utf8(ngx_str_t *text);
ngx_http_abtest_experiment_t *ngx_http_abtest_find_experiment(
    ngx_http_abtest_main_conf_t *amcf, u_char *name, size_t len,
    ngx_uint_t caseless);
ngx_uint_t ngx_http_abtest_find_group(ngx_http_abtest_experiment_t *exp,
    u_char *name, size_t len);


#endif /* _NGX_HTTP_ABTEST_DIRECTIVE_H_INCLUDED_ */
