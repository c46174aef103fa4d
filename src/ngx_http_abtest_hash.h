
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_HASH_H_INCLUDED_
#define _NGX_HTTP_ABTEST_HASH_H_INCLUDED_


#include "ngx_http_abtest_module.h"


ngx_int_t ngx_http_abtest_hash_init(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf);
ngx_int_t ngx_http_abtest_hash_bucket(ngx_http_abtest_main_conf_t *amcf,
    ngx_str_t *device_id, ngx_str_t *experiment, uint64_t total,
    uint64_t *bucket);
ngx_uint_t ngx_http_abtest_hash_pick(ngx_http_abtest_exp_state_t *state,
    ngx_uint_t ngroups, uint64_t bucket);


#endif /* _NGX_HTTP_ABTEST_HASH_H_INCLUDED_ */
