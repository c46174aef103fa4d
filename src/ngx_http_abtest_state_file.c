
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The state file (abtest_zone ... state=path): the run-time state of every
 * experiment, so that it survives a full restart.  Written whole to a
 * temporary file then renamed; the zone decides when, and applies what
 * is read (ngx_http_abtest_shm.c).
 */


#include "ngx_http_abtest_state_file.h"
#include "ngx_http_abtest_json.h"


#define NGX_HTTP_ABTEST_STATE_FILE_MAX  (16 * 1024 * 1024)

/* {"experiments": {"name": {"configured": {"groups": {...}}}}} */
#define NGX_HTTP_ABTEST_STATE_DEPTH     6


static void ngx_http_abtest_state_weights(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, uint32_t *weights);
static void ngx_http_abtest_state_setting(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_exp_state_t *state);
static u_char *ngx_http_abtest_state_read(ngx_str_t *path, ngx_log_t *log,
    size_t *len);
static ngx_int_t ngx_http_abtest_state_experiment(ngx_str_t *path,
    ngx_http_abtest_experiment_t *exp, yajl_val saved,
    ngx_http_abtest_saved_t *out, ngx_log_t *log);
static ngx_int_t ngx_http_abtest_state_parse(ngx_http_abtest_experiment_t *exp,
    yajl_val obj, ngx_http_abtest_exp_state_t *state, u_char *err,
    size_t err_len);
static int64_t ngx_http_abtest_state_ms(yajl_val v);
static ngx_int_t ngx_http_abtest_state_share(yajl_val v, ngx_uint_t dflt);
static void ngx_http_abtest_state_holdout(yajl_val v,
    ngx_http_abtest_saved_holdout_t *holdout);
static ngx_int_t ngx_http_abtest_state_key(yajl_val v, u_char *key);
static u_char ngx_http_abtest_hex_digit(u_char c);


/*
 * {"version": 1, "random_key": "<hex>", "holdout": {"share": 500,
 * "configured": 500}, "experiments": {"<name>": {"groups": {...},
 * "state": ..., "rollout_group": ..., "coverage": ...,
 * "schedule_start_ms": ..., "schedule_stop_ms": ..., "start_ms": ...,
 * "end_ms": ..., "history": [...], "configured": {"groups": {...},
 * "state": ..., ...}}}}
 *
 * The key of "assign random" draws is a secret: the file is the workers'
 * user's alone (0600).
 */

