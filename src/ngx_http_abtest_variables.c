
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The variables ($ab_device_id, $ab_new_device, $ab_group, $ab_groups,
 * $ab_group_<experiment>) and abtest_use, which picks $ab_group's
 * experiment.
 */


#include "ngx_http_abtest_variables.h"
#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_experiment.h"


static ngx_http_abtest_ctx_t *ngx_http_abtest_variable_ctx(
    ngx_http_request_t *r, ngx_http_variable_value_t *v);
static ngx_int_t ngx_http_abtest_device_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_abtest_new_device_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_abtest_group_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_abtest_group_prefix_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_abtest_group_index_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_abtest_groups_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_abtest_group_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_http_abtest_experiment_t *exp);


static ngx_http_variable_t  ngx_http_abtest_vars[] = {

    { ngx_string("ab_device_id"), NULL,
      ngx_http_abtest_device_id_variable, 0, 0, 0 },

    { ngx_string("ab_new_device"), NULL,
      ngx_http_abtest_new_device_variable, 0, 0, 0 },

    { ngx_string("ab_group"), NULL,
      ngx_http_abtest_group_variable, 0, 0, 0 },

    { ngx_string("ab_groups"), NULL,
      ngx_http_abtest_groups_variable, 0, 0, 0 },

    { ngx_string("ab_group_"), NULL,
      ngx_http_abtest_group_prefix_variable, 0, NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_abtest_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_abtest_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * $ab_group_<experiment> of each declared experiment as a variable of its
 * own, which knows its experiment's index: nginx resolves it before the
 * prefix variable, so a request looks no name up.  One already defined
 * (a map, say) is left as it is, as it took precedence over the prefix.
 * A name too long for variables_hash_bucket_size is left to the prefix
 * variable, which answers it the same: it would make nginx refuse the
 * configuration.
 */

ngx_int_t
ngx_http_abtest_add_group_variables(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf)
{
    u_char                        *p;
    ngx_str_t                      name;
    ngx_uint_t                     i;
    ngx_http_variable_t           *var;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_abtest_experiment_t  *exp;

    exp = amcf->experiments.elts;
    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        name.len = sizeof("ab_group_") - 1 + exp[i].name.len;

        /* as ngx_hash_init() measures an element (NGX_HASH_ELT_SIZE) */
        if (2 * sizeof(void *) + ngx_align(name.len + 2, sizeof(void *))
            > cmcf->variables_hash_bucket_size)
        {
            continue;
        }
        name.data = ngx_pnalloc(cf->pool, name.len);
        if (name.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(name.data, "ab_group_", sizeof("ab_group_") - 1);
        ngx_memcpy(p, exp[i].name.data, exp[i].name.len);

        var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_CHANGEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }

        if (var->get_handler == NULL) {
            var->get_handler = ngx_http_abtest_group_index_variable;
            var->data = i;
        }
    }

    return NGX_OK;
}


char *
ngx_http_abtest_use(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_loc_conf_t *alcf = conf;

    ngx_str_t  *value;

    if (alcf->use_name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    alcf->use_name = value[1];
    alcf->use_file = cf->conf_file->file.name.data;
    alcf->use_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * From the location's merge: experiments may be declared after the
 * server blocks that use them, so the name is resolved once the http
 * block is parsed.
 */

char *
ngx_http_abtest_variables_merge(ngx_conf_t *cf,
    ngx_http_abtest_loc_conf_t *prev, ngx_http_abtest_loc_conf_t *alcf)
{
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    if (alcf->use_name.data == NULL) {
        alcf->use_name = prev->use_name;
        alcf->use_file = prev->use_file;
        alcf->use_line = prev->use_line;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_abtest_module);

    if (alcf->use_name.data == NULL) {
        alcf->use = amcf->experiments.nelts ? 0 : NGX_CONF_UNSET;
        return NGX_CONF_OK;
    }

    exp = ngx_http_abtest_find_experiment(amcf, alcf->use_name.data,
                                          alcf->use_name.len, 0);
    if (exp == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "unknown experiment \"%V\" in \"abtest_use\" in %s:%ui",
                      &alcf->use_name, alcf->use_file, alcf->use_line);
        return NGX_CONF_ERROR;
    }

    alcf->use = exp->index;

    return NGX_CONF_OK;
}


/*
 * Like the userid variables: empty where "abtest" is off for the main
 * request's location, else the main request's context.
 */

static ngx_http_abtest_ctx_t *
ngx_http_abtest_variable_ctx(ngx_http_request_t *r,
    ngx_http_variable_value_t *v)
{
    ngx_http_abtest_loc_conf_t  *alcf;

    v->not_found = 0;

    alcf = ngx_http_get_module_loc_conf(r->main, ngx_http_abtest_module);

    if (!alcf->enable) {
        v->not_found = 1;
        return NULL;
    }

    return ngx_http_abtest_get_ctx(r);
}


static ngx_int_t
ngx_http_abtest_device_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_abtest_ctx_t  *ctx;

    ctx = ngx_http_abtest_variable_ctx(r, v);
    if (ctx == NULL) {
        return v->not_found ? NGX_OK : NGX_ERROR;
    }

    v->len = ctx->device_id.len;
    v->data = ctx->device_id.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_abtest_new_device_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_abtest_ctx_t  *ctx;

    ctx = ngx_http_abtest_variable_ctx(r, v);
    if (ctx == NULL) {
        return v->not_found ? NGX_OK : NGX_ERROR;
    }

    v->len = ctx->new_device ? 1 : 0;
    v->data = (u_char *) "1";
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * The group of "exp" for the request's device; an experiment there is
 * none of (NULL) is not found.
 */

static ngx_int_t
ngx_http_abtest_group_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_http_abtest_experiment_t *exp)
{
    ngx_uint_t                group;
    ngx_http_abtest_ctx_t    *ctx;
    ngx_http_abtest_group_t  *groups;

    ctx = ngx_http_abtest_variable_ctx(r, v);
    if (ctx == NULL) {
        return v->not_found ? NGX_OK : NGX_ERROR;
    }

    if (exp == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    group = ngx_http_abtest_get_group(r, ctx, exp);
    groups = exp->groups.elts;

    v->len = groups[group].name.len;
    v->data = groups[group].name.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* the experiment chosen by abtest_use, by default the first declared */

static ngx_int_t
ngx_http_abtest_group_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_abtest_loc_conf_t    *alcf;
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    exp = amcf->experiments.elts;

    return ngx_http_abtest_group_value(r, v, (alcf->use == NGX_CONF_UNSET)
                                             ? NULL : &exp[alcf->use]);
}


/*
 * $ab_group_<experiment>: nginx hands over the lower-cased variable name,
 * so the experiment is looked up without regard to case (names that
 * differ only in case are refused at configuration time).
 */

static ngx_int_t
ngx_http_abtest_group_prefix_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    ngx_http_abtest_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    return ngx_http_abtest_group_value(r, v,
               ngx_http_abtest_find_experiment(amcf,
                                      name->data + sizeof("ab_group_") - 1,
                                      name->len - (sizeof("ab_group_") - 1),
                                      1));
}


/* $ab_group_<experiment> of a declared experiment: "data" is its index */

static ngx_int_t
ngx_http_abtest_group_index_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    exp = amcf->experiments.elts;

    return ngx_http_abtest_group_value(r, v, (data < amcf->experiments.nelts)
                                             ? &exp[data] : NULL);
}


/* "exp1=group,exp2=group" in declaration order, for a header upstream */

static ngx_int_t
ngx_http_abtest_groups_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                        *p;
    size_t                         len;
    ngx_uint_t                     i, group;
    ngx_http_abtest_ctx_t         *ctx;
    ngx_http_abtest_group_t       *groups;
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    ctx = ngx_http_abtest_variable_ctx(r, v);
    if (ctx == NULL) {
        return v->not_found ? NGX_OK : NGX_ERROR;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    exp = amcf->experiments.elts;

    len = 0;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        len += exp[i].name.len + 2 + NGX_HTTP_ABTEST_NAME_MAX;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        group = ngx_http_abtest_get_group(r, ctx, &exp[i]);
        groups = exp[i].groups.elts;

        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, exp[i].name.data, exp[i].name.len);
        *p++ = '=';
        p = ngx_cpymem(p, groups[group].name.data, groups[group].name.len);
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
