
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * abtest_api status: what an operator asks of one server.  Its node
 * name, the store (connected, the version it read up to, when, the last
 * error), where each experiment's run-time record comes from, the zone's
 * use, the events ring, and the events log as this worker sees it.
 */


#include "ngx_http_abtest_status.h"
#include "ngx_http_abtest_event_log.h"
#include "ngx_http_abtest_http.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_store.h"


static void ngx_http_abtest_status_store(yajl_gen g,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_shm_status_t *st);
static void ngx_http_abtest_status_experiments(yajl_gen g,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_node_t *nodes);
static void ngx_http_abtest_status_zone(yajl_gen g,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_shm_status_t *st);
static void ngx_http_abtest_status_events_log(yajl_gen g,
    ngx_http_abtest_main_conf_t *amcf);


static ngx_str_t  ngx_http_abtest_sources[] = {
    ngx_string("configuration"),
    ngx_string("store"),
    ngx_string("mismatch")
};


ngx_int_t
ngx_http_abtest_status_handler(ngx_http_request_t *r)
{
    yajl_gen                       g;
    ngx_int_t                      rc;
    ngx_http_abtest_node_t        *nodes;
    ngx_http_abtest_shm_status_t   st;
    ngx_http_abtest_main_conf_t   *amcf;

    rc = ngx_http_abtest_http_get(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_abtest_module);

    nodes = ngx_palloc(r->pool, (amcf->experiments.nelts + 1)
                                * sizeof(ngx_http_abtest_node_t));
    g = ngx_http_abtest_json_gen(r->pool);

    if (nodes == NULL || g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_abtest_shm_snapshot(amcf, nodes, NULL);

    if (amcf->zone) {
        ngx_http_abtest_shm_status(amcf, &st);
    }

    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "node");
    ngx_http_abtest_json_str(g, amcf->node.data, amcf->node.len);

    ngx_http_abtest_json_literal(g, "module");
    ngx_http_abtest_json_literal(g, NGX_HTTP_ABTEST_VERSION);

    ngx_http_abtest_json_literal(g, "nginx");
    ngx_http_abtest_json_literal(g, NGINX_VERSION);

    ngx_http_abtest_json_literal(g, "pid");
    yajl_gen_integer(g, ngx_pid);

    ngx_http_abtest_json_literal(g, "store");
    ngx_http_abtest_status_store(g, amcf, &st);

    ngx_http_abtest_json_literal(g, "experiments");
    ngx_http_abtest_status_experiments(g, amcf, nodes);

    ngx_http_abtest_status_zone(g, amcf, &st);

    ngx_http_abtest_json_literal(g, "events_log");
    ngx_http_abtest_status_events_log(g, amcf);

    yajl_gen_map_close(g);

    return ngx_http_abtest_http_send_json(r, NGX_HTTP_OK, g);
}


/*
 * "store": null without one; else the listener's view, shared by the
 * server's workers: never the connection string, which may hold the
 * password, only "host:port/dbname".
 */

static void
ngx_http_abtest_status_store(yajl_gen g, ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_shm_status_t *st)
{
    ngx_http_abtest_store_conf_t  *scf;

    scf = amcf->store;

    if (scf == NULL) {
        yajl_gen_null(g);
        return;
    }

    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "connected");
    yajl_gen_bool(g, st->store.connected != 0);

    ngx_http_abtest_json_literal(g, "version");
    yajl_gen_integer(g, st->store.version);

    ngx_http_abtest_json_literal(g, "applied");
    ngx_http_abtest_json_time(g, st->store.applied ? st->store.applied : -1);

    ngx_http_abtest_json_literal(g, "error");

    if (st->store.error[0]) {
        ngx_http_abtest_json_str(g, st->store.error,
                                 ngx_strlen(st->store.error));
    } else {
        yajl_gen_null(g);
    }

    /* caught up since it connected: updates are taken */
    ngx_http_abtest_json_literal(g, "ready");
    yajl_gen_bool(g, st->store.ready != 0);

    ngx_http_abtest_json_literal(g, "target");
    ngx_http_abtest_json_str(g, scf->target.data, scf->target.len);

    ngx_http_abtest_json_literal(g, "listener");
    ngx_http_abtest_json_integer_or_null(g, st->store.listener
                                            ? (int64_t) st->store.listener
                                            : -1);

    ngx_http_abtest_json_literal(g, "timeout_ms");
    yajl_gen_integer(g, scf->timeout);

    ngx_http_abtest_json_literal(g, "poll_ms");
    yajl_gen_integer(g, scf->poll);

    yajl_gen_map_close(g);
}


