
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_HTTP_H_INCLUDED_
#define _NGX_HTTP_ABTEST_HTTP_H_INCLUDED_


#include "ngx_http_abtest_module.h"
#include "ngx_http_abtest_json.h"


/* takes a part of a request body */
typedef ngx_int_t (*ngx_http_abtest_body_pt)(void *ctx, u_char *data,
    size_t len);


ngx_int_t ngx_http_abtest_http_get(ngx_http_request_t *r);
ngx_int_t ngx_http_abtest_http_not_allowed(ngx_http_request_t *r,
    char *allow);
ngx_int_t ngx_http_abtest_http_same_origin(ngx_http_request_t *r);
ngx_int_t ngx_http_abtest_http_keep_names(ngx_conf_t *cf);
ngx_int_t ngx_http_abtest_http_own_host(ngx_http_request_t *r);
ngx_int_t ngx_http_abtest_http_not_own_host(ngx_http_request_t *r);
ngx_int_t ngx_http_abtest_http_read_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);
ngx_int_t ngx_http_abtest_http_too_large(ngx_http_request_t *r);
ngx_int_t ngx_http_abtest_http_read_body(ngx_http_request_t *r,
    ngx_http_abtest_body_pt feed, void *ctx, off_t *len);
ngx_int_t ngx_http_abtest_http_parse_body(ngx_http_request_t *r,
    ngx_uint_t max_depth, const char *expected, yajl_val *tree);
ngx_int_t ngx_http_abtest_http_arg(ngx_http_request_t *r, char *name,
    off_t min, off_t max, off_t *value);
ngx_int_t ngx_http_abtest_http_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_abtest_http_add_header(ngx_http_request_t *r, char *key,
    char *value);
ngx_int_t ngx_http_abtest_http_send_json(ngx_http_request_t *r,
    ngx_uint_t status, yajl_gen g);
ngx_int_t ngx_http_abtest_http_send_text(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body);
ngx_int_t ngx_http_abtest_http_send_typed(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_str_t *body);
ngx_int_t ngx_http_abtest_http_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *fmt, ...);


#endif /* _NGX_HTTP_ABTEST_HTTP_H_INCLUDED_ */
