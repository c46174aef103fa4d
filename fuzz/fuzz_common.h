
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * What every libFuzzer harness shares (README.md, "Fuzzing: make fuzz"):
 * nginx's globals set up once, a main and a location
 * configuration with experiments built in code, a request made from
 * parts of the input, and the check that fails a run.
 */


#ifndef _NGX_FUZZ_COMMON_H_INCLUDED_
#define _NGX_FUZZ_COMMON_H_INCLUDED_


#include "ngx_http_abtest_module.h"

#include <stdint.h>


/* a request's Cookie headers, at most */
#define NGX_FUZZ_COOKIES_MAX  8


extern ngx_log_t                    *ngx_fuzz_log;
extern ngx_http_abtest_main_conf_t  *ngx_fuzz_amcf;
extern ngx_http_abtest_loc_conf_t   *ngx_fuzz_alcf;


void ngx_fuzz_init(void);
ngx_pool_t *ngx_fuzz_pool(void);
ngx_http_request_t *ngx_fuzz_request(ngx_pool_t *pool, ngx_str_t *args,
    ngx_str_t *cookies, ngx_uint_t ncookies);
ngx_uint_t ngx_fuzz_ignore(char *check);
size_t ngx_fuzz_line(const u_char *data, size_t size, ngx_str_t *line);
void ngx_cdecl ngx_fuzz_say(const char *fmt, ...);
void ngx_cdecl ngx_fuzz_fail(const char *fmt, ...);

#define ngx_fuzz_check(expr)                                                \
    do {                                                                    \
        if (!(expr)) {                                                      \
            ngx_fuzz_fail("%s:%d: check failed: %s", __FILE__, __LINE__,   \
                          #expr);                                           \
        }                                                                   \
    } while (0)


#endif /* _NGX_FUZZ_COMMON_H_INCLUDED_ */
