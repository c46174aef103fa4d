
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The shared zone (abtest_zone): one node per experiment with its
 * run-time state and counters, and the events ring, shared by all
 * workers and kept across reloads.  A configuration meets the zone in
 * its own first worker; the state file keeps the run-time state across
 * restarts.
 */


#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_state_file.h"
#include "ngx_http_abtest_util.h"

#include <openssl/rand.h>
#include <sys/statvfs.h>


#define NGX_HTTP_ABTEST_EVENTS_DEFAULT  1000
#define NGX_HTTP_ABTEST_EVENTS_MAX      10000000


/* this process's copy of the states, taken when the zone's version moves */
typedef struct {
    ngx_http_abtest_main_conf_t  *amcf;
    ngx_http_abtest_exp_state_t  *states;
    ngx_atomic_uint_t             version;
} ngx_http_abtest_shm_copy_t;


static ngx_int_t ngx_http_abtest_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_abtest_state_dir(ngx_http_abtest_zone_t *zone,
    ngx_log_t *log);
static void ngx_http_abtest_shm_restore(ngx_http_abtest_zone_t *zone,
    ngx_log_t *log);
static void ngx_http_abtest_shm_apply(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log);
static ngx_int_t ngx_http_abtest_reconcile_locked(
    ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log);
static ngx_int_t ngx_http_abtest_take_nodes_locked(
    ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log);
static ngx_http_abtest_node_t *ngx_http_abtest_node_alloc_locked(
    ngx_http_abtest_zone_t *zone);
static void ngx_http_abtest_node_meet_locked(ngx_http_abtest_zone_t *zone,
    ngx_http_abtest_experiment_t *exp, ngx_log_t *log);
static void ngx_http_abtest_retire_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log);
static ngx_http_abtest_node_t *ngx_http_abtest_retired_node(
    ngx_http_abtest_main_conf_t *amcf);
static ngx_http_abtest_node_t *ngx_http_abtest_find_node(
    ngx_http_abtest_shctx_t *sh, ngx_str_t *name);
static ngx_uint_t ngx_http_abtest_same_config(
    ngx_http_abtest_exp_state_t *a, ngx_http_abtest_exp_state_t *b,
    ngx_uint_t ngroups);
static void ngx_http_abtest_node_reconfigure(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp);
static void ngx_http_abtest_node_from_conf(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp);
static void ngx_http_abtest_node_restart_stats(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp);
static void ngx_http_abtest_store_record(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_runtime_t *rt);
static ngx_int_t ngx_http_abtest_store_apply(
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_runtime_t *rt, int64_t version);
static void ngx_http_abtest_store_forget(ngx_http_abtest_main_conf_t *amcf);
static void ngx_http_abtest_store_source(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, ngx_uint_t source);
static void ngx_http_abtest_store_applied(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log);
static void ngx_http_abtest_figures_clear_locked(
    ngx_http_abtest_main_conf_t *amcf);
static void ngx_http_abtest_figure_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, int64_t start,
    ngx_http_abtest_figure_t *f);
static ngx_uint_t ngx_http_abtest_node_same_names(
    ngx_http_abtest_node_t *node, ngx_http_abtest_experiment_t *exp);
static void ngx_http_abtest_snapshot_conf(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp);


static ngx_http_abtest_shm_copy_t  ngx_http_abtest_shm_copy;


/* abtest_zone zone=name:size [state=path] [events=N] [devices=N] */

char *
ngx_http_abtest_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_main_conf_t *amcf = conf;

    u_char                  *p;
    ssize_t                  size;
    ngx_int_t                events, devices;
    ngx_str_t               *value, name, s;
    ngx_uint_t               i;
    ngx_http_abtest_zone_t  *zone;

    if (amcf->zone) {
        return "is duplicate";
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_abtest_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->amcf = amcf;
    zone->cycle = cf->cycle;
    zone->pool = cf->pool;
    zone->events = NGX_HTTP_ABTEST_EVENTS_DEFAULT;
    devices = NGX_CONF_UNSET;

    value = cf->args->elts;
    size = 0;
    ngx_str_null(&name);

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

            zone->state_file = s;
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

            zone->events = events;
            continue;
        }

        if (ngx_strncmp(value[i].data, "devices=", 8) == 0) {

            devices = ngx_atoi(value[i].data + 8, value[i].len - 8);

            if (devices == NGX_ERROR
                || devices > NGX_HTTP_ABTEST_DEVICES_MAX)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"devices=\" value \"%V\": use "
                                   "the number of devices to count per "
                                   "experiment together, 0 for none, at "
                                   "most %d", &value[i],
                                   NGX_HTTP_ABTEST_DEVICES_MAX);
                return NGX_CONF_ERROR;
            }

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

    /* by default a quarter of the zone, a record of a UUID taking 128 */
    zone->devices = (devices == NGX_CONF_UNSET)
                    ? (ngx_uint_t) size / 4 / NGX_HTTP_ABTEST_DEVICE_SIZE
                    : (ngx_uint_t) devices;

    zone->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_abtest_module);
    if (zone->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    zone->shm_zone->init = ngx_http_abtest_init_zone;
    zone->shm_zone->data = zone;

    amcf->zone = zone;

    return NGX_CONF_OK;
}


/* this configuration's arrays, once the experiments are known */

