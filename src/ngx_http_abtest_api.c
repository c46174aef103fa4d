
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The JSON locations (abtest_api): the dispatcher, and experiments (GET,
 * and POST .../update with write=on) and expgroups, in the shapes of the
 * seed demo's Flask app.
 */


#include "ngx_http_abtest_api.h"
#include "ngx_http_abtest_assign.h"
#include "ngx_http_abtest_events.h"
#include "ngx_http_abtest_experiment.h"
#include "ngx_http_abtest_http.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_stats.h"
#include "ngx_http_abtest_status.h"
#include "ngx_http_abtest_metrics.h"
#include "ngx_http_abtest_store.h"
#include "ngx_http_abtest_target.h"
#include "ngx_http_abtest_util.h"


/* an events location without client_max_body_size (0) takes this much */
#define NGX_HTTP_ABTEST_EVENTS_BODY_MAX  (16 * 1024 * 1024)


static ngx_int_t ngx_http_abtest_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_api_experiments(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_api_expgroups(ngx_http_request_t *r);
static void ngx_http_abtest_api_backend_event(ngx_http_request_t *r,
    ngx_str_t *device, ngx_http_abtest_ctx_t *ctx, yajl_gen g);
static void ngx_http_abtest_api_update_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_abtest_api_holdout(ngx_http_request_t *r,
    yajl_val tree, yajl_val v);
static ngx_int_t ngx_http_abtest_api_update(ngx_http_request_t *r);
static void ngx_http_abtest_api_stored(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_runtime_t *rt,
    ngx_int_t status, const char *err);
static ngx_int_t ngx_http_abtest_api_updated(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_node_t *node);
static void ngx_http_abtest_api_experiment(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_node_t *node,
    ngx_uint_t holdout);


/*
 * abtest_api experiments [write=on|off] | expgroups
 *          | events [trusted=on|off] | stats | status | metrics
 */

char *
ngx_http_abtest_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_loc_conf_t *alcf = conf;

    ngx_str_t                    *value;
    ngx_uint_t                    i;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_abtest_main_conf_t  *amcf;

    if (alcf->api != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "experiments") == 0) {
        alcf->api = NGX_HTTP_ABTEST_API_EXPERIMENTS;

    } else if (ngx_strcmp(value[1].data, "expgroups") == 0) {
        alcf->api = NGX_HTTP_ABTEST_API_EXPGROUPS;

    } else if (ngx_strcmp(value[1].data, "events") == 0) {
        alcf->api = NGX_HTTP_ABTEST_API_EVENTS;

    } else if (ngx_strcmp(value[1].data, "stats") == 0) {
        alcf->api = NGX_HTTP_ABTEST_API_STATS;

    } else if (ngx_strcmp(value[1].data, "status") == 0) {
        alcf->api = NGX_HTTP_ABTEST_API_STATUS;

    } else if (ngx_strcmp(value[1].data, "metrics") == 0) {
        alcf->api = NGX_HTTP_ABTEST_API_METRICS;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown API \"%V\": use experiments, expgroups, "
                           "events, stats, status or metrics", &value[1]);
        return NGX_CONF_ERROR;
    }

    alcf->api_write = 0;
    alcf->api_trusted = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        if (alcf->api == NGX_HTTP_ABTEST_API_EXPERIMENTS
            && ngx_strncmp(value[i].data, "write=", 6) == 0)
        {
            if (ngx_strcmp(value[i].data + 6, "on") == 0) {
                alcf->api_write = 1;
                continue;
            }

            if (ngx_strcmp(value[i].data + 6, "off") == 0) {
                continue;
            }
        }

        /* events of any device: a backend's, behind access control */
        if (alcf->api == NGX_HTTP_ABTEST_API_EVENTS
            && ngx_strncmp(value[i].data, "trusted=", 8) == 0)
        {
            if (ngx_strcmp(value[i].data + 8, "on") == 0) {
                alcf->api_trusted = 1;
                continue;
            }

            if (ngx_strcmp(value[i].data + 8, "off") == 0) {
                continue;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    /* what needs the zone is checked once the whole http block is known */
    if (alcf->api_write || alcf->api == NGX_HTTP_ABTEST_API_EVENTS
        || alcf->api == NGX_HTTP_ABTEST_API_STATS)
    {
        amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_abtest_module);

        amcf->zone_user = value[1];
        amcf->zone_user_write = alcf->api_write;
        amcf->zone_user_file = cf->conf_file->file.name.data;
        amcf->zone_user_line = cf->conf_file->line;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_abtest_api_handler;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_abtest_api_check(ngx_conf_t *cf, ngx_http_abtest_main_conf_t *amcf)
{
    if (amcf->zone_user_file && amcf->zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"abtest_api %V%s\" in %s:%ui needs a shared zone: "
                      "add \"abtest_zone zone=name:size\"",
                      &amcf->zone_user,
                      amcf->zone_user_write ? " write=on" : "",
                      amcf->zone_user_file, amcf->zone_user_line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * From the location's merge.  A limit_except block inside an API location
 * answers with the API, as proxy_pass's does; a nested named location
 * does not.
 *
 * An API location that takes bodies bounds them itself, so that a body
 * too large gets a JSON answer like every other refusal: nginx's own
 * check, made before any handler runs, is turned off there, and the
 * module's request body filter bounds bodies of unknown length as they
 * are read.  Blocks inside it (if, limit_except) inherit the limit.
 */

void
ngx_http_abtest_api_merge(ngx_conf_t *cf, ngx_http_abtest_loc_conf_t *prev,
    ngx_http_abtest_loc_conf_t *alcf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* named locations inside one are not API locations */
    if (!clcf->noname && clcf->handler != ngx_http_abtest_api_handler) {
        alcf->api = NGX_HTTP_ABTEST_API_NONE;
    }

    if (clcf->lmt_excpt && clcf->handler == NULL
        && alcf->api != NGX_HTTP_ABTEST_API_NONE)
    {
        clcf->handler = ngx_http_abtest_api_handler;
    }

    if (clcf->handler == ngx_http_abtest_api_handler
        && alcf->body_max == NGX_CONF_UNSET)
    {
        if (alcf->api == NGX_HTTP_ABTEST_API_EVENTS) {
            alcf->body_max = clcf->client_max_body_size
                             ? clcf->client_max_body_size
                             : NGX_HTTP_ABTEST_EVENTS_BODY_MAX;
            alcf->body_max_name = "client_max_body_size";

        } else if (alcf->api == NGX_HTTP_ABTEST_API_EXPERIMENTS
                   && alcf->api_write)
        {
            /* bodies that fit the body buffer are taken, larger refused */
            alcf->body_max = clcf->client_body_buffer_size;
            alcf->body_max_name = "client_body_buffer_size";
        }
    }

    ngx_conf_merge_off_value(alcf->body_max, prev->body_max, 0);

    if (alcf->body_max_name == NULL) {
        alcf->body_max_name = prev->body_max_name;
    }

    /* nginx's own check would answer before the API can, and in HTML */
    if (alcf->api != NGX_HTTP_ABTEST_API_NONE && alcf->body_max) {
        clcf->client_max_body_size = 0;
    }
}


static ngx_int_t
ngx_http_abtest_api_handler(ngx_http_request_t *r)
{
    ngx_http_abtest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    switch (alcf->api) {

    case NGX_HTTP_ABTEST_API_EXPGROUPS:
        return ngx_http_abtest_api_expgroups(r);

    case NGX_HTTP_ABTEST_API_EVENTS:
        return ngx_http_abtest_events_handler(r);

    case NGX_HTTP_ABTEST_API_STATS:
        return ngx_http_abtest_stats_handler(r);

    case NGX_HTTP_ABTEST_API_STATUS:
        return ngx_http_abtest_status_handler(r);

    case NGX_HTTP_ABTEST_API_METRICS:
        return ngx_http_abtest_metrics_handler(r);
    }

    return ngx_http_abtest_api_experiments(r);
}


static ngx_int_t
ngx_http_abtest_api_experiments(ngx_http_request_t *r)
{
    yajl_gen                       g;
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_http_abtest_node_t        *nodes;
    ngx_http_abtest_loc_conf_t    *alcf;
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    if (r->uri.len >= sizeof("/update") - 1
        && ngx_strncmp(r->uri.data + r->uri.len - (sizeof("/update") - 1),
                       "/update", sizeof("/update") - 1)
           == 0)
    {
        alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

        if (!alcf->api_write) {
            return ngx_http_abtest_http_error(r, NGX_HTTP_FORBIDDEN,
                                    "this location is read-only: "
                                    "\"abtest_api experiments write=on\" "
                                    "enables updates");
        }

        if (r->method != NGX_HTTP_POST) {
            return ngx_http_abtest_http_not_allowed(r, "POST");
        }

        if (ngx_http_abtest_http_own_host(r) != NGX_OK) {
            return ngx_http_abtest_http_not_own_host(r);
        }

        if (ngx_http_abtest_http_same_origin(r) != NGX_OK) {
            return ngx_http_abtest_http_error(r, NGX_HTTP_FORBIDDEN,
                                    "Origin: writes from another site are "
                                    "refused");
        }

        return ngx_http_abtest_http_read_json(r,
                                              ngx_http_abtest_api_update_body);
    }

    rc = ngx_http_abtest_http_get(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);
    exp = amcf->experiments.elts;

    nodes = ngx_palloc(r->pool, (amcf->experiments.nelts + 1)
                                * sizeof(ngx_http_abtest_node_t));
    g = ngx_http_abtest_json_gen(r->pool);

    if (nodes == NULL || g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_abtest_shm_snapshot(amcf, nodes, NULL);

    yajl_gen_map_open(g);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        ngx_http_abtest_json_str(g, exp[i].name.data, exp[i].name.len);
        ngx_http_abtest_api_experiment(g, &exp[i], &nodes[i],
                                       ngx_http_abtest_shm_holdout(amcf));
    }

    yajl_gen_map_close(g);

    return ngx_http_abtest_http_send_json(r, NGX_HTTP_OK, g);
}


/*
 * GET ...?device_id=X: every experiment's state and the device's groups;
 * without device_id the caller's own device cookie (none is issued);
 * with neither, "group": "" as the seed answers.  With a device, the
 * answer is also stored as the seed's backend "exp_groups" event.
 */

static ngx_int_t
ngx_http_abtest_api_expgroups(ngx_http_request_t *r)
{
    yajl_gen                       g;
    ngx_int_t                      rc;
    ngx_str_t                      device, own;
    ngx_uint_t                     i, group, assigned, reason;
    ngx_http_abtest_ctx_t         *ctx;
    ngx_http_abtest_group_t       *groups;
    ngx_http_abtest_exp_state_t   *state;
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    rc = ngx_http_abtest_http_get(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    ngx_http_abtest_own_device(r, &own);

    if (ngx_http_arg(r, (u_char *) "device_id", sizeof("device_id") - 1,
                     &device)
        == NGX_OK)
    {
        if (ngx_http_abtest_valid_device_id(&device) != NGX_OK) {
            return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                    "device_id: use 1 to %d characters of "
                                    "[A-Za-z0-9_-]",
                                    NGX_HTTP_ABTEST_DEVICE_ID_MAX);
        }

    } else {
        device = own;
    }

    if (ngx_http_abtest_own_ctx(r, &device, &own, &ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = ngx_http_abtest_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    exp = amcf->experiments.elts;

    yajl_gen_map_open(g);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        groups = exp[i].groups.elts;
        state = ngx_http_abtest_shm_state(amcf, &exp[i]);

        ngx_http_abtest_json_str(g, exp[i].name.data, exp[i].name.len);
        yajl_gen_map_open(g);

        ngx_http_abtest_json_literal(g, "state");
        ngx_http_abtest_json_state_name(g, state->state);

        ngx_http_abtest_json_literal(g, "active");
        yajl_gen_bool(g, state->state == NGX_HTTP_ABTEST_STATE_ACTIVE);

        ngx_http_abtest_json_literal(g, "fallback");
        ngx_http_abtest_json_str(g, groups[exp[i].fallback].name.data,
                                 groups[exp[i].fallback].name.len);

        if (device.len == 0) {
            ngx_http_abtest_json_literal(g, "assigned");
            ngx_http_abtest_json_literal(g, "");
            ngx_http_abtest_json_literal(g, "group");
            ngx_http_abtest_json_literal(g, "");
            yajl_gen_map_close(g);
            continue;
        }

        group = ngx_http_abtest_group_of(r, ctx, &exp[i], &device,
                                         &assigned, &reason);

        ngx_http_abtest_json_literal(g, "in_experiment");
        yajl_gen_bool(g, reason == NGX_HTTP_ABTEST_ENTERS);

        ngx_http_abtest_json_literal(g, "reason");

        if (reason == NGX_HTTP_ABTEST_ENTERS) {
            yajl_gen_null(g);

        } else {
            ngx_http_abtest_json_str(g,
                                     ngx_http_abtest_reason_name(reason)->data,
                                     ngx_http_abtest_reason_name(reason)->len);
        }

        ngx_http_abtest_json_literal(g, "assigned");

        if (assigned < exp[i].groups.nelts) {
            ngx_http_abtest_json_str(g, groups[assigned].name.data,
                                     groups[assigned].name.len);
        } else {
            yajl_gen_null(g);
        }

        ngx_http_abtest_json_literal(g, "group");

        if (group < exp[i].groups.nelts) {
            ngx_http_abtest_json_str(g, groups[group].name.data,
                                     groups[group].name.len);
        } else {
            yajl_gen_null(g);
        }

        yajl_gen_map_close(g);
    }

    yajl_gen_map_close(g);

    /* a HEAD only asks what a GET would answer: it stores nothing */
    if (device.len && amcf->zone && r->method != NGX_HTTP_HEAD) {
        ngx_http_abtest_api_backend_event(r, &device, ctx, g);
    }

    return ngx_http_abtest_http_send_json(r, NGX_HTTP_OK, g);
}


/*
 * The seed posts each expgroups answer as an event of its own; failing to
 * store it does not fail the answer, it is logged.
 */

static void
ngx_http_abtest_api_backend_event(ngx_http_request_t *r, ngx_str_t *device,
    ngx_http_abtest_ctx_t *ctx, yajl_gen g)
{
    u_char                          *p;
    ngx_int_t                        rc;
    ngx_str_t                        answer;
    const char                      *msg;
    ngx_http_abtest_event_t          ev;
    ngx_http_abtest_event_fields_t   f;

    if (ngx_http_abtest_json_buf(g, r->pool, &answer) != NGX_OK) {
        return;
    }

    p = ngx_pnalloc(r->pool, NGX_HTTP_ABTEST_ISO_LEN + 2);
    if (p == NULL) {
        return;
    }

    ngx_memzero(&f, sizeof(ngx_http_abtest_event_fields_t));

    f.ts.data = p;
    *p++ = '"';
    p = ngx_http_abtest_iso_time(p, ngx_http_abtest_now_ms());
    *p++ = '"';
    f.ts.len = p - f.ts.data;

    ngx_str_set(&f.name, "exp_groups");
    ngx_str_set(&f.source, "\"backend\"");
    f.device_id = *device;
    f.params.data = answer.data;
    f.params.len = answer.len - 1;    /* without the newline */

    if (ngx_http_abtest_event_make(r, &f, ctx, &ev) != NGX_OK) {
        return;
    }

    rc = ngx_http_abtest_events_store(r, &ev, 1, &msg);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "abtest: the exp_groups event was not stored: %s", msg);
    }
}


static void
ngx_http_abtest_api_update_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_abtest_api_update(r));
}


static ngx_int_t
ngx_http_abtest_api_update(ngx_http_request_t *r)
{
    u_char                         err[256];
    yajl_val                       tree, v;
    ngx_int_t                      rc;
    ngx_uint_t                     status;
    const char                    *msg, *path[2];
    ngx_http_abtest_node_t         node;
    ngx_http_abtest_update_t       up;
    ngx_http_abtest_main_conf_t   *amcf;
    ngx_http_abtest_experiment_t  *exp;

    rc = ngx_http_abtest_http_parse_body(r, NGX_HTTP_ABTEST_UPDATE_DEPTH,
                                         "a JSON object", &tree);
    if (tree == NULL) {
        return rc;
    }

    if (!YAJL_IS_OBJECT(tree)) {
        return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                          "body: must be a JSON object");
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    path[0] = "holdout";
    path[1] = NULL;

    v = yajl_tree_get(tree, path, yajl_t_any);

    if (v) {
        return ngx_http_abtest_api_holdout(r, tree, v);
    }

    status = ngx_http_abtest_api_parse_update(amcf, tree, &exp, &up, err,
                                              sizeof(err));
    if (status != NGX_HTTP_OK) {
        return ngx_http_abtest_http_error(r, status, "%s", err);
    }

    if (amcf->store) {
        /* one transaction in the store; answered once it is committed */
        rc = ngx_http_abtest_store_update(r, exp, &up,
                                          ngx_http_abtest_api_stored, &msg);
        if (rc == NGX_DONE) {
            return NGX_DONE;
        }

        return ngx_http_abtest_http_error(r, rc, "%s", msg);
    }

    rc = ngx_http_abtest_shm_update(amcf, exp, &up, &node, &msg);
    if (rc != NGX_OK) {
        return ngx_http_abtest_http_error(r, rc, "%s", msg);
    }

    return ngx_http_abtest_api_updated(r, exp, &node);
}


/*
 * {"holdout": 0.05}: the share of devices kept out of every experiment,
 * server-wide, so alone in its body
 */

static ngx_int_t
ngx_http_abtest_api_holdout(ngx_http_request_t *r, yajl_val tree,
    yajl_val v)
{
    yajl_gen                      g;
    ngx_int_t                     share;
    ngx_http_abtest_main_conf_t  *amcf;

    if (tree->u.object.len != 1) {
        return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                    "holdout: is set alone, without a "
                                    "name or other fields");
    }

    share = ngx_http_abtest_json_share_value(v);

    if (share == NGX_ERROR) {
        return ngx_http_abtest_http_error(r, NGX_HTTP_BAD_REQUEST,
                                    "holdout: must be a number from 0 to 1 "
                                    "in steps of 0.0001");
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    ngx_http_abtest_shm_set_holdout(amcf, share);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "abtest: the holdout was set to %ui.%02ui%% through the "
                  "API", share / 100, share % 100);

    if (ngx_http_abtest_shm_save(amcf, r->connection->log) == NGX_ERROR) {
        return ngx_http_abtest_http_error(r,
                                    NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "the change is live, but the state "
                                    "file could not be written: see the "
                                    "error log");
    }

    g = ngx_http_abtest_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);
    ngx_http_abtest_json_literal(g, "holdout");
    ngx_http_abtest_json_share(g, share);
    yajl_gen_map_close(g);

    return ngx_http_abtest_http_send_json(r, NGX_HTTP_OK, g);
}


