
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The module definition: directives, configuration and set-up.  The work
 * is done in src/, one file per concern.
 */


#include "ngx_http_abtest_module.h"
#include "ngx_http_abtest_admin.h"
#include "ngx_http_abtest_api.h"
#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_cookie.h"
#include "ngx_http_abtest_event_log.h"
#include "ngx_http_abtest_experiment.h"
#include "ngx_http_abtest_filter.h"
#include "ngx_http_abtest_hash.h"
#include "ngx_http_abtest_http.h"
#include "ngx_http_abtest_schedule.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_store.h"
#include "ngx_http_abtest_target.h"
#include "ngx_http_abtest_variables.h"


static ngx_int_t ngx_http_abtest_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_abtest_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_abtest_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_abtest_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_abtest_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_abtest_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_abtest_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_abtest_init_process(ngx_cycle_t *cycle);
static void ngx_http_abtest_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_abtest_commands[] = {

    { ngx_string("abtest"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_abtest_enable,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_holdout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_abtest_holdout,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_layer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_abtest_layer_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_abtest_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_abtest_store,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_abtest_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_events_log"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_abtest_events_log,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_abtest_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_force"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_abtest_loc_conf_t, force),
      NULL },

    { ngx_string("abtest_experiment"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_abtest_experiment_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_use"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_abtest_use,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_cookie_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_abtest_loc_conf_t, cookie_name),
      &ngx_http_abtest_cookie_name_post },

    { ngx_string("abtest_cookie_domain"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_abtest_loc_conf_t, cookie_domain),
      &ngx_http_abtest_cookie_attr_post },

    { ngx_string("abtest_cookie_path"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_abtest_loc_conf_t, cookie_path),
      &ngx_http_abtest_cookie_attr_post },

    { ngx_string("abtest_cookie_expires"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_abtest_cookie_expires,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("abtest_cookie_flags"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF
                        |NGX_CONF_TAKE123,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_abtest_loc_conf_t, cookie_flags),
      ngx_http_abtest_cookie_flags },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_abtest_module_ctx = {
    ngx_http_abtest_preconfiguration,      /* preconfiguration */
    ngx_http_abtest_postconfiguration,     /* postconfiguration */

    ngx_http_abtest_create_main_conf,      /* create main configuration */
    ngx_http_abtest_init_main_conf,        /* init main configuration */

    ngx_http_abtest_create_srv_conf,       /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_abtest_create_loc_conf,       /* create location configuration */
    ngx_http_abtest_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_abtest_module = {
    NGX_MODULE_V1,
    &ngx_http_abtest_module_ctx,           /* module context */
    ngx_http_abtest_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_abtest_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_abtest_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_abtest_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_abtest_add_variables(cf);
}


static ngx_int_t
ngx_http_abtest_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_abtest_loc_conf_t   *alcf;
    ngx_http_abtest_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_abtest_module);
    alcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_abtest_module);

    if (ngx_http_abtest_cookie_check(cf, amcf, alcf) != NGX_OK
        || ngx_http_abtest_api_check(cf, amcf) != NGX_OK
        || ngx_http_abtest_store_check(cf, amcf) != NGX_OK
        || ngx_http_abtest_http_keep_names(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_abtest_filter_init(cf);
}


static void *
ngx_http_abtest_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_abtest_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_abtest_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->zone = NULL;
     *     amcf->random_key = NULL;
     *     amcf->store = NULL;
     *     amcf->zone_user = { 0, NULL };
     *     amcf->zone_user_file = NULL;
     */

    amcf->event_log = NGX_CONF_UNSET_PTR;
    amcf->holdout = NGX_CONF_UNSET_UINT;

    if (ngx_array_init(&amcf->experiments, cf->pool, 4,
                       sizeof(ngx_http_abtest_experiment_t))
        != NGX_OK
        || ngx_array_init(&amcf->layers, cf->pool, 1,
                          sizeof(ngx_http_abtest_layer_t))
           != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


static char *
ngx_http_abtest_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_abtest_main_conf_t *amcf = conf;

    if (amcf->event_log == NGX_CONF_UNSET_PTR) {
        amcf->event_log = NULL;
    }

    amcf->node = amcf->store ? amcf->store->node : cf->cycle->hostname;

    if (ngx_http_abtest_target_init(cf, amcf) != NGX_OK
        || (amcf->experiments.nelts
            && ngx_http_abtest_hash_init_conf(cf, amcf) != NGX_OK)
        || ngx_http_abtest_add_group_variables(cf, amcf) != NGX_OK
        || ngx_http_abtest_shm_prepare(cf, amcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_abtest_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_abtest_srv_conf_t  *ascf;

    ascf = ngx_pcalloc(cf->pool, sizeof(ngx_http_abtest_srv_conf_t));
    if (ascf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ascf->names = { NULL, 0, ... };
     */

    return ascf;
}


static void *
ngx_http_abtest_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_abtest_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_abtest_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->use_name = { 0, NULL };
     *     conf->use_file = NULL;
     *     conf->use_line = 0;
     *     conf->cookie_name = { 0, NULL };
     *     conf->cookie_domain = { 0, NULL };
     *     conf->cookie_path = { 0, NULL };
     *     conf->cookie_flags = 0;
     *     conf->cookie_attrs = { 0, NULL };
     *     conf->admin_experiments = { 0, NULL };
     *     conf->admin_stats = { 0, NULL };
     *     conf->body_max_name = NULL;
     *     conf->enable_value = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->force = NGX_CONF_UNSET;
    conf->api = NGX_CONF_UNSET_UINT;
    conf->api_write = NGX_CONF_UNSET;
    conf->api_trusted = NGX_CONF_UNSET;
    conf->use = NGX_CONF_UNSET;
    conf->cookie_expires = NGX_CONF_UNSET;
    conf->body_max = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_abtest_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_abtest_loc_conf_t *prev = parent;
    ngx_http_abtest_loc_conf_t *conf = child;

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable_value = prev->enable_value;
    }

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->force, prev->force, 0);
    ngx_conf_merge_uint_value(conf->api, prev->api, NGX_HTTP_ABTEST_API_NONE);
    ngx_conf_merge_value(conf->api_write, prev->api_write, 0);
    ngx_conf_merge_value(conf->api_trusted, prev->api_trusted, 0);

    if (ngx_http_abtest_variables_merge(cf, prev, conf) != NGX_CONF_OK
        || ngx_http_abtest_cookie_merge(cf, prev, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_abtest_api_merge(cf, prev, conf);
    ngx_http_abtest_admin_merge(cf, prev, conf);

    return NGX_CONF_OK;
}


/* per-process state, set up once a worker starts */

static ngx_int_t
ngx_http_abtest_init_process(ngx_cycle_t *cycle)
{
    ngx_http_abtest_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_abtest_module);

    if (amcf == NULL) {
        return NGX_OK;
    }

    ngx_http_abtest_assign_init_process();

    if (ngx_http_abtest_hash_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a reloaded configuration meets the zone, and the store */
    if (ngx_http_abtest_shm_init_process(cycle, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_abtest_schedule_init_process(cycle, amcf);

    return NGX_OK;
}


static void
ngx_http_abtest_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_abtest_store_exit_process(cycle);
    ngx_http_abtest_hash_exit_process();
}
