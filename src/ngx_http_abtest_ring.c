
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The events ring in the shared zone (abtest_zone ... events=N): the last
 * N accepted events as JSON text, for GET on an events location.  Ids
 * increase by one per event; a fresh zone starts them at the current
 * time in microseconds, so that they keep increasing across restarts.
 * The functions take the zone's lock themselves, but for _locked ones.
 */


#include "ngx_http_abtest_ring.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_stats.h"


static void ngx_http_abtest_ring_drop_oldest(ngx_http_abtest_main_conf_t *amcf);
static void ngx_http_abtest_ring_empty(ngx_http_abtest_main_conf_t *amcf);
static void ngx_http_abtest_ring_count(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_event_t *ev);
static void ngx_http_abtest_ring_full(ngx_log_t *log, ngx_uint_t nslots);
static size_t ngx_http_abtest_slab_size(size_t size);


/* a page of GET: a limit to the memory an answer takes */
#define NGX_HTTP_ABTEST_PAGE_BYTES  (16 * 1024 * 1024)


/*
 * Under the zone's lock, when a configuration is applied to the zone
 * (ngx_http_abtest_shm_apply).  A new events=N starts an empty ring (the
 * events are in the log); the ids go on.  A ring the zone cannot hold is
 * an error, and the ring there was stays.
 */

ngx_int_t
ngx_http_abtest_ring_init_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log)
{
    uint64_t                  kept;
    ngx_http_abtest_slot_t   *slots;
    ngx_http_abtest_shctx_t  *sh;

    sh = amcf->sh;

    if (sh->next_id == 0) {
        sh->next_id = (uint64_t) ngx_http_abtest_now_ms() * 1000;
        sh->first_id = sh->next_id;
    }

    if (sh->nslots == amcf->events) {
        return NGX_OK;
    }

    slots = NULL;

    if (amcf->events) {
        slots = ngx_slab_calloc_locked(amcf->shpool, amcf->events
                                             * sizeof(ngx_http_abtest_slot_t));
        if (slots == NULL) {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "abtest: zone is too small for events=%ui, the "
                          "events ring keeps events=%ui", amcf->events,
                          sh->nslots);
            return NGX_ERROR;
        }
    }

    kept = sh->next_id - sh->first_id;

    ngx_http_abtest_ring_empty(amcf);

    if (sh->slots) {
        ngx_slab_free_locked(amcf->shpool, sh->slots);
    }

    sh->slots = slots;
    sh->nslots = amcf->events;

    if (kept) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "abtest: events=%ui is new, the events ring starts "
                      "empty (its %uL events are in the events log, if "
                      "there is one)", amcf->events, kept);
    }

    return NGX_OK;
}


static void
ngx_http_abtest_ring_drop_oldest(ngx_http_abtest_main_conf_t *amcf)
{
    ngx_http_abtest_slot_t   *slot;
    ngx_http_abtest_shctx_t  *sh;

    sh = amcf->sh;
    slot = &sh->slots[sh->first_id % sh->nslots];

    ngx_slab_free_locked(amcf->shpool, slot->data);
    slot->data = NULL;
    slot->len = 0;

    sh->first_id++;
}


static void
ngx_http_abtest_ring_empty(ngx_http_abtest_main_conf_t *amcf)
{
    ngx_http_abtest_shctx_t  *sh;

    sh = amcf->sh;

    while (sh->nslots && sh->first_id < sh->next_id) {
        ngx_http_abtest_ring_drop_oldest(amcf);
    }

    sh->first_id = sh->next_id;
}


/*
 * Stores a batch whole or not at all: the memory of every event the ring
 * keeps is taken first, dropping the oldest events when the zone is full,
 * then ids are given and the statistics counted.  Sets each event's
 * "line".  Returns NGX_DECLINED when even an empty ring leaves no room.
 */

