
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#include "ngx_http_abtest_directive.h"


static char *ngx_http_abtest_experiment_command(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_abtest_group(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *value);
static char *ngx_http_abtest_set_once(ngx_conf_t *cf, ngx_str_t *field,
    ngx_str_t *value, ngx_uint_t check);
static char *ngx_http_abtest_duplicate(ngx_conf_t *cf, ngx_str_t *value);
static char *ngx_http_abtest_experiment_finish(ngx_conf_t *cf,
    ngx_http_abtest_experiment_t *exp, ngx_str_t *first);
static ngx_int_t ngx_libc_cdecl ngx_http_abtest_cmp_groups(const void *one,
    const void *two);


#define NGX_HTTP_ABTEST_CHECK_NONE   0
#define NGX_HTTP_ABTEST_CHECK_NAME   1
#define NGX_HTTP_ABTEST_CHECK_EVENT  2
#define NGX_HTTP_ABTEST_CHECK_TEXT   3


static ngx_str_t  ngx_http_abtest_state_names[] = {
    ngx_string("active"),
    ngx_string("inactive"),
    ngx_string("rollout"),
};


/*
 * Names of experiments, groups and cookies end up in variables, cookies,
 * upstream names and JSON: [A-Za-z0-9_-], plus "." where "dot" is set,
 * 1 to 64 bytes.
 */

ngx_int_t
ngx_http_abtest_valid_name(ngx_str_t *name, ngx_uint_t dot)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > NGX_HTTP_ABTEST_NAME_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_' || c == '-'
            || (dot && c == '.'))
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an event name: 1 to 64 bytes of UTF-8, no control characters */

ngx_int_t
ngx_http_abtest_valid_event_name(ngx_str_t *name)
{
    ngx_uint_t  i;

    if (name->len == 0 || name->len > NGX_HTTP_ABTEST_NAME_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        if (name->data[i] < 0x20 || name->data[i] == 0x7f) {
            return NGX_ERROR;
        }
    }

    return ngx_http_abtest_valid_utf8(name);
}


/*
 * Text that goes into JSON, which is UTF-8: well-formed sequences only
 * (no stray continuation bytes, overlong forms, surrogates or code points
 * above U+10FFFF), as yajl's own check of client strings.
 */

