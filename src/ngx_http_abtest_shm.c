
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_ring.h"
#include "ngx_http_abtest_state.h"
#include "ngx_http_abtest_stats.h"


#define NGX_HTTP_ABTEST_EVENTS_DEFAULT  1000
#define NGX_HTTP_ABTEST_EVENTS_MAX      10000000


static ngx_int_t ngx_http_abtest_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_abtest_reconcile_locked(
    ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log);
static ngx_http_abtest_node_t *ngx_http_abtest_retired_node(
    ngx_http_abtest_main_conf_t *amcf);
static ngx_http_abtest_node_t *ngx_http_abtest_find_node(
    ngx_http_abtest_shctx_t *sh, ngx_str_t *name);
static void ngx_http_abtest_node_reconfigure(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp);
static ngx_uint_t ngx_http_abtest_same_config(
    ngx_http_abtest_exp_state_t *a, ngx_http_abtest_exp_state_t *b,
    ngx_uint_t ngroups);


/* abtest_zone zone=name:size [state=path] [events=N] */

char *
ngx_http_abtest_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_main_conf_t *amcf = conf;

    u_char      *p;
    ssize_t      size;
    ngx_int_t    events;
    ngx_str_t   *value, name, s;
    ngx_uint_t   i;

    if (amcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;
    size = 0;
    ngx_str_null(&name);

    amcf->events = NGX_HTTP_ABTEST_EVENTS_DEFAULT;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "state=", 6) == 0) {

            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            if (s.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty \"state=\" path");
                return NGX_CONF_ERROR;
            }

            if (ngx_conf_full_name(cf->cycle, &s, 0) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            amcf->state_file = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "events=", 7) == 0) {

            events = ngx_atoi(value[i].data + 7, value[i].len - 7);

            if (events == NGX_ERROR || events > NGX_HTTP_ABTEST_EVENTS_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"events=\" value \"%V\": use "
                                   "the number of events to keep, 0 for "
                                   "none, at most %d", &value[i],
                                   NGX_HTTP_ABTEST_EVENTS_MAX);
                return NGX_CONF_ERROR;
            }

            amcf->events = events;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone=name:size\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    amcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_abtest_module);
    if (amcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (amcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    amcf->shm_zone->init = ngx_http_abtest_init_zone;
    amcf->shm_zone->data = amcf;

    return NGX_CONF_OK;
}


/* per-process arrays, once the experiments are known */

ngx_int_t
ngx_http_abtest_shm_prepare(ngx_conf_t *cf, ngx_http_abtest_main_conf_t *amcf)
{
    ngx_uint_t  n;

    if (amcf->shm_zone == NULL) {
        return NGX_OK;
    }

    n = amcf->experiments.nelts ? amcf->experiments.nelts : 1;

    amcf->nodes = ngx_pcalloc(cf->pool, n * sizeof(ngx_http_abtest_node_t *));
    amcf->fresh = ngx_pcalloc(cf->pool, n * sizeof(ngx_uint_t));
    amcf->cache = ngx_pcalloc(cf->pool,
                              n * sizeof(ngx_http_abtest_exp_state_t));

    if (amcf->nodes == NULL || amcf->fresh == NULL || amcf->cache == NULL) {
        return NGX_ERROR;
    }

    /* differs from any version: the first request takes a copy */
    amcf->cache_version = (ngx_atomic_uint_t) -1;

    return NGX_OK;
}


/*
 * Runs in the master.  A fresh zone is set up from the configuration (and
 * the state file) at once.  On a reload the previous configuration's
 * workers still use the zone, and the new configuration may yet fail
 * (a listen socket, another zone): the zone only gives it a generation,
 * and its first worker applies it (ngx_http_abtest_shm_apply).
 */

static ngx_int_t
ngx_http_abtest_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_abtest_main_conf_t  *oamcf = data;

    size_t                        len;
    ngx_int_t                     rc;
    ngx_http_abtest_main_conf_t  *amcf;

    amcf = shm_zone->data;
    amcf->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (oamcf || shm_zone->shm.exists) {
        amcf->sh = oamcf ? oamcf->sh : amcf->shpool->data;

        ngx_shmtx_lock(&amcf->shpool->mutex);
        amcf->generation = ++amcf->sh->generations;
        ngx_shmtx_unlock(&amcf->shpool->mutex);

        return NGX_OK;
    }

    amcf->sh = ngx_slab_alloc(amcf->shpool, sizeof(ngx_http_abtest_shctx_t));
    if (amcf->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(amcf->sh, sizeof(ngx_http_abtest_shctx_t));
    ngx_queue_init(&amcf->sh->experiments);

    amcf->shpool->data = amcf->sh;

    len = sizeof(" in abtest zone \"\"") + shm_zone->shm.name.len;

    amcf->shpool->log_ctx = ngx_slab_alloc(amcf->shpool, len);
    if (amcf->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(amcf->shpool->log_ctx, " in abtest zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone drops old events, and says so once, itself */
    amcf->shpool->log_nomem = 0;

    amcf->generation = ++amcf->sh->generations;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    rc = ngx_http_abtest_reconcile_locked(amcf, shm_zone->shm.log);

    if (rc == NGX_OK) {
        rc = ngx_http_abtest_ring_init_locked(amcf, shm_zone->shm.log);
    }

    amcf->sh->applied = amcf->generation;

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* the workers inherit the nodes found here */
    amcf->ready = 1;

    if (amcf->state_file.len) {
        /* a fresh zone: the state file tells what happened before */
        ngx_http_abtest_state_load(amcf, shm_zone->shm.log);

        if (!ngx_test_config) {
            (void) ngx_http_abtest_state_save(amcf, shm_zone->shm.log);
        }
    }

    return NGX_OK;
}


/*
 * A worker's configuration meets the zone: the first process of a newer
 * generation brings the zone's experiments and ring to its configuration;
 * the others (and an older configuration's) only find their nodes.  Runs
 * when a worker starts, and before any use of the zone (nginx without a
 * master process starts no new workers on a reload).
 */

void
ngx_http_abtest_shm_apply(ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log)
{
    ngx_uint_t                     i, save;
    ngx_http_abtest_shctx_t       *sh;
    ngx_http_abtest_experiment_t  *exp;

    sh = amcf->sh;
    exp = amcf->experiments.elts;
    save = 0;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    if (sh->applied < amcf->generation) {
        sh->applied = amcf->generation;

        if (ngx_http_abtest_reconcile_locked(amcf, log) == NGX_OK) {
            (void) ngx_http_abtest_ring_init_locked(amcf, log);
            save = 1;
            goto done;
        }
    }

    for (i = 0; i < amcf->experiments.nelts; i++) {
        amcf->nodes[i] = ngx_http_abtest_find_node(sh, &exp[i].name);
    }

done:

    sh->version++;

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    amcf->ready = 1;

    if (save && amcf->state_file.len) {
        (void) ngx_http_abtest_state_save(amcf, log);
    }
}


/*
 * Under the lock.  First what can fail: a node for each experiment the
 * zone does not have, a retired one reused or a new one, so that a zone
 * too small changes nothing.  Then the changes.
 */

static ngx_int_t
ngx_http_abtest_reconcile_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log)
{
    ngx_uint_t                     i, k, n;
    ngx_queue_t                   *q;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_shctx_t       *sh;
    ngx_http_abtest_experiment_t  *exp;

    sh = amcf->sh;
    exp = amcf->experiments.elts;
    n = amcf->experiments.nelts;

    for (i = 0; i < n; i++) {
        amcf->nodes[i] = ngx_http_abtest_find_node(sh, &exp[i].name);
        amcf->fresh[i] = 0;
    }

    for (i = 0; i < n; i++) {
        if (amcf->nodes[i]) {
            continue;
        }

        amcf->fresh[i] = 1;
        amcf->nodes[i] = ngx_http_abtest_retired_node(amcf);

        if (amcf->nodes[i]) {
            continue;
        }

        node = ngx_slab_calloc_locked(amcf->shpool,
                                      sizeof(ngx_http_abtest_node_t));
        if (node) {
            node->counts = ngx_slab_calloc_locked(amcf->shpool,
                                 ngx_http_abtest_counts_size(
                                                 NGX_HTTP_ABTEST_GROUPS_MAX));
            if (node->counts == NULL) {
                ngx_slab_free_locked(amcf->shpool, node);
                node = NULL;
            }
        }

        if (node == NULL) {
            for (k = 0; k < i; k++) {
                if (amcf->fresh[k] && amcf->nodes[k]->name_len == 0) {
                    ngx_slab_free_locked(amcf->shpool,
                                         amcf->nodes[k]->counts);
                    ngx_slab_free_locked(amcf->shpool, amcf->nodes[k]);
                }
            }

            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "abtest: zone is too small for %ui experiments", n);
            return NGX_ERROR;
        }

        amcf->nodes[i] = node;
    }

    for (i = 0; i < n; i++) {
        node = amcf->nodes[i];

        if (amcf->fresh[i]) {
            /* a new node, or a retired one of another name */
            if (node->name_len == 0) {
                ngx_queue_insert_tail(&sh->experiments, &node->queue);
            }

            ngx_memcpy(node->name, exp[i].name.data, exp[i].name.len);
            node->name_len = exp[i].name.len;

        } else if (node->retired) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "abtest: experiment \"%V\" is configured again, "
                          "it starts from the configuration", &exp[i].name);

        } else if (node->ngroups != exp[i].groups.nelts
                   || node->groups_crc != exp[i].groups_crc)
        {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "abtest: experiment \"%V\" has new groups, its "
                          "run-time state starts again from the "
                          "configuration", &exp[i].name);

        } else if (!ngx_http_abtest_same_config(&node->configured,
                                                &exp[i].conf_state,
                                                node->ngroups))
        {
            /*
             * the configuration was edited: it wins over run-time changes,
             * and devices keep the groups earlier weights gave them
             */
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "abtest: experiment \"%V\" is configured anew, "
                          "its run-time state follows the configuration",
                          &exp[i].name);

            ngx_http_abtest_node_reconfigure(node, &exp[i]);
            continue;

        } else {
            if (!ngx_http_abtest_stats_same_names(node, &exp[i])) {
                ngx_log_error(NGX_LOG_NOTICE, log, 0,
                              "abtest: experiment \"%V\" has a new exposure "
                              "or goal, its statistics start again",
                              &exp[i].name);

                ngx_http_abtest_stats_restart(node, &exp[i]);
            }

            continue;
        }

        /*
         * Workers of another configuration no longer take the node for
         * theirs (node_valid, under this lock), so its state, and the
         * counters (sized for any number of groups), start again.
         */

        node->retired = 0;
        ngx_http_abtest_node_from_conf(node, &exp[i]);
    }

    /*
     * Experiments no longer configured are retired, never freed: workers
     * of the previous configuration may still be running, and they read
     * the node (and find it retired).  A retired node is reused when the
     * experiment comes back, or for another one.
     */

    for (q = ngx_queue_head(&sh->experiments);
         q != ngx_queue_sentinel(&sh->experiments);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_abtest_node_t, queue);

        for (i = 0; i < n; i++) {
            if (amcf->nodes[i] == node) {
                break;
            }
        }

        if (i == n && !node->retired) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "abtest: experiment \"%*s\" is no longer "
                          "configured", node->name_len, node->name);

            node->retired = 1;
        }
    }

    sh->version++;

    return NGX_OK;
}


