
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_ABTEST_VARIABLES_H_INCLUDED_


#include "ngx_http_abtest_module.h"


ngx_int_t ngx_http_abtest_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_abtest_add_group_variables(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf);
char *ngx_http_abtest_use(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_abtest_variables_merge(ngx_conf_t *cf,
    ngx_http_abtest_loc_conf_t *prev, ngx_http_abtest_loc_conf_t *alcf);


#endif /* _NGX_HTTP_ABTEST_VARIABLES_H_INCLUDED_ */