/* {"name": {"version": N, "source": "store", "groups": "A,B"}, ...} */

static void
ngx_http_abtest_status_experiments(yajl_gen g,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_node_t *nodes)
{
    ngx_str_t                     *source;
    ngx_uint_t                     i, k;
    ngx_http_abtest_experiment_t  *exp;

    exp = amcf->experiments.elts;

    yajl_gen_map_open(g);

    for (i = 0; i < amcf->experiments.nelts; i++) {
        ngx_http_abtest_json_str(g, exp[i].name.data, exp[i].name.len);

        yajl_gen_map_open(g);

        /* the version of the store's row it runs from, if any */
        ngx_http_abtest_json_literal(g, "version");
        ngx_http_abtest_json_integer_or_null(g, nodes[i].store_version
                                                ? nodes[i].store_version
                                                : -1);

        k = amcf->store ? nodes[i].source
                        : NGX_HTTP_ABTEST_SOURCE_CONFIGURATION;
        source = &ngx_http_abtest_sources[k];

        ngx_http_abtest_json_literal(g, "source");
        ngx_http_abtest_json_str(g, source->data, source->len);

        ngx_http_abtest_json_literal(g, "groups");
        ngx_http_abtest_json_str(g, exp[i].generation.data,
                                 exp[i].generation.len);

        ngx_http_abtest_json_literal(g, "state");
        ngx_http_abtest_json_state_name(g, nodes[i].state.state);

        yajl_gen_map_close(g);
    }

    yajl_gen_map_close(g);
}


/* "zone" and "ring": null without a zone */

static void
ngx_http_abtest_status_zone(yajl_gen g, ngx_http_abtest_main_conf_t *amcf,
    ngx_http_abtest_shm_status_t *st)
{
    ngx_http_abtest_json_literal(g, "zone");

    if (amcf->zone == NULL) {
        yajl_gen_null(g);
        ngx_http_abtest_json_literal(g, "ring");
        yajl_gen_null(g);
        return;
    }

    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "name");
    ngx_http_abtest_json_str(g, st->name.data, st->name.len);

    ngx_http_abtest_json_literal(g, "size");
    yajl_gen_integer(g, st->size);

    /* whole pages in use: the ring takes what the experiments leave */
    ngx_http_abtest_json_literal(g, "used");
    yajl_gen_integer(g, st->used);

    ngx_http_abtest_json_literal(g, "state_file");

    if (st->state_file.len) {
        ngx_http_abtest_json_str(g, st->state_file.data, st->state_file.len);
    } else {
        yajl_gen_null(g);
    }

    /* the devices' table (devices=N): its records, of every experiment */
    ngx_http_abtest_json_literal(g, "devices");
    yajl_gen_integer(g, st->devices);

    ngx_http_abtest_json_literal(g, "devices_max");
    yajl_gen_integer(g, st->devices_max);

    yajl_gen_map_close(g);

    ngx_http_abtest_json_literal(g, "ring");
    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "events");
    yajl_gen_integer(g, st->next_id - st->first_id);

    ngx_http_abtest_json_literal(g, "capacity");
    yajl_gen_integer(g, st->nslots);

    ngx_http_abtest_json_literal(g, "first_id");
    yajl_gen_integer(g, st->first_id);

    ngx_http_abtest_json_literal(g, "next_id");
    yajl_gen_integer(g, st->next_id);

    /* left early for lack of room in the zone */
    ngx_http_abtest_json_literal(g, "evicted");
    yajl_gen_integer(g, st->evicted);

    yajl_gen_map_close(g);
}


/* "events_log": null without one; its writes are this worker's own */

static void
ngx_http_abtest_status_events_log(yajl_gen g,
    ngx_http_abtest_main_conf_t *amcf)
{
    ngx_str_t                          target;
    ngx_http_abtest_event_log_state_t  st;

    if (amcf->event_log == NULL) {
        yajl_gen_null(g);
        return;
    }

    ngx_http_abtest_event_log_state(amcf->event_log, &target, &st);

    yajl_gen_map_open(g);

    ngx_http_abtest_json_literal(g, "target");
    ngx_http_abtest_json_str(g, target.data, target.len);

    ngx_http_abtest_json_literal(g, "failing");
    yajl_gen_bool(g, st.failing != 0);

    ngx_http_abtest_json_literal(g, "pending_bytes");
    yajl_gen_integer(g, st.pending);

    ngx_http_abtest_json_literal(g, "written_bytes");
    yajl_gen_integer(g, st.written);

    yajl_gen_map_close(g);
}