/* a retired node that no experiment of this configuration has taken */

static ngx_http_abtest_node_t *
ngx_http_abtest_retired_node(ngx_http_abtest_main_conf_t *amcf)
{
    ngx_uint_t               i;
    ngx_queue_t             *q;
    ngx_http_abtest_node_t  *node;

    for (q = ngx_queue_head(&amcf->sh->experiments);
         q != ngx_queue_sentinel(&amcf->sh->experiments);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_abtest_node_t, queue);

        if (!node->retired) {
            continue;
        }

        for (i = 0; i < amcf->experiments.nelts; i++) {
            if (amcf->nodes[i] == node) {
                break;
            }
        }

        if (i == amcf->experiments.nelts) {
            return node;
        }
    }

    return NULL;
}


static ngx_http_abtest_node_t *
ngx_http_abtest_find_node(ngx_http_abtest_shctx_t *sh, ngx_str_t *name)
{
    ngx_queue_t             *q;
    ngx_http_abtest_node_t  *node;

    for (q = ngx_queue_head(&sh->experiments);
         q != ngx_queue_sentinel(&sh->experiments);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_abtest_node_t, queue);

        if (node->name_len == name->len
            && ngx_strncmp(node->name, name->data, name->len) == 0)
        {
            return node;
        }
    }

    return NULL;
}


