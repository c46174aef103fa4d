
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_EVENTS_H_INCLUDED_
#define _NGX_HTTP_ABTEST_EVENTS_H_INCLUDED_


#include "ngx_http_abtest_module.h"
#include "ngx_http_abtest_event_parser.h"


/* room before an event's text for the ring to write "{"id":N," */
#define NGX_HTTP_ABTEST_ID_PREFIX_LEN                                       \
    (sizeof("{\"id\":18446744073709551615,") - 1)


/* an accepted event on its way to the ring and the log */
typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  text;      /* its JSON after the id */
    ngx_uint_t                *counted;   /* per experiment: a group or
                                             NO_GROUP */
    size_t                     counted_room;  /* text's room for it */
    ngx_str_t                  device;
    int64_t                    received;  /* ms */
    ngx_str_t                  line;      /* "{"id":N,...}\n", by the ring */
} ngx_http_abtest_event_t;


extern ngx_uint_t  ngx_http_abtest_events_statuses[];


ngx_int_t ngx_http_abtest_events_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_abtest_event_make(ngx_http_request_t *r,
    ngx_http_abtest_event_fields_t *f, ngx_http_abtest_ctx_t *ctx,
    ngx_http_abtest_event_t *ev);
ngx_int_t ngx_http_abtest_events_store(ngx_http_request_t *r,
    ngx_http_abtest_event_t *events, ngx_uint_t n, const char **err);


#endif /* _NGX_HTTP_ABTEST_EVENTS_H_INCLUDED_ */
