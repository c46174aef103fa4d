
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_JSON_H_INCLUDED_
#define _NGX_HTTP_ABTEST_JSON_H_INCLUDED_


#include "ngx_http_abtest_module.h"

#include <math.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>


/* yajl's message for invalid UTF-8, for what it lets through too */
#define NGX_HTTP_ABTEST_JSON_BAD_UTF8                                        \
    "invalid JSON: lexical error: invalid bytes in UTF8 string."


#define ngx_http_abtest_json_literal(g, s)                                   \
    yajl_gen_string(g, (const unsigned char *) s, sizeof(s) - 1)

#define ngx_http_abtest_json_str(g, p, n)                                    \
    yajl_gen_string(g, (const unsigned char *) (p), n)


void ngx_http_abtest_json_alloc_funcs(yajl_alloc_funcs *funcs,
    ngx_pool_t *pool);
yajl_gen ngx_http_abtest_json_gen(ngx_pool_t *pool);
yajl_val ngx_http_abtest_json_parse(ngx_pool_t *pool, u_char *text,
    size_t len, ngx_uint_t max_depth, u_char *err, size_t err_len);
ngx_int_t ngx_http_abtest_json_buf(yajl_gen g, ngx_pool_t *pool,
    ngx_str_t *out);
yajl_gen_status ngx_http_abtest_json_copy(yajl_gen g, yajl_val v);

void ngx_http_abtest_json_time(yajl_gen g, int64_t ms);
void ngx_http_abtest_json_double(yajl_gen g, double v);
void ngx_http_abtest_json_integer_or_null(yajl_gen g, int64_t v);
void ngx_http_abtest_json_share(yajl_gen g, ngx_uint_t share);
ngx_int_t ngx_http_abtest_json_share_value(yajl_val v);
size_t ngx_http_abtest_json_quoted_len(u_char *s, size_t len);
u_char *ngx_http_abtest_json_quote(u_char *dst, u_char *s, size_t len);

ngx_int_t ngx_http_abtest_json_weights(yajl_val obj,
    ngx_http_abtest_experiment_t *exp, uint32_t *weights, uint64_t *total,
    u_char *err, size_t err_len);
ngx_int_t ngx_http_abtest_json_state(yajl_val v, ngx_uint_t *state);
ngx_int_t ngx_http_abtest_json_group(yajl_val v,
    ngx_http_abtest_experiment_t *exp, ngx_uint_t *group);
void ngx_http_abtest_json_state_name(yajl_gen g, ngx_uint_t state);


#endif /* _NGX_HTTP_ABTEST_JSON_H_INCLUDED_ */
