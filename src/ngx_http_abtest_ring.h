
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_RING_H_INCLUDED_
#define _NGX_HTTP_ABTEST_RING_H_INCLUDED_


#include "ngx_http_abtest_module.h"
#include "ngx_http_abtest_events.h"


/* an event in the ring: its JSON text, "{"id":N,...}" */
typedef struct {
    u_char                    *data;
    size_t                     len;
} ngx_http_abtest_slot_t;


/*
 * In the shared zone: the events with ids first_id .. next_id - 1, the
 * event with id N in slot N % nslots.
 */
typedef struct {
    ngx_http_abtest_slot_t    *slots;
    ngx_uint_t                 nslots;
    uint64_t                   first_id;
    uint64_t                   next_id;
    uint64_t                   evicted;      /* early, for lack of memory */
    size_t                     room;         /* the most a batch may take */
} ngx_http_abtest_ring_t;


ngx_int_t ngx_http_abtest_ring_init_locked(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool, ngx_uint_t nslots, size_t zone_size,
    ngx_log_t *log);
ngx_int_t ngx_http_abtest_ring_append_locked(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool, ngx_http_abtest_event_t *events, ngx_uint_t n,
    u_char **mem, ngx_uint_t *full);
ngx_int_t ngx_http_abtest_ring_drop_locked(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool);
void ngx_http_abtest_ring_warn_full(ngx_http_abtest_ring_t *ring,
    ngx_log_t *log);
ngx_int_t ngx_http_abtest_ring_read(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool, uint64_t since, ngx_uint_t limit,
    ngx_pool_t *pool, ngx_str_t *out);


#endif /* _NGX_HTTP_ABTEST_RING_H_INCLUDED_ */
