
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#ifndef _NGX_HTTP_ABTEST_STORE_H_INCLUDED_
#define _NGX_HTTP_ABTEST_STORE_H_INCLUDED_


#include "ngx_http_abtest_module.h"
#include "ngx_http_abtest_experiment.h"


#define NGX_HTTP_ABTEST_STORE_ERROR_LEN  256

/* where an experiment's run-time record comes from */
#define NGX_HTTP_ABTEST_SOURCE_CONFIGURATION  0
#define NGX_HTTP_ABTEST_SOURCE_STORE          1
#define NGX_HTTP_ABTEST_SOURCE_MISMATCH       2


/* the fleet's servers whose events the store's figures name */
#define NGX_HTTP_ABTEST_FLEET_NODES   32

/* the kinds of the store's figures (sql/abtest-results.sql) */
#define NGX_HTTP_ABTEST_FIGURE_DEVICES   0   /* n exposed, m converted */
#define NGX_HTTP_ABTEST_FIGURE_EVENTS    1   /* n events of the name */
#define NGX_HTTP_ABTEST_FIGURE_MULTIPLE  2   /* n devices in several groups */


/* abtest_store, as a configuration has it */
struct ngx_http_abtest_store_conf_s {
    ngx_str_t                  conninfo;     /* host names resolved */
    ngx_str_t                  node;
    ngx_msec_t                 timeout;
    ngx_msec_t                 poll;

    /* for messages: never the password */
    ngx_str_t                  target;       /* "host:port/dbname" */
    u_char                    *file;
    ngx_uint_t                 line;
};


/* the store's part of the shared zone: one listener per server */
typedef struct {
    ngx_atomic_t               listener;     /* its pid, or 0 */
    ngx_uint_t                 generation;   /* of its configuration */
    ngx_atomic_t               connected;    /* the listener's connection */
    ngx_atomic_t               ready;        /* caught up: writes taken */
    int64_t                    version;      /* the highest version read */
    int64_t                    applied;      /* ms, when it last read */
    int64_t                    holdout;      /* its row's version applied */
    u_char                     error[NGX_HTTP_ABTEST_STORE_ERROR_LEN];

    /* the fleet's figures (events and devices): when they were read */
    int64_t                    figures_at;   /* ms, 0: never */
    ngx_uint_t                 figures_stale;
    u_char                     figures_error[NGX_HTTP_ABTEST_STORE_ERROR_LEN];

    /* the servers that sent events, each with its newest (received ms) */
    ngx_uint_t                 nnodes;
    struct {
        u_char                 name[NGX_HTTP_ABTEST_NAME_MAX];
        size_t                 len;
        int64_t                newest;
    }                          nodes[NGX_HTTP_ABTEST_FLEET_NODES];
} ngx_http_abtest_store_sh_t;


/* one of the store's figures of an experiment's statistics epoch */
typedef struct {
    ngx_uint_t                 kind;         /* NGX_HTTP_ABTEST_FIGURE_* */
    ngx_uint_t                 group;        /* index, or NO_GROUP */
    ngx_str_t                  name;         /* an event's */
    uint64_t                   n;
    uint64_t                   m;
} ngx_http_abtest_figure_t;


/*
 * What the store needs of the zone, given by the zone when a worker
 * starts: calls go zone -> store, the store reaches back only by these.
 */
typedef struct {
    ngx_http_abtest_store_sh_t  *sh;
    ngx_shmtx_t                 *mutex;
    ngx_uint_t                   generation;  /* this configuration's */

    /* an experiment's record, to make its row from */
    void       (*record)(ngx_http_abtest_main_conf_t *amcf,
                         ngx_http_abtest_experiment_t *exp,
                         ngx_http_abtest_runtime_t *rt);

    /* a row read or committed: NGX_OK if it was newer, and applied */
    ngx_int_t  (*apply)(ngx_http_abtest_main_conf_t *amcf,
                        ngx_http_abtest_experiment_t *exp,
                        ngx_http_abtest_runtime_t *rt, int64_t version);

    /* the store went back (a restore): every row applies again */
    void       (*forget)(ngx_http_abtest_main_conf_t *amcf);

    /* no row of the experiment's groups: SOURCE_CONFIGURATION, MISMATCH */
    void       (*source)(ngx_http_abtest_main_conf_t *amcf,
                         ngx_http_abtest_experiment_t *exp,
                         ngx_uint_t source);

    /*
     * the run-time holdout (of NGX_HTTP_ABTEST_SHARE_ALL): the zone's, to
     * make the store's row from, and a row's, set under the zone's lock
     */
    ngx_uint_t (*holdout)(ngx_http_abtest_main_conf_t *amcf);
    void       (*holdout_locked)(ngx_http_abtest_main_conf_t *amcf,
                                 ngx_uint_t holdout);

    /* rows were applied: the local snapshot (the state file) */
    void       (*applied)(ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log);

    /*
     * the fleet's figures, under the zone's lock: every experiment's are
     * cleared, then given a figure at a time, of the epoch "start"
     */
    void       (*figures_clear_locked)(ngx_http_abtest_main_conf_t *amcf);
    void       (*figure_locked)(ngx_http_abtest_main_conf_t *amcf,
                                ngx_http_abtest_experiment_t *exp,
                                int64_t start, ngx_http_abtest_figure_t *f);
} ngx_http_abtest_store_zone_t;


/* an update's outcome: the record committed, or a refusal ("rt" NULL) */
typedef void (*ngx_http_abtest_store_done_pt)(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_runtime_t *rt,
    ngx_int_t status, const char *err);


/* a holdout's update: committed (and applied), or refused with "err" */
typedef void (*ngx_http_abtest_store_holdout_pt)(ngx_http_request_t *r,
    ngx_uint_t holdout, ngx_int_t status, const char *err);


char *ngx_http_abtest_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_abtest_store_check(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf);
ngx_int_t ngx_http_abtest_store_init_process(ngx_cycle_t *cycle,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_store_zone_t *zone);
void ngx_http_abtest_store_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_abtest_store_update(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_update_t *up,
    ngx_http_abtest_store_done_pt done, const char **err);
ngx_int_t ngx_http_abtest_store_holdout(ngx_http_request_t *r,
    ngx_uint_t holdout, ngx_http_abtest_store_holdout_pt done,
    const char **err);


#endif /* _NGX_HTTP_ABTEST_STORE_H_INCLUDED_ */
