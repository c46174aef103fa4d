
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_TARGET_H_INCLUDED_
#define _NGX_HTTP_ABTEST_TARGET_H_INCLUDED_


#include "ngx_http_abtest_module.h"


/* why a device is not in an experiment, in the order they are asked */
#define NGX_HTTP_ABTEST_ENTERS        0
#define NGX_HTTP_ABTEST_OUT_EXCLUDED  1      /* abtest $variable */
#define NGX_HTTP_ABTEST_OUT_SCHEDULE  2
#define NGX_HTTP_ABTEST_OUT_HOLDOUT   3
#define NGX_HTTP_ABTEST_OUT_TARGET    4
#define NGX_HTTP_ABTEST_OUT_LAYER     5
#define NGX_HTTP_ABTEST_OUT_COVERAGE  6


typedef struct {
    ngx_str_t                  name;         /* an experiment's */
    ngx_uint_t                 share;        /* of SHARE_ALL */
    ngx_uint_t                 line;
} ngx_http_abtest_layer_member_t;


struct ngx_http_abtest_layer_s {
    ngx_str_t                  name;
    ngx_array_t                members;  /* ngx_http_abtest_layer_member_t */
    ngx_uint_t                 total;        /* their shares */
    u_char                    *file;
    ngx_uint_t                 line;
};


char *ngx_http_abtest_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_abtest_holdout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_abtest_layer_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_abtest_target_setting(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value);
ngx_int_t ngx_http_abtest_target_init(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf);
ngx_uint_t ngx_http_abtest_excluded(ngx_http_request_t *r);
ngx_uint_t ngx_http_abtest_enters(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_exp_state_t *state,
    ngx_str_t *device_id, ngx_http_abtest_ctx_t *ctx);
ngx_str_t *ngx_http_abtest_reason_name(ngx_uint_t reason);


#endif /* _NGX_HTTP_ABTEST_TARGET_H_INCLUDED_ */