ngx_int_t
ngx_http_abtest_ring_append(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_event_t *events, ngx_uint_t n, ngx_pool_t *pool,
    ngx_log_t *log)
{
    u_char                   *p, **mem, prefix[NGX_HTTP_ABTEST_ID_PREFIX_LEN];
    size_t                    len, total;
    uint64_t                  id;
    ngx_uint_t                i, k, skip, nslots, full;
    ngx_http_abtest_slot_t   *slot;
    ngx_http_abtest_shctx_t  *sh;
    ngx_http_abtest_event_t  *ev;

    mem = ngx_palloc(pool, n * sizeof(u_char *));
    if (mem == NULL) {
        return NGX_ERROR;
    }

    ngx_http_abtest_shm_ready(amcf, log);

    sh = amcf->sh;
    full = 0;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    nslots = sh->nslots;

    /* of a batch larger than the ring, only the last nslots stay in it */
    skip = (n > nslots) ? n - nslots : 0;

    total = 0;

    for (i = skip; i < n; i++) {
        total += ngx_http_abtest_slab_size(NGX_HTTP_ABTEST_ID_PREFIX_LEN
                                           + events[i].text.len);
    }

    /* what the zone could never hold must not empty the ring first */
    if (total > amcf->shm_zone->shm.size / 2) {
        ngx_shmtx_unlock(&amcf->shpool->mutex);
        return NGX_DECLINED;
    }

    for (i = skip; i < n; i++) {
        id = sh->next_id + i;
        len = ngx_sprintf(prefix, "{\"id\":%uL,", id) - prefix
              + events[i].text.len;

        for ( ;; ) {
            mem[i] = ngx_slab_alloc_locked(amcf->shpool, len);

            if (mem[i] || sh->first_id == sh->next_id) {
                break;
            }

            ngx_http_abtest_ring_drop_oldest(amcf);

            if (sh->evicted++ == 0) {
                full = 1;
            }
        }

        if (mem[i] == NULL) {
            for (k = skip; k < i; k++) {
                ngx_slab_free_locked(amcf->shpool, mem[k]);
            }

            ngx_shmtx_unlock(&amcf->shpool->mutex);
            goto failed;
        }
    }

    if (skip) {
        /* the batch fills the ring: every older event leaves it */
        ngx_http_abtest_ring_empty(amcf);
    }

    for (i = 0; i < n; i++) {
        ev = &events[i];
        id = sh->next_id++;

        /* "{"id":N," goes in the room left before the text */
        len = ngx_sprintf(prefix, "{\"id\":%uL,", id) - prefix;
        p = ev->text.data - len;
        ngx_memcpy(p, prefix, len);

        ev->line.data = p;
        ev->line.len = len + ev->text.len + 1;
        p[ev->line.len - 1] = LF;

        if (i < skip) {
            sh->first_id = sh->next_id;

        } else {
            if (sh->next_id - sh->first_id > nslots) {
                ngx_http_abtest_ring_drop_oldest(amcf);
            }

            slot = &sh->slots[id % nslots];
            slot->data = mem[i];
            slot->len = ev->line.len - 1;
            ngx_memcpy(slot->data, ev->line.data, slot->len);
        }

        ngx_http_abtest_ring_count(amcf, ev);
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    if (full) {
        ngx_http_abtest_ring_full(log, nslots);
    }

    return NGX_OK;

failed:

    if (full) {
        ngx_http_abtest_ring_full(log, nslots);
    }

    return NGX_DECLINED;
}


/* what nginx's slab allocator takes for "size" bytes */

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


static void
ngx_http_abtest_ring_full(ngx_log_t *log, ngx_uint_t nslots)
{
    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "abtest: the zone is full, the events ring keeps fewer "
                  "than events=%ui events (the others are in the events "
                  "log, if there is one): a larger zone keeps more", nslots);
}


/* the statistics of experiments that are active now */

static void
ngx_http_abtest_ring_count(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_event_t *ev)
{
    ngx_uint_t                     i;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_experiment_t  *exp;

    exp = amcf->experiments.elts;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        node = amcf->nodes[i];

        if (ev->counted[i] == NGX_HTTP_ABTEST_NO_GROUP
            || !ngx_http_abtest_node_valid(node, &exp[i])
            || node->state.state != NGX_HTTP_ABTEST_STATE_ACTIVE)
        {
            continue;
        }

        ngx_http_abtest_stats_count_locked(node, &ev->name, ev->counted[i]);
    }
}


/*
 * A JSON array of at most "limit" events with ids above "since", and of
 * at most PAGE_BYTES: measured under the lock, copied under it again
 * into memory taken without it.  Events that left the ring in between
 * are left out.
 */

ngx_int_t
ngx_http_abtest_ring_read(ngx_http_abtest_main_conf_t *amcf, uint64_t since,
    ngx_uint_t limit, ngx_pool_t *pool, ngx_str_t *out)
{
    u_char                   *p, *last;
    size_t                    len;
    uint64_t                  from, to, id;
    ngx_http_abtest_slot_t   *slot;
    ngx_http_abtest_shctx_t  *sh;

    ngx_http_abtest_shm_ready(amcf, ngx_cycle->log);

    sh = amcf->sh;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    from = ngx_max(since + 1, sh->first_id);
    to = (from < sh->next_id) ? ngx_min(from + limit, sh->next_id) : from;

    len = sizeof("[]\n") - 1;

    for (id = from; id < to; id++) {
        slot = &sh->slots[id % sh->nslots];

        if (id > from && len + slot->len + 1 > NGX_HTTP_ABTEST_PAGE_BYTES) {
            to = id;
            break;
        }

        len += slot->len + 1;
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;
    last = p + len;
    *p++ = '[';

    ngx_shmtx_lock(&amcf->shpool->mutex);

    for (id = ngx_max(from, sh->first_id); id < to; id++) {
        slot = &sh->slots[id % sh->nslots];

        if (p + slot->len + 3 > last) {
            break;
        }

        if (p != out->data + 1) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, slot->data, slot->len);
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    *p++ = ']';
    *p++ = LF;

    out->len = p - out->data;

    return NGX_OK;
}
