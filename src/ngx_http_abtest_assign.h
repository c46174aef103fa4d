
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_ASSIGN_H_INCLUDED_
#define _NGX_HTTP_ABTEST_ASSIGN_H_INCLUDED_


#include "ngx_http_abtest_module.h"


#define NGX_HTTP_ABTEST_FORCE_MAX    512

/* a group not worked out yet for this request */
#define NGX_HTTP_ABTEST_GROUP_UNSET  ((ngx_uint_t) -2)


void ngx_http_abtest_assign_init_process(void);
ngx_http_abtest_ctx_t *ngx_http_abtest_get_ctx(ngx_http_request_t *r);
ngx_uint_t ngx_http_abtest_get_group(ngx_http_request_t *r,
    ngx_http_abtest_ctx_t *ctx, ngx_http_abtest_experiment_t *exp);
ngx_uint_t ngx_http_abtest_device_group(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *device_id,
    ngx_http_abtest_ctx_t *ctx, ngx_uint_t *assigned, ngx_uint_t *reason);
void ngx_http_abtest_own_device(ngx_http_request_t *r, ngx_str_t *own);
ngx_int_t ngx_http_abtest_own_ctx(ngx_http_request_t *r, ngx_str_t *device,
    ngx_str_t *own, ngx_http_abtest_ctx_t **ctxp);
ngx_uint_t ngx_http_abtest_group_of(ngx_http_request_t *r,
    ngx_http_abtest_ctx_t *ctx, ngx_http_abtest_experiment_t *exp,
    ngx_str_t *device, ngx_uint_t *assigned, ngx_uint_t *reason);
ngx_uint_t ngx_http_abtest_is_forced(ngx_http_abtest_ctx_t *ctx,
    ngx_http_abtest_experiment_t *exp);


#endif /* _NGX_HTTP_ABTEST_ASSIGN_H_INCLUDED_ */
