
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_MODULE_H_INCLUDED_
#define _NGX_HTTP_ABTEST_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>


/* limits shared by configuration, cookies and the JSON API */
#define NGX_HTTP_ABTEST_NAME_MAX         64
#define NGX_HTTP_ABTEST_DEVICE_ID_MAX    64
#define NGX_HTTP_ABTEST_UUID_LEN         36
#define NGX_HTTP_ABTEST_GROUPS_MAX       64
#define NGX_HTTP_ABTEST_WEIGHT_TOTAL_MAX 2147483648ULL    /* 2^31 */

/* previous weight settings a group cookie is checked against */
#define NGX_HTTP_ABTEST_HISTORY          8

/* per-worker cache of recent devices' digests (returning devices) */
#define NGX_HTTP_ABTEST_DIGEST_CACHE     1024
#define NGX_HTTP_ABTEST_DIGEST_CACHED    64       /* first experiments */

/* device ids are drawn from a per-worker buffer of random bytes */
#define NGX_HTTP_ABTEST_RAND_BUF         1024

/* event names counted per experiment, exposure and goal included */
#define NGX_HTTP_ABTEST_EVENT_NAMES      32
#define NGX_HTTP_ABTEST_EXPOSURE         0        /* name index */
#define NGX_HTTP_ABTEST_GOAL             1

#define NGX_HTTP_ABTEST_STATE_ACTIVE     0
#define NGX_HTTP_ABTEST_STATE_INACTIVE   1
#define NGX_HTTP_ABTEST_STATE_ROLLOUT    2

#define NGX_HTTP_ABTEST_ASSIGN_HASH      0
#define NGX_HTTP_ABTEST_ASSIGN_RANDOM    1

#define NGX_HTTP_ABTEST_COOKIE_OFF       0x0001
#define NGX_HTTP_ABTEST_COOKIE_SECURE    0x0002
#define NGX_HTTP_ABTEST_COOKIE_HTTPONLY  0x0004
#define NGX_HTTP_ABTEST_COOKIE_SS_STRICT 0x0008
#define NGX_HTTP_ABTEST_COOKIE_SS_LAX    0x0010
#define NGX_HTTP_ABTEST_COOKIE_SS_NONE   0x0020

#define NGX_HTTP_ABTEST_EXPIRES_OFF      0
#define NGX_HTTP_ABTEST_EXPIRES_MAX      0x7fffffff

#define NGX_HTTP_ABTEST_NO_GROUP         ((ngx_uint_t) -1)


typedef struct {
    ngx_str_t                  name;
    ngx_uint_t                 weight;       /* as configured */
} ngx_http_abtest_group_t;


/*
 * What decides assignment and may change at run time: fixed size, so that
 * the same struct lives in configuration and in the shared zone.
 */
typedef struct {
    ngx_uint_t                 state;
    ngx_uint_t                 rollout;      /* group index or NO_GROUP */
    uint64_t                   total;        /* sum of the weights */
    uint32_t                   weights[NGX_HTTP_ABTEST_GROUPS_MAX];

    /* earlier weights, newest first: what a group cookie may be from */
    ngx_uint_t                 nhistory;
    uint32_t                   history[NGX_HTTP_ABTEST_HISTORY]
                                      [NGX_HTTP_ABTEST_GROUPS_MAX];
} ngx_http_abtest_exp_state_t;


typedef struct ngx_http_abtest_event_log_s  ngx_http_abtest_event_log_t;


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

    /*
     * Statistics since stats_start: per group, a counter per event name
     * (names[0] is the exposure, names[1] the goal, the others as they
     * come) and one for the names that found no place.
     */
    int64_t                    stats_start;
    ngx_uint_t                 nnames;
    u_char                     names[NGX_HTTP_ABTEST_EVENT_NAMES]
                                    [NGX_HTTP_ABTEST_NAME_MAX];
    u_char                     name_lens[NGX_HTTP_ABTEST_EVENT_NAMES];
    uint64_t                  *counts;       /* in the zone, or NULL */
} ngx_http_abtest_node_t;


#define ngx_http_abtest_count(node, group, name)                             \
    (node)->counts[(group) * (NGX_HTTP_ABTEST_EVENT_NAMES + 1) + (name)]

#define ngx_http_abtest_counts_size(ngroups)                                 \
    ((ngroups) * (NGX_HTTP_ABTEST_EVENT_NAMES + 1) * sizeof(uint64_t))


/* an event in the ring: its JSON text, "{"id":N,...}" */
typedef struct {
    u_char                    *data;
    size_t                     len;
} ngx_http_abtest_slot_t;


typedef struct {
    ngx_queue_t                experiments;  /* ngx_http_abtest_node_t */
    ngx_atomic_t               version;      /* bumped by every change */

    /* configurations given to the zone, and the newest applied to it */
    ngx_uint_t                 generations;
    ngx_uint_t                 applied;

    /* state file: one saver at a time, "dirty" asks it for another pass */
    ngx_uint_t                 saving;
    ngx_uint_t                 dirty;

    /*
     * The events ring: the events with ids first_id .. next_id - 1, the
     * event with id N in slot N % nslots.
     */
    ngx_http_abtest_slot_t    *slots;
    ngx_uint_t                 nslots;
    uint64_t                   first_id;
    uint64_t                   next_id;
    uint64_t                   evicted;      /* early, for lack of memory */
} ngx_http_abtest_shctx_t;