ngx_int_t
ngx_http_abtest_shm_prepare(ngx_conf_t *cf, ngx_http_abtest_main_conf_t *amcf)
{
    ngx_uint_t               n;
    ngx_http_abtest_zone_t  *zone;

    zone = amcf->zone;

    if (zone == NULL) {
        return NGX_OK;
    }

    n = amcf->experiments.nelts ? amcf->experiments.nelts : 1;

    zone->nodes = ngx_pcalloc(cf->pool, n * sizeof(ngx_http_abtest_node_t *));
    zone->fresh = ngx_pcalloc(cf->pool, n * sizeof(ngx_uint_t));

    if (zone->nodes == NULL || zone->fresh == NULL) {
        return NGX_ERROR;
    }

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
    ngx_http_abtest_zone_t  *ozone = data;

    size_t                   len;
    ngx_int_t                rc;
    ngx_http_abtest_zone_t  *zone;

    zone = shm_zone->data;
    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (zone->state_file.len) {
        ngx_http_abtest_state_dir(zone, shm_zone->shm.log);
    }

    if (ozone || shm_zone->shm.exists) {
        zone->sh = ozone ? ozone->sh : zone->shpool->data;
        zone->amcf->random_key = zone->sh->random_key;

        ngx_shmtx_lock(&zone->shpool->mutex);
        zone->generation = ++zone->sh->generations;
        ngx_shmtx_unlock(&zone->shpool->mutex);

        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_abtest_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(zone->sh, sizeof(ngx_http_abtest_shctx_t));
    ngx_queue_init(&zone->sh->experiments);
    ngx_http_abtest_devices_init_locked(&zone->sh->devices);
    zone->sh->devices.max = zone->devices;

    /* a new key, unless the state file keeps the one draws were made with */
    if (RAND_bytes(zone->sh->random_key, NGX_HTTP_ABTEST_KEY_LEN) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "abtest: RAND_bytes() failed");
        return NGX_ERROR;
    }

    zone->amcf->random_key = zone->sh->random_key;

    zone->shpool->data = zone->sh;

    len = sizeof(" in abtest zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in abtest zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone drops old events, and says so once, itself */
    zone->shpool->log_nomem = 0;

    zone->generation = ++zone->sh->generations;

    ngx_shmtx_lock(&zone->shpool->mutex);

    rc = ngx_http_abtest_reconcile_locked(zone->amcf, shm_zone->shm.log);

    if (rc == NGX_OK) {
        rc = ngx_http_abtest_ring_init_locked(&zone->sh->ring, zone->shpool,
                                              zone->events,
                                              shm_zone->shm.size,
                                              shm_zone->shm.log);
    }

    zone->sh->applied = zone->generation;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* the workers inherit the nodes found here */
    zone->ready = 1;

    if (zone->state_file.len) {
        /* a fresh zone: the state file tells what happened before */
        ngx_http_abtest_shm_restore(zone, shm_zone->shm.log);

        if (!ngx_test_config) {
            (void) ngx_http_abtest_shm_save(zone->amcf, shm_zone->shm.log);
        }
    }

    return NGX_OK;
}


/*
 * The state file's directory, made by the master (as nginx makes its temp
 * paths) and given to the workers' user; an existing one is left as it
 * is.  A directory the workers cannot write to is said at start and by
 * nginx -t: the file is replaced by a rename, which needs it.
 */

static void
ngx_http_abtest_state_dir(ngx_http_abtest_zone_t *zone, ngx_log_t *log)
{
    u_char            *dir, *slash;
    ngx_uid_t          uid;
    ngx_gid_t          gid;
    ngx_uint_t         bits;
    struct statvfs     fs;
    ngx_core_conf_t   *ccf;
    ngx_file_info_t    fi;

    dir = ngx_pnalloc(zone->pool, zone->state_file.len + 1);
    if (dir == NULL) {
        return;
    }

    ngx_memcpy(dir, zone->state_file.data, zone->state_file.len);
    dir[zone->state_file.len] = '\0';

    slash = (u_char *) strrchr((char *) dir, '/');
    if (slash == NULL || slash == dir) {
        return;
    }

    *slash = '\0';

    ccf = (ngx_core_conf_t *) ngx_get_conf(zone->cycle->conf_ctx,
                                           ngx_core_module);

    /* the workers' user: "user", where the master is root */
    uid = geteuid();
    gid = getegid();

    if (uid == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        uid = ccf->user;
        gid = ccf->group;
    }

    if (ngx_file_info(dir, &fi) == NGX_FILE_ERROR) {

        if (ngx_errno != NGX_ENOENT
            || ngx_create_dir(dir, 0700) == NGX_FILE_ERROR)
        {
            ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                          "abtest: the state file's directory \"%s\" "
                          "cannot be made: run-time changes will not be "
                          "saved", dir);
            return;
        }

        if (geteuid() == 0 && uid != 0 && chown((char *) dir, uid, gid) == -1)
        {
            ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                          "abtest: chown(\"%s\") failed", dir);
        }

        if (ngx_file_info(dir, &fi) == NGX_FILE_ERROR) {
            return;
        }
    }

    if (uid == fi.st_uid) {
        bits = fi.st_mode & (S_IWUSR|S_IXUSR);
        bits = (bits == (S_IWUSR|S_IXUSR));

    } else if (gid == fi.st_gid) {
        bits = fi.st_mode & (S_IWGRP|S_IXGRP);
        bits = (bits == (S_IWGRP|S_IXGRP));

    } else {
        bits = fi.st_mode & (S_IWOTH|S_IXOTH);
        bits = (bits == (S_IWOTH|S_IXOTH));
    }

    if (uid == 0) {
        bits = 1;
    }

    if (statvfs((char *) dir, &fs) == 0 && (fs.f_flag & ST_RDONLY)) {
        bits = 0;
    }

    if (!bits || !ngx_is_dir(&fi)) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "abtest: the state file's directory \"%s\" is not "
                      "writable by the workers (user \"%s\"): updates will "
                      "answer 500 and be lost on restart",
                      dir, ccf->username ? ccf->username : "(this one)");
    }
}


/* what the state file says replaces the configuration's start */

