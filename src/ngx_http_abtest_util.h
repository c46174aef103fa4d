
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_UTIL_H_INCLUDED_
#define _NGX_HTTP_ABTEST_UTIL_H_INCLUDED_


#include "ngx_http_abtest_module.h"


#define NGX_HTTP_ABTEST_ISO_LEN  (sizeof("1970-01-01T00:00:00.000Z") - 1)


int64_t ngx_http_abtest_now_ms(void);
u_char *ngx_http_abtest_iso_time(u_char *buf, int64_t ms);
int64_t ngx_http_abtest_parse_iso_time(u_char *p, size_t len);
ngx_int_t ngx_http_abtest_parse_share(u_char *p, size_t len,
    ngx_uint_t percent);
u_char *ngx_http_abtest_uint64(u_char *p, uint64_t n);
u_char *ngx_http_abtest_int64(u_char *p, int64_t n);
ngx_int_t ngx_http_abtest_valid_name(ngx_str_t *name, ngx_uint_t dot);
ngx_int_t ngx_http_abtest_valid_device_id(ngx_str_t *id);
ngx_int_t ngx_http_abtest_valid_event_name(ngx_str_t *name);
ngx_int_t ngx_http_abtest_valid_utf8(ngx_str_t *text);
const char *ngx_http_abtest_client_name(const char *name);


#endif /* _NGX_HTTP_ABTEST_UTIL_H_INCLUDED_ */