ngx_int_t
ngx_http_abtest_valid_utf8(ngx_str_t *text)
{
    u_char      c, *p, *last;
    uint32_t    u, min;
    ngx_uint_t  n;

    p = text->data;
    last = p + text->len;

    while (p < last) {
        c = *p++;

        if (c < 0x80) {
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            min = 0x10000;

        } else {
            return NGX_ERROR;
        }

        if ((size_t) (last - p) < n) {
            return NGX_ERROR;
        }

        /* the lead byte's bits: 5, 4 or 3 */
        u = c & (0x3f >> n);

        while (n--) {
            c = *p++;

            if ((c & 0xc0) != 0x80) {
                return NGX_ERROR;
            }

            u = (u << 6) | (c & 0x3f);
        }

        if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
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
    exp->assign = NGX_CONF_UNSET_UINT;
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

    ngx_str_t   *value;
    ngx_uint_t   i, n;

    exp = (ngx_http_abtest_experiment_t *) cf->handler_conf;
    value = cf->args->elts;
    n = cf->args->nelts;

    if (n == 3 && ngx_strcmp(value[0].data, "group") == 0) {
        return ngx_http_abtest_group(cf, exp, value);
    }

    if (n != 2) {
        goto invalid;
    }

    if (ngx_strcmp(value[0].data, "fallback") == 0) {
        return ngx_http_abtest_set_once(cf, &exp->fallback_name, value,
                                        NGX_HTTP_ABTEST_CHECK_NONE);
    }

    if (ngx_strcmp(value[0].data, "rollout") == 0) {
        return ngx_http_abtest_set_once(cf, &exp->rollout_name, value,
                                        NGX_HTTP_ABTEST_CHECK_NONE);
    }

    if (ngx_strcmp(value[0].data, "title") == 0) {
        return ngx_http_abtest_set_once(cf, &exp->title, value,
                                        NGX_HTTP_ABTEST_CHECK_TEXT);
    }

    if (ngx_strcmp(value[0].data, "cookie") == 0) {
        return ngx_http_abtest_set_once(cf, &exp->cookie, value,
                                        NGX_HTTP_ABTEST_CHECK_NAME);
    }

    if (ngx_strcmp(value[0].data, "exposure") == 0) {
        return ngx_http_abtest_set_once(cf, &exp->exposure, value,
                                        NGX_HTTP_ABTEST_CHECK_EVENT);
    }

    if (ngx_strcmp(value[0].data, "goal") == 0) {
        return ngx_http_abtest_set_once(cf, &exp->goal, value,
                                        NGX_HTTP_ABTEST_CHECK_EVENT);
    }

    if (ngx_strcmp(value[0].data, "state") == 0) {
        if (exp->conf_state.state != NGX_CONF_UNSET_UINT) {
            return ngx_http_abtest_duplicate(cf, value);
        }

        for (i = 0; i < sizeof(ngx_http_abtest_state_names)
                        / sizeof(ngx_str_t); i++)
        {
            if (ngx_strcmp(value[1].data, ngx_http_abtest_state_names[i].data)
                == 0)
            {
                exp->conf_state.state = i;
                return NGX_CONF_OK;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid state \"%V\": use active, inactive "
                           "or rollout", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[0].data, "assign") == 0) {
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

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown or malformed \"%V\" in experiment \"%V\"",
                       &value[0], &exp->name);

    return NGX_CONF_ERROR;
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
    uint64_t                  total;
    ngx_str_t                *fallback;
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

    if (exp->conf_state.state == NGX_CONF_UNSET_UINT) {
        exp->conf_state.state = NGX_HTTP_ABTEST_STATE_ACTIVE;
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

    if (exp->assign == NGX_HTTP_ABTEST_ASSIGN_RANDOM && exp->cookie.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "experiment \"%V\" uses \"assign random\", which "
                           "keeps the group in a cookie: add \"cookie\"",
                           &exp->name);
        return NGX_CONF_ERROR;
    }

    if (exp->title.data == NULL) {
        exp->title = exp->name;
    }

    /* the seed demo's events */
    if (exp->exposure.data == NULL) {
        ngx_str_set(&exp->exposure, "pageview");
    }

    if (exp->goal.data == NULL) {
        ngx_str_set(&exp->goal, "button_click");
    }

    if (exp->exposure.len == exp->goal.len
        && ngx_strncmp(exp->exposure.data, exp->goal.data, exp->goal.len)
           == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "experiment \"%V\" has the same event \"%V\" "
                           "as exposure and goal", &exp->name, &exp->goal);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* byte order of names, then shorter first: Python's sorted() on ASCII */

static ngx_int_t ngx_libc_cdecl
ngx_http_abtest_cmp_groups(const void *one, const void *two)
{
    ngx_int_t                 rc;
    ngx_http_abtest_group_t  *a, *b;

    a = (ngx_http_abtest_group_t *) one;
    b = (ngx_http_abtest_group_t *) two;

    rc = ngx_memn2cmp(a->name.data, b->name.data, a->name.len, b->name.len);

    return rc;
}


/*
 * Checks across experiments once the whole http block is parsed: a group
 * cookie may be written by one experiment only, and not be the device
 * cookie.
 */

ngx_int_t
ngx_http_abtest_check_experiments(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_loc_conf_t *alcf)
{
    ngx_str_t                      device = ngx_string("device_id");
    ngx_uint_t                     i, j;
    ngx_http_abtest_experiment_t  *exp;

    /* the http level's own settings are not merged with defaults */
    if (alcf->cookie_name.len) {
        device = alcf->cookie_name;
    }

    exp = amcf->experiments.elts;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        if (exp[i].cookie.len == 0) {
            continue;
        }

        if (exp[i].cookie.len == device.len
            && ngx_strncmp(exp[i].cookie.data, device.data, device.len) == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "experiment \"%V\" in %s:%ui uses the device "
                          "cookie \"%V\" as its group cookie",
                          &exp[i].name, exp[i].file, exp[i].line,
                          &exp[i].cookie);
            return NGX_ERROR;
        }

        for (j = 0; j < i; j++) {
            if (exp[j].cookie.len == exp[i].cookie.len
                && ngx_strncmp(exp[j].cookie.data, exp[i].cookie.data,
                               exp[i].cookie.len) == 0)
            {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "experiments \"%V\" and \"%V\" in %s:%ui both "
                              "write the group cookie \"%V\"",
                              &exp[j].name, &exp[i].name, exp[i].file,
                              exp[i].line, &exp[i].cookie);
                return NGX_ERROR;
            }
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
 * Called from merge: experiments may be declared after the server blocks
 * that use them, so the name is resolved once the http block is parsed.
 */

char *
ngx_http_abtest_resolve_use(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_loc_conf_t *alcf)
{
    ngx_http_abtest_experiment_t  *exp;

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


char *
ngx_http_abtest_cookie_expires(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_loc_conf_t *alcf = conf;

    ngx_str_t  *value;

    if (alcf->cookie_expires != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "max") == 0) {
        alcf->cookie_expires = NGX_HTTP_ABTEST_EXPIRES_MAX;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "off") == 0) {
        alcf->cookie_expires = NGX_HTTP_ABTEST_EXPIRES_OFF;
        return NGX_CONF_OK;
    }

    alcf->cookie_expires = ngx_parse_time(&value[1], 1);

    if (alcf->cookie_expires == (time_t) NGX_ERROR
        || alcf->cookie_expires == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"abtest_cookie_expires\" value \"%V\": "
                           "use a time such as 365d, \"max\" or \"off\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_abtest_cookie_name_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *name = data;

    if (ngx_http_abtest_valid_name(name, 1) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid cookie name \"%V\": use 1 to %d "
                           "characters of [A-Za-z0-9_.-]",
                           name, NGX_HTTP_ABTEST_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a path or domain must not be able to add attributes of its own */

char *
ngx_http_abtest_cookie_attr_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *attr = data;

    u_char      c;
    ngx_uint_t  i;

    for (i = 0; i < attr->len; i++) {
        c = attr->data[i];

        if (c <= ' ' || c == ';' || c == ',' || c == '"' || c == '\\'
            || c >= 0x7f)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid cookie attribute \"%V\": "
                               "spaces, control characters and ;,\"\\ "
                               "are not allowed", attr);
            return NGX_CONF_ERROR;
        }
    }

    if (attr->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty cookie attribute");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