static ngx_uint_t
ngx_http_abtest_same_config(ngx_http_abtest_exp_state_t *a,
    ngx_http_abtest_exp_state_t *b, ngx_uint_t ngroups)
{
    return a->state == b->state
           && a->rollout == b->rollout
           && a->total == b->total
           && ngx_memcmp(a->weights, b->weights, ngroups * sizeof(uint32_t))
              == 0;
}


/* a new configuration of the same groups keeps the earlier weights */

static void
ngx_http_abtest_node_reconfigure(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp)
{
    ngx_http_abtest_exp_state_t  old;

    old = node->state;

    if (ngx_memcmp(old.weights, exp->conf_state.weights,
                   node->ngroups * sizeof(uint32_t))
        != 0)
    {
        ngx_http_abtest_push_history(&old, old.weights, node->ngroups);
    }

    ngx_http_abtest_node_from_conf(node, exp);

    node->state.nhistory = old.nhistory;
    ngx_memcpy(node->state.history, old.history, sizeof(old.history));
}


void
ngx_http_abtest_node_from_conf(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp)
{
    node->ngroups = exp->groups.nelts;
    node->groups_crc = exp->groups_crc;
    node->configured = exp->conf_state;
    node->state = exp->conf_state;

    node->start = (exp->conf_state.state == NGX_HTTP_ABTEST_STATE_INACTIVE)
                  ? -1 : ngx_http_abtest_now_ms();
    node->end = -1;

    ngx_http_abtest_stats_restart(node, exp);
}