ngx_int_t
ngx_http_abtest_state_file_write(ngx_str_t *path, ngx_array_t *experiments,
    ngx_http_abtest_saved_t *saved, ngx_http_abtest_saved_holdout_t *holdout,
    u_char *key, ngx_pool_t *pool, ngx_log_t *log)
{
    u_char                         hex[2 * NGX_HTTP_ABTEST_KEY_LEN];
    u_char                        *temp;
    yajl_gen                       g;
    ngx_fd_t                       fd;
    ngx_str_t                      json;
    ngx_uint_t                     i, k;
    ngx_http_abtest_experiment_t  *exp;

    exp = experiments->elts;

    g = ngx_http_abtest_json_gen(pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    yajl_gen_map_open(g);
    ngx_http_abtest_json_literal(g, "version");
    yajl_gen_integer(g, 1);

    if (key) {
        ngx_http_abtest_json_literal(g, "random_key");
        ngx_hex_dump(hex, key, NGX_HTTP_ABTEST_KEY_LEN);
        ngx_http_abtest_json_str(g, hex, sizeof(hex));
    }

    ngx_http_abtest_json_literal(g, "holdout");
    yajl_gen_map_open(g);
    ngx_http_abtest_json_literal(g, "share");
    yajl_gen_integer(g, holdout->share);
    ngx_http_abtest_json_literal(g, "configured");
    yajl_gen_integer(g, holdout->configured);
    yajl_gen_map_close(g);

    ngx_http_abtest_json_literal(g, "experiments");
    yajl_gen_map_open(g);

    for (i = 0; i < experiments->nelts; i++) {
        ngx_http_abtest_json_str(g, exp[i].name.data, exp[i].name.len);
        yajl_gen_map_open(g);

        ngx_http_abtest_state_setting(g, &exp[i], &saved[i].state);

        ngx_http_abtest_json_literal(g, "start_ms");
        ngx_http_abtest_json_integer_or_null(g, saved[i].start);

        ngx_http_abtest_json_literal(g, "end_ms");
        ngx_http_abtest_json_integer_or_null(g, saved[i].end);

        ngx_http_abtest_json_literal(g, "history");
        yajl_gen_array_open(g);

        for (k = 0; k < saved[i].state.nhistory; k++) {
            ngx_http_abtest_state_weights(g, &exp[i],
                                          saved[i].state.history[k]);
        }

        yajl_gen_array_close(g);

        /* what the configuration said, to notice it was edited since */
        ngx_http_abtest_json_literal(g, "configured");
        yajl_gen_map_open(g);
        ngx_http_abtest_state_setting(g, &exp[i], &saved[i].configured);
        yajl_gen_map_close(g);

        yajl_gen_map_close(g);
    }

    yajl_gen_map_close(g);
    yajl_gen_map_close(g);

    if (ngx_http_abtest_json_buf(g, pool, &json) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "abtest: could not produce the state file's JSON");
        return NGX_ERROR;
    }

    temp = ngx_pnalloc(pool, path->len + sizeof(".tmp"));
    if (temp == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(temp, "%V.tmp%Z", path);

    fd = ngx_open_file(temp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_OWNER_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "abtest: cannot write the state file, "
                      ngx_open_file_n " \"%s\" failed", temp);
        return NGX_ERROR;
    }

    if (ngx_write_fd(fd, json.data, json.len) != (ssize_t) json.len
        || fsync(fd) == -1)
    {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "abtest: cannot write the state file \"%s\"", temp);
        (void) ngx_close_file(fd);
        (void) ngx_delete_file(temp);
        return NGX_ERROR;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", temp);
        (void) ngx_delete_file(temp);
        return NGX_ERROR;
    }

    if (ngx_rename_file(temp, path->data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "abtest: cannot write the state file, "
                      ngx_rename_file_n " \"%s\" to \"%V\" failed",
                      temp, path);
        (void) ngx_delete_file(temp);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "abtest state file \"%V\" written", path);

    return NGX_OK;
}


/* "groups", "state", "rollout_group" (an index), who enters */

static void
ngx_http_abtest_state_setting(yajl_gen g, ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_exp_state_t *state)
{
    ngx_http_abtest_json_literal(g, "groups");
    ngx_http_abtest_state_weights(g, exp, state->weights);

    ngx_http_abtest_json_literal(g, "state");
    ngx_http_abtest_json_state_name(g, state->state);

    ngx_http_abtest_json_literal(g, "rollout_group");
    ngx_http_abtest_json_integer_or_null(g, (int64_t) state->rollout);

    ngx_http_abtest_json_literal(g, "coverage");
    yajl_gen_integer(g, state->coverage);

    ngx_http_abtest_json_literal(g, "schedule_start_ms");
    ngx_http_abtest_json_integer_or_null(g, state->schedule_start);

    ngx_http_abtest_json_literal(g, "schedule_stop_ms");
    ngx_http_abtest_json_integer_or_null(g, state->schedule_stop);
}


static void
ngx_http_abtest_state_weights(yajl_gen g, ngx_http_abtest_experiment_t *exp,
    uint32_t *weights)
{
    ngx_uint_t                i;
    ngx_http_abtest_group_t  *group;

    group = exp->groups.elts;

    yajl_gen_map_open(g);

    for (i = 0; i < exp->groups.nelts; i++) {
        ngx_http_abtest_json_str(g, group[i].name.data, group[i].name.len);
        yajl_gen_integer(g, weights[i]);
    }

    yajl_gen_map_close(g);
}


/*
 * For a fresh zone: what the file says of each experiment, into "saved"
 * (found), where it is valid and still fits the configuration; and the
 * key of "assign random" draws, into "key".  NGX_OK when the file gave
 * the key.
 */

