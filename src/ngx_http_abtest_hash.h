
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_HASH_H_INCLUDED_
#define _NGX_HTTP_ABTEST_HASH_H_INCLUDED_


#include "ngx_http_abtest_module.h"


#define NGX_HTTP_ABTEST_DIGEST_LEN  32


ngx_int_t ngx_http_abtest_hash_init_conf(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf);
ngx_int_t ngx_http_abtest_hash_init_process(ngx_cycle_t *cycle);
void ngx_http_abtest_hash_exit_process(void);
ngx_int_t ngx_http_abtest_hash_digest(ngx_http_abtest_main_conf_t *amcf,
    ngx_str_t *device_id, ngx_http_abtest_experiment_t *exp, u_char *md);
ngx_int_t ngx_http_abtest_hash_share(ngx_str_t *device_id, ngx_str_t *first,
    ngx_str_t *second);
uint64_t ngx_http_abtest_hash_mod(u_char *md, uint64_t total);
ngx_uint_t ngx_http_abtest_hash_pick(uint32_t *weights, ngx_uint_t ngroups,
    uint64_t bucket);


#endif /* _NGX_HTTP_ABTEST_HASH_H_INCLUDED_ */