/* keeps the weights a device may have been given before, newest first */

void
ngx_http_abtest_push_history(ngx_http_abtest_exp_state_t *state,
    uint32_t *weights, ngx_uint_t ngroups)
{
    ngx_uint_t  n;

    n = ngx_min(state->nhistory + 1, NGX_HTTP_ABTEST_HISTORY);

    ngx_memmove(state->history[1], state->history[0],
                (n - 1) * sizeof(state->history[0]));

    ngx_memzero(state->history[0], sizeof(state->history[0]));
    ngx_memcpy(state->history[0], weights, ngroups * sizeof(uint32_t));

    state->nhistory = n;
}


int64_t
ngx_http_abtest_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/*
 * The request path reads a per-process copy, taken again only when the
 * zone's version moves: one load and compare per request.  A node that
 * is not this configuration's (retired, or with other groups, after a
 * reload while an old worker still runs) is not trusted: the
 * configuration is used instead.
 */

ngx_http_abtest_exp_state_t *
ngx_http_abtest_shm_state(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp)
{
    ngx_uint_t                     i;
    ngx_http_abtest_experiment_t  *all;

    if (amcf->sh == NULL) {
        return &exp->conf_state;
    }

    ngx_http_abtest_shm_ready(amcf, ngx_cycle->log);

    if (amcf->cache_version != amcf->sh->version) {
        all = amcf->experiments.elts;

        ngx_shmtx_lock(&amcf->shpool->mutex);

        for (i = 0; i < amcf->experiments.nelts; i++) {
            amcf->cache[i] = ngx_http_abtest_node_valid(amcf->nodes[i],
                                                        &all[i])
                             ? amcf->nodes[i]->state : all[i].conf_state;
        }

        amcf->cache_version = amcf->sh->version;

        ngx_shmtx_unlock(&amcf->shpool->mutex);
    }

    return &amcf->cache[exp->index];
}


ngx_uint_t
ngx_http_abtest_node_valid(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp)
{
    return node != NULL
           && !node->retired
           && node->name_len == exp->name.len
           && ngx_strncmp(node->name, exp->name.data, node->name_len) == 0
           && node->ngroups == exp->groups.nelts
           && node->groups_crc == exp->groups_crc
           && ngx_http_abtest_stats_same_names(node, exp);
}


/*
 * Copies of every experiment's node, in declaration order, for the API;
 * with "counts", the statistics too, into counts[i] (zeroed by the
 * caller), which the copies then point to.
 */

void
ngx_http_abtest_shm_snapshot(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_node_t *nodes, uint64_t **counts)
{
    ngx_uint_t                     i;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_experiment_t  *exp;

    exp = amcf->experiments.elts;

    if (amcf->sh == NULL) {
        for (i = 0; i < amcf->experiments.nelts; i++) {
            ngx_memzero(&nodes[i], sizeof(ngx_http_abtest_node_t));
            ngx_http_abtest_node_from_conf(&nodes[i], &exp[i]);
            nodes[i].start = -1;
            nodes[i].stats_start = -1;
            nodes[i].counts = counts ? counts[i] : NULL;
        }

        return;
    }

    ngx_http_abtest_shm_ready(amcf, ngx_cycle->log);

    ngx_shmtx_lock(&amcf->shpool->mutex);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        node = amcf->nodes[i];

        if (ngx_http_abtest_node_valid(node, &exp[i])) {
            nodes[i] = *node;

            if (counts && node->counts) {
                ngx_memcpy(counts[i], node->counts,
                           ngx_http_abtest_counts_size(node->ngroups));
            }

        } else {
            ngx_memzero(&nodes[i], sizeof(ngx_http_abtest_node_t));
            /* what the configuration says; no times it cannot know */
            ngx_http_abtest_node_from_conf(&nodes[i], &exp[i]);
            nodes[i].start = -1;
            nodes[i].stats_start = -1;
        }

        nodes[i].counts = counts ? counts[i] : NULL;
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);
}


