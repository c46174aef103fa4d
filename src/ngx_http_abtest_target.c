
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * Who enters an experiment: "abtest $variable", the holdout, the
 * schedule, an experiment's target, its layer and its coverage.  Every
 * decision is a pure function of the request's variables, the time and
 * the device, each share by a hash of its own, so that the servers of a
 * fleet agree without asking each other.
 */


#include "ngx_http_abtest_target.h"
#include "ngx_http_abtest_experiment.h"
#include "ngx_http_abtest_hash.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_util.h"


static char *ngx_http_abtest_layer_member(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static ngx_int_t ngx_http_abtest_true(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_uint_t *yes);
static ngx_uint_t ngx_http_abtest_held_out(ngx_http_request_t *r,
    ngx_uint_t holdout, ngx_str_t *device_id, ngx_http_abtest_ctx_t *ctx);


/* indexed by NGX_HTTP_ABTEST_ENTERS, NGX_HTTP_ABTEST_OUT_* */
static ngx_str_t  ngx_http_abtest_reasons[] = {
    ngx_null_string,
    ngx_string("excluded"),
    ngx_string("schedule"),
    ngx_string("holdout"),
    ngx_string("target"),
    ngx_string("layer"),
    ngx_string("coverage"),
};


static ngx_str_t  ngx_http_abtest_salt_holdout = ngx_string("holdout");
static ngx_str_t  ngx_http_abtest_salt_layer = ngx_string("layer");
static ngx_str_t  ngx_http_abtest_salt_coverage = ngx_string("coverage");


ngx_str_t *
ngx_http_abtest_reason_name(ngx_uint_t reason)
{
    return &ngx_http_abtest_reasons[reason];
}


/* abtest on | off | $variable */

char *
ngx_http_abtest_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_loc_conf_t *alcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (alcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        alcf->enable = 1;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "off") == 0) {
        alcf->enable = 0;
        return NGX_CONF_OK;
    }

    if (value[1].len < 2 || value[1].data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\": use on, off or a "
                           "variable", &value[1]);
        return NGX_CONF_ERROR;
    }

    alcf->enable_value = ngx_palloc(cf->pool,
                                    sizeof(ngx_http_complex_value_t));
    if (alcf->enable_value == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = alcf->enable_value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    alcf->enable = 1;

    return NGX_CONF_OK;
}


/* abtest_holdout 5%; */

char *
ngx_http_abtest_holdout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_main_conf_t *amcf = conf;

    ngx_int_t   share;
    ngx_str_t  *value;

    if (amcf->holdout != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    share = ngx_http_abtest_parse_share(value[1].data, value[1].len, 0);

    if (share == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid holdout \"%V\": use a share from 0%% "
                           "to 100%% in steps of 0.01%%", &value[1]);
        return NGX_CONF_ERROR;
    }

    amcf->holdout = share;

    return NGX_CONF_OK;
}


/*
 * abtest_layer name { experiment share; ... }: the layer's devices are
 * split by "<device>:layer:<name>" into 10000 buckets, and each
 * experiment takes the next "share" of them, in the order listed; the
 * buckets left over enter none of them.
 */

