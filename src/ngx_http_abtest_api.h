
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_API_H_INCLUDED_
#define _NGX_HTTP_ABTEST_API_H_INCLUDED_


#include "ngx_http_abtest_module.h"


#define NGX_HTTP_ABTEST_API_NONE         0
#define NGX_HTTP_ABTEST_API_EXPERIMENTS  1
#define NGX_HTTP_ABTEST_API_EXPGROUPS    2


char *ngx_http_abtest_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_abtest_api_check(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf);


#endif /* _NGX_HTTP_ABTEST_API_H_INCLUDED_ */