static void
ngx_http_abtest_shm_restore(ngx_http_abtest_zone_t *zone, ngx_log_t *log)
{
    u_char                           key[NGX_HTTP_ABTEST_KEY_LEN];
    ngx_int_t                        rc;
    ngx_uint_t                       i, n;
    ngx_http_abtest_node_t          *node;
    ngx_http_abtest_saved_t         *saved;
    ngx_http_abtest_main_conf_t     *amcf;
    ngx_http_abtest_saved_holdout_t  holdout;

    amcf = zone->amcf;
    n = amcf->experiments.nelts;

    saved = ngx_pcalloc(zone->pool, (n + 1) * sizeof(ngx_http_abtest_saved_t));
    if (saved == NULL) {
        return;
    }

    ngx_memzero(&holdout, sizeof(ngx_http_abtest_saved_holdout_t));

    rc = ngx_http_abtest_state_file_read(&zone->state_file,
                                         &amcf->experiments, saved, &holdout,
                                         key, log);

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (holdout.found && holdout.configured == amcf->holdout) {
        zone->sh->holdout = holdout.share;
    }

    /* the key draws were made with replaces the one the zone was made with */
    if (rc == NGX_OK) {
        ngx_memcpy(zone->sh->random_key, key, NGX_HTTP_ABTEST_KEY_LEN);
    }

    for (i = 0; i < n; i++) {
        if (!saved[i].found) {
            continue;
        }

        node = zone->nodes[i];
        node->state = saved[i].state;
        node->start = saved[i].start;
        node->end = saved[i].end;
    }

    zone->sh->version++;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Before any use of the zone by a process: a worker's configuration meets
 * the zone when the worker starts; nginx without a master process starts
 * no new workers on a reload, and the first use does it there.
 */

void
ngx_http_abtest_shm_ready(ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log)
{
    if (amcf->zone && !amcf->zone->ready) {
        ngx_http_abtest_shm_apply(amcf, log);
    }
}


/*
 * The first process of a newer generation brings the zone's experiments
 * and ring to its configuration; the others (and an older
 * configuration's) only find their nodes.
 */

static void
ngx_http_abtest_shm_apply(ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log)
{
    ngx_uint_t                     i, save;
    ngx_http_abtest_zone_t        *zone;
    ngx_http_abtest_shctx_t       *sh;
    ngx_http_abtest_experiment_t  *exp;

    zone = amcf->zone;
    sh = zone->sh;
    exp = amcf->experiments.elts;
    save = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (sh->applied < zone->generation) {
        sh->applied = zone->generation;
        sh->devices.max = zone->devices;

        if (ngx_http_abtest_reconcile_locked(amcf, log) == NGX_OK) {
            (void) ngx_http_abtest_ring_init_locked(&sh->ring, zone->shpool,
                                                zone->events,
                                                zone->shm_zone->shm.size,
                                                log);
            save = 1;
            goto done;
        }
    }

    for (i = 0; i < amcf->experiments.nelts; i++) {
        zone->nodes[i] = ngx_http_abtest_find_node(sh, &exp[i].name);
    }

done:

    sh->version++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    zone->ready = 1;

    if (save && zone->state_file.len) {
        (void) ngx_http_abtest_shm_save(amcf, log);
    }
}


/*
 * Under the lock.  First what can fail: a node for each experiment, so
 * that a zone too small changes nothing.  Then each node meets its
 * experiment, and the nodes no experiment took are retired.
 */

static ngx_int_t
ngx_http_abtest_reconcile_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log)
{
    ngx_uint_t                     i;
    ngx_http_abtest_experiment_t  *exp;

    if (ngx_http_abtest_take_nodes_locked(amcf, log) != NGX_OK) {
        return NGX_ERROR;
    }

    exp = amcf->experiments.elts;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        ngx_http_abtest_node_meet_locked(amcf->zone, &exp[i], log);
    }

    ngx_http_abtest_retire_locked(amcf, log);

    /* an edited abtest_holdout wins over a run-time change, as weights do */
    if (amcf->zone->sh->holdout_configured != amcf->holdout) {
        amcf->zone->sh->holdout = amcf->holdout;
        amcf->zone->sh->holdout_configured = amcf->holdout;
    }

    amcf->zone->sh->version++;

    return NGX_OK;
}


/*
 * A node for every experiment: its own, or else a retired one reused or a
 * new one ("fresh").  When the zone is too small, the new nodes are
 * freed and nothing changes.
 */

static ngx_int_t
ngx_http_abtest_take_nodes_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log)
{
    ngx_uint_t                     i, k, n;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_zone_t        *zone;
    ngx_http_abtest_experiment_t  *exp;

    zone = amcf->zone;
    exp = amcf->experiments.elts;
    n = amcf->experiments.nelts;

    for (i = 0; i < n; i++) {
        zone->nodes[i] = ngx_http_abtest_find_node(zone->sh, &exp[i].name);
        zone->fresh[i] = 0;
    }

    for (i = 0; i < n; i++) {
        if (zone->nodes[i]) {
            continue;
        }

        zone->fresh[i] = 1;
        zone->nodes[i] = ngx_http_abtest_retired_node(amcf);

        if (zone->nodes[i]) {
            continue;
        }

        node = ngx_http_abtest_node_alloc_locked(zone);

        if (node == NULL) {
            for (k = 0; k < i; k++) {
                if (zone->fresh[k] && zone->nodes[k]->name_len == 0) {
                    ngx_slab_free_locked(zone->shpool,
                                         zone->nodes[k]->counts);
                    ngx_slab_free_locked(zone->shpool, zone->nodes[k]);
                }
            }

            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "abtest: zone \"%V\" (%uz bytes) cannot hold %ui "
                          "experiments even with no events in it: give "
                          "abtest_zone a larger size and reload (the "
                          "experiments it could not take run from the "
                          "configuration, without run-time changes)",
                          &zone->shm_zone->shm.name, zone->shm_zone->shm.size,
                          n);
            return NGX_ERROR;
        }

        zone->nodes[i] = node;
    }

    return NGX_OK;
}


