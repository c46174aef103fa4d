
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * What every file shares: the limits, an experiment as configured, the
 * main and location configurations and the request context.  Each
 * concern's own layouts are in its own header.
 */


#ifndef _NGX_HTTP_ABTEST_MODULE_H_INCLUDED_
#define _NGX_HTTP_ABTEST_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_ABTEST_VERSION          "0.9.0"


/* limits shared by configuration, cookies and the JSON API */
#define NGX_HTTP_ABTEST_NAME_MAX         64
#define NGX_HTTP_ABTEST_DEVICE_ID_MAX    64
#define NGX_HTTP_ABTEST_UUID_LEN         36
#define NGX_HTTP_ABTEST_GROUPS_MAX       64
#define NGX_HTTP_ABTEST_WEIGHT_TOTAL_MAX 2147483648ULL    /* 2^31 */

/* the key of "assign random" draws: HMAC-SHA-256 */
#define NGX_HTTP_ABTEST_KEY_LEN          32

/* previous weight settings a group cookie is checked against */
#define NGX_HTTP_ABTEST_HISTORY          8

#define NGX_HTTP_ABTEST_STATE_ACTIVE     0
#define NGX_HTTP_ABTEST_STATE_INACTIVE   1
#define NGX_HTTP_ABTEST_STATE_ROLLOUT    2

#define NGX_HTTP_ABTEST_ASSIGN_HASH      0
#define NGX_HTTP_ABTEST_ASSIGN_RANDOM    1

#define NGX_HTTP_ABTEST_NO_GROUP         ((ngx_uint_t) -1)

/* shares of devices (coverage, layers, the holdout) in 0.01% steps */
#define NGX_HTTP_ABTEST_SHARE_ALL        10000


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

    /* who enters (ngx_http_abtest_target.h): a share of the eligible
       devices, and when, in ms since the epoch (-1: no bound) */
    ngx_uint_t                 coverage;     /* of SHARE_ALL */
    int64_t                    schedule_start;
    int64_t                    schedule_stop;

    /* earlier weights, newest first: what a group cookie may be from */
    ngx_uint_t                 nhistory;
    uint32_t                   history[NGX_HTTP_ABTEST_HISTORY]
                                      [NGX_HTTP_ABTEST_GROUPS_MAX];
} ngx_http_abtest_exp_state_t;


/* abtest_layer: experiments that share no device (ngx_http_abtest_target.c) */
typedef struct ngx_http_abtest_layer_s  ngx_http_abtest_layer_t;


/*
 * An experiment as configured.  Groups are kept sorted by the byte order
 * of their names, the order in which the seed's rule walks them.
 */
typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  title;
    ngx_array_t                groups;       /* ngx_http_abtest_group_t */
    uint32_t                   groups_crc;   /* of their names */

    /* the names joined by ",", NUL-terminated: the store's "groups" */
    ngx_str_t                  generation;
    ngx_http_abtest_exp_state_t  conf_state;

    ngx_uint_t                 fallback;     /* index into groups */
    ngx_uint_t                 assign;

    /* target: enters only where the value is neither empty nor "0" */
    ngx_http_complex_value_t  *target;

    /* abtest_layer: its layer, or NULL, and its share of the layer's
       buckets, [layer_from, layer_to) of SHARE_ALL */
    ngx_http_abtest_layer_t   *layer;
    ngx_uint_t                 layer_from;
    ngx_uint_t                 layer_to;

    ngx_str_t                  cookie;       /* group cookie, or empty */
    ngx_uint_t                 index;        /* in declaration order */

    /* the event names statistics count as exposure and as conversion */
    ngx_str_t                  exposure;
    ngx_str_t                  goal;

    /* the other names counted each ("events"), or NULL */
    ngx_array_t               *events;       /* ngx_str_t */

    /* how the statistics compare the groups (stats_math.h) */
    ngx_uint_t                 sequential;   /* the sequential figures */
    ngx_uint_t                 sequential_tuning;    /* N* */
    double                     mde;          /* relative, for sample_size */
    double                     alpha;

    /* where it was declared, for messages about it at postconfiguration */
    u_char                    *file;
    ngx_uint_t                 line;

    /* names given in the block, resolved once the groups are known */
    ngx_str_t                  fallback_name;
    ngx_str_t                  rollout_name;
} ngx_http_abtest_experiment_t;


/*
 * abtest_zone (ngx_http_abtest_shm.h), abtest_events_log (event_log.h),
 * abtest_store (store.h)
 */
typedef struct ngx_http_abtest_zone_s        ngx_http_abtest_zone_t;
typedef struct ngx_http_abtest_event_log_s   ngx_http_abtest_event_log_t;
typedef struct ngx_http_abtest_store_conf_s  ngx_http_abtest_store_conf_t;


typedef struct {
    ngx_array_t                experiments;  /* ngx_http_abtest_experiment_t */

    /* abtest_zone: run-time state shared by all workers, or NULL */
    ngx_http_abtest_zone_t    *zone;

    /* abtest_layer blocks: ngx_http_abtest_layer_t */
    ngx_array_t                layers;

    /* abtest_holdout: the share of devices kept out of every experiment,
       of SHARE_ALL, as configured (the zone keeps the run-time one) */
    ngx_uint_t                 holdout;

    /* the key of "assign random" draws: the zone's, else this config's */
    u_char                    *random_key;

    /* abtest_events_log: the durable JSON-lines log of accepted events */
    ngx_http_abtest_event_log_t  *event_log;

    /* abtest_store: the fleet's shared run-time state, or NULL */
    ngx_http_abtest_store_conf_t  *store;

    /* this server's name in the fleet: abtest_store's node=, else the
       host name; with an event's id it names the event fleet-wide */
    ngx_str_t                  node;

    /* an abtest_api that needs a zone, to check there is one */
    ngx_str_t                  zone_user;
    ngx_uint_t                 zone_user_write;
    u_char                    *zone_user_file;
    ngx_uint_t                 zone_user_line;
} ngx_http_abtest_main_conf_t;


typedef struct {
    /* server_name, kept past configuration (nginx's own copy is not) */
    ngx_array_t                names;        /* ngx_http_server_name_t */
} ngx_http_abtest_srv_conf_t;


typedef struct {
    ngx_flag_t                 enable;
    /* "abtest $variable": on where the value is neither empty nor "0" */
    ngx_http_complex_value_t  *enable_value;
    ngx_flag_t                 force;        /* abtest_force */

    ngx_uint_t                 api;          /* abtest_api, a content handler */
    ngx_flag_t                 api_write;
    ngx_flag_t                 api_trusted;  /* events of other devices */

    /*
     * API locations that take bodies bound them themselves, so that every
     * refusal is JSON: events at client_max_body_size, updates at
     * client_body_buffer_size ("body_max_name"); 0: no body taken
     */
    off_t                      body_max;
    char                      *body_max_name;

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
    /* per experiment: why the device is not in it, or 0 (target.h) */
    u_char                    *reason;

    /* "experiment:group,..." from ?abtest_force= or its cookie */
    ngx_str_t                  force;
    unsigned                   force_arg:1;  /* came as an argument */

    unsigned                   new_device:1;
    unsigned                   cookies_sent:1;
    /* "abtest $variable" says no for this request: no experiment, and
       no device cookie issued */
    unsigned                   excluded:1;
    /* the holdout bucket: 0 not known yet, 1 held out, 2 not */
    unsigned                   holdout:2;
} ngx_http_abtest_ctx_t;


extern ngx_module_t  ngx_http_abtest_module;


#endif /* _NGX_HTTP_ABTEST_MODULE_H_INCLUDED_ */