/* the store's answer to an update: committed (and applied), or refused */

static void
ngx_http_abtest_api_stored(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_runtime_t *rt,
    ngx_int_t status, const char *err)
{
    ngx_http_abtest_node_t  node;

    if (rt == NULL) {
        ngx_http_finalize_request(r, ngx_http_abtest_http_error(r, status,
                                                                "%s", err));
        return;
    }

    /* the record committed, whatever the zone holds by now */
    ngx_memzero(&node, sizeof(ngx_http_abtest_node_t));
    node.state = rt->state;
    node.start = rt->start;
    node.end = rt->end;

    ngx_http_finalize_request(r, ngx_http_abtest_api_updated(r, exp, &node));
}


/* the change is made: logged, saved, and answered with the experiment */

static ngx_int_t
ngx_http_abtest_api_updated(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_node_t *node)
{
    yajl_gen                      g;
    ngx_http_abtest_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "abtest: experiment \"%V\" updated through the API",
                  &exp->name);

    if (ngx_http_abtest_shm_save(amcf, r->connection->log) == NGX_ERROR) {
        return ngx_http_abtest_http_error(r,
                                    NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "the change is live, but the state "
                                    "file could not be written: see the "
                                    "error log");
    }

    g = ngx_http_abtest_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);
    ngx_http_abtest_json_str(g, exp->name.data, exp->name.len);
    ngx_http_abtest_api_experiment(g, exp, node,
                                   ngx_http_abtest_shm_holdout(amcf));
    yajl_gen_map_close(g);

    return ngx_http_abtest_http_send_json(r, NGX_HTTP_OK, g);
}