/*
 * A new node and its counters (sized for any number of groups).  The
 * experiments' records always win over events: the ring gives up its
 * oldest events until they fit, or is empty.
 */

static ngx_http_abtest_node_t *
ngx_http_abtest_node_alloc_locked(ngx_http_abtest_zone_t *zone)
{
    size_t                   size;
    ngx_uint_t               dropped;
    ngx_http_abtest_node_t  *node;

    size = ngx_http_abtest_counts_size(NGX_HTTP_ABTEST_GROUPS_MAX);
    dropped = 0;

    for ( ;; ) {
        node = ngx_slab_calloc_locked(zone->shpool,
                                      sizeof(ngx_http_abtest_node_t));
        if (node) {
            node->counts = ngx_slab_calloc_locked(zone->shpool, size);

            if (node->counts) {
                break;
            }

            ngx_slab_free_locked(zone->shpool, node);
            node = NULL;
        }

        if (ngx_http_abtest_ring_drop_locked(&zone->sh->ring, zone->shpool)
            != NGX_OK)
        {
            break;
        }

        dropped++;
    }

    if (dropped) {
        ngx_log_error(NGX_LOG_WARN, zone->shm_zone->shm.log, 0,
                      "abtest: zone \"%V\" was full, %ui events left the "
                      "ring to make room for an experiment (they are in "
                      "the events log, if there is one)",
                      &zone->shm_zone->shm.name, dropped);
    }

    return node;
}


/* an experiment and the node it took: what a reload keeps of it */

static void
ngx_http_abtest_node_meet_locked(ngx_http_abtest_zone_t *zone,
    ngx_http_abtest_experiment_t *exp, ngx_log_t *log)
{
    ngx_http_abtest_node_t  *node;

    node = zone->nodes[exp->index];

    if (zone->fresh[exp->index]) {
        /* a new node, or a retired one of another name */
        if (node->name_len == 0) {
            ngx_queue_insert_tail(&zone->sh->experiments, &node->queue);
        }

        ngx_memcpy(node->name, exp->name.data, exp->name.len);
        node->name_len = exp->name.len;

    } else if (node->retired) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "abtest: experiment \"%V\" is configured again, "
                      "it starts from the configuration", &exp->name);

    } else if (node->ngroups != exp->groups.nelts
               || node->groups_crc != exp->groups_crc)
    {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "abtest: experiment \"%V\" has new groups, its "
                      "run-time state starts again from the "
                      "configuration", &exp->name);

    } else if (!ngx_http_abtest_same_config(&node->configured,
                                            &exp->conf_state, node->ngroups))
    {
        /*
         * the configuration was edited: it wins over run-time changes,
         * and devices keep the groups earlier weights gave them
         */
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "abtest: experiment \"%V\" is configured anew, "
                      "its run-time state follows the configuration",
                      &exp->name);

        ngx_http_abtest_node_reconfigure(node, exp);
        return;

    } else {
        if (!ngx_http_abtest_node_same_names(node, exp)) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "abtest: experiment \"%V\" has a new exposure "
                          "or goal (or other events listed), its "
                          "statistics start again",
                          &exp->name);

            ngx_http_abtest_node_restart_stats(node, exp);
        }

        return;
    }

    /*
     * Workers of another configuration no longer take the node for
     * theirs (node_valid, under this lock), so its state, and the
     * counters (sized for any number of groups), start again.
     */

    node->retired = 0;
    ngx_http_abtest_node_from_conf(node, exp);
}


/*
 * Experiments no longer configured are retired, never freed: workers of
 * the previous configuration may still be running, and they read the
 * node (and find it retired).  A retired node is reused when the
 * experiment comes back, or for another one.
 */

static void
ngx_http_abtest_retire_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log)
{
    ngx_uint_t               i, n;
    ngx_queue_t             *q;
    ngx_http_abtest_node_t  *node;
    ngx_http_abtest_zone_t  *zone;

    zone = amcf->zone;
    n = amcf->experiments.nelts;

    for (q = ngx_queue_head(&zone->sh->experiments);
         q != ngx_queue_sentinel(&zone->sh->experiments);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_abtest_node_t, queue);

        for (i = 0; i < n; i++) {
            if (zone->nodes[i] == node) {
                break;
            }
        }

        if (i == n && !node->retired) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "abtest: experiment \"%*s\" is no longer "
                          "configured", node->name_len, node->name);

            node->retired = 1;

            /* its devices' records give their room back */
            ngx_http_abtest_devices_reset(&node->devices);
        }
    }
}


/* a retired node that no experiment of this configuration has taken */

