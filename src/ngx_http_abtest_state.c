
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The state file (abtest_zone ... state=path): the run-time state of every
 * experiment, so that it survives a full restart.  Written whole to a
 * temporary file then renamed, never while holding the zone's lock.
 */


#include "ngx_http_abtest_state.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_json.h"


#define NGX_HTTP_ABTEST_STATE_FILE_MAX  (16 * 1024 * 1024)

/* {"experiments": {"name": {"configured": {"groups": {...}}}}} */
#define NGX_HTTP_ABTEST_STATE_DEPTH     6


static ngx_int_t ngx_http_abtest_state_write(ngx_http_abtest_main_conf_t *amcf,
    ngx_pool_t *pool, ngx_log_t *log);
static void ngx_http_abtest_state_weights(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, uint32_t *weights);
static u_char *ngx_http_abtest_state_read(ngx_str_t *path, ngx_log_t *log,
    size_t *len);
static ngx_int_t ngx_http_abtest_state_apply(
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_experiment_t *exp,
    yajl_val saved, ngx_log_t *log);
static ngx_int_t ngx_http_abtest_state_parse(ngx_http_abtest_experiment_t *exp,
    yajl_val obj, ngx_http_abtest_exp_state_t *state, u_char *err,
    size_t err_len);
static int64_t ngx_http_abtest_state_ms(yajl_val v);


/*
 * One saver at a time across all processes; a change made while a save is
 * running sets "dirty", and the saver writes again.  A saver that died is
 * noticed by its pid.
 */

ngx_int_t
ngx_http_abtest_state_save(ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log)
{
    ngx_int_t                 rc;
    ngx_uint_t                again;
    ngx_pool_t               *pool;
    ngx_slab_pool_t          *shpool;
    ngx_http_abtest_shctx_t  *sh;

    if (amcf->state_file.len == 0 || amcf->sh == NULL) {
        return NGX_OK;
    }

    sh = amcf->sh;
    shpool = amcf->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->saving && sh->saving != (ngx_uint_t) ngx_pid
        && kill((ngx_pid_t) sh->saving, 0) == 0)
    {
        sh->dirty = 1;
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_BUSY;
    }

    sh->saving = ngx_pid;

    ngx_shmtx_unlock(&shpool->mutex);

    do {
        ngx_shmtx_lock(&shpool->mutex);
        sh->dirty = 0;
        ngx_shmtx_unlock(&shpool->mutex);

        pool = ngx_create_pool(4096, log);

        if (pool == NULL) {
            rc = NGX_ERROR;

        } else {
            rc = ngx_http_abtest_state_write(amcf, pool, log);
            ngx_destroy_pool(pool);
        }

        ngx_shmtx_lock(&shpool->mutex);

        again = sh->dirty;

        if (!again) {
            sh->saving = 0;
        }

        ngx_shmtx_unlock(&shpool->mutex);

    } while (again);

    return rc;
}


