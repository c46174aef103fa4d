
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_STATE_H_INCLUDED_
#define _NGX_HTTP_ABTEST_STATE_H_INCLUDED_


#include "ngx_http_abtest_module.h"


void ngx_http_abtest_state_load(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log);
ngx_int_t ngx_http_abtest_state_save(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log);


#endif /* _NGX_HTTP_ABTEST_STATE_H_INCLUDED_ */