ngx_int_t
ngx_http_abtest_state_file_read(ngx_str_t *path, ngx_array_t *experiments,
    ngx_http_abtest_saved_t *saved, ngx_http_abtest_saved_holdout_t *holdout,
    u_char *key, ngx_log_t *log)
{
    u_char     *text;
    size_t      len;
    ngx_int_t   rc;

    text = ngx_http_abtest_state_read(path, log, &len);
    if (text == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_http_abtest_state_file_parse(path, text, len, experiments, saved,
                                          holdout, key, log);

    ngx_free(text);

    return rc;
}


/* the file's text, "len" bytes and a NUL; "path" names it in messages */

ngx_int_t
ngx_http_abtest_state_file_parse(ngx_str_t *path, u_char *text, size_t len,
    ngx_array_t *experiments, ngx_http_abtest_saved_t *saved,
    ngx_http_abtest_saved_holdout_t *holdout, u_char *key, ngx_log_t *log)
{
    u_char                         err[256];
    yajl_val                       tree, exps, one;
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_pool_t                    *pool;
    const char                    *name[2];
    ngx_http_abtest_experiment_t  *exp;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    err[0] = '\0';
    tree = ngx_http_abtest_json_parse(pool, text, len,
                                      NGX_HTTP_ABTEST_STATE_DEPTH, err,
                                      sizeof(err));

    if (tree == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "abtest: state file \"%V\" cannot be read, "
                      "starting from the configuration: %s", path, err);
        goto done;
    }

    name[1] = NULL;

    name[0] = "random_key";
    rc = ngx_http_abtest_state_key(yajl_tree_get(tree, name, yajl_t_any),
                                   key);
    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "abtest: state file \"%V\": \"random_key\" is not %d "
                      "hexadecimal digits, \"assign random\" draws anew",
                      path, 2 * NGX_HTTP_ABTEST_KEY_LEN);
    }

    name[0] = "holdout";
    ngx_http_abtest_state_holdout(yajl_tree_get(tree, name, yajl_t_object),
                                  holdout);

    name[0] = "experiments";

    exps = yajl_tree_get(tree, name, yajl_t_object);
    if (exps == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "abtest: state file \"%V\" has no \"experiments\" "
                      "object, starting from the configuration", path);
        goto done;
    }

    exp = experiments->elts;

    for (i = 0; i < experiments->nelts; i++) {
        name[0] = (const char *) exp[i].name.data;
        one = yajl_tree_get(exps, name, yajl_t_object);

        if (one) {
            (void) ngx_http_abtest_state_experiment(path, &exp[i], one,
                                                    &saved[i], log);
        }
    }

done:

    ngx_destroy_pool(pool);

    return rc;
}


/* NGX_OK: "v" held a key; NGX_DECLINED: none; NGX_ERROR: not a key */

static ngx_int_t
ngx_http_abtest_state_key(yajl_val v, u_char *key)
{
    u_char       c, d;
    ngx_uint_t   i;
    const char  *s;

    if (v == NULL) {
        return NGX_DECLINED;
    }

    s = YAJL_GET_STRING(v);

    if (s == NULL || ngx_strlen(s) != 2 * NGX_HTTP_ABTEST_KEY_LEN) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ABTEST_KEY_LEN; i++) {
        c = ngx_http_abtest_hex_digit(s[2 * i]);
        d = ngx_http_abtest_hex_digit(s[2 * i + 1]);

        if (c > 15 || d > 15) {
            return NGX_ERROR;
        }

        key[i] = (u_char) (c << 4 | d);
    }

    return NGX_OK;
}


static u_char
ngx_http_abtest_hex_digit(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : 16;
}


