
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_ADMIN_H_INCLUDED_
#define _NGX_HTTP_ABTEST_ADMIN_H_INCLUDED_


#include "ngx_http_abtest_module.h"


char *ngx_http_abtest_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
void ngx_http_abtest_admin_merge(ngx_conf_t *cf,
    ngx_http_abtest_loc_conf_t *prev, ngx_http_abtest_loc_conf_t *alcf);


#endif /* _NGX_HTTP_ABTEST_ADMIN_H_INCLUDED_ */