/*
 * An experiment as configured.  Groups are kept sorted by the byte order
 * of their names, the order in which the seed's rule walks them.
 */
typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  title;
    ngx_array_t                groups;       /* ngx_http_abtest_group_t */
    uint32_t                   groups_crc;   /* of their names */
    ngx_http_abtest_exp_state_t  conf_state;

    ngx_uint_t                 fallback;     /* index into groups */
    ngx_uint_t                 assign;

    ngx_str_t                  cookie;       /* group cookie, or empty */
    ngx_uint_t                 index;        /* in declaration order */

    /* the event names statistics count as exposure and as conversion */
    ngx_str_t                  exposure;
    ngx_str_t                  goal;

    /* where it was declared, for messages about it at postconfiguration */
    u_char                    *file;
    ngx_uint_t                 line;

    /* names given in the block, resolved once the groups are known */
    ngx_str_t                  fallback_name;
    ngx_str_t                  rollout_name;
} ngx_http_abtest_experiment_t;


typedef struct {
    u_char                     id[NGX_HTTP_ABTEST_DEVICE_ID_MAX];
    size_t                     len;
    uint64_t                   have;         /* a bit per experiment */
    u_char                    *digests;      /* 32 bytes per experiment */
} ngx_http_abtest_digest_entry_t;


typedef struct {
    ngx_array_t                experiments;  /* ngx_http_abtest_experiment_t */

    /* per-process SHA-256 handles: fetched once, not on every request */
    const EVP_MD              *sha256;
    EVP_MD_CTX                *md_ctx;
    ngx_http_abtest_digest_entry_t  *digest_cache;

    /* per-worker random bytes for device ids, refilled in bulk */
    u_char                     rand_buf[NGX_HTTP_ABTEST_RAND_BUF];
    size_t                     rand_pos;

    /* abtest_zone: run-time state shared by all workers */
    ngx_shm_zone_t            *shm_zone;
    ngx_http_abtest_shctx_t   *sh;
    ngx_slab_pool_t           *shpool;
    ngx_str_t                  state_file;
    ngx_http_abtest_node_t   **nodes;        /* per experiment */
    ngx_uint_t                *fresh;        /* per experiment, reconcile's */
    ngx_uint_t                 generation;   /* of this configuration */
    ngx_uint_t                 ready;        /* this process found nodes */
    ngx_uint_t                 events;       /* events=N, the ring's size */

    /* abtest_events_log: the durable JSON-lines log of accepted events */
    ngx_http_abtest_event_log_t  *event_log;

    /* this process's copy of the states, taken when "version" moves */
    ngx_http_abtest_exp_state_t  *cache;
    ngx_atomic_uint_t          cache_version;

    /* an abtest_api that needs a zone, to check there is one */
    ngx_str_t                  zone_user;
    ngx_uint_t                 zone_user_write;
    u_char                    *zone_user_file;
    ngx_uint_t                 zone_user_line;
} ngx_http_abtest_main_conf_t;


typedef struct {
    ngx_flag_t                 enable;
    ngx_flag_t                 force;        /* abtest_force */

    ngx_uint_t                 api;          /* abtest_api, a content handler */
    ngx_flag_t                 api_write;

    /* an events location enforces client_max_body_size itself */
    off_t                      events_body_max;

    /* abtest_admin: where the page finds the API */
    ngx_str_t                  admin_experiments;
    ngx_str_t                  admin_stats;

    ngx_int_t                  use;          /* experiment index */
    ngx_str_t                  use_name;
    u_char                    *use_file;
    ngx_uint_t                 use_line;

    ngx_str_t                  cookie_name;
    ngx_str_t                  cookie_domain;
    ngx_str_t                  cookie_path;
    time_t                     cookie_expires;
    ngx_uint_t                 cookie_flags;

    /* "; Max-Age=N" and "; Domain=...; Path=...; Secure..." from merge */
    ngx_str_t                  cookie_max_age;
    ngx_str_t                  cookie_attrs;
} ngx_http_abtest_loc_conf_t;


/*
 * Per-request state, shared by the variables and the header filter and
 * kept on the main request across internal redirects.
 */
typedef struct {
    ngx_str_t                  device_id;
    u_char                     uuid[NGX_HTTP_ABTEST_UUID_LEN];

    /* per experiment: the group the device gets now, or NO_GROUP */
    ngx_uint_t                *group;
    /* per experiment: the group the hash rule gives, or NO_GROUP */
    ngx_uint_t                *assigned;

    /* "experiment:group,..." from ?abtest_force= or its cookie */
    ngx_str_t                  force;
    unsigned                   force_arg:1;  /* came as an argument */

    unsigned                   new_device:1;
    unsigned                   cookies_sent:1;
} ngx_http_abtest_ctx_t;


extern ngx_module_t  ngx_http_abtest_module;


#endif /* _NGX_HTTP_ABTEST_MODULE_H_INCLUDED_ */
