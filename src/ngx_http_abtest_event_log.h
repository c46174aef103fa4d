
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_EVENT_LOG_H_INCLUDED_
#define _NGX_HTTP_ABTEST_EVENT_LOG_H_INCLUDED_


#include "ngx_http_abtest_module.h"
#include "ngx_http_abtest_events.h"


/* what the status says of the log, as this worker sees it */
typedef struct {
    ngx_uint_t                 syslog;       /* else a file */
    ngx_uint_t                 failing;      /* a write failed */
    uint64_t                   pending;      /* bytes not written yet */
    uint64_t                   written;
} ngx_http_abtest_event_log_state_t;


/* answers a request whose events' lines are written */
typedef void (*ngx_http_abtest_log_written_pt)(ngx_http_request_t *r,
    void *data);


char *ngx_http_abtest_events_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_abtest_event_log_set_lock(ngx_http_abtest_event_log_t *elog,
    ngx_shmtx_t *lock);
void ngx_http_abtest_event_log_set_counters(
    ngx_http_abtest_event_log_t *elog, ngx_atomic_t *errors,
    ngx_atomic_t *buffered);
ngx_int_t ngx_http_abtest_event_log_reserve(ngx_http_abtest_event_log_t *elog,
    size_t len, ngx_log_t *log);
ngx_int_t ngx_http_abtest_event_log_write(ngx_http_abtest_event_log_t *elog,
    ngx_http_abtest_event_t *events, ngx_uint_t n, ngx_pool_t *pool,
    ngx_log_t *log);


void ngx_http_abtest_event_log_state(ngx_http_abtest_event_log_t *elog,
    ngx_str_t *target, ngx_http_abtest_event_log_state_t *st);
ngx_int_t ngx_http_abtest_event_log_wait(ngx_http_abtest_event_log_t *elog,
    ngx_http_request_t *r, ngx_http_abtest_log_written_pt handler,
    void *data);


#endif /* _NGX_HTTP_ABTEST_EVENT_LOG_H_INCLUDED_ */