static ngx_http_abtest_node_t *
ngx_http_abtest_retired_node(ngx_http_abtest_main_conf_t *amcf)
{
    ngx_uint_t               i;
    ngx_queue_t             *q;
    ngx_http_abtest_node_t  *node;
    ngx_http_abtest_zone_t  *zone;

    zone = amcf->zone;

    for (q = ngx_queue_head(&zone->sh->experiments);
         q != ngx_queue_sentinel(&zone->sh->experiments);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_abtest_node_t, queue);

        if (!node->retired) {
            continue;
        }

        for (i = 0; i < amcf->experiments.nelts; i++) {
            if (zone->nodes[i] == node) {
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
           && a->coverage == b->coverage
           && a->schedule_start == b->schedule_start
           && a->schedule_stop == b->schedule_stop
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


static void
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

    /* the store's row, if there is one, is applied again over it */
    node->store_version = 0;
    node->source = NGX_HTTP_ABTEST_SOURCE_CONFIGURATION;

    ngx_http_abtest_node_restart_stats(node, exp);
}


/* the results start afresh: a re-activation, a request, a new setup */

static void
ngx_http_abtest_node_restart_stats(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp)
{
    ngx_str_t   *names;
    ngx_uint_t   i;

    node->stats_start = ngx_http_abtest_now_ms();

    ngx_http_abtest_devices_reset(&node->devices);

    ngx_memcpy(node->names[NGX_HTTP_ABTEST_EXPOSURE], exp->exposure.data,
               exp->exposure.len);
    node->name_lens[NGX_HTTP_ABTEST_EXPOSURE] = (u_char) exp->exposure.len;

    ngx_memcpy(node->names[NGX_HTTP_ABTEST_GOAL], exp->goal.data,
               exp->goal.len);
    node->name_lens[NGX_HTTP_ABTEST_GOAL] = (u_char) exp->goal.len;

    node->nnames = 2;

    names = exp->events ? exp->events->elts : NULL;

    for (i = 0; exp->events && i < exp->events->nelts; i++) {
        ngx_memcpy(node->names[node->nnames], names[i].data, names[i].len);
        node->name_lens[node->nnames++] = (u_char) names[i].len;
    }

    if (node->counts) {
        ngx_memzero(node->counts, ngx_http_abtest_counts_size(node->ngroups));
    }
}


/* whether the node counts the names the experiment lists, in order */

static ngx_uint_t
ngx_http_abtest_node_same_names(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp)
{
    ngx_str_t   *names;
    ngx_uint_t   i, n;

    n = exp->events ? exp->events->nelts : 0;
    names = n ? exp->events->elts : NULL;

    if (node->nnames != 2 + n
        || node->name_lens[NGX_HTTP_ABTEST_EXPOSURE] != exp->exposure.len
        || ngx_memcmp(node->names[NGX_HTTP_ABTEST_EXPOSURE],
                      exp->exposure.data, exp->exposure.len) != 0
        || node->name_lens[NGX_HTTP_ABTEST_GOAL] != exp->goal.len
        || ngx_memcmp(node->names[NGX_HTTP_ABTEST_GOAL], exp->goal.data,
                      exp->goal.len) != 0)
    {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (node->name_lens[2 + i] != names[i].len
            || ngx_memcmp(node->names[2 + i], names[i].data, names[i].len)
               != 0)
        {
            return 0;
        }
    }

    return 1;
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
           && ngx_http_abtest_node_same_names(node, exp);
}


/*
 * The request path reads this process's copy, taken again only when the
 * zone's version moves: one load and compare per request.  A node that
 * is not this configuration's (retired, or with other groups, after a
 * reload while an old worker still runs) is not trusted: the
 * configuration is used instead.
 */

ngx_http_abtest_exp_state_t *
ngx_http_abtest_shm_state(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp)
{
    size_t                         len;
    ngx_uint_t                     i, n;
    ngx_http_abtest_zone_t        *zone;
    ngx_http_abtest_shm_copy_t    *copy;
    ngx_http_abtest_experiment_t  *all;

    zone = amcf->zone;

    if (zone == NULL) {
        return &exp->conf_state;
    }

    if (!zone->ready) {
        ngx_http_abtest_shm_apply(amcf, ngx_cycle->log);
    }

    copy = &ngx_http_abtest_shm_copy;

    if (copy->amcf == amcf && copy->version == zone->sh->version) {
        return &copy->states[exp->index];
    }

    n = amcf->experiments.nelts;

    if (copy->amcf != amcf) {
        /* a new configuration in this process */
        len = (n + 1) * sizeof(ngx_http_abtest_exp_state_t);

        copy->states = ngx_palloc(zone->pool, len);
        if (copy->states == NULL) {
            copy->amcf = NULL;
            return &exp->conf_state;
        }

        copy->amcf = amcf;
    }

    all = amcf->experiments.elts;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < n; i++) {
        copy->states[i] = ngx_http_abtest_node_valid(zone->nodes[i], &all[i])
                          ? zone->nodes[i]->state : all[i].conf_state;
    }

    copy->version = zone->sh->version;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return &copy->states[exp->index];
}


/* what the configuration says; no times it cannot know, no counts */

static void
ngx_http_abtest_snapshot_conf(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp)
{
    ngx_memzero(node, sizeof(ngx_http_abtest_node_t));
    ngx_http_abtest_node_from_conf(node, exp);
    node->start = -1;
    node->stats_start = -1;
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
    ngx_http_abtest_zone_t        *zone;
    ngx_http_abtest_experiment_t  *exp;

    exp = amcf->experiments.elts;
    zone = amcf->zone;

    if (zone == NULL) {
        for (i = 0; i < amcf->experiments.nelts; i++) {
            ngx_http_abtest_snapshot_conf(&nodes[i], &exp[i]);
            nodes[i].counts = counts ? counts[i] : NULL;
        }

        return;
    }

    ngx_http_abtest_shm_ready(amcf, ngx_cycle->log);

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        node = zone->nodes[i];

        if (ngx_http_abtest_node_valid(node, &exp[i])) {
            nodes[i] = *node;

            if (counts && node->counts) {
                ngx_memcpy(counts[i], node->counts,
                           ngx_http_abtest_counts_size(node->ngroups));
            }

        } else {
            ngx_http_abtest_snapshot_conf(&nodes[i], &exp[i]);
        }

        nodes[i].counts = counts ? counts[i] : NULL;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Applies a validated change to one experiment under the lock; the state
 * transition is checked there (ngx_http_abtest_change), against the
 * state of the moment.  Returns NGX_OK, or the HTTP status of a refusal
 * with "err" saying why.
 */

ngx_int_t
ngx_http_abtest_shm_update(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_update_t *up,
    ngx_http_abtest_node_t *result, const char **err)
{
    ngx_int_t                   rc;
    ngx_http_abtest_node_t     *node;
    ngx_http_abtest_zone_t     *zone;
    ngx_http_abtest_runtime_t   rt;

    zone = amcf->zone;

    ngx_http_abtest_shm_ready(amcf, ngx_cycle->log);

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = zone->nodes[exp->index];

    if (node == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        *err = "the zone has no room for this experiment, it runs from the "
               "configuration: give abtest_zone a larger size and reload";
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (!ngx_http_abtest_node_valid(node, exp)) {
        /* another configuration's workers, still running, own the node */
        ngx_shmtx_unlock(&zone->shpool->mutex);
        *err = "the experiment is being reconfigured, try again";
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_http_abtest_node_runtime(node, &rt);

    rc = ngx_http_abtest_change(exp, &rt, node->configured.rollout, up, err);

    if (rc == NGX_OK) {
        ngx_http_abtest_node_set_runtime_locked(node, exp, &rt);
        zone->sh->version++;
    }

    *result = *node;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/* the share of devices kept out of every experiment, now */

ngx_uint_t
ngx_http_abtest_shm_holdout(ngx_http_abtest_main_conf_t *amcf)
{
    /* one word, written under the lock: read without it */
    return amcf->zone ? amcf->zone->sh->holdout : amcf->holdout;
}


void
ngx_http_abtest_shm_set_holdout(ngx_http_abtest_main_conf_t *amcf,
    ngx_uint_t share)
{
    ngx_http_abtest_zone_t  *zone;

    zone = amcf->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zone->sh->holdout = share;
    zone->sh->version++;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * The schedule's transitions that are due at "now", made under the lock
 * by whichever process comes first: at "start" an inactive experiment
 * not started since becomes active, at "stop" an active one started
 * before it becomes inactive, as the seed's transitions go.  Each takes
 * the scheduled moment as its time, so that every server records the
 * same.  Returns the next moment a transition may be due, or -1.
 */

int64_t
ngx_http_abtest_shm_schedule(ngx_http_abtest_main_conf_t *amcf, int64_t now,
    ngx_log_t *log)
{
    int64_t                        next;
    ngx_uint_t                     i, changed;
    const char                    *err;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_zone_t        *zone;
    ngx_http_abtest_update_t       up;
    ngx_http_abtest_runtime_t      rt;
    ngx_http_abtest_exp_state_t   *st;
    ngx_http_abtest_experiment_t  *exp;

    zone = amcf->zone;
    exp = amcf->experiments.elts;
    next = -1;
    changed = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        node = zone->nodes[i];

        if (node == NULL || !ngx_http_abtest_node_valid(node, &exp[i])) {
            continue;
        }

        st = &node->state;

        ngx_memzero(&up, sizeof(ngx_http_abtest_update_t));

        if (st->schedule_start >= 0 && now >= st->schedule_start
            && (st->schedule_stop < 0 || now < st->schedule_stop)
            && st->state == NGX_HTTP_ABTEST_STATE_INACTIVE
            && node->start < st->schedule_start)
        {
            up.state = NGX_HTTP_ABTEST_STATE_ACTIVE;
            up.at = st->schedule_start;

        } else if (st->schedule_stop >= 0 && now >= st->schedule_stop
                   && st->state == NGX_HTTP_ABTEST_STATE_ACTIVE
                   && node->start < st->schedule_stop)
        {
            up.state = NGX_HTTP_ABTEST_STATE_INACTIVE;
            up.at = st->schedule_stop;
        }

        if (up.at) {
            up.has_state = 1;

            ngx_http_abtest_node_runtime(node, &rt);

            if (ngx_http_abtest_change(&exp[i], &rt, node->configured.rollout,
                                       &up, &err)
                == NGX_OK)
            {
                ngx_http_abtest_node_set_runtime_locked(node, &exp[i], &rt);
                changed = 1;

                ngx_log_error(NGX_LOG_NOTICE, log, 0,
                              "abtest: experiment \"%V\" %s as scheduled",
                              &exp[i].name,
                              (up.state == NGX_HTTP_ABTEST_STATE_ACTIVE)
                              ? "starts" : "stops");
            }
        }

        if (st->schedule_start > now
            && (next < 0 || st->schedule_start < next))
        {
            next = st->schedule_start;
        }

        if (st->schedule_stop > now
            && (next < 0 || st->schedule_stop < next))
        {
            next = st->schedule_stop;
        }
    }

    if (changed) {
        zone->sh->version++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (changed) {
        (void) ngx_http_abtest_shm_save(amcf, log);
    }

    return next;
}


/* a node's run-time record, as the store and the state file keep it */

void
ngx_http_abtest_node_runtime(ngx_http_abtest_node_t *node,
    ngx_http_abtest_runtime_t *rt)
{
    rt->state = node->state;
    rt->start = node->start;
    rt->end = node->end;
    rt->stats_start = node->stats_start;
}


/* a record from elsewhere; a new statistics start empties the counters */

void
ngx_http_abtest_node_set_runtime_locked(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_runtime_t *rt)
{
    node->state = rt->state;
    node->start = rt->start;
    node->end = rt->end;

    if (rt->stats_start != node->stats_start) {
        ngx_http_abtest_node_restart_stats(node, exp);
        node->stats_start = rt->stats_start;
    }
}


/*
 * Writes the state file.  One saver at a time across all processes; a
 * change made while a save is running sets "dirty", and the saver writes
 * again.  A saver that died is noticed by its pid.  The file is made
 * after the lock is released.
 */

ngx_int_t
ngx_http_abtest_shm_save(ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i, n, again;
    ngx_pool_t                      *pool;
    ngx_slab_pool_t                 *shpool;
    ngx_http_abtest_node_t          *nodes;
    ngx_http_abtest_zone_t          *zone;
    ngx_http_abtest_saved_t         *saved;
    ngx_http_abtest_shctx_t         *sh;
    ngx_http_abtest_saved_holdout_t  holdout;

    zone = amcf->zone;

    if (zone == NULL || zone->state_file.len == 0) {
        return NGX_OK;
    }

    sh = zone->sh;
    shpool = zone->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->saving && sh->saving != (ngx_uint_t) ngx_pid
        && kill((ngx_pid_t) sh->saving, 0) == 0)
    {
        sh->dirty = 1;
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_BUSY;
    }

    sh->saving = ngx_pid;

    ngx_shmtx_unlock(&shpool->mutex);

    n = amcf->experiments.nelts;

    do {
        ngx_shmtx_lock(&shpool->mutex);
        sh->dirty = 0;
        ngx_shmtx_unlock(&shpool->mutex);

        rc = NGX_ERROR;
        pool = ngx_create_pool(4096, log);

        if (pool) {
            nodes = ngx_palloc(pool, (n + 1) * sizeof(ngx_http_abtest_node_t));
            saved = ngx_palloc(pool, (n + 1) * sizeof(ngx_http_abtest_saved_t));

            if (nodes && saved) {
                ngx_http_abtest_shm_snapshot(amcf, nodes, NULL);

                for (i = 0; i < n; i++) {
                    saved[i].state = nodes[i].state;
                    saved[i].configured = nodes[i].configured;
                    saved[i].start = nodes[i].start;
                    saved[i].end = nodes[i].end;
                }

                holdout.share = sh->holdout;
                holdout.configured = sh->holdout_configured;

                rc = ngx_http_abtest_state_file_write(&zone->state_file,
                                                      &amcf->experiments,
                                                      saved, &holdout,
                                                      sh->random_key,
                                                      pool, log);
            }

            ngx_destroy_pool(pool);
        }

        ngx_shmtx_lock(&shpool->mutex);

        again = sh->dirty;

        if (!again) {
            sh->saving = 0;
        }

        ngx_shmtx_unlock(&shpool->mutex);

    } while (again);

    return rc;
}


/*
 * A worker starts: its configuration meets the zone, and with a store,
 * the store is given the zone's side of it (calls go zone -> store: the
 * store reaches the zone only through these).
 */

ngx_int_t
ngx_http_abtest_shm_init_process(ngx_cycle_t *cycle,
    ngx_http_abtest_main_conf_t *amcf)
{
    ngx_http_abtest_zone_t        *zone;
    ngx_http_abtest_store_zone_t   sz;

    zone = amcf->zone;

    if (zone == NULL) {
        return NGX_OK;
    }

    ngx_http_abtest_shm_ready(amcf, cycle->log);

    /* what this slot's previous process had buffered died with it */
    if (ngx_process_slot >= 0 && ngx_process_slot < NGX_MAX_PROCESSES) {
        zone->sh->counters.log_buffered[ngx_process_slot] = 0;
    }

    if (amcf->store == NULL) {
        return NGX_OK;
    }

    sz.sh = &zone->sh->store;
    sz.mutex = &zone->shpool->mutex;
    sz.generation = zone->generation;
    sz.record = ngx_http_abtest_store_record;
    sz.apply = ngx_http_abtest_store_apply;
    sz.forget = ngx_http_abtest_store_forget;
    sz.source = ngx_http_abtest_store_source;
    sz.applied = ngx_http_abtest_store_applied;
    sz.figures_clear_locked = ngx_http_abtest_figures_clear_locked;
    sz.figure_locked = ngx_http_abtest_figure_locked;

    return ngx_http_abtest_store_init_process(cycle, amcf, &sz);
}


/* the zone, the ring and the store's part, under the lock, for the status */

void
ngx_http_abtest_shm_status(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_shm_status_t *st)
{
    ngx_slab_pool_t         *shpool;
    ngx_http_abtest_zone_t  *zone;

    zone = amcf->zone;
    shpool = zone->shpool;

    st->name = zone->shm_zone->shm.name;
    st->size = zone->shm_zone->shm.size;
    st->state_file = zone->state_file;

    ngx_shmtx_lock(&shpool->mutex);

    st->used = (size_t) (shpool->end - shpool->start)
               - shpool->pfree * ngx_pagesize;
    st->first_id = zone->sh->ring.first_id;
    st->next_id = zone->sh->ring.next_id;
    st->nslots = zone->sh->ring.nslots;
    st->evicted = zone->sh->ring.evicted;
    st->version = zone->sh->version;
    st->devices = zone->sh->devices.n;
    st->devices_max = zone->sh->devices.max;
    st->store = zone->sh->store;

    ngx_shmtx_unlock(&shpool->mutex);
}


/* an experiment's record in the zone, to make the store's row from */

static void
ngx_http_abtest_store_record(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_runtime_t *rt)
{
    ngx_http_abtest_node_t  *node, conf;
    ngx_http_abtest_zone_t  *zone;

    zone = amcf->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = zone->nodes[exp->index];

    if (ngx_http_abtest_node_valid(node, exp)) {
        ngx_http_abtest_node_runtime(node, rt);
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* a zone without room for it: what its configuration says */
    ngx_memzero(&conf, sizeof(ngx_http_abtest_node_t));
    ngx_http_abtest_node_from_conf(&conf, exp);
    ngx_http_abtest_node_runtime(&conf, rt);
}


/*
 * A row of the store, read or just committed: applied when it is newer
 * than what the node has (the row's version), NGX_DECLINED otherwise.
 */

static ngx_int_t
ngx_http_abtest_store_apply(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_runtime_t *rt,
    int64_t version)
{
    ngx_int_t                rc;
    ngx_http_abtest_node_t  *node;
    ngx_http_abtest_zone_t  *zone;

    zone = amcf->zone;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = zone->nodes[exp->index];

    if (ngx_http_abtest_node_valid(node, exp)) {

        if (version > node->store_version) {
            ngx_http_abtest_node_set_runtime_locked(node, exp, rt);
            node->store_version = version;
            zone->sh->version++;
            rc = NGX_OK;
        }

        node->source = NGX_HTTP_ABTEST_SOURCE_STORE;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/*
 * The store holds lower versions than it gave (restored from a backup,
 * commits lost in a crash): the rows it has are applied whatever their
 * versions, as the ones it gives from now on.
 */

static void
ngx_http_abtest_store_forget(ngx_http_abtest_main_conf_t *amcf)
{
    ngx_uint_t                     i;
    ngx_http_abtest_zone_t        *zone;
    ngx_http_abtest_experiment_t  *exp;

    zone = amcf->zone;
    exp = amcf->experiments.elts;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        if (ngx_http_abtest_node_valid(zone->nodes[i], &exp[i])) {
            zone->nodes[i]->store_version = 0;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* the store has no row of the experiment's groups: where it runs from */

static void
ngx_http_abtest_store_source(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, ngx_uint_t source)
{
    ngx_http_abtest_node_t  *node;
    ngx_http_abtest_zone_t  *zone;

    zone = amcf->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = zone->nodes[exp->index];

    if (ngx_http_abtest_node_valid(node, exp)) {
        node->source = source;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* rows were applied: the state file is the local snapshot of the store */

static void
ngx_http_abtest_store_applied(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log)
{
    (void) ngx_http_abtest_shm_save(amcf, log);
}


/*
 * The fleet's figures are read anew: each experiment's start from zero,
 * of its current epoch (what the store holds of another is not taken).
 * Their memory is taken the first time, beside the node's: the ring
 * gives way, as for a node.
 */

static void
ngx_http_abtest_figures_clear_locked(ngx_http_abtest_main_conf_t *amcf)
{
    size_t                         size;
    ngx_uint_t                     i;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_zone_t        *zone;
    ngx_http_abtest_fleet_t       *fleet;
    ngx_http_abtest_experiment_t  *exp;

    zone = amcf->zone;
    exp = amcf->experiments.elts;
    size = ngx_http_abtest_counts_size(NGX_HTTP_ABTEST_GROUPS_MAX);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        node = zone->nodes[i];

        if (!ngx_http_abtest_node_valid(node, &exp[i])) {
            continue;
        }

        while (node->fleet == NULL) {
            fleet = ngx_slab_calloc_locked(zone->shpool,
                                           sizeof(ngx_http_abtest_fleet_t)
                                           + size);
            if (fleet) {
                fleet->counts = (uint64_t *) (fleet + 1);
                node->fleet = fleet;
                break;
            }

            if (ngx_http_abtest_ring_drop_locked(&zone->sh->ring,
                                                 zone->shpool)
                != NGX_OK)
            {
                break;
            }
        }

        fleet = node->fleet;

        if (fleet == NULL) {
            continue;
        }

        fleet->start = node->stats_start;
        ngx_memzero(&fleet->devices, sizeof(fleet->devices));
        ngx_memzero(fleet->counts, size);
    }
}


/* one figure of the store, if of the experiment's current epoch */

static void
ngx_http_abtest_figure_locked(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, int64_t start,
    ngx_http_abtest_figure_t *f)
{
    ngx_http_abtest_node_t   *node;
    ngx_http_abtest_fleet_t  *fleet;

    node = amcf->zone->nodes[exp->index];

    if (!ngx_http_abtest_node_valid(node, exp)
        || node->fleet == NULL
        || node->fleet->start != start)
    {
        return;
    }

    fleet = node->fleet;

    if (f->kind == NGX_HTTP_ABTEST_FIGURE_MULTIPLE) {
        fleet->devices.multiple += f->n;
        return;
    }

    if (f->group >= node->ngroups) {
        return;
    }

    if (f->kind == NGX_HTTP_ABTEST_FIGURE_DEVICES) {
        fleet->devices.exposed[f->group] += f->n;
        fleet->devices.converted[f->group] += f->m;
        return;
    }

    /* events: by name, as this server counts them */
    fleet->counts[f->group * (NGX_HTTP_ABTEST_EVENT_NAMES + 1)
                  + ngx_http_abtest_node_name(node, &f->name)] += f->n;
}


/*
 * The counter of an event name: the names the experiment lists have one
 * each; every other shares the last (other_events)
 */

ngx_uint_t
ngx_http_abtest_node_name(ngx_http_abtest_node_t *node, ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < node->nnames; i++) {
        if (node->name_lens[i] == name->len
            && ngx_memcmp(node->names[i], name->data, name->len) == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_ABTEST_EVENT_NAMES;
}


/*
 * The fleet's figures for the stats location, under the lock: into
 * fleet[i] (its counts given, zeroed), fleet[i].start -1 where there are
 * none; and what the store's part of the zone says of them.
 */

void
ngx_http_abtest_shm_fleet(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_fleet_t *fleet, ngx_http_abtest_store_sh_t *sh)
{
    uint64_t                      *counts;
    ngx_uint_t                     i;
    ngx_http_abtest_node_t        *node;
    ngx_http_abtest_zone_t        *zone;
    ngx_http_abtest_experiment_t  *exp;

    zone = amcf->zone;
    exp = amcf->experiments.elts;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        node = zone->nodes[i];
        counts = fleet[i].counts;

        if (ngx_http_abtest_node_valid(node, &exp[i]) && node->fleet) {
            fleet[i] = *node->fleet;
            fleet[i].counts = counts;
            ngx_memcpy(counts, node->fleet->counts,
                       ngx_http_abtest_counts_size(node->ngroups));

        } else {
            fleet[i].start = -1;
        }
    }

    *sh = zone->sh->store;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}
