
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * Per-device results on one server: a bounded, exact table in the shared
 * zone of every device an experiment counted, with its group, its first
 * exposure and its last goal.  Both move one way only, so that a device
 * is exposed, converted or multiple at most once each, whatever order
 * its events come in, and the experiment's figures move by a delta as it
 * does: no read ever walks the table.  The fleet's figures are counted
 * the same way in PostgreSQL (sql/abtest-events.sql).
 */


#include "ngx_http_abtest_devices.h"


/* the group of a device seen in two: counted in none */
#define NGX_HTTP_ABTEST_MULTIPLE   0xff

/* how many records the oldest end is searched for a void one */
#define NGX_HTTP_ABTEST_RECLAIM    8


typedef struct {
    ngx_rbtree_node_t          node;         /* key: device, experiment */
    ngx_queue_t                seen;
    ngx_http_abtest_device_counts_t  *counts;  /* its experiment's */
    ngx_uint_t                 epoch;        /* of counts, when it began */
    int64_t                    exposure;     /* first, ms; -1: none */
    int64_t                    goal;         /* last, ms; -1: none */
    u_char                     group;
    u_char                     len;
    u_char                     device[1];
} ngx_http_abtest_device_t;


static void ngx_http_abtest_devices_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_abtest_device_t *ngx_http_abtest_devices_find(
    ngx_http_abtest_devices_t *table,
    ngx_http_abtest_device_counts_t *counts, ngx_str_t *device,
    uint32_t hash);
static ngx_http_abtest_device_t *ngx_http_abtest_devices_add(
    ngx_http_abtest_devices_t *table, ngx_slab_pool_t *shpool,
    ngx_http_abtest_device_counts_t *counts, ngx_str_t *device,
    uint32_t hash);
static ngx_uint_t ngx_http_abtest_devices_reclaim(
    ngx_http_abtest_devices_t *table, ngx_slab_pool_t *shpool);


void
ngx_http_abtest_devices_init_locked(ngx_http_abtest_devices_t *table)
{
    ngx_rbtree_init(&table->rbtree, &table->sentinel,
                    ngx_http_abtest_devices_insert_value);
    ngx_queue_init(&table->seen);
    table->n = 0;
}


/* the statistics start afresh: the experiment's records are void */

void
ngx_http_abtest_devices_reset(ngx_http_abtest_device_counts_t *counts)
{
    ngx_uint_t  epoch;

    epoch = counts->epoch;
    ngx_memzero(counts, sizeof(ngx_http_abtest_device_counts_t));
    counts->epoch = epoch + 1;
}


/*
 * An event the experiment counts, of "device" in "group": its record
 * is made (or begun again, from an earlier start of the statistics) and
 * moved on, and the figures with it.
 */

void
ngx_http_abtest_devices_count_locked(ngx_http_abtest_devices_t *table,
    ngx_slab_pool_t *shpool, ngx_http_abtest_device_counts_t *counts,
    ngx_str_t *device, ngx_uint_t group, ngx_uint_t role, int64_t at)
{
    uint32_t                   hash;
    ngx_uint_t                 was_in, was_converted, old;
    ngx_http_abtest_device_t  *d;

    if (table->max == 0 || group >= NGX_HTTP_ABTEST_GROUPS_MAX
        || device->len == 0 || device->len > NGX_HTTP_ABTEST_NAME_MAX)
    {
        return;
    }

    /* the experiment's records are apart by the address of its counts */
    hash = ngx_murmur_hash2(device->data, device->len)
           ^ (uint32_t) ((uintptr_t) counts >> 4);

    d = ngx_http_abtest_devices_find(table, counts, device, hash);

    if (d && d->epoch != counts->epoch) {
        /* a record of before the statistics started again */
        d->epoch = counts->epoch;
        d->exposure = -1;
        d->goal = -1;
        d->group = (u_char) group;
    }

    if (d == NULL) {
        d = ngx_http_abtest_devices_add(table, shpool, counts, device, hash);

        if (d == NULL) {
            counts->incomplete = 1;
            return;
        }

        d->group = (u_char) group;
    }

    ngx_queue_remove(&d->seen);
    ngx_queue_insert_tail(&table->seen, &d->seen);

    old = d->group;
    was_in = (old != NGX_HTTP_ABTEST_MULTIPLE && d->exposure != -1);
    was_converted = was_in && d->goal >= d->exposure;

    if (old != NGX_HTTP_ABTEST_MULTIPLE && old != group) {
        d->group = NGX_HTTP_ABTEST_MULTIPLE;
        counts->multiple++;
    }

    if (role == NGX_HTTP_ABTEST_ROLE_EXPOSURE
        && (d->exposure == -1 || at < d->exposure))
    {
        d->exposure = at;

    } else if (role == NGX_HTTP_ABTEST_ROLE_GOAL && at > d->goal) {
        d->goal = at;
    }

    if (was_in) {
        counts->exposed[old]--;

        if (was_converted) {
            counts->converted[old]--;
        }
    }

    if (d->group != NGX_HTTP_ABTEST_MULTIPLE && d->exposure != -1) {
        counts->exposed[d->group]++;

        if (d->goal >= d->exposure) {
            counts->converted[d->group]++;
        }
    }
}


