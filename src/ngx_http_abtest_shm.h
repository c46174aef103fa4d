
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_SHM_H_INCLUDED_
#define _NGX_HTTP_ABTEST_SHM_H_INCLUDED_


#include "ngx_http_abtest_module.h"
#include "ngx_http_abtest_experiment.h"
#include "ngx_http_abtest_devices.h"
#include "ngx_http_abtest_ring.h"
#include "ngx_http_abtest_stats.h"
#include "ngx_http_abtest_store.h"


/*
 * abtest_store: an experiment's figures fleet-wide, as the listener read
 * them from the store (events and devices of every server)
 */
typedef struct {
    int64_t                    start;        /* their epoch, -1: none */
    ngx_http_abtest_device_counts_t  devices;
    uint64_t                  *counts;       /* events, as the node's */
} ngx_http_abtest_fleet_t;


/* an experiment's run-time record in the shared zone */
typedef struct {
    ngx_queue_t                queue;
    u_char                     name[NGX_HTTP_ABTEST_NAME_MAX];
    size_t                     name_len;

    /* the set of group names, to notice a reload that changes it */
    ngx_uint_t                 ngroups;
    uint32_t                   groups_crc;

    /* no longer configured; kept for the previous configuration's workers */
    ngx_uint_t                 retired;

    /* the configuration it was last started from */
    ngx_http_abtest_exp_state_t  configured;
    ngx_http_abtest_exp_state_t  state;

    int64_t                    start;        /* ms since the epoch, or -1 */
    int64_t                    end;

    /* statistics since stats_start: counters by ngx_http_abtest_count() */
    int64_t                    stats_start;
    ngx_uint_t                 nnames;
    u_char                     names[NGX_HTTP_ABTEST_EVENT_NAMES]
                                    [NGX_HTTP_ABTEST_NAME_MAX];
    u_char                     name_lens[NGX_HTTP_ABTEST_EVENT_NAMES];
    uint64_t                  *counts;       /* in the zone, or NULL */

    /* the same on devices (abtest_zone devices=N) */
    ngx_http_abtest_device_counts_t  devices;

    /* abtest_store: the version of its row applied, where it came from */
    int64_t                    store_version;
    ngx_uint_t                 source;       /* NGX_HTTP_ABTEST_SOURCE_* */

    /* abtest_store: the fleet's figures, or NULL without a store */
    ngx_http_abtest_fleet_t   *fleet;
} ngx_http_abtest_node_t;


/*
 * The events locations' answers and the events log, server-wide, for the
 * metrics: atomic counters, so that nobody takes the zone's lock for
 * them.  Each process publishes its log's buffered bytes in the slot of
 * its process (ngx_process_slot), which the next process in that slot
 * clears: a killed worker's lines are gone with it.
 */

#define NGX_HTTP_ABTEST_ANSWERS  11        /* 10 statuses, then others */

typedef struct {
    ngx_atomic_t               answers[NGX_HTTP_ABTEST_ANSWERS];
    ngx_atomic_t               accepted;     /* events in 200 answers */
    ngx_atomic_t               log_errors;   /* failed writes of the log */
    ngx_atomic_t               log_buffered[NGX_MAX_PROCESSES];
} ngx_http_abtest_counters_t;


/* the zone's own record */
typedef struct {
    ngx_queue_t                experiments;  /* ngx_http_abtest_node_t */
    ngx_atomic_t               version;      /* bumped by every change */

    /* configurations given to the zone, and the newest applied to it */
    ngx_uint_t                 generations;
    ngx_uint_t                 applied;

    /* state file: one saver at a time, "dirty" asks it for another pass */
    ngx_uint_t                 saving;
    ngx_uint_t                 dirty;

    ngx_http_abtest_ring_t     ring;

    /* devices=N: a record per device and experiment counted */
    ngx_http_abtest_devices_t  devices;

    /* abtest_holdout: the run-time share, and the configuration's */
    ngx_uint_t                 holdout;
    ngx_uint_t                 holdout_configured;

    /* "assign random" draws, the same in every worker and after reloads */
    u_char                     random_key[NGX_HTTP_ABTEST_KEY_LEN];

    /* abtest_store: this server's listener, and what it read */
    ngx_http_abtest_store_sh_t  store;

    ngx_http_abtest_counters_t  counters;
} ngx_http_abtest_shctx_t;


/* what the status says of the zone */
typedef struct {
    ngx_str_t                  name;
    size_t                     size;
    size_t                     used;         /* whole pages */
    ngx_str_t                  state_file;

    uint64_t                   first_id;     /* the ring's */
    uint64_t                   next_id;
    ngx_uint_t                 nslots;
    uint64_t                   evicted;

    ngx_atomic_uint_t          version;      /* the zone's, of the states */

    ngx_uint_t                 devices;      /* records in the table */
    ngx_uint_t                 devices_max;

    ngx_http_abtest_store_sh_t  store;
} ngx_http_abtest_shm_status_t;


/* abtest_zone, as a configuration sees it */
struct ngx_http_abtest_zone_s {
    ngx_shm_zone_t            *shm_zone;
    ngx_slab_pool_t           *shpool;
    ngx_http_abtest_shctx_t   *sh;
    ngx_http_abtest_main_conf_t  *amcf;
    ngx_cycle_t               *cycle;        /* the configuration's */
    ngx_pool_t                *pool;

    ngx_str_t                  state_file;
    ngx_uint_t                 events;       /* events=N, the ring's size */
    ngx_uint_t                 devices;      /* devices=N, the table's */

    /* this configuration's nodes, per experiment */
    ngx_http_abtest_node_t   **nodes;
    ngx_uint_t                *fresh;        /* reconcile's */
    ngx_uint_t                 generation;
    ngx_uint_t                 ready;        /* this process found nodes */
};




char *ngx_http_abtest_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_abtest_shm_prepare(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf);
void ngx_http_abtest_shm_ready(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log);
ngx_int_t ngx_http_abtest_shm_init_process(ngx_cycle_t *cycle,
    ngx_http_abtest_main_conf_t *amcf);
void ngx_http_abtest_shm_status(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_shm_status_t *st);
ngx_http_abtest_exp_state_t *ngx_http_abtest_shm_state(
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_experiment_t *exp);
ngx_uint_t ngx_http_abtest_shm_holdout(ngx_http_abtest_main_conf_t *amcf);
void ngx_http_abtest_shm_set_holdout(ngx_http_abtest_main_conf_t *amcf,
    ngx_uint_t share);
int64_t ngx_http_abtest_shm_schedule(ngx_http_abtest_main_conf_t *amcf,
    int64_t now, ngx_log_t *log);
void ngx_http_abtest_shm_fleet(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_fleet_t *fleet, ngx_http_abtest_store_sh_t *sh);
void ngx_http_abtest_shm_snapshot(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_node_t *nodes, uint64_t **counts);
ngx_uint_t ngx_http_abtest_node_name(ngx_http_abtest_node_t *node,
    ngx_str_t *name);
ngx_uint_t ngx_http_abtest_node_valid(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp);
ngx_int_t ngx_http_abtest_shm_update(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_update_t *up,
    ngx_http_abtest_node_t *result, const char **err);
ngx_int_t ngx_http_abtest_shm_save(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log);
void ngx_http_abtest_node_runtime(ngx_http_abtest_node_t *node,
    ngx_http_abtest_runtime_t *rt);
void ngx_http_abtest_node_set_runtime_locked(ngx_http_abtest_node_t *node,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_runtime_t *rt);


#endif /* _NGX_HTTP_ABTEST_SHM_H_INCLUDED_ */