/*
 * {"name": "...", "groups": {...}, "state": "...", "rollout_group": ...,
 *  "reset_stats": true}: every field but "name" optional, nothing else
 */

ngx_uint_t
ngx_http_abtest_api_parse_update(ngx_http_abtest_main_conf_t *amcf,
    yajl_val obj, ngx_http_abtest_experiment_t **expp,
    ngx_http_abtest_update_t *up, u_char *err, size_t err_len)
{
    size_t                         i, len;
    int64_t                        t;
    yajl_val                       v;
    ngx_int_t                      share;
    const char                    *key, *name, *text, *path[2];
    ngx_http_abtest_experiment_t  *exp;

    path[0] = "name";
    path[1] = NULL;

    v = yajl_tree_get(obj, path, yajl_t_any);
    name = YAJL_GET_STRING(v);

    if (name == NULL) {
        ngx_snprintf(err, err_len, "name: a string is required%Z");
        return NGX_HTTP_BAD_REQUEST;
    }

    len = ngx_strlen(name);

    exp = ngx_http_abtest_find_experiment(amcf, (u_char *) name, len, 0);
    if (exp == NULL) {
        ngx_snprintf(err, err_len, "name: no experiment \"%s\"%Z",
                     ngx_http_abtest_client_name(name));
        return NGX_HTTP_NOT_FOUND;
    }

    ngx_memzero(up, sizeof(ngx_http_abtest_update_t));

    for (i = 0; i < obj->u.object.len; i++) {
        key = obj->u.object.keys[i];
        v = obj->u.object.values[i];

        if (ngx_strcmp(key, "name") == 0) {
            continue;
        }

        if (ngx_strcmp(key, "groups") == 0) {
            if (ngx_http_abtest_json_weights(v, exp, up->weights, &up->total,
                                             err, err_len)
                != NGX_OK)
            {
                return NGX_HTTP_BAD_REQUEST;
            }

            up->has_weights = 1;
            continue;
        }

        if (ngx_strcmp(key, "state") == 0) {
            if (ngx_http_abtest_json_state(v, &up->state) != NGX_OK) {
                ngx_snprintf(err, err_len, "state: must be \"active\", "
                             "\"inactive\" or \"rollout\"%Z");
                return NGX_HTTP_BAD_REQUEST;
            }

            up->has_state = 1;
            continue;
        }

        if (ngx_strcmp(key, "rollout_group") == 0) {
            if (ngx_http_abtest_json_group(v, exp, &up->rollout) != NGX_OK) {
                ngx_snprintf(err, err_len, "rollout_group: must be a group "
                             "of \"%V\" or null%Z", &exp->name);
                return NGX_HTTP_BAD_REQUEST;
            }

            up->has_rollout = 1;
            continue;
        }

        if (ngx_strcmp(key, "reset_stats") == 0) {
            if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)) {
                ngx_snprintf(err, err_len,
                             "reset_stats: must be true or false%Z");
                return NGX_HTTP_BAD_REQUEST;
            }

            up->reset_stats = YAJL_IS_TRUE(v);
            continue;
        }

        if (ngx_strcmp(key, "coverage") == 0) {
            share = ngx_http_abtest_json_share_value(v);

            if (share == NGX_ERROR) {
                ngx_snprintf(err, err_len, "coverage: must be a number "
                             "from 0 to 1 in steps of 0.0001%Z");
                return NGX_HTTP_BAD_REQUEST;
            }

            up->has_coverage = 1;
            up->coverage = share;
            continue;
        }

        if (ngx_strcmp(key, "start") == 0 || ngx_strcmp(key, "stop") == 0) {
            /* null: no bound */
            t = -1;
            text = YAJL_GET_STRING(v);

            if (text) {
                t = ngx_http_abtest_parse_iso_time((u_char *) text,
                                                   ngx_strlen(text));
            }

            if (text ? t == NGX_ERROR : !YAJL_IS_NULL(v)) {
                ngx_snprintf(err, err_len, "%s: must be a time in UTC, as "
                             "in \"2026-12-24T00:00:00Z\", or null%Z", key);
                return NGX_HTTP_BAD_REQUEST;
            }

            if (key[2] == 'a') {
                up->has_schedule_start = 1;
                up->schedule_start = t;

            } else {
                up->has_schedule_stop = 1;
                up->schedule_stop = t;
            }

            continue;
        }

        ngx_snprintf(err, err_len, "unknown field \"%s\"%Z",
                     ngx_http_abtest_client_name(key));
        return NGX_HTTP_BAD_REQUEST;
    }

    *expp = exp;

    return NGX_HTTP_OK;
}


