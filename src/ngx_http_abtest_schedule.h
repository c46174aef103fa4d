
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_SCHEDULE_H_INCLUDED_
#define _NGX_HTTP_ABTEST_SCHEDULE_H_INCLUDED_


#include "ngx_http_abtest_module.h"


void ngx_http_abtest_schedule_init_process(ngx_cycle_t *cycle,
    ngx_http_abtest_main_conf_t *amcf);


#endif /* _NGX_HTTP_ABTEST_SCHEDULE_H_INCLUDED_ */
