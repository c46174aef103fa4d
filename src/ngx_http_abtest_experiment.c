
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The experiment model: the abtest_experiment block, its groups sorted
 * in the order the seed's rule walks them, and finding experiments,
 * groups and state names.
 */


#include "ngx_http_abtest_experiment.h"
#include "ngx_http_abtest_target.h"
#include "ngx_http_abtest_util.h"


#define NGX_HTTP_ABTEST_CHECK_NONE   0
#define NGX_HTTP_ABTEST_CHECK_NAME   1
#define NGX_HTTP_ABTEST_CHECK_EVENT  2
#define NGX_HTTP_ABTEST_CHECK_TEXT   3


static char *ngx_http_abtest_experiment_command(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_abtest_experiment_state(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value);
static char *ngx_http_abtest_experiment_assign(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value);
static char *ngx_http_abtest_experiment_stats(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value);
static char *ngx_http_abtest_experiment_events(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value, ngx_uint_t n);
static ngx_int_t ngx_http_abtest_same_name(ngx_str_t *a, ngx_str_t *b);
static char *ngx_http_abtest_group(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value);
static char *ngx_http_abtest_set_once(ngx_conf_t *cf, ngx_str_t *field,
    ngx_str_t *value, ngx_uint_t check);
static char *ngx_http_abtest_duplicate(ngx_conf_t *cf, ngx_str_t *value);
static char *ngx_http_abtest_experiment_finish(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *first);
static ngx_int_t ngx_libc_cdecl ngx_http_abtest_cmp_groups(const void *one,
    const void *two);
static void ngx_http_abtest_restart_stats(ngx_http_abtest_runtime_t *rt);


/* indexed by NGX_HTTP_ABTEST_STATE_* */
static ngx_str_t  ngx_http_abtest_state_names[] = {
    ngx_string("active"),
    ngx_string("inactive"),
    ngx_string("rollout"),
};


/* the settings of a block that take one name or text */
typedef struct {
    ngx_str_t                  name;
    size_t                     offset;       /* of an ngx_str_t */
    ngx_uint_t                 check;
} ngx_http_abtest_setting_t;


static ngx_http_abtest_setting_t  ngx_http_abtest_settings[] = {
    { ngx_string("fallback"),
      offsetof(ngx_http_abtest_experiment_t, fallback_name),
      NGX_HTTP_ABTEST_CHECK_NONE },
    { ngx_string("rollout"),
      offsetof(ngx_http_abtest_experiment_t, rollout_name),
      NGX_HTTP_ABTEST_CHECK_NONE },
    { ngx_string("title"),
      offsetof(ngx_http_abtest_experiment_t, title),
      NGX_HTTP_ABTEST_CHECK_TEXT },
    { ngx_string("cookie"),
      offsetof(ngx_http_abtest_experiment_t, cookie),
      NGX_HTTP_ABTEST_CHECK_NAME },
    { ngx_string("exposure"),
      offsetof(ngx_http_abtest_experiment_t, exposure),
      NGX_HTTP_ABTEST_CHECK_EVENT },
    { ngx_string("goal"),
      offsetof(ngx_http_abtest_experiment_t, goal),
      NGX_HTTP_ABTEST_CHECK_EVENT },
    { ngx_null_string, 0, 0 }
};


ngx_str_t *
ngx_http_abtest_state_name(ngx_uint_t state)
{
    return &ngx_http_abtest_state_names[state];
}


/* NGX_HTTP_ABTEST_STATE_*, or NGX_ERROR for no state of that name */

ngx_int_t
ngx_http_abtest_state_by_name(u_char *name, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(ngx_http_abtest_state_names) / sizeof(ngx_str_t);
         i++)
    {
        if (ngx_http_abtest_state_names[i].len == len
            && ngx_strncmp(ngx_http_abtest_state_names[i].data, name, len)
               == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


ngx_http_abtest_experiment_t *
ngx_http_abtest_find_experiment(ngx_http_abtest_main_conf_t *amcf,
    u_char *name, size_t len, ngx_uint_t caseless)
{
    ngx_uint_t                     i;
    ngx_http_abtest_experiment_t  *exp;

    exp = amcf->experiments.elts;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        if (exp[i].name.len != len) {
            continue;
        }

        if (caseless ? ngx_strncasecmp(exp[i].name.data, name, len) == 0
                     : ngx_strncmp(exp[i].name.data, name, len) == 0)
        {
            return &exp[i];
        }
    }

    return NULL;
}


ngx_uint_t
ngx_http_abtest_find_group(ngx_http_abtest_experiment_t *exp, u_char *name,
    size_t len)
{
    ngx_uint_t                i;
    ngx_http_abtest_group_t  *group;

    group = exp->groups.elts;

    for (i = 0; i < exp->groups.nelts; i++) {
        if (group[i].name.len == len
            && ngx_strncmp(group[i].name.data, name, len) == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_ABTEST_NO_GROUP;
}


/* abtest_experiment name { ... }, parsed like split_clients' block */

char *
ngx_http_abtest_experiment_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_abtest_main_conf_t *amcf = conf;

    char                          *rv;
    ngx_str_t                     *value, first;
    ngx_conf_t                     save;
    ngx_http_abtest_experiment_t  *exp, *dup;

    value = cf->args->elts;

    if (ngx_http_abtest_valid_name(&value[1], 0) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid experiment name \"%V\": use 1 to %d "
                           "characters of [A-Za-z0-9_-]",
                           &value[1], NGX_HTTP_ABTEST_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    /*
     * nginx lower-cases variable names, so $ab_group_<name> could not tell
     * apart two names that differ only in case
     */
    dup = ngx_http_abtest_find_experiment(amcf, value[1].data, value[1].len,
                                          1);
    if (dup) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate experiment \"%V\"%s, first declared "
                           "in %s:%ui", &value[1],
                           dup->name.len == value[1].len
                           && ngx_strncmp(dup->name.data, value[1].data,
                                          value[1].len) == 0
                           ? "" : " (names differ only in case)",
                           dup->file, dup->line);
        return NGX_CONF_ERROR;
    }

    exp = ngx_array_push(&amcf->experiments);
    if (exp == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(exp, sizeof(ngx_http_abtest_experiment_t));

    if (ngx_array_init(&exp->groups, cf->pool, 4,
                       sizeof(ngx_http_abtest_group_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    exp->name = value[1];
    exp->index = amcf->experiments.nelts - 1;
    exp->conf_state.state = NGX_CONF_UNSET_UINT;
    exp->conf_state.rollout = NGX_HTTP_ABTEST_NO_GROUP;
    exp->conf_state.coverage = NGX_CONF_UNSET_UINT;
    exp->conf_state.schedule_start = -1;
    exp->conf_state.schedule_stop = -1;
    exp->assign = NGX_CONF_UNSET_UINT;
    exp->sequential = NGX_CONF_UNSET_UINT;
    exp->sequential_tuning = NGX_CONF_UNSET_UINT;
    exp->mde = -1;
    exp->alpha = -1;
    exp->file = cf->conf_file->file.name.data;
    exp->line = cf->conf_file->line;

    save = *cf;
    cf->handler = ngx_http_abtest_experiment_command;
    cf->handler_conf = (char *) exp;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* the first declared group is the default fallback */
    ngx_str_null(&first);

    if (exp->groups.nelts) {
        first = ((ngx_http_abtest_group_t *) exp->groups.elts)[0].name;
    }

    return ngx_http_abtest_experiment_finish(cf, exp, &first);
}


static char *
ngx_http_abtest_experiment_command(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    ngx_http_abtest_experiment_t  *exp;

    ngx_str_t                  *value;
    ngx_uint_t                  n;
    ngx_http_abtest_setting_t  *s;

    exp = (ngx_http_abtest_experiment_t *) cf->handler_conf;
    value = cf->args->elts;
    n = cf->args->nelts;

    if (n == 3 && ngx_strcmp(value[0].data, "group") == 0) {
        return ngx_http_abtest_group(cf, exp, value);
    }

    if (n >= 2 && ngx_strcmp(value[0].data, "events") == 0) {
        return ngx_http_abtest_experiment_events(cf, exp, value, n);
    }

    if (n == 2) {
        for (s = ngx_http_abtest_settings; s->name.len; s++) {
            if (ngx_strcmp(value[0].data, s->name.data) == 0) {
                return ngx_http_abtest_set_once(cf,
                                         (ngx_str_t *) ((u_char *) exp
                                                        + s->offset),
                                         value, s->check);
            }
        }

        if (ngx_strcmp(value[0].data, "state") == 0) {
            return ngx_http_abtest_experiment_state(cf, exp, value);
        }

        if (ngx_strcmp(value[0].data, "assign") == 0) {
            return ngx_http_abtest_experiment_assign(cf, exp, value);
        }

        if (ngx_strcmp(value[0].data, "target") == 0
            || ngx_strcmp(value[0].data, "coverage") == 0
            || ngx_strcmp(value[0].data, "start") == 0
            || ngx_strcmp(value[0].data, "stop") == 0)
        {
            return ngx_http_abtest_target_setting(cf, exp, value);
        }

        if (ngx_strcmp(value[0].data, "sequential") == 0
            || ngx_strcmp(value[0].data, "sequential_tuning") == 0
            || ngx_strcmp(value[0].data, "mde") == 0
            || ngx_strcmp(value[0].data, "alpha") == 0)
        {
            return ngx_http_abtest_experiment_stats(cf, exp, value);
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown or malformed \"%V\" in experiment \"%V\"",
                       &value[0], &exp->name);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_abtest_experiment_state(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value)
{
    ngx_int_t  state;

    if (exp->conf_state.state != NGX_CONF_UNSET_UINT) {
        return ngx_http_abtest_duplicate(cf, value);
    }

    state = ngx_http_abtest_state_by_name(value[1].data, value[1].len);

    if (state == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid state \"%V\": use active, inactive "
                           "or rollout", &value[1]);
        return NGX_CONF_ERROR;
    }

    exp->conf_state.state = state;

    return NGX_CONF_OK;
}


static char *
ngx_http_abtest_experiment_assign(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value)
{
    if (exp->assign != NGX_CONF_UNSET_UINT) {
        return ngx_http_abtest_duplicate(cf, value);
    }

    if (ngx_strcmp(value[1].data, "hash") == 0) {
        exp->assign = NGX_HTTP_ABTEST_ASSIGN_HASH;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "random") == 0) {
        exp->assign = NGX_HTTP_ABTEST_ASSIGN_RANDOM;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid assign \"%V\": use hash or random",
                       &value[1]);

    return NGX_CONF_ERROR;
}


/*
 * How the statistics compare the groups: "sequential on|off",
 * "sequential_tuning N" (N*, the devices where the confidence sequence is
 * tightest), "mde 10%" (relative) and "alpha 0.05".
 */

static char *
ngx_http_abtest_experiment_stats(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value)
{
    ngx_int_t  n;

    if (ngx_strcmp(value[0].data, "sequential") == 0) {
        if (exp->sequential != NGX_CONF_UNSET_UINT) {
            return ngx_http_abtest_duplicate(cf, value);
        }

        if (ngx_strcmp(value[1].data, "on") == 0) {
            exp->sequential = 1;
            return NGX_CONF_OK;
        }

        if (ngx_strcmp(value[1].data, "off") == 0) {
            exp->sequential = 0;
            return NGX_CONF_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid sequential \"%V\": use on or off",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[0].data, "sequential_tuning") == 0) {
        if (exp->sequential_tuning != NGX_CONF_UNSET_UINT) {
            return ngx_http_abtest_duplicate(cf, value);
        }

        n = ngx_atoi(value[1].data, value[1].len);

        if (n == NGX_ERROR || n == 0 || n > 1000000000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid sequential_tuning \"%V\": use a "
                               "whole number of devices from 1 to "
                               "1000000000", &value[1]);
            return NGX_CONF_ERROR;
        }

        exp->sequential_tuning = n;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[0].data, "mde") == 0) {
        if (exp->mde >= 0) {
            return ngx_http_abtest_duplicate(cf, value);
        }

        /* a percentage with up to 4 decimals: 100000 is 10% */
        n = NGX_ERROR;

        if (value[1].len > 1 && value[1].data[value[1].len - 1] == '%') {
            n = ngx_atofp(value[1].data, value[1].len - 1, 4);
        }

        if (n == NGX_ERROR || n == 0 || n > 1000 * 10000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid mde \"%V\": use a relative "
                               "difference above 0%% and at most 1000%%, "
                               "such as 10%%", &value[1]);
            return NGX_CONF_ERROR;
        }

        exp->mde = (double) n / 1000000;
        return NGX_CONF_OK;
    }

    /* alpha: up to 6 decimals, 50000 is 0.05 */
    if (exp->alpha >= 0) {
        return ngx_http_abtest_duplicate(cf, value);
    }

    n = ngx_atofp(value[1].data, value[1].len, 6);

    if (n == NGX_ERROR || n == 0 || n > 500000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid alpha \"%V\": use a number above 0 "
                           "and at most 0.5, such as 0.05", &value[1]);
        return NGX_CONF_ERROR;
    }

    exp->alpha = (double) n / 1000000;

    return NGX_CONF_OK;
}


/*
 * "events name ...": the names the statistics count each, beside the
 * exposure and the goal; a client's other names are counted together
 * (other_events), so that no client takes the places.
 */

static char *
ngx_http_abtest_experiment_events(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value, ngx_uint_t n)
{
    ngx_str_t   *name, *names;
    ngx_uint_t   i, k;

    if (exp->events) {
        return ngx_http_abtest_duplicate(cf, value);
    }

    if (n - 1 > NGX_HTTP_ABTEST_EVENTS_LISTED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many \"events\" in experiment \"%V\", at "
                           "most %d beside the exposure and the goal",
                           &exp->name, NGX_HTTP_ABTEST_EVENTS_LISTED);
        return NGX_CONF_ERROR;
    }

    exp->events = ngx_array_create(cf->pool, n - 1, sizeof(ngx_str_t));
    if (exp->events == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < n; i++) {
        if (ngx_http_abtest_valid_event_name(&value[i]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid event name \"%V\": use 1 to %d "
                               "bytes of UTF-8 without control characters",
                               &value[i], NGX_HTTP_ABTEST_NAME_MAX);
            return NGX_CONF_ERROR;
        }

        names = exp->events->elts;

        for (k = 0; k < exp->events->nelts; k++) {
            if (ngx_http_abtest_same_name(&names[k], &value[i])) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "event \"%V\" is listed twice in "
                                   "experiment \"%V\"", &value[i],
                                   &exp->name);
                return NGX_CONF_ERROR;
            }
        }

        name = ngx_array_push(exp->events);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_abtest_same_name(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len && ngx_strncmp(a->data, b->data, a->len) == 0;
}


static char *
ngx_http_abtest_group(ngx_conf_t *cf, ngx_http_abtest_experiment_t *exp,
    ngx_str_t *value)
{
    ngx_int_t                 weight;
    ngx_http_abtest_group_t  *group;

    if (ngx_http_abtest_valid_name(&value[1], 1) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid group name \"%V\": use 1 to %d "
                           "characters of [A-Za-z0-9_.-]",
                           &value[1], NGX_HTTP_ABTEST_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_abtest_find_group(exp, value[1].data, value[1].len)
        != NGX_HTTP_ABTEST_NO_GROUP)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate group \"%V\" in experiment \"%V\"",
                           &value[1], &exp->name);
        return NGX_CONF_ERROR;
    }

    if (exp->groups.nelts == NGX_HTTP_ABTEST_GROUPS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many groups in experiment \"%V\", "
                           "at most %d", &exp->name,
                           NGX_HTTP_ABTEST_GROUPS_MAX);
        return NGX_CONF_ERROR;
    }

    /* ngx_atoi() refuses signs, fractions and overflow */
    weight = ngx_atoi(value[2].data, value[2].len);

    if (weight == NGX_ERROR || weight == 0
        || (uint64_t) weight > NGX_HTTP_ABTEST_WEIGHT_TOTAL_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid weight \"%V\" of group \"%V\": "
                           "use a positive integer", &value[2], &value[1]);
        return NGX_CONF_ERROR;
    }

    group = ngx_array_push(&exp->groups);
    if (group == NULL) {
        return NGX_CONF_ERROR;
    }

    group->name = value[1];
    group->weight = weight;

    return NGX_CONF_OK;
}


