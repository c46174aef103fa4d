
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_DEVICES_H_INCLUDED_
#define _NGX_HTTP_ABTEST_DEVICES_H_INCLUDED_


#include "ngx_http_abtest_module.h"


/* devices=: at most, and the memory a record of a UUID takes (a slab) */
#define NGX_HTTP_ABTEST_DEVICES_MAX    100000000
#define NGX_HTTP_ABTEST_DEVICE_SIZE    128


/* an event name's part in an experiment's results */
#define NGX_HTTP_ABTEST_ROLE_EXPOSURE  0
#define NGX_HTTP_ABTEST_ROLE_GOAL      1
#define NGX_HTTP_ABTEST_ROLE_EVENT     2


/*
 * An experiment's figures on devices since its statistics start: the
 * devices exposed per group, those converted (a goal at or after their
 * first exposure), and those seen in more than one group (in none).
 */
typedef struct {
    uint64_t                   exposed[NGX_HTTP_ABTEST_GROUPS_MAX];
    uint64_t                   converted[NGX_HTTP_ABTEST_GROUPS_MAX];
    uint64_t                   multiple;

    /* a device found no room in the table: the figures miss it */
    ngx_uint_t                 incomplete;

    /* bumped when the statistics start afresh: older records are void */
    ngx_uint_t                 epoch;
} ngx_http_abtest_device_counts_t;


/*
 * The zone's table of devices (abtest_zone devices=N): a record per
 * device and experiment, found by a red-black tree, in the order they
 * were last seen so that void ones are given back first.
 */
typedef struct {
    ngx_rbtree_t               rbtree;
    ngx_rbtree_node_t          sentinel;
    ngx_queue_t                seen;         /* least recently first */
    ngx_uint_t                 n;
    ngx_uint_t                 max;          /* devices=, 0: none kept */
} ngx_http_abtest_devices_t;


void ngx_http_abtest_devices_init_locked(ngx_http_abtest_devices_t *table);
void ngx_http_abtest_devices_reset(ngx_http_abtest_device_counts_t *counts);
void ngx_http_abtest_devices_count_locked(ngx_http_abtest_devices_t *table,
    ngx_slab_pool_t *shpool, ngx_http_abtest_device_counts_t *counts,
    ngx_str_t *device, ngx_uint_t group, ngx_uint_t role, int64_t at);


#endif /* _NGX_HTTP_ABTEST_DEVICES_H_INCLUDED_ */
