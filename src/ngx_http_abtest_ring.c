
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The events ring in the shared zone (abtest_zone ... events=N): the last
 * N accepted events as JSON text, for GET on an events location.  Ids
 * increase by one per event; a fresh zone starts them at the current
 * time in microseconds, so that they keep increasing across restarts.
 * The ring only stores: the caller holds the zone's lock for the _locked
 * functions, and counts what it stores.
 */


#include "ngx_http_abtest_ring.h"
#include "ngx_http_abtest_util.h"


static void ngx_http_abtest_ring_drop_oldest(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool);
static void ngx_http_abtest_ring_empty(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool);
static size_t ngx_http_abtest_slab_size(size_t size);
static u_char *ngx_http_abtest_ring_prefix(u_char *p, uint64_t id);


/* a page of GET: a limit to the memory an answer takes */
#define NGX_HTTP_ABTEST_PAGE_BYTES  (16 * 1024 * 1024)


/*
 * When a configuration is applied to the zone (ngx_http_abtest_shm_apply).
 * A new events=N starts an empty ring (the events are in the log); the
 * ids go on.  A ring the zone cannot hold is an error, and the ring there
 * was stays.
 */

ngx_int_t
ngx_http_abtest_ring_init_locked(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool, ngx_uint_t nslots, size_t zone_size,
    ngx_log_t *log)
{
    uint64_t                 kept;
    ngx_http_abtest_slot_t  *slots;

    /* what the zone could never hold must not empty the ring first */
    ring->room = zone_size / 2;

    if (ring->next_id == 0) {
        ring->next_id = (uint64_t) ngx_http_abtest_now_ms() * 1000;
        ring->first_id = ring->next_id;
    }

    if (ring->nslots == nslots) {
        return NGX_OK;
    }

    slots = NULL;

    if (nslots) {
        slots = ngx_slab_calloc_locked(shpool,
                                       nslots * sizeof(ngx_http_abtest_slot_t));
        if (slots == NULL) {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "abtest: zone is too small for events=%ui, the "
                          "events ring keeps events=%ui", nslots,
                          ring->nslots);
            return NGX_ERROR;
        }
    }

    kept = ring->next_id - ring->first_id;

    ngx_http_abtest_ring_empty(ring, shpool);

    if (ring->slots) {
        ngx_slab_free_locked(shpool, ring->slots);
    }

    ring->slots = slots;
    ring->nslots = nslots;

    if (kept) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "abtest: events=%ui is new, the events ring starts "
                      "empty (its %uL events are in the events log, if "
                      "there is one)", nslots, kept);
    }

    return NGX_OK;
}


/* for what must win over events: NGX_DECLINED when the ring is empty */

ngx_int_t
ngx_http_abtest_ring_drop_locked(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool)
{
    if (ring->nslots == 0 || ring->first_id == ring->next_id) {
        return NGX_DECLINED;
    }

    ngx_http_abtest_ring_drop_oldest(ring, shpool);

    ring->evicted++;

    return NGX_OK;
}


static void
ngx_http_abtest_ring_drop_oldest(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool)
{
    ngx_http_abtest_slot_t  *slot;

    slot = &ring->slots[ring->first_id % ring->nslots];

    ngx_slab_free_locked(shpool, slot->data);
    slot->data = NULL;
    slot->len = 0;

    ring->first_id++;
}


static void
ngx_http_abtest_ring_empty(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool)
{
    while (ring->nslots && ring->first_id < ring->next_id) {
        ngx_http_abtest_ring_drop_oldest(ring, shpool);
    }

    ring->first_id = ring->next_id;
}


/*
 * Stores a batch whole or not at all: the memory of every event the ring
 * keeps is taken first (into "mem", n pointers), dropping the oldest
 * events when the zone is full ("full" is set when that starts), then
 * ids are given.  Sets each event's "line".  Returns NGX_DECLINED when
 * even an empty ring leaves no room.
 */