static char *
ngx_http_abtest_set_once(ngx_conf_t *cf, ngx_str_t *field, ngx_str_t *value,
    ngx_uint_t check)
{
    if (field->data) {
        return ngx_http_abtest_duplicate(cf, value);
    }

    if (check == NGX_HTTP_ABTEST_CHECK_NAME
        && ngx_http_abtest_valid_name(&value[1], 1) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %V name \"%V\": use 1 to %d "
                           "characters of [A-Za-z0-9_.-]",
                           &value[0], &value[1], NGX_HTTP_ABTEST_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    if (check == NGX_HTTP_ABTEST_CHECK_TEXT
        && ngx_http_abtest_valid_utf8(&value[1]) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %V \"%V\": not UTF-8", &value[0],
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (check == NGX_HTTP_ABTEST_CHECK_EVENT
        && ngx_http_abtest_valid_event_name(&value[1]) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %V event name \"%V\": use 1 to %d "
                           "bytes of UTF-8 without control characters",
                           &value[0], &value[1], NGX_HTTP_ABTEST_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    *field = value[1];

    return NGX_CONF_OK;
}


/* inside the block nginx would not name the setting */

static char *
ngx_http_abtest_duplicate(ngx_conf_t *cf, ngx_str_t *value)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" directive is duplicate", &value[0]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_abtest_experiment_finish(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *first)
{
    u_char                   *p;
    size_t                    len;
    uint64_t                  total;
    ngx_str_t                *fallback, *names;
    ngx_uint_t                i;
    ngx_http_abtest_group_t  *group;

    if (exp->groups.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "experiment \"%V\" has no groups", &exp->name);
        return NGX_CONF_ERROR;
    }

    ngx_sort(exp->groups.elts, exp->groups.nelts,
             sizeof(ngx_http_abtest_group_t), ngx_http_abtest_cmp_groups);

    group = exp->groups.elts;
    total = 0;

    /* the names, to tell a reload that changes them */
    ngx_crc32_init(exp->groups_crc);

    for (i = 0; i < exp->groups.nelts; i++) {
        exp->conf_state.weights[i] = (uint32_t) group[i].weight;
        total += group[i].weight;

        ngx_crc32_update(&exp->groups_crc, group[i].name.data,
                         group[i].name.len + 1);
    }

    ngx_crc32_final(exp->groups_crc);

    len = 0;

    for (i = 0; i < exp->groups.nelts; i++) {
        len += group[i].name.len + 1;
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    exp->generation.data = p;

    for (i = 0; i < exp->groups.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, group[i].name.data, group[i].name.len);
    }

    *p = '\0';
    exp->generation.len = p - exp->generation.data;

    if (total > NGX_HTTP_ABTEST_WEIGHT_TOTAL_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "weights of experiment \"%V\" sum to %uL, "
                           "more than 2^31", &exp->name, total);
        return NGX_CONF_ERROR;
    }

    exp->conf_state.total = total;

    fallback = exp->fallback_name.data ? &exp->fallback_name : first;

    exp->fallback = ngx_http_abtest_find_group(exp, fallback->data,
                                               fallback->len);
    if (exp->fallback == NGX_HTTP_ABTEST_NO_GROUP) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown fallback group \"%V\" in experiment "
                           "\"%V\"", fallback, &exp->name);
        return NGX_CONF_ERROR;
    }

    if (exp->rollout_name.data) {
        exp->conf_state.rollout = ngx_http_abtest_find_group(exp,
                                                    exp->rollout_name.data,
                                                    exp->rollout_name.len);
        if (exp->conf_state.rollout == NGX_HTTP_ABTEST_NO_GROUP) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown rollout group \"%V\" in experiment "
                               "\"%V\"", &exp->rollout_name, &exp->name);
            return NGX_CONF_ERROR;
        }
    }

    /* a scheduled experiment waits for its start (the schedule moves it) */
    if (exp->conf_state.state == NGX_CONF_UNSET_UINT) {
        exp->conf_state.state = (exp->conf_state.schedule_start >= 0)
                                ? NGX_HTTP_ABTEST_STATE_INACTIVE
                                : NGX_HTTP_ABTEST_STATE_ACTIVE;
    }

    if (exp->conf_state.coverage == NGX_CONF_UNSET_UINT) {
        exp->conf_state.coverage = NGX_HTTP_ABTEST_SHARE_ALL;
    }

    if (exp->conf_state.state == NGX_HTTP_ABTEST_STATE_ROLLOUT
        && exp->conf_state.rollout == NGX_HTTP_ABTEST_NO_GROUP)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "experiment \"%V\" is in state rollout but has "
                           "no \"rollout\" group", &exp->name);
        return NGX_CONF_ERROR;
    }

    if (exp->assign == NGX_CONF_UNSET_UINT) {
        exp->assign = NGX_HTTP_ABTEST_ASSIGN_HASH;
    }

    if (exp->title.data == NULL) {
        exp->title = exp->name;
    }

    if (exp->sequential == NGX_CONF_UNSET_UINT) {
        exp->sequential = 1;
    }

    /* GrowthBook's default N* */
    if (exp->sequential_tuning == NGX_CONF_UNSET_UINT) {
        exp->sequential_tuning = 5000;
    }

    if (exp->mde < 0) {
        exp->mde = 0.1;
    }

    if (exp->alpha < 0) {
        exp->alpha = 0.05;
    }

    /* the seed demo's events */
    if (exp->exposure.data == NULL) {
        ngx_str_set(&exp->exposure, "pageview");
    }

    if (exp->goal.data == NULL) {
        ngx_str_set(&exp->goal, "button_click");
    }

    if (ngx_http_abtest_same_name(&exp->exposure, &exp->goal)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "experiment \"%V\" has the same event \"%V\" "
                           "as exposure and goal", &exp->name, &exp->goal);
        return NGX_CONF_ERROR;
    }

    names = exp->events ? exp->events->elts : NULL;

    for (i = 0; exp->events && i < exp->events->nelts; i++) {
        if (ngx_http_abtest_same_name(&names[i], &exp->exposure)
            || ngx_http_abtest_same_name(&names[i], &exp->goal))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "experiment \"%V\" lists its exposure or "
                               "goal \"%V\" in \"events\"", &exp->name,
                               &names[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* byte order of names, then shorter first: Python's sorted() on ASCII */

static ngx_int_t ngx_libc_cdecl
ngx_http_abtest_cmp_groups(const void *one, const void *two)
{
    ngx_http_abtest_group_t  *a, *b;

    a = (ngx_http_abtest_group_t *) one;
    b = (ngx_http_abtest_group_t *) two;

    return ngx_memn2cmp(a->name.data, b->name.data, a->name.len, b->name.len);
}


/*
 * A change of an experiment's run-time record: the seed's transitions
 * (step 9) checked against the record of the moment, weights kept in the
 * history, start and end, and a new statistics start where the results
 * must start afresh.  NGX_OK, or the HTTP status of a refusal with "err"
 * saying why ("rt" unchanged then).
 */

ngx_int_t
ngx_http_abtest_change(ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_runtime_t *rt, ngx_uint_t configured_rollout,
    ngx_http_abtest_update_t *up, const char **err)
{
    ngx_uint_t                  from, to, rollout, ngroups;
    ngx_http_abtest_runtime_t   next;

    next = *rt;
    ngroups = exp->groups.nelts;

    from = rt->state.state;
    to = up->has_state ? up->state : from;

    if (!(from == to
          || (from == NGX_HTTP_ABTEST_STATE_INACTIVE
              && to == NGX_HTTP_ABTEST_STATE_ACTIVE)
          || (from == NGX_HTTP_ABTEST_STATE_ACTIVE
              && to != NGX_HTTP_ABTEST_STATE_ACTIVE)
          || (from == NGX_HTTP_ABTEST_STATE_ROLLOUT
              && to == NGX_HTTP_ABTEST_STATE_ACTIVE)))
    {
        *err = (from == NGX_HTTP_ABTEST_STATE_INACTIVE)
               ? "state: an inactive experiment can only become active"
               : "state: an experiment in rollout can only become active";
        return NGX_HTTP_CONFLICT;
    }

    rollout = up->has_rollout ? up->rollout : rt->state.rollout;

    /* a rollout without a group given takes the configured "rollout" */
    if (to == NGX_HTTP_ABTEST_STATE_ROLLOUT
        && rollout == NGX_HTTP_ABTEST_NO_GROUP)
    {
        rollout = configured_rollout;
    }

    if (to == NGX_HTTP_ABTEST_STATE_ROLLOUT
        && rollout == NGX_HTTP_ABTEST_NO_GROUP)
    {
        *err = "rollout_group: a group is needed for state rollout";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (up->has_rollout && up->rollout != NGX_HTTP_ABTEST_NO_GROUP
        && to != NGX_HTTP_ABTEST_STATE_ROLLOUT)
    {
        *err = "rollout_group: only with state rollout";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (up->has_weights
        && ngx_memcmp(rt->state.weights, up->weights,
                      ngroups * sizeof(uint32_t))
           != 0)
    {
        ngx_http_abtest_push_history(&next.state, rt->state.weights,
                                     ngroups);
        ngx_memcpy(next.state.weights, up->weights,
                   ngroups * sizeof(uint32_t));
        next.state.total = up->total;

        /* a new split is a new comparison: results, and SRM, start anew */
        ngx_http_abtest_restart_stats(&next);
    }

    if (up->has_schedule_start) {
        next.state.schedule_start = up->schedule_start;
    }

    if (up->has_schedule_stop) {
        next.state.schedule_stop = up->schedule_stop;
    }

    if (next.state.schedule_start >= 0 && next.state.schedule_stop >= 0
        && next.state.schedule_stop <= next.state.schedule_start)
    {
        *err = "stop: the experiment would stop before it starts";
        return NGX_HTTP_BAD_REQUEST;
    }

    /* a coverage raised adds devices, lowered removes some: see README */
    if (up->has_coverage) {
        next.state.coverage = up->coverage;
    }

    if (from != to) {
        switch (to) {

        case NGX_HTTP_ABTEST_STATE_ACTIVE:
            /* (re-)activation starts the experiment, and its results, anew */
            next.start = up->at ? up->at : ngx_http_abtest_now_ms();
            next.end = -1;

            if (up->at) {
                /* the same start on every server, for the fleet's figures */
                next.stats_start = (up->at > rt->stats_start)
                                   ? up->at : rt->stats_start + 1;

            } else {
                ngx_http_abtest_restart_stats(&next);
            }

            rollout = NGX_HTTP_ABTEST_NO_GROUP;
            break;

        default: /* inactive, rollout: the experiment ends */
            next.end = up->at ? up->at : ngx_http_abtest_now_ms();
        }
    }

    next.state.state = to;
    next.state.rollout = (to == NGX_HTTP_ABTEST_STATE_ROLLOUT)
                         ? rollout : NGX_HTTP_ABTEST_NO_GROUP;

    if (up->reset_stats) {
        ngx_http_abtest_restart_stats(&next);
    }

    *rt = next;

    return NGX_OK;
}


/* a new statistics start, later than the last even within a millisecond */

static void
ngx_http_abtest_restart_stats(ngx_http_abtest_runtime_t *rt)
{
    int64_t  now;

    now = ngx_http_abtest_now_ms();

    rt->stats_start = (now > rt->stats_start) ? now : rt->stats_start + 1;
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
