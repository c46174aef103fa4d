
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_RING_H_INCLUDED_
#define _NGX_HTTP_ABTEST_RING_H_INCLUDED_


#include "ngx_http_abtest_module.h"
#include "ngx_http_abtest_events.h"


ngx_int_t ngx_http_abtest_ring_init_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log);
ngx_int_t ngx_http_abtest_ring_append(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_event_t *events, ngx_uint_t n, ngx_pool_t *pool,
    ngx_log_t *log);
ngx_int_t ngx_http_abtest_ring_read(ngx_http_abtest_main_conf_t *amcf,
    uint64_t since, ngx_uint_t limit, ngx_pool_t *pool, ngx_str_t *out);


#endif /* _NGX_HTTP_ABTEST_RING_H_INCLUDED_ */