char *
ngx_http_abtest_layer_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_main_conf_t *amcf = conf;

    char                     *rv;
    ngx_str_t                *value;
    ngx_uint_t                i;
    ngx_conf_t                save;
    ngx_http_abtest_layer_t  *layer;

    value = cf->args->elts;

    if (ngx_http_abtest_valid_name(&value[1], 0) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid layer name \"%V\": use 1 to %d "
                           "characters of [A-Za-z0-9_-]",
                           &value[1], NGX_HTTP_ABTEST_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    layer = amcf->layers.elts;

    for (i = 0; i < amcf->layers.nelts; i++) {
        if (layer[i].name.len == value[1].len
            && ngx_strncmp(layer[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate layer \"%V\", first declared in "
                               "%s:%ui", &value[1], layer[i].file,
                               layer[i].line);
            return NGX_CONF_ERROR;
        }
    }

    layer = ngx_array_push(&amcf->layers);
    if (layer == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(layer, sizeof(ngx_http_abtest_layer_t));

    if (ngx_array_init(&layer->members, cf->pool, 4,
                       sizeof(ngx_http_abtest_layer_member_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    layer->name = value[1];
    layer->file = cf->conf_file->file.name.data;
    layer->line = cf->conf_file->line;

    save = *cf;
    cf->handler = ngx_http_abtest_layer_member;
    cf->handler_conf = (char *) layer;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (layer->members.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "layer \"%V\" lists no experiment", &layer->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_abtest_layer_member(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    ngx_int_t                        share;
    ngx_str_t                       *value;
    ngx_uint_t                       i;
    ngx_http_abtest_layer_t         *layer;
    ngx_http_abtest_layer_member_t  *m;

    layer = (ngx_http_abtest_layer_t *) cf->handler_conf;
    value = cf->args->elts;

    if (cf->args->nelts != 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid line in layer \"%V\": use "
                           "\"<experiment> <share in percent>;\"",
                           &layer->name);
        return NGX_CONF_ERROR;
    }

    m = layer->members.elts;

    for (i = 0; i < layer->members.nelts; i++) {
        if (m[i].name.len == value[0].len
            && ngx_strncmp(m[i].name.data, value[0].data, value[0].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "experiment \"%V\" is listed twice in layer "
                               "\"%V\"", &value[0], &layer->name);
            return NGX_CONF_ERROR;
        }
    }

    share = ngx_http_abtest_parse_share(value[1].data, value[1].len, 1);

    if (share == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid share \"%V\" of experiment \"%V\" in "
                           "layer \"%V\": use a percentage from 0 to 100 in "
                           "steps of 0.01", &value[1], &value[0],
                           &layer->name);
        return NGX_CONF_ERROR;
    }

    if (layer->total + share > NGX_HTTP_ABTEST_SHARE_ALL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the shares of layer \"%V\" add up to more than "
                           "100%% with experiment \"%V\"", &layer->name,
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    m = ngx_array_push(&layer->members);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    m->name = value[0];
    m->share = share;
    m->line = cf->conf_file->line;

    layer->total += share;

    return NGX_CONF_OK;
}


/* target $var; coverage 20%; start <time>; stop <time>; in a block */

char *
ngx_http_abtest_target_setting(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value)
{
    int64_t                            t;
    ngx_int_t                          share;
    ngx_http_compile_complex_value_t   ccv;

    if (ngx_strcmp(value[0].data, "target") == 0) {
        if (exp->target) {
            return "is duplicate";
        }

        exp->target = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (exp->target == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[1];
        ccv.complex_value = exp->target;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[0].data, "coverage") == 0) {
        if (exp->conf_state.coverage != NGX_CONF_UNSET_UINT) {
            return "is duplicate";
        }

        share = ngx_http_abtest_parse_share(value[1].data, value[1].len, 0);

        if (share == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid coverage \"%V\" in experiment "
                               "\"%V\": use a share from 0%% to 100%% in "
                               "steps of 0.01%%", &value[1], &exp->name);
            return NGX_CONF_ERROR;
        }

        exp->conf_state.coverage = share;

        return NGX_CONF_OK;
    }

    /* start, stop */

    t = ngx_http_abtest_parse_iso_time(value[1].data, value[1].len);

    if (t == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %V time \"%V\" in experiment \"%V\": "
                           "use UTC, as in 2026-12-24T00:00:00Z",
                           &value[0], &value[1], &exp->name);
        return NGX_CONF_ERROR;
    }

    if (value[0].data[2] == 'a') {
        if (exp->conf_state.schedule_start != -1) {
            return "is duplicate";
        }

        exp->conf_state.schedule_start = t;

    } else {
        if (exp->conf_state.schedule_stop != -1) {
            return "is duplicate";
        }

        exp->conf_state.schedule_stop = t;
    }

    if (exp->conf_state.schedule_start != -1
        && exp->conf_state.schedule_stop != -1
        && exp->conf_state.schedule_stop <= exp->conf_state.schedule_start)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "experiment \"%V\" stops before it starts",
                           &exp->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Once every experiment is known: the layers' experiments and their
 * shares of the layer.
 */

ngx_int_t
ngx_http_abtest_target_init(ngx_conf_t *cf, ngx_http_abtest_main_conf_t *amcf)
{
    ngx_uint_t                       i, k, from;
    ngx_http_abtest_layer_t         *layer;
    ngx_http_abtest_experiment_t    *exp;
    ngx_http_abtest_layer_member_t  *m;

    if (amcf->holdout == NGX_CONF_UNSET_UINT) {
        amcf->holdout = 0;
    }

    layer = amcf->layers.elts;

    for (i = 0; i < amcf->layers.nelts; i++) {
        m = layer[i].members.elts;
        from = 0;

        for (k = 0; k < layer[i].members.nelts; k++) {
            exp = ngx_http_abtest_find_experiment(amcf, m[k].name.data,
                                                  m[k].name.len, 0);
            if (exp == NULL) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "unknown experiment \"%V\" in layer \"%V\" "
                              "in %s:%ui", &m[k].name, &layer[i].name,
                              layer[i].file, m[k].line);
                return NGX_ERROR;
            }

            if (exp->layer) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "experiment \"%V\" is in layer \"%V\" and in "
                              "layer \"%V\" in %s:%ui: an experiment "
                              "belongs to one layer at most", &m[k].name,
                              &exp->layer->name, &layer[i].name,
                              layer[i].file, m[k].line);
                return NGX_ERROR;
            }

            exp->layer = &layer[i];
            exp->layer_from = from;
            exp->layer_to = from + m[k].share;

            from = exp->layer_to;
        }
    }

    return NGX_OK;
}


/* where "abtest $variable" says no for this request */

ngx_uint_t
ngx_http_abtest_excluded(ngx_http_request_t *r)
{
    ngx_uint_t                   yes;
    ngx_http_abtest_loc_conf_t  *alcf;

    r = r->main;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    if (alcf->enable_value == NULL) {
        return 0;
    }

    if (ngx_http_abtest_true(r, alcf->enable_value, &yes) != NGX_OK) {
        /* the variable failed: nobody enters on an unknown answer */
        return 1;
    }

    return !yes;
}


/*
 * Whether the device enters the experiment: NGX_HTTP_ABTEST_ENTERS, or
 * why not.  "ctx" is the request's own device context, or NULL.  Only
 * what is configured costs anything: a variable's value, or a digest.
 */

ngx_uint_t
ngx_http_abtest_enters(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_exp_state_t *state,
    ngx_str_t *device_id, ngx_http_abtest_ctx_t *ctx)
{
    int64_t                       now;
    ngx_int_t                     bucket;
    ngx_uint_t                    holdout, yes;
    ngx_http_abtest_main_conf_t  *amcf;

    if (ctx ? ctx->excluded : ngx_http_abtest_excluded(r)) {
        return NGX_HTTP_ABTEST_OUT_EXCLUDED;
    }

    if (state->schedule_start >= 0 || state->schedule_stop >= 0) {
        now = ngx_http_abtest_now_ms();

        if (now < state->schedule_start
            || (state->schedule_stop >= 0 && now >= state->schedule_stop))
        {
            return NGX_HTTP_ABTEST_OUT_SCHEDULE;
        }
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    holdout = ngx_http_abtest_shm_holdout(amcf);

    if (holdout && ngx_http_abtest_held_out(r, holdout, device_id, ctx)) {
        return NGX_HTTP_ABTEST_OUT_HOLDOUT;
    }

    if (exp->target) {
        if (ngx_http_abtest_true(r->main, exp->target, &yes) != NGX_OK
            || !yes)
        {
            return NGX_HTTP_ABTEST_OUT_TARGET;
        }
    }

    if (exp->layer) {
        bucket = ngx_http_abtest_hash_share(device_id,
                                            &ngx_http_abtest_salt_layer,
                                            &exp->layer->name);

        if (bucket < (ngx_int_t) exp->layer_from
            || bucket >= (ngx_int_t) exp->layer_to)
        {
            return NGX_HTTP_ABTEST_OUT_LAYER;
        }
    }

    if (state->coverage < NGX_HTTP_ABTEST_SHARE_ALL) {
        bucket = ngx_http_abtest_hash_share(device_id, &exp->name,
                                            &ngx_http_abtest_salt_coverage);

        /* buckets below the coverage enter: raising it only adds devices */
        if (bucket < 0 || bucket >= (ngx_int_t) state->coverage) {
            return NGX_HTTP_ABTEST_OUT_COVERAGE;
        }
    }

    return NGX_HTTP_ABTEST_ENTERS;
}


static ngx_uint_t
ngx_http_abtest_held_out(ngx_http_request_t *r, ngx_uint_t holdout,
    ngx_str_t *device_id, ngx_http_abtest_ctx_t *ctx)
{
    ngx_int_t   bucket;
    ngx_uint_t  held;

    /* one digest per request, whatever the number of experiments */
    if (ctx && ctx->holdout) {
        return ctx->holdout == 1;
    }

    bucket = ngx_http_abtest_hash_share(device_id,
                                        &ngx_http_abtest_salt_holdout, NULL);

    held = (bucket < 0 || bucket < (ngx_int_t) holdout);

    if (ctx) {
        ctx->holdout = held ? 1 : 2;
    }

    return held;
}


/* a variable's answer: yes where it is neither empty nor "0" */

static ngx_int_t
ngx_http_abtest_true(ngx_http_request_t *r, ngx_http_complex_value_t *cv,
    ngx_uint_t *yes)
{
    ngx_str_t  value;

    if (ngx_http_complex_value(r, cv, &value) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "abtest: a targeting variable could not be "
                      "evaluated, the device enters no experiment");
        return NGX_ERROR;
    }

    *yes = !(value.len == 0 || (value.len == 1 && value.data[0] == '0'));

    return NGX_OK;
}
