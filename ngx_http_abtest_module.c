
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The module definition: directives, configuration and set-up.  The work
 * is done in src/, one file per concern.
 */


#include "ngx_http_abtest_module.h"
#include "ngx_http_abtest_directive.h"
#include "ngx_http_abtest_hash.h"
#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_cookie.h"
#include "ngx_http_abtest_variables.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_api.h"
#include "ngx_http_abtest_event_log.h"
#include "ngx_http_abtest_admin.h"


static ngx_int_t ngx_http_abtest_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_abtest_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_abtest_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_abtest_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_abtest_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_abtest_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_abtest_init_process(ngx_cycle_t *cycle);


static ngx_conf_bitmask_t  ngx_http_abtest_cookie_flags[] = {
    { ngx_string("off"), NGX_HTTP_ABTEST_COOKIE_OFF },
    { ngx_string("secure"), NGX_HTTP_ABTEST_COOKIE_SECURE },
    { ngx_string("httponly"), NGX_HTTP_ABTEST_COOKIE_HTTPONLY },
    { ngx_string("samesite=strict"), NGX_HTTP_ABTEST_COOKIE_SS_STRICT },
    { ngx_string("samesite=lax"), NGX_HTTP_ABTEST_COOKIE_SS_LAX },
    { ngx_string("samesite=none"), NGX_HTTP_ABTEST_COOKIE_SS_NONE },
    { ngx_null_string, 0 }
};


static ngx_conf_post_handler_pt  ngx_http_abtest_cookie_name_post =
    ngx_http_abtest_cookie_name_check;
static ngx_conf_post_handler_pt  ngx_http_abtest_cookie_attr_post =
    ngx_http_abtest_cookie_attr_check;


static ngx_command_t  ngx_http_abtest_commands[] = {

    { ngx_string("abtest"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_abtest_loc_conf_t, enable),
      NULL },

    { ngx_string("abtest_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_abtest_zone,
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
      &ngx_http_abtest_cookie_flags },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_abtest_module_ctx = {
    ngx_http_abtest_preconfiguration,      /* preconfiguration */
    ngx_http_abtest_postconfiguration,     /* postconfiguration */

    ngx_http_abtest_create_main_conf,      /* create main configuration */
    ngx_http_abtest_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
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
    NULL,                                  /* exit process */
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

    if (ngx_http_abtest_check_experiments(cf, amcf, alcf) != NGX_OK
        || ngx_http_abtest_api_check(cf, amcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_abtest_cookie_init(cf);
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
     *     amcf->sha256 = NULL;
     *     amcf->md_ctx = NULL;
     *     amcf->shm_zone = NULL;
     *     amcf->sh = NULL;
     *     amcf->state_file = { 0, NULL };
     *     amcf->zone_user_file = NULL;
     */

    amcf->event_log = NGX_CONF_UNSET_PTR;

    if (ngx_array_init(&amcf->experiments, cf->pool, 4,
                       sizeof(ngx_http_abtest_experiment_t))
        != NGX_OK)
    {
        return NULL;
    }

    ngx_http_abtest_init_random(amcf);

    return amcf;
}


static char *
ngx_http_abtest_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_abtest_main_conf_t *amcf = conf;

    if (amcf->event_log == NGX_CONF_UNSET_PTR) {
        amcf->event_log = NULL;
    }

    if (ngx_http_abtest_hash_init(cf, amcf) != NGX_OK
        || ngx_http_abtest_shm_prepare(cf, amcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
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
     */

    conf->enable = NGX_CONF_UNSET;
    conf->force = NGX_CONF_UNSET;
    conf->api = NGX_CONF_UNSET_UINT;
    conf->api_write = NGX_CONF_UNSET;
    conf->use = NGX_CONF_UNSET;
    conf->cookie_expires = NGX_CONF_UNSET;
    conf->events_body_max = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_abtest_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_abtest_loc_conf_t *prev = parent;
    ngx_http_abtest_loc_conf_t *conf = child;

    ngx_uint_t                    samesite;
    ngx_http_abtest_main_conf_t  *amcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->force, prev->force, 0);
    ngx_conf_merge_uint_value(conf->api, prev->api, NGX_HTTP_ABTEST_API_NONE);
    ngx_conf_merge_value(conf->api_write, prev->api_write, 0);

    if (conf->use_name.data == NULL) {
        conf->use_name = prev->use_name;
        conf->use_file = prev->use_file;
        conf->use_line = prev->use_line;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_abtest_module);

    if (ngx_http_abtest_resolve_use(cf, amcf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_str_value(conf->cookie_name, prev->cookie_name,
                             "device_id");
    ngx_conf_merge_str_value(conf->cookie_domain, prev->cookie_domain,
                             "none");
    ngx_conf_merge_str_value(conf->cookie_path, prev->cookie_path, "/");
    ngx_conf_merge_sec_value(conf->cookie_expires, prev->cookie_expires,
                             365 * 24 * 60 * 60);
    ngx_conf_merge_bitmask_value(conf->cookie_flags, prev->cookie_flags,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_ABTEST_COOKIE_OFF));

    if (conf->cookie_domain.len == sizeof("none") - 1
        && ngx_strncmp(conf->cookie_domain.data, "none", 4) == 0)
    {
        ngx_str_null(&conf->cookie_domain);
    }

    if ((conf->cookie_flags & NGX_HTTP_ABTEST_COOKIE_OFF)
        && (conf->cookie_flags & ~(NGX_CONF_BITMASK_SET
                                   |NGX_HTTP_ABTEST_COOKIE_OFF)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"abtest_cookie_flags off\" cannot be combined "
                           "with other flags");
        return NGX_CONF_ERROR;
    }

    samesite = conf->cookie_flags & (NGX_HTTP_ABTEST_COOKIE_SS_STRICT
                                     |NGX_HTTP_ABTEST_COOKIE_SS_LAX
                                     |NGX_HTTP_ABTEST_COOKIE_SS_NONE);

    /* more than one bit set */
    if (samesite & (samesite - 1)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"abtest_cookie_flags\" takes one samesite= "
                           "value only");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_abtest_cookie_attrs(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_abtest_api_merge(cf, prev, conf);
    ngx_http_abtest_admin_merge(cf, prev, conf);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_abtest_init_process(ngx_cycle_t *cycle)
{
    ngx_http_abtest_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_abtest_module);

    if (amcf) {
        ngx_http_abtest_init_random(amcf);

        /* a reloaded configuration meets the zone */
        ngx_http_abtest_shm_ready(amcf, cycle->log);
    }

    return NGX_OK;
}