/*
 * One experiment as GET /api/experiments shows it: a superset of both
 * seed versions ("active" of the first, "state" of the later ones).
 */

static void
ngx_http_abtest_api_experiment(yajl_gen g, ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_node_t *node, ngx_uint_t holdout)
{
    ngx_uint_t                i;
    ngx_http_abtest_group_t  *group;

    group = exp->groups.elts;

    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "title");
    ngx_http_abtest_json_str(g, exp->title.data, exp->title.len);

    ngx_http_abtest_json_literal(g, "groups");
    yajl_gen_map_open(g);

    for (i = 0; i < exp->groups.nelts; i++) {
        ngx_http_abtest_json_str(g, group[i].name.data, group[i].name.len);
        yajl_gen_integer(g, node->state.weights[i]);
    }

    yajl_gen_map_close(g);

    ngx_http_abtest_json_literal(g, "fallback");
    ngx_http_abtest_json_str(g, group[exp->fallback].name.data,
                             group[exp->fallback].name.len);

    ngx_http_abtest_json_literal(g, "state");
    ngx_http_abtest_json_state_name(g, node->state.state);

    ngx_http_abtest_json_literal(g, "active");
    yajl_gen_bool(g, node->state.state == NGX_HTTP_ABTEST_STATE_ACTIVE);

    ngx_http_abtest_json_literal(g, "rollout_group");

    if (node->state.rollout == NGX_HTTP_ABTEST_NO_GROUP) {
        yajl_gen_null(g);

    } else {
        ngx_http_abtest_json_str(g, group[node->state.rollout].name.data,
                                 group[node->state.rollout].name.len);
    }

    /* when it last started and ended (they were "start" and "end") */
    ngx_http_abtest_json_literal(g, "started");
    ngx_http_abtest_json_time(g, node->start);

    ngx_http_abtest_json_literal(g, "ended");
    ngx_http_abtest_json_time(g, node->end);

    /* who enters (ngx_http_abtest_target.c) */
    ngx_http_abtest_json_literal(g, "start");
    ngx_http_abtest_json_time(g, node->state.schedule_start);

    ngx_http_abtest_json_literal(g, "stop");
    ngx_http_abtest_json_time(g, node->state.schedule_stop);

    ngx_http_abtest_json_literal(g, "coverage");
    ngx_http_abtest_json_share(g, node->state.coverage);

    ngx_http_abtest_json_literal(g, "holdout");
    ngx_http_abtest_json_share(g, holdout);

    ngx_http_abtest_json_literal(g, "target");

    if (exp->target) {
        ngx_http_abtest_json_str(g, exp->target->value.data,
                                 exp->target->value.len);

    } else {
        yajl_gen_null(g);
    }

    ngx_http_abtest_json_literal(g, "layer");

    if (exp->layer) {
        yajl_gen_map_open(g);
        ngx_http_abtest_json_literal(g, "name");
        ngx_http_abtest_json_str(g, exp->layer->name.data,
                                 exp->layer->name.len);
        ngx_http_abtest_json_literal(g, "from");
        ngx_http_abtest_json_share(g, exp->layer_from);
        ngx_http_abtest_json_literal(g, "to");
        ngx_http_abtest_json_share(g, exp->layer_to);
        yajl_gen_map_close(g);

    } else {
        yajl_gen_null(g);
    }

    /* the group cookie, which keeps devices in their group (stickiness) */
    ngx_http_abtest_json_literal(g, "cookie");

    if (exp->cookie.len) {
        ngx_http_abtest_json_str(g, exp->cookie.data, exp->cookie.len);

    } else {
        yajl_gen_null(g);
    }

    yajl_gen_map_close(g);
}
