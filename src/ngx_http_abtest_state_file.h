
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_STATE_FILE_H_INCLUDED_
#define _NGX_HTTP_ABTEST_STATE_FILE_H_INCLUDED_


#include "ngx_http_abtest_module.h"


/* an experiment's run-time state as the file keeps it */
typedef struct {
    ngx_http_abtest_exp_state_t  state;
    ngx_http_abtest_exp_state_t  configured;
    int64_t                    start;        /* ms since the epoch, or -1 */
    int64_t                    end;
    ngx_uint_t                 found;        /* read, and still fitting */
} ngx_http_abtest_saved_t;


/* the server-wide holdout as the file keeps it */
typedef struct {
    ngx_uint_t                 share;        /* of SHARE_ALL */
    ngx_uint_t                 configured;   /* abtest_holdout's */
    ngx_uint_t                 found;
} ngx_http_abtest_saved_holdout_t;


ngx_int_t ngx_http_abtest_state_file_write(ngx_str_t *path,
    ngx_array_t *experiments, ngx_http_abtest_saved_t *saved,
    ngx_http_abtest_saved_holdout_t *holdout, u_char *key, ngx_pool_t *pool,
    ngx_log_t *log);
ngx_int_t ngx_http_abtest_state_file_read(ngx_str_t *path,
    ngx_array_t *experiments, ngx_http_abtest_saved_t *saved,
    ngx_http_abtest_saved_holdout_t *holdout, u_char *key, ngx_log_t *log);
ngx_int_t ngx_http_abtest_state_file_parse(ngx_str_t *path, u_char *text,
    size_t len, ngx_array_t *experiments, ngx_http_abtest_saved_t *saved,
    ngx_http_abtest_saved_holdout_t *holdout, u_char *key, ngx_log_t *log);


#endif /* _NGX_HTTP_ABTEST_STATE_FILE_H_INCLUDED_ */