static ngx_http_abtest_device_t *
ngx_http_abtest_devices_find(ngx_http_abtest_devices_t *table,
    ngx_http_abtest_device_counts_t *counts, ngx_str_t *device,
    uint32_t hash)
{
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_abtest_device_t  *d;

    node = table->rbtree.root;
    sentinel = table->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        d = (ngx_http_abtest_device_t *) node;

        if (d->counts == counts && d->len == device->len
            && ngx_memcmp(d->device, device->data, device->len) == 0)
        {
            return d;
        }

        /* the same hash: the tree keeps them apart by pointer, then id */
        node = ((uintptr_t) counts < (uintptr_t) d->counts
                || (counts == d->counts
                    && ngx_memn2cmp(device->data, d->device, device->len,
                                    d->len) < 0))
               ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_abtest_devices_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_abtest_device_t   *d, *t;

    d = (ngx_http_abtest_device_t *) node;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            t = (ngx_http_abtest_device_t *) temp;

            p = ((uintptr_t) d->counts < (uintptr_t) t->counts
                 || (d->counts == t->counts
                     && ngx_memn2cmp(d->device, t->device, d->len, t->len)
                        < 0))
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* a new record, in room the table has or a void record gives back */

static ngx_http_abtest_device_t *
ngx_http_abtest_devices_add(ngx_http_abtest_devices_t *table,
    ngx_slab_pool_t *shpool, ngx_http_abtest_device_counts_t *counts,
    ngx_str_t *device, uint32_t hash)
{
    size_t                     size;
    ngx_http_abtest_device_t  *d;

    if (table->n >= table->max
        && !ngx_http_abtest_devices_reclaim(table, shpool))
    {
        return NULL;
    }

    size = offsetof(ngx_http_abtest_device_t, device) + device->len;

    d = ngx_slab_alloc_locked(shpool, size);

    if (d == NULL && ngx_http_abtest_devices_reclaim(table, shpool)) {
        d = ngx_slab_alloc_locked(shpool, size);
    }

    if (d == NULL) {
        return NULL;
    }

    d->node.key = hash;
    d->counts = counts;
    d->epoch = counts->epoch;
    d->exposure = -1;
    d->goal = -1;
    d->len = (u_char) device->len;
    ngx_memcpy(d->device, device->data, device->len);

    ngx_rbtree_insert(&table->rbtree, &d->node);
    ngx_queue_insert_tail(&table->seen, &d->seen);
    table->n++;

    return d;
}


/*
 * Gives back a record of before its experiment's statistics started
 * again, among the least recently seen: 1 if one was, 0 if the table is
 * full of records that count.
 */

static ngx_uint_t
ngx_http_abtest_devices_reclaim(ngx_http_abtest_devices_t *table,
    ngx_slab_pool_t *shpool)
{
    ngx_uint_t                 i;
    ngx_queue_t               *q;
    ngx_http_abtest_device_t  *d;

    q = ngx_queue_head(&table->seen);

    for (i = 0;
         i < NGX_HTTP_ABTEST_RECLAIM && q != ngx_queue_sentinel(&table->seen);
         i++)
    {
        d = ngx_queue_data(q, ngx_http_abtest_device_t, seen);

        if (d->epoch == d->counts->epoch) {
            q = ngx_queue_next(q);
            continue;
        }

        ngx_queue_remove(&d->seen);
        ngx_rbtree_delete(&table->rbtree, &d->node);
        ngx_slab_free_locked(shpool, d);
        table->n--;

        return 1;
    }

    return 0;
}
