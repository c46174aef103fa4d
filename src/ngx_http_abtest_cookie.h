
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_COOKIE_H_INCLUDED_
#define _NGX_HTTP_ABTEST_COOKIE_H_INCLUDED_


#include "ngx_http_abtest_module.h"


/* abtest_cookie_flags */
#define NGX_HTTP_ABTEST_COOKIE_OFF       0x0001
#define NGX_HTTP_ABTEST_COOKIE_SECURE    0x0002
#define NGX_HTTP_ABTEST_COOKIE_HTTPONLY  0x0004
#define NGX_HTTP_ABTEST_COOKIE_SS_STRICT 0x0008
#define NGX_HTTP_ABTEST_COOKIE_SS_LAX    0x0010
#define NGX_HTTP_ABTEST_COOKIE_SS_NONE   0x0020

/* abtest_cookie_expires */
#define NGX_HTTP_ABTEST_EXPIRES_OFF      0
#define NGX_HTTP_ABTEST_EXPIRES_MAX      0x7fffffff

/* how long a cookie that is set lives */
#define NGX_HTTP_ABTEST_LIFETIME_CONF     0    /* abtest_cookie_expires */
#define NGX_HTTP_ABTEST_LIFETIME_SESSION  1
#define NGX_HTTP_ABTEST_LIFETIME_DELETE   2


extern ngx_conf_bitmask_t  ngx_http_abtest_cookie_flags[];
extern ngx_conf_post_t     ngx_http_abtest_cookie_name_post;
extern ngx_conf_post_t     ngx_http_abtest_cookie_attr_post;


char *ngx_http_abtest_cookie_expires(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_abtest_cookie_merge(ngx_conf_t *cf,
    ngx_http_abtest_loc_conf_t *prev, ngx_http_abtest_loc_conf_t *conf);
ngx_int_t ngx_http_abtest_cookie_check(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_loc_conf_t *alcf);

ngx_int_t ngx_http_abtest_read_cookie(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
ngx_int_t ngx_http_abtest_cookie_device(ngx_http_request_t *r,
    ngx_str_t *id);
ngx_int_t ngx_http_abtest_cookie_set(ngx_http_request_t *r,
    ngx_http_abtest_loc_conf_t *alcf, ngx_str_t *name, ngx_str_t *value,
    ngx_uint_t lifetime);


#endif /* _NGX_HTTP_ABTEST_COOKIE_H_INCLUDED_ */