static u_char *
ngx_http_abtest_state_read(ngx_str_t *path, ngx_log_t *log, size_t *len)
{
    u_char           *text;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno == NGX_ENOENT) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "abtest: no state file \"%V\" yet, starting "
                          "from the configuration", path);

        } else {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "abtest: cannot read the state file \"%V\", "
                          "starting from the configuration", path);
        }

        return NULL;
    }

    text = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "abtest: cannot read the state file \"%V\"", path);
        goto close;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_ABTEST_STATE_FILE_MAX) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "abtest: state file \"%V\" is larger than %d bytes, "
                      "starting from the configuration", path,
                      NGX_HTTP_ABTEST_STATE_FILE_MAX);
        goto close;
    }

    text = ngx_alloc((size_t) ngx_file_size(&fi) + 1, log);
    if (text == NULL) {
        goto close;
    }

    n = ngx_read_fd(fd, text, (size_t) ngx_file_size(&fi));

    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "abtest: cannot read the state file \"%V\", "
                      "starting from the configuration", path);
        ngx_free(text);
        text = NULL;
        goto close;
    }

    text[n] = '\0';
    *len = n;

close:

    (void) ngx_close_file(fd);

    return text;
}


static ngx_int_t
ngx_http_abtest_state_experiment(ngx_str_t *path,
    ngx_http_abtest_experiment_t *exp, yajl_val saved,
    ngx_http_abtest_saved_t *out, ngx_log_t *log)
{
    u_char       err[256];
    uint64_t     total;
    yajl_val     v, conf;
    ngx_uint_t   k;
    const char  *key[2];

    key[1] = NULL;

    key[0] = "configured";
    conf = yajl_tree_get(saved, key, yajl_t_object);

    if (conf == NULL
        || ngx_http_abtest_state_parse(exp, saved, &out->state, err,
                                       sizeof(err))
           != NGX_OK
        || ngx_http_abtest_state_parse(exp, conf, &out->configured, err,
                                       sizeof(err))
           != NGX_OK)
    {
        if (conf == NULL) {
            ngx_sprintf(err, "no \"configured\" object%Z");
        }

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "abtest: state file \"%V\": experiment \"%V\": %s, "
                      "using the configuration", path, &exp->name, err);
        return NGX_ERROR;
    }

    if (out->configured.state != exp->conf_state.state
        || out->configured.rollout != exp->conf_state.rollout
        || out->configured.coverage != exp->conf_state.coverage
        || out->configured.schedule_start != exp->conf_state.schedule_start
        || out->configured.schedule_stop != exp->conf_state.schedule_stop
        || ngx_memcmp(out->configured.weights, exp->conf_state.weights,
                      sizeof(out->configured.weights))
           != 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "abtest: experiment \"%V\" was configured anew since "
                      "the state file was written, using the configuration",
                      &exp->name);
        return NGX_DECLINED;
    }

    key[0] = "start_ms";
    out->start = ngx_http_abtest_state_ms(yajl_tree_get(saved, key,
                                                        yajl_t_any));
    key[0] = "end_ms";
    out->end = ngx_http_abtest_state_ms(yajl_tree_get(saved, key,
                                                      yajl_t_any));
    key[0] = "history";
    v = yajl_tree_get(saved, key, yajl_t_array);

    out->state.nhistory = 0;

    for (k = 0; v && k < v->u.array.len && k < NGX_HTTP_ABTEST_HISTORY; k++) {
        if (ngx_http_abtest_json_weights(v->u.array.values[k], exp,
                                         out->state.history[k],
                                         &total, err, sizeof(err))
            != NGX_OK)
        {
            break;
        }

        out->state.nhistory = k + 1;
    }

    out->found = 1;

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "abtest: experiment \"%V\" restored from the state file",
                  &exp->name);

    return NGX_OK;
}


/* {"groups": {...}, "state": "...", "rollout_group": index or null} */