static ngx_int_t
ngx_http_abtest_state_write(ngx_http_abtest_main_conf_t *amcf,
    ngx_pool_t *pool, ngx_log_t *log)
{
    u_char                        *temp;
    yajl_gen                       g;
    ngx_fd_t                       fd;
    ngx_str_t                      json;
    ngx_uint_t                     i, k;
    ngx_http_abtest_node_t        *nodes;
    ngx_http_abtest_experiment_t  *exp;

    exp = amcf->experiments.elts;

    nodes = ngx_palloc(pool, (amcf->experiments.nelts + 1)
                             * sizeof(ngx_http_abtest_node_t));
    g = ngx_http_abtest_json_gen(pool);

    if (nodes == NULL || g == NULL) {
        return NGX_ERROR;
    }

    ngx_http_abtest_shm_snapshot(amcf, nodes, NULL);

    /* the JSON is made after the lock is released */

    yajl_gen_map_open(g);
    ngx_http_abtest_json_literal(g, "version");
    yajl_gen_integer(g, 1);
    ngx_http_abtest_json_literal(g, "experiments");
    yajl_gen_map_open(g);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        ngx_http_abtest_json_str(g, exp[i].name.data, exp[i].name.len);
        yajl_gen_map_open(g);

        ngx_http_abtest_json_literal(g, "groups");
        ngx_http_abtest_state_weights(g, &exp[i], nodes[i].state.weights);

        ngx_http_abtest_json_literal(g, "state");
        ngx_http_abtest_json_state_name(g, nodes[i].state.state);

        ngx_http_abtest_json_literal(g, "rollout_group");
        if (nodes[i].state.rollout == NGX_HTTP_ABTEST_NO_GROUP) {
            yajl_gen_null(g);

        } else {
            yajl_gen_integer(g, nodes[i].state.rollout);
        }

        ngx_http_abtest_json_literal(g, "start_ms");
        if (nodes[i].start < 0) {
            yajl_gen_null(g);

        } else {
            yajl_gen_integer(g, nodes[i].start);
        }

        ngx_http_abtest_json_literal(g, "end_ms");
        if (nodes[i].end < 0) {
            yajl_gen_null(g);

        } else {
            yajl_gen_integer(g, nodes[i].end);
        }

        ngx_http_abtest_json_literal(g, "history");
        yajl_gen_array_open(g);

        for (k = 0; k < nodes[i].state.nhistory; k++) {
            ngx_http_abtest_state_weights(g, &exp[i],
                                          nodes[i].state.history[k]);
        }

        yajl_gen_array_close(g);

        /* what the configuration said, to notice it was edited since */
        ngx_http_abtest_json_literal(g, "configured");
        yajl_gen_map_open(g);
        ngx_http_abtest_json_literal(g, "groups");
        ngx_http_abtest_state_weights(g, &exp[i],
                                      nodes[i].configured.weights);
        ngx_http_abtest_json_literal(g, "state");
        ngx_http_abtest_json_state_name(g, nodes[i].configured.state);
        ngx_http_abtest_json_literal(g, "rollout_group");
        if (nodes[i].configured.rollout == NGX_HTTP_ABTEST_NO_GROUP) {
            yajl_gen_null(g);

        } else {
            yajl_gen_integer(g, nodes[i].configured.rollout);
        }
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

    temp = ngx_pnalloc(pool, amcf->state_file.len + sizeof(".tmp"));
    if (temp == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(temp, "%V.tmp%Z", &amcf->state_file);

    fd = ngx_open_file(temp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
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

    if (ngx_rename_file(temp, amcf->state_file.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "abtest: cannot write the state file, "
                      ngx_rename_file_n " \"%s\" to \"%V\" failed",
                      temp, &amcf->state_file);
        (void) ngx_delete_file(temp);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "abtest state file \"%V\" written", &amcf->state_file);

    return NGX_OK;
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
 * Called in the master for a fresh zone, after the experiments were set
 * up from the configuration: what the file says replaces that, one
 * experiment at a time, where it is valid and still fits the configuration.
 */

void
ngx_http_abtest_state_load(ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log)
{
    u_char                        *text, err[256];
    size_t                         len;
    yajl_val                       tree, exps, saved;
    ngx_uint_t                     i;
    ngx_pool_t                    *pool;
    const char                    *path[2];
    ngx_http_abtest_experiment_t  *exp;

    text = ngx_http_abtest_state_read(&amcf->state_file, log, &len);
    if (text == NULL) {
        return;
    }

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        ngx_free(text);
        return;
    }

    err[0] = '\0';
    tree = ngx_http_abtest_json_parse(pool, text, len,
                                      NGX_HTTP_ABTEST_STATE_DEPTH, err,
                                      sizeof(err));

    ngx_free(text);

    if (tree == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "abtest: state file \"%V\" cannot be read, "
                      "starting from the configuration: %s",
                      &amcf->state_file, err);
        goto done;
    }

    path[0] = "experiments";
    path[1] = NULL;

    exps = yajl_tree_get(tree, path, yajl_t_object);
    if (exps == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "abtest: state file \"%V\" has no \"experiments\" "
                      "object, starting from the configuration",
                      &amcf->state_file);
        goto done;
    }

    exp = amcf->experiments.elts;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        path[0] = (const char *) exp[i].name.data;
        saved = yajl_tree_get(exps, path, yajl_t_object);

        if (saved) {
            (void) ngx_http_abtest_state_apply(amcf, &exp[i], saved, log);
        }
    }

done:

    ngx_destroy_pool(pool);
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
ngx_http_abtest_state_apply(ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_experiment_t *exp, yajl_val saved, ngx_log_t *log)
{
    u_char                       err[256];
    uint64_t                     total;
    yajl_val                     v, conf;
    ngx_uint_t                   k;
    const char                  *path[2];
    ngx_http_abtest_node_t      *node;
    ngx_http_abtest_exp_state_t  state, configured;

    path[1] = NULL;

    path[0] = "configured";
    conf = yajl_tree_get(saved, path, yajl_t_object);

    if (conf == NULL
        || ngx_http_abtest_state_parse(exp, saved, &state, err, sizeof(err))
           != NGX_OK
        || ngx_http_abtest_state_parse(exp, conf, &configured, err,
                                       sizeof(err))
           != NGX_OK)
    {
        if (conf == NULL) {
            ngx_sprintf(err, "no \"configured\" object%Z");
        }

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "abtest: state file \"%V\": experiment \"%V\": %s, "
                      "using the configuration",
                      &amcf->state_file, &exp->name, err);
        return NGX_ERROR;
    }

    if (configured.state != exp->conf_state.state
        || configured.rollout != exp->conf_state.rollout
        || ngx_memcmp(configured.weights, exp->conf_state.weights,
                      sizeof(configured.weights))
           != 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "abtest: experiment \"%V\" was configured anew since "
                      "the state file was written, using the configuration",
                      &exp->name);
        return NGX_DECLINED;
    }

    node = amcf->nodes[exp->index];

    ngx_shmtx_lock(&amcf->shpool->mutex);

    node->state = state;

    path[0] = "start_ms";
    node->start = ngx_http_abtest_state_ms(yajl_tree_get(saved, path,
                                                         yajl_t_any));
    path[0] = "end_ms";
    node->end = ngx_http_abtest_state_ms(yajl_tree_get(saved, path,
                                                       yajl_t_any));
    path[0] = "history";
    v = yajl_tree_get(saved, path, yajl_t_array);

    node->state.nhistory = 0;

    for (k = 0; v && k < v->u.array.len && k < NGX_HTTP_ABTEST_HISTORY; k++) {
        if (ngx_http_abtest_json_weights(v->u.array.values[k], exp,
                                         node->state.history[k],
                                         &total, err, sizeof(err))
            != NGX_OK)
        {
            break;
        }

        node->state.nhistory = k + 1;
    }

    amcf->sh->version++;

    ngx_shmtx_unlock(&amcf->shpool->mutex);

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

    return NGX_OK;
}


static int64_t
ngx_http_abtest_state_ms(yajl_val v)
{
    if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0) {
        return -1;
    }

    return YAJL_GET_INTEGER(v);
}