ngx_int_t
ngx_http_abtest_ring_append_locked(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool, ngx_http_abtest_event_t *events, ngx_uint_t n,
    u_char **mem, ngx_uint_t *full)
{
    u_char                   *p, prefix[NGX_HTTP_ABTEST_ID_PREFIX_LEN];
    size_t                    len, total;
    uint64_t                  id;
    ngx_uint_t                i, k, skip, nslots;
    ngx_http_abtest_slot_t   *slot;
    ngx_http_abtest_event_t  *ev;

    *full = 0;
    nslots = ring->nslots;

    /* of a batch larger than the ring, only the last nslots stay in it */
    skip = (n > nslots) ? n - nslots : 0;

    total = 0;

    for (i = skip; i < n; i++) {
        total += ngx_http_abtest_slab_size(NGX_HTTP_ABTEST_ID_PREFIX_LEN
                                           + events[i].text.len);
    }

    if (total > ring->room) {
        return NGX_DECLINED;
    }

    for (i = skip; i < n; i++) {
        id = ring->next_id + i;
        len = ngx_http_abtest_ring_prefix(prefix, id) - prefix
              + events[i].text.len;

        for ( ;; ) {
            mem[i] = ngx_slab_alloc_locked(shpool, len);

            if (mem[i] || ring->first_id == ring->next_id) {
                break;
            }

            ngx_http_abtest_ring_drop_oldest(ring, shpool);

            if (ring->evicted++ == 0) {
                *full = 1;
            }
        }

        if (mem[i] == NULL) {
            for (k = skip; k < i; k++) {
                ngx_slab_free_locked(shpool, mem[k]);
            }

            return NGX_DECLINED;
        }
    }

    if (skip) {
        /* the batch fills the ring: every older event leaves it */
        ngx_http_abtest_ring_empty(ring, shpool);
    }

    /*
     * An event is published only once its copy is whole (the slot, then
     * the id): a worker killed here, whose lock the master frees, leaves
     * a ring of whole events, at worst one event's memory lost.
     */

    for (i = 0; i < n; i++) {
        ev = &events[i];
        id = ring->next_id;

        /* "{"id":N," goes in the room left before the text */
        len = ngx_http_abtest_ring_prefix(prefix, id) - prefix;
        p = ev->text.data - len;
        ngx_memcpy(p, prefix, len);

        ev->line.data = p;
        ev->line.len = len + ev->text.len + 1;
        p[ev->line.len - 1] = LF;

        if (i < skip) {
            ring->next_id++;
            ring->first_id = ring->next_id;
            continue;
        }

        ngx_memcpy(mem[i], ev->line.data, ev->line.len - 1);

        if (id + 1 - ring->first_id > nslots) {
            ngx_http_abtest_ring_drop_oldest(ring, shpool);
        }

        slot = &ring->slots[id % nslots];
        slot->data = mem[i];
        slot->len = ev->line.len - 1;

        ring->next_id++;
    }

    return NGX_OK;
}


/* what nginx's slab allocator takes for "size" bytes */

/* "{"id":N,", under the zone's lock: copies, not ngx_sprintf() */

static u_char *
ngx_http_abtest_ring_prefix(u_char *p, uint64_t id)
{
    p = ngx_cpymem(p, "{\"id\":", sizeof("{\"id\":") - 1);
    p = ngx_http_abtest_uint64(p, id);
    *p++ = ',';

    return p;
}


static size_t
ngx_http_abtest_slab_size(size_t size)
{
    size_t  s;

    if (size > ngx_pagesize / 2) {
        return ngx_align(size, ngx_pagesize);
    }

    for (s = 8; s < size; s <<= 1) { /* void */ }

    return s;
}


void
ngx_http_abtest_ring_warn_full(ngx_http_abtest_ring_t *ring, ngx_log_t *log)
{
    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "abtest: the zone is full, the events ring keeps fewer "
                  "than events=%ui events (the others are in the events "
                  "log, if there is one): a larger zone keeps more",
                  ring->nslots);
}


/*
 * A JSON array of at most "limit" events with ids above "since", and of
 * at most PAGE_BYTES: measured under the lock, copied under it again
 * into memory taken without it.  Events that left the ring in between
 * are left out.
 */

ngx_int_t
ngx_http_abtest_ring_read(ngx_http_abtest_ring_t *ring,
    ngx_slab_pool_t *shpool, uint64_t since, ngx_uint_t limit,
    ngx_pool_t *pool, ngx_str_t *out)
{
    u_char                  *p, *last;
    size_t                   len;
    uint64_t                 from, to, id;
    ngx_http_abtest_slot_t  *slot;

    ngx_shmtx_lock(&shpool->mutex);

    from = ngx_max(since + 1, ring->first_id);
    to = (from < ring->next_id) ? ngx_min(from + limit, ring->next_id) : from;

    len = sizeof("[]\n") - 1;

    for (id = from; id < to; id++) {
        slot = &ring->slots[id % ring->nslots];

        if (id > from && len + slot->len + 1 > NGX_HTTP_ABTEST_PAGE_BYTES) {
            to = id;
            break;
        }

        len += slot->len + 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;
    last = p + len;
    *p++ = '[';

    ngx_shmtx_lock(&shpool->mutex);

    for (id = ngx_max(from, ring->first_id); id < to; id++) {
        slot = &ring->slots[id % ring->nslots];

        if (slot->len == 0) {
            continue;
        }

        if (p + slot->len + 3 > last) {
            break;
        }

        if (p != out->data + 1) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, slot->data, slot->len);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    *p++ = ']';
    *p++ = LF;

    out->len = p - out->data;

    return NGX_OK;
}