/*
 * Applies a validated change to one experiment under the lock; the state
 * transition is checked here, against the state of the moment.  Returns
 * NGX_OK, or the HTTP status of a refusal with "err" saying why.
 */

ngx_int_t
ngx_http_abtest_shm_update(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_update_t *up,
    ngx_http_abtest_node_t *result, const char **err)
{
    ngx_uint_t               from, to, rollout;
    ngx_http_abtest_node_t  *node;

    ngx_http_abtest_shm_ready(amcf, ngx_cycle->log);

    ngx_shmtx_lock(&amcf->shpool->mutex);

    node = amcf->nodes[exp->index];

    if (!ngx_http_abtest_node_valid(node, exp)) {
        ngx_shmtx_unlock(&amcf->shpool->mutex);
        *err = "the experiment is being reconfigured, try again";
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    from = node->state.state;
    to = up->has_state ? up->state : from;

    /* the seed's transitions (step 9) */
    if (!(from == to
          || (from == NGX_HTTP_ABTEST_STATE_INACTIVE
              && to == NGX_HTTP_ABTEST_STATE_ACTIVE)
          || (from == NGX_HTTP_ABTEST_STATE_ACTIVE
              && to != NGX_HTTP_ABTEST_STATE_ACTIVE)
          || (from == NGX_HTTP_ABTEST_STATE_ROLLOUT
              && to == NGX_HTTP_ABTEST_STATE_ACTIVE)))
    {
        ngx_shmtx_unlock(&amcf->shpool->mutex);
        *err = (from == NGX_HTTP_ABTEST_STATE_INACTIVE)
               ? "state: an inactive experiment can only become active"
               : "state: an experiment in rollout can only become active";
        return NGX_HTTP_CONFLICT;
    }

    rollout = up->has_rollout ? up->rollout : node->state.rollout;

    /* a rollout without a group given takes the configured "rollout" */
    if (to == NGX_HTTP_ABTEST_STATE_ROLLOUT
        && rollout == NGX_HTTP_ABTEST_NO_GROUP)
    {
        rollout = node->configured.rollout;
    }

    if (to == NGX_HTTP_ABTEST_STATE_ROLLOUT
        && rollout == NGX_HTTP_ABTEST_NO_GROUP)
    {
        ngx_shmtx_unlock(&amcf->shpool->mutex);
        *err = "rollout_group: a group is needed for state rollout";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (up->has_rollout && up->rollout != NGX_HTTP_ABTEST_NO_GROUP
        && to != NGX_HTTP_ABTEST_STATE_ROLLOUT)
    {
        ngx_shmtx_unlock(&amcf->shpool->mutex);
        *err = "rollout_group: only with state rollout";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (up->has_weights
        && ngx_memcmp(node->state.weights, up->weights,
                      node->ngroups * sizeof(uint32_t))
           != 0)
    {
        ngx_http_abtest_push_history(&node->state, node->state.weights,
                                     node->ngroups);
        ngx_memcpy(node->state.weights, up->weights,
                   node->ngroups * sizeof(uint32_t));
        node->state.total = up->total;

        /* a new split is a new comparison: results, and SRM, start anew */
        ngx_http_abtest_stats_restart(node, exp);
    }

    if (from != to) {
        switch (to) {

        case NGX_HTTP_ABTEST_STATE_ACTIVE:
            /* (re-)activation starts the experiment, and its results, anew */
            node->start = ngx_http_abtest_now_ms();
            node->end = -1;
            ngx_http_abtest_stats_restart(node, exp);
            rollout = NGX_HTTP_ABTEST_NO_GROUP;
            break;

        default: /* inactive, rollout: the experiment ends */
            node->end = ngx_http_abtest_now_ms();
        }
    }

    node->state.state = to;
    node->state.rollout = (to == NGX_HTTP_ABTEST_STATE_ROLLOUT)
                          ? rollout : NGX_HTTP_ABTEST_NO_GROUP;

    if (up->reset_stats) {
        ngx_http_abtest_stats_restart(node, exp);
    }

    amcf->sh->version++;

    *result = *node;

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    return NGX_OK;
}
