
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_COOKIE_H_INCLUDED_
#define _NGX_HTTP_ABTEST_COOKIE_H_INCLUDED_


#include "ngx_http_abtest_module.h"


ngx_int_t ngx_http_abtest_cookie_init(ngx_conf_t *cf);
ngx_int_t ngx_http_abtest_cookie_attrs(ngx_conf_t *cf,
    ngx_http_abtest_loc_conf_t *alcf);


#endif /* _NGX_HTTP_ABTEST_COOKIE_H_INCLUDED_ */
