
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_EVENT_PARSER_H_INCLUDED_
#define _NGX_HTTP_ABTEST_EVENT_PARSER_H_INCLUDED_


#include "ngx_http_abtest_module.h"


#define NGX_HTTP_ABTEST_EVENTS_BATCH     1000

/* an array of events, an event, its params: params nest 8 levels */
#define NGX_HTTP_ABTEST_EVENTS_DEPTH     10

/* ts, source and exp_group as strings */
#define NGX_HTTP_ABTEST_FIELD_MAX        64
#define NGX_HTTP_ABTEST_PARAMS_MAX       4096


/* what an event is made of, as JSON text where it says so */
typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  ts;        /* JSON */
    ngx_str_t                  source;    /* JSON */
    ngx_str_t                  device_id;
    ngx_str_t                  exp_group; /* JSON, or empty: not given */
    ngx_str_t                  params;    /* JSON */
} ngx_http_abtest_event_fields_t;


typedef struct ngx_http_abtest_event_parser_s  ngx_http_abtest_event_parser_t;


ngx_http_abtest_event_parser_t *ngx_http_abtest_event_parser_create(
    ngx_pool_t *pool, ngx_str_t *own, ngx_uint_t trusted);
ngx_int_t ngx_http_abtest_event_parser_feed(
    ngx_http_abtest_event_parser_t *p, u_char *data, size_t len);
ngx_int_t ngx_http_abtest_event_parser_finish(
    ngx_http_abtest_event_parser_t *p, ngx_array_t **events,
    ngx_uint_t *batch, u_char **err, ngx_uint_t *status);


#endif /* _NGX_HTTP_ABTEST_EVENT_PARSER_H_INCLUDED_ */