static ngx_int_t
ngx_http_abtest_state_parse(ngx_http_abtest_experiment_t *exp, yajl_val obj,
    ngx_http_abtest_exp_state_t *state, u_char *err, size_t err_len)
{
    yajl_val     v;
    const char  *path[2];

    ngx_memzero(state, sizeof(ngx_http_abtest_exp_state_t));

    path[1] = NULL;

    path[0] = "groups";
    v = yajl_tree_get(obj, path, yajl_t_any);

    if (ngx_http_abtest_json_weights(v, exp, state->weights, &state->total,
                                     err, err_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    path[0] = "state";
    v = yajl_tree_get(obj, path, yajl_t_any);

    if (ngx_http_abtest_json_state(v, &state->state) != NGX_OK) {
        ngx_snprintf(err, err_len, "state: unknown%Z");
        return NGX_ERROR;
    }

    path[0] = "rollout_group";
    v = yajl_tree_get(obj, path, yajl_t_any);
    state->rollout = NGX_HTTP_ABTEST_NO_GROUP;

    if (v && YAJL_IS_INTEGER(v)) {
        if (YAJL_GET_INTEGER(v) < 0
            || (ngx_uint_t) YAJL_GET_INTEGER(v) >= exp->groups.nelts)
        {
            ngx_snprintf(err, err_len, "rollout_group: out of range%Z");
            return NGX_ERROR;
        }

        state->rollout = (ngx_uint_t) YAJL_GET_INTEGER(v);

    } else if (v == NULL || !YAJL_IS_NULL(v)) {
        ngx_snprintf(err, err_len, "rollout_group: not an index or null%Z");
        return NGX_ERROR;
    }

    if (state->state == NGX_HTTP_ABTEST_STATE_ROLLOUT
        && state->rollout == NGX_HTTP_ABTEST_NO_GROUP)
    {
        ngx_snprintf(err, err_len, "rollout without a rollout group%Z");
        return NGX_ERROR;
    }

    /* a file of an earlier version has no coverage nor schedule */
    path[0] = "coverage";
    v = yajl_tree_get(obj, path, yajl_t_any);

    if (ngx_http_abtest_state_share(v, exp->conf_state.coverage)
        == NGX_ERROR)
    {
        ngx_snprintf(err, err_len, "coverage: not from 0 to %d%Z",
                     NGX_HTTP_ABTEST_SHARE_ALL);
        return NGX_ERROR;
    }

    state->coverage = ngx_http_abtest_state_share(v,
                                                  exp->conf_state.coverage);

    path[0] = "schedule_start_ms";
    v = yajl_tree_get(obj, path, yajl_t_any);
    state->schedule_start = v ? ngx_http_abtest_state_ms(v)
                              : exp->conf_state.schedule_start;

    path[0] = "schedule_stop_ms";
    v = yajl_tree_get(obj, path, yajl_t_any);
    state->schedule_stop = v ? ngx_http_abtest_state_ms(v)
                             : exp->conf_state.schedule_stop;

    return NGX_OK;
}


/* a share of SHARE_ALL; "dflt" where there is none, NGX_ERROR if bad */

static ngx_int_t
ngx_http_abtest_state_share(yajl_val v, ngx_uint_t dflt)
{
    if (v == NULL) {
        return dflt;
    }

    if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0
        || YAJL_GET_INTEGER(v) > NGX_HTTP_ABTEST_SHARE_ALL)
    {
        return NGX_ERROR;
    }

    return (ngx_int_t) YAJL_GET_INTEGER(v);
}


/* {"share": N, "configured": N}: kept where abtest_holdout is unchanged */

static void
ngx_http_abtest_state_holdout(yajl_val v,
    ngx_http_abtest_saved_holdout_t *holdout)
{
    ngx_int_t    share, configured;
    const char  *path[2];

    if (v == NULL) {
        return;
    }

    path[1] = NULL;

    path[0] = "share";
    share = ngx_http_abtest_state_share(yajl_tree_get(v, path, yajl_t_any),
                                        (ngx_uint_t) NGX_ERROR);
    path[0] = "configured";
    configured = ngx_http_abtest_state_share(yajl_tree_get(v, path,
                                                           yajl_t_any),
                                             (ngx_uint_t) NGX_ERROR);

    if (share == NGX_ERROR || configured == NGX_ERROR) {
        return;
    }

    holdout->share = share;
    holdout->configured = configured;
    holdout->found = 1;
}


static int64_t
ngx_http_abtest_state_ms(yajl_val v)
{
    if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0) {
        return -1;
    }

    return YAJL_GET_INTEGER(v);
}
