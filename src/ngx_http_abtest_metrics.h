
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_METRICS_H_INCLUDED_
#define _NGX_HTTP_ABTEST_METRICS_H_INCLUDED_


#include "ngx_http_abtest_module.h"


ngx_int_t ngx_http_abtest_metrics_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_ABTEST_METRICS_H_INCLUDED_ */
