
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The fleet's store (abtest_store): PostgreSQL, reached with libpq's
 * asynchronous API from nginx's event loop.  Every worker has at most
 * one connection; one worker per server, the listener, makes the schema
 * and the rows its configuration lacks, LISTENs for changes and reads
 * the rows whose version moved (and every poll=), applying them to the
 * zone.  An update runs one transaction on its worker's connection and
 * is answered once it is committed.  Requests never wait on the store
 * but updates, which answer 503 within timeout= when it does not answer.
 */


#include "ngx_http_abtest_store.h"
#include "ngx_http_abtest_json.h"
#include "ngx_http_abtest_util.h"


#define NGX_HTTP_ABTEST_STORE_TIMEOUT  2000
#define NGX_HTTP_ABTEST_STORE_POLL     5000

#if (NGX_HTTP_ABTEST_STORE)

#include <libpq-fe.h>
#include "ngx_http_abtest_store_sql.h"


/* the schema is made once at a time: a transaction's advisory lock */
#define NGX_HTTP_ABTEST_STORE_LOCK     "7251007"

#define NGX_HTTP_ABTEST_OP_SEED        0
#define NGX_HTTP_ABTEST_OP_READ        1
#define NGX_HTTP_ABTEST_OP_UPDATE      2
#define NGX_HTTP_ABTEST_OP_FIGURES     3

/* the fleet's figures are read this often, at most */
#define NGX_HTTP_ABTEST_FIGURES_EVERY  2000

/* the node rows of the figures' query */
#define NGX_HTTP_ABTEST_FIGURE_NODE    3

/*
 * The fleet's figures of every experiment's current epoch (the rows'
 * stats_start_ms), summed over the servers' parts, and each server's
 * newest event: the summaries of sql/abtest-events.sql, never the events
 * (sql/abtest-results.sql has the same query, documented).  Columns:
 * kind, experiment, groups, start_ms, group, event, n, m.
 */
#define NGX_HTTP_ABTEST_STORE_FIGURES                                         \
    "WITH cur AS (SELECT name AS experiment, groups, stats_start_ms "      \
    "AS start_ms FROM abtest_experiments) "                                 \
    "SELECT 0, experiment, groups, start_ms, group_name, '', sum(exposed), " \
    "sum(converted) FROM abtest_group_devices JOIN cur "                    \
    "USING (experiment, groups, start_ms) GROUP BY 2, 3, 4, 5 "            \
    "UNION ALL "                                                            \
    "SELECT 1, experiment, groups, start_ms, group_name, event, sum(n), 0 " \
    "FROM abtest_group_events JOIN cur USING (experiment, groups, start_ms) " \
    "GROUP BY 2, 3, 4, 5, 6 "                                               \
    "UNION ALL "                                                            \
    "SELECT 2, experiment, groups, start_ms, '', '', sum(devices), 0 "     \
    "FROM abtest_multiple JOIN cur USING (experiment, groups, start_ms) "   \
    "GROUP BY 2, 3, 4 "                                                     \
    "UNION ALL "                                                            \
    "SELECT 3, '', '', 0, '', node, "                                       \
    "(extract(epoch FROM newest_received) * 1000)::bigint, 0 "              \
    "FROM abtest_nodes"

/* the steps of the listener's seed, on every connection it makes */
#define NGX_HTTP_ABTEST_SEED_CHECK     0    /* is the schema there? */
#define NGX_HTTP_ABTEST_SEED_SCHEMA    1
#define NGX_HTTP_ABTEST_SEED_LISTEN    2
#define NGX_HTTP_ABTEST_SEED_INSERT    3    /* a row per experiment */
#define NGX_HTTP_ABTEST_SEED_READ      4

/* the steps of an update's transaction */
#define NGX_HTTP_ABTEST_UP_BEGIN       0
#define NGX_HTTP_ABTEST_UP_INSERT      1
#define NGX_HTTP_ABTEST_UP_LOCK        2
#define NGX_HTTP_ABTEST_UP_WRITE       3
#define NGX_HTTP_ABTEST_UP_COMMIT      4
#define NGX_HTTP_ABTEST_UP_ROLLBACK    5

/*
 * A row made where there is none: $1 .. $10 of store_row_params().  An
 * existing row proposes nothing, so the trigger takes no version for it
 * and announces nothing.
 */
#define NGX_HTTP_ABTEST_STORE_INSERT                                          \
    "INSERT INTO abtest_experiments (name, groups, weights, state, "        \
    "rollout_group, start_ms, end_ms, stats_start_ms, history, updated_by) " \
    "SELECT $1::text, $2::text, $3::jsonb, $4::text, $5::text, "            \
    "$6::bigint, $7::bigint, $8::bigint, $9::jsonb, $10::text "             \
    "WHERE NOT EXISTS (SELECT 1 FROM abtest_experiments "                   \
    "WHERE name = $1 AND groups = $2) "                                     \
    "ON CONFLICT (name, groups) DO NOTHING"

/* a row's columns, in the order every SELECT names them */
#define NGX_HTTP_ABTEST_ROW_COLUMNS                                           \
    "name, groups, weights::text, state, rollout_group, start_ms, end_ms, " \
    "stats_start_ms, history::text, version"


typedef struct ngx_http_abtest_store_op_s  ngx_http_abtest_store_op_t;


struct ngx_http_abtest_store_op_s {
    ngx_queue_t                      queue;
    ngx_uint_t                       kind;
    ngx_uint_t                       step;
    ngx_event_t                      deadline;   /* timeout= */

    /* an update's */
    ngx_http_request_t              *request;    /* NULL: gone meanwhile */
    ngx_pool_cleanup_t              *cln;        /* in its pool */
    ngx_http_abtest_experiment_t    *exp;
    ngx_http_abtest_update_t         up;
    ngx_http_abtest_runtime_t        rt;
    int64_t                          version;
    ngx_int_t                        status;     /* NGX_OK, or a refusal */
    ngx_http_abtest_store_done_pt    done;
    u_char                           err[NGX_HTTP_ABTEST_STORE_ERROR_LEN];

    /* the seed's: whether the schema is there, the next row to make */
    ngx_uint_t                       schema;
    ngx_uint_t                       next;
};


/* this process's connection */
typedef struct {
    ngx_http_abtest_main_conf_t     *amcf;
    ngx_http_abtest_store_zone_t     zone;
    PGconn                          *pg;
    ngx_connection_t                *c;
    ngx_uint_t                       connected;  /* PQconnectPoll done */
    ngx_uint_t                       busy;       /* the first op's query */
    ngx_uint_t                       writing;    /* the write event is on */
    ngx_uint_t                       listener;
    ngx_uint_t                       failing;    /* said in the log */
    ngx_file_uniq_t                  inode;      /* of the socket watched */
    ngx_queue_t                      ops;
    ngx_event_t                      timer;
    ngx_event_t                      kick;       /* runs the queue */
    ngx_event_t                      figures;    /* the listener reads */
    ngx_uint_t                       figures_said;  /* their error */
    ngx_msec_t                       backoff;
    ngx_log_t                       *log;

    /* the versions of hostile rows said in the log, per experiment */
    int64_t                         *bad;

    u_char                           error[NGX_HTTP_ABTEST_STORE_ERROR_LEN];
} ngx_http_abtest_store_proc_t;


static char *ngx_http_abtest_store_resolve(ngx_conf_t *cf,
    ngx_http_abtest_store_conf_t *scf, ngx_str_t *conninfo);
static u_char *ngx_http_abtest_store_option(u_char *p, u_char *last,
    const char *key, const char *value);
static void ngx_http_abtest_store_timer(ngx_event_t *ev);
static void ngx_http_abtest_store_figures_timer(ngx_event_t *ev);
static void ngx_http_abtest_store_figures(ngx_http_abtest_store_proc_t *p,
    PGresult *res);
static void ngx_http_abtest_store_figures_failed(
    ngx_http_abtest_store_proc_t *p, const u_char *err);
static void ngx_http_abtest_store_claim(ngx_http_abtest_store_proc_t *p);
static ngx_int_t ngx_http_abtest_store_connect(
    ngx_http_abtest_store_proc_t *p);
static ngx_int_t ngx_http_abtest_store_watch(ngx_http_abtest_store_proc_t *p,
    ngx_uint_t write);
static void ngx_http_abtest_store_release(ngx_http_abtest_store_proc_t *p);
static void ngx_http_abtest_store_event(ngx_event_t *ev);
static void ngx_http_abtest_store_connect_poll(
    ngx_http_abtest_store_proc_t *p);
static void ngx_http_abtest_store_results(ngx_http_abtest_store_proc_t *p);
static void ngx_http_abtest_store_notified(ngx_http_abtest_store_proc_t *p);
static void ngx_http_abtest_store_run(ngx_http_abtest_store_proc_t *p);
static void ngx_http_abtest_store_kick(ngx_event_t *ev);
static ngx_int_t ngx_http_abtest_store_send(ngx_http_abtest_store_proc_t *p,
    ngx_http_abtest_store_op_t *op);
static ngx_int_t ngx_http_abtest_store_query(ngx_http_abtest_store_proc_t *p,
    ngx_http_abtest_store_op_t *op, ngx_pool_t *pool);
static ngx_int_t ngx_http_abtest_store_result(ngx_http_abtest_store_proc_t *p,
    ngx_http_abtest_store_op_t *op, PGresult *res);
static void ngx_http_abtest_store_step(ngx_http_abtest_store_proc_t *p,
    ngx_http_abtest_store_op_t *op);
static void ngx_http_abtest_store_fail(ngx_http_abtest_store_proc_t *p,
    const char *fmt, ...);
static ngx_http_abtest_store_op_t *ngx_http_abtest_store_op(
    ngx_http_abtest_store_proc_t *p, ngx_uint_t kind);
static void ngx_http_abtest_store_finish(ngx_http_abtest_store_proc_t *p,
    ngx_http_abtest_store_op_t *op, ngx_int_t status, const char *err);
static void ngx_http_abtest_store_deadline(ngx_event_t *ev);
static void ngx_http_abtest_store_detach(void *data);
static void ngx_http_abtest_store_read(ngx_http_abtest_store_proc_t *p);
static ngx_int_t ngx_http_abtest_store_row_params(ngx_pool_t *pool,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_runtime_t *rt,
    ngx_str_t *node, const char **values);
static ngx_int_t ngx_http_abtest_store_row(ngx_pool_t *pool,
    ngx_http_abtest_experiment_t *exp, PGresult *res, int row,
    ngx_http_abtest_runtime_t *rt, int64_t *version, u_char *err);
static void ngx_http_abtest_store_apply_rows(ngx_http_abtest_store_proc_t *p,
    PGresult *res);
static ngx_int_t ngx_http_abtest_store_ms(PGresult *res, int row, int col,
    int64_t *ms);
static ngx_int_t ngx_http_abtest_store_weights_json(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, uint32_t *weights);
static void ngx_http_abtest_store_shared(ngx_http_abtest_store_proc_t *p,
    ngx_uint_t ready, const u_char *error);
static u_char *ngx_http_abtest_store_line(u_char *dst, size_t size,
    const char *src);


static ngx_http_abtest_store_proc_t  ngx_http_abtest_store_proc;

#endif


/*
 * abtest_store conninfo [node=name] [timeout=time] [poll=time]
 *
 * conninfo: a libpq connection string or postgresql:// URI.  libpq
 * resolves host names with a blocking call: they are resolved here, at
 * configuration time, into "hostaddr".
 */

char *
ngx_http_abtest_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
#if (NGX_HTTP_ABTEST_STORE)

    ngx_http_abtest_main_conf_t *amcf = conf;

    ngx_str_t                     *value, s;
    ngx_int_t                      n;
    ngx_uint_t                     i;
    ngx_http_abtest_store_conf_t  *scf;

    if (amcf->store) {
        return "is duplicate";
    }

    scf = ngx_pcalloc(cf->pool, sizeof(ngx_http_abtest_store_conf_t));
    if (scf == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    scf->node = cf->cycle->hostname;
    scf->timeout = NGX_HTTP_ABTEST_STORE_TIMEOUT;
    scf->poll = NGX_HTTP_ABTEST_STORE_POLL;
    scf->file = cf->conf_file->file.name.data;
    scf->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "node=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (ngx_http_abtest_valid_name(&s, 1) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": use 1 to %d characters "
                                   "of [A-Za-z0-9_.-]", &value[i],
                                   NGX_HTTP_ABTEST_NAME_MAX);
                return NGX_CONF_ERROR;
            }

            scf->node = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0
            || ngx_strncmp(value[i].data, "poll=", 5) == 0)
        {
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            n = ngx_parse_time(&s, 0);

            if (n == NGX_ERROR || n == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": use a time such as 2s "
                                   "or 500ms", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (value[i].data[0] == 't') {
                scf->timeout = n;

            } else {
                scf->poll = n;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_abtest_store_resolve(cf, scf, &value[1]) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    amcf->store = scf;

    return NGX_CONF_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"abtest_store\" needs libpq, and this module was "
                       "built without it: install libpq-dev (Debian) and "
                       "build the module again");

    return NGX_CONF_ERROR;

#endif
}


/* the store is the zone's: a server without a zone has nothing to share */

ngx_int_t
ngx_http_abtest_store_check(ngx_conf_t *cf, ngx_http_abtest_main_conf_t *amcf)
{
    if (amcf->store && amcf->zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"abtest_store\" in %s:%ui needs a shared zone: add "
                      "\"abtest_zone zone=name:size\"",
                      amcf->store->file, amcf->store->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


#if (NGX_HTTP_ABTEST_STORE)

/*
 * The connection string again, every host name of "host" resolved into
 * "hostaddr" (a unix socket's directory and an address stay as they
 * are), and a "target" for messages that never holds the password.
 */

static char *
ngx_http_abtest_store_resolve(ngx_conf_t *cf, ngx_http_abtest_store_conf_t *scf,
    ngx_str_t *conninfo)
{
    char              *err, *hostaddr;
    u_char            *p, *last, *text, *start, *end, addr[NGX_SOCKADDR_STRLEN];
    u_char             line[NGX_HTTP_ABTEST_STORE_ERROR_LEN];
    size_t             len;
    ngx_url_t          u;
    ngx_uint_t         named;
    const char        *host, *port, *dbname;
    PQconninfoOption  *opts, *o;

    err = NULL;
    opts = PQconninfoParse((const char *) conninfo->data, &err);

    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"abtest_store\" connection string: %s",
                           err ? ngx_http_abtest_store_line(line, sizeof(line),
                                                            err)
                               : (u_char *) "out of memory");
        if (err) {
            PQfreemem(err);
        }

        return NGX_CONF_ERROR;
    }

    host = NULL;
    port = NULL;
    dbname = NULL;
    hostaddr = NULL;
    len = sizeof("fallback_application_name='ngx_http_abtest'");

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        len += ngx_strlen(o->keyword) + 4 + 2 * ngx_strlen(o->val);

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = o->val;

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;

        } else if (ngx_strcmp(o->keyword, "port") == 0) {
            port = o->val;

        } else if (ngx_strcmp(o->keyword, "dbname") == 0) {
            dbname = o->val;
        }
    }

    /* "hostaddr" for the names of "host", entry by entry */

    text = NULL;
    named = 0;

    if (host && hostaddr == NULL) {
        len += 2 * ngx_strlen(host) * (NGX_SOCKADDR_STRLEN + 1);

        text = ngx_pnalloc(cf->pool, len);
        if (text == NULL) {
            goto failed;
        }

        p = text;
        last = text + len;
        start = (u_char *) host;

        for ( ;; ) {
            end = (u_char *) ngx_strchr(start, ',');
            if (end == NULL) {
                end = start + ngx_strlen(start);
            }

            /* an entry per host, empty ones too */
            if (start != (u_char *) host) {
                *p++ = ',';
            }

            /*
             * a unix socket's directory (or an abstract socket's "@"
             * name) and an IPv6 address need no lookup: libpq takes them
             * as they are for an empty entry of "hostaddr"
             */
            if (end > start && start[0] != '/' && start[0] != '@'
                && ngx_strlchr(start, end, ':') == NULL)
            {
                ngx_memzero(&u, sizeof(ngx_url_t));
                u.url.data = start;
                u.url.len = end - start;
                u.default_port = 5432;
                u.no_port = 1;

                if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "\"abtest_store\": host \"%*s\" %s",
                                       end - start, start,
                                       u.err ? u.err : "has no address");
                    goto failed;
                }

                len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                    addr, NGX_SOCKADDR_STRLEN, 0);

                if (len > 2 && addr[0] == '[') {
                    p = ngx_cpymem(p, addr + 1, len - 2);

                } else {
                    p = ngx_cpymem(p, addr, len);
                }

                named = 1;
            }

            if (*end == '\0') {
                break;
            }

            start = end + 1;
        }

        *p = '\0';
        hostaddr = named ? (char *) text : NULL;
    }

    /* the string, "key='value'" each, with ' and \ escaped */

    len = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val) {
            len += ngx_strlen(o->keyword) + 4 + 2 * ngx_strlen(o->val);
        }
    }

    len += sizeof("fallback_application_name='ngx_http_abtest'") + 4
           + (hostaddr ? sizeof("hostaddr=''") + 2 * ngx_strlen(hostaddr)
                       : 0);

    scf->conninfo.data = ngx_pnalloc(cf->pool, len);
    if (scf->conninfo.data == NULL) {
        goto failed;
    }

    p = scf->conninfo.data;
    last = p + len - 1;

    for (o = opts; o->keyword; o++) {
        if (o->val && ngx_strcmp(o->keyword, "hostaddr") != 0) {
            p = ngx_http_abtest_store_option(p, last, o->keyword, o->val);
        }
    }

    if (hostaddr) {
        p = ngx_http_abtest_store_option(p, last, "hostaddr", hostaddr);
    }

    p = ngx_http_abtest_store_option(p, last, "fallback_application_name",
                                     "ngx_http_abtest");
    *p = '\0';
    scf->conninfo.len = p - scf->conninfo.data;

    len = (host ? ngx_strlen(host) : sizeof("(default)"))
          + (port ? ngx_strlen(port) : 0) + (dbname ? ngx_strlen(dbname) : 0)
          + 3;

    scf->target.data = ngx_pnalloc(cf->pool, len);
    if (scf->target.data == NULL) {
        goto failed;
    }

    scf->target.len = ngx_snprintf(scf->target.data, len, "%s%s%s%s%s",
                                   host ? host : "(default)",
                                   port ? ":" : "", port ? port : "",
                                   dbname ? "/" : "", dbname ? dbname : "")
                      - scf->target.data;

    PQconninfoFree(opts);

    return NGX_CONF_OK;

failed:

    PQconninfoFree(opts);

    return NGX_CONF_ERROR;
}


static u_char *
ngx_http_abtest_store_option(u_char *p, u_char *last, const char *key,
    const char *value)
{
    if (p + ngx_strlen(key) + 4 + 2 * ngx_strlen(value) > last) {
        return p;
    }

    p = ngx_cpymem(p, key, ngx_strlen(key));
    *p++ = '=';
    *p++ = '\'';

    for ( /* void */ ; *value; value++) {
        if (*value == '\'' || *value == '\\') {
            *p++ = '\\';
        }

        *p++ = *value;
    }

    *p++ = '\'';
    *p++ = ' ';

    return p;
}

#endif


/*
 * A worker starts: it takes the listener's part where no live worker of
 * this configuration (or a newer one) has it, and watches for that.
 */

ngx_int_t
ngx_http_abtest_store_init_process(ngx_cycle_t *cycle,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_store_zone_t *zone)
{
#if (NGX_HTTP_ABTEST_STORE)

    ngx_http_abtest_store_proc_t  *p;

    p = &ngx_http_abtest_store_proc;

    ngx_memzero(p, sizeof(ngx_http_abtest_store_proc_t));

    p->amcf = amcf;
    p->zone = *zone;
    p->log = cycle->log;
    p->backoff = 100;
    ngx_queue_init(&p->ops);

    p->bad = ngx_pcalloc(cycle->pool, (amcf->experiments.nelts + 1)
                                      * sizeof(int64_t));
    if (p->bad == NULL) {
        return NGX_ERROR;
    }

    p->timer.handler = ngx_http_abtest_store_timer;
    p->timer.data = p;
    p->timer.log = cycle->log;
    p->timer.cancelable = 1;

    p->kick.handler = ngx_http_abtest_store_kick;
    p->kick.data = p;
    p->kick.log = cycle->log;

    p->figures.handler = ngx_http_abtest_store_figures_timer;
    p->figures.data = p;
    p->figures.log = cycle->log;
    p->figures.cancelable = 1;

    ngx_http_abtest_store_claim(p);

    ngx_add_timer(&p->timer, p->listener ? 1 : amcf->store->poll);
    ngx_add_timer(&p->figures, NGX_HTTP_ABTEST_FIGURES_EVERY);

#endif

    return NGX_OK;
}


void
ngx_http_abtest_store_exit_process(ngx_cycle_t *cycle)
{
#if (NGX_HTTP_ABTEST_STORE)

    ngx_http_abtest_store_sh_t    *sh;
    ngx_http_abtest_store_proc_t  *p;

    p = &ngx_http_abtest_store_proc;

    if (p->amcf == NULL) {
        return;
    }

    if (p->listener) {
        sh = p->zone.sh;

        /* another worker takes the part at its next look (poll=) */
        ngx_shmtx_lock(p->zone.mutex);

        if (sh->listener == (ngx_atomic_t) ngx_pid) {
            sh->listener = 0;
            sh->connected = 0;
        }

        ngx_shmtx_unlock(p->zone.mutex);
    }

    if (p->kick.posted) {
        ngx_delete_posted_event(&p->kick);
    }

    ngx_http_abtest_store_release(p);

    /* what still waits ends with the process, unanswered */
    while (!ngx_queue_empty(&p->ops)) {
        ngx_http_abtest_store_finish(p, ngx_queue_data(ngx_queue_head(&p->ops),
                                                 ngx_http_abtest_store_op_t,
                                                 queue),
                                     NGX_HTTP_SERVICE_UNAVAILABLE, NULL);
    }

#endif
}


/*
 * An update: NGX_DONE while the store runs the transaction (the request
 * waits, "done" answers it), else an HTTP status with "err": the store
 * is out of reach, or the server has not read it all since it connected.
 */

ngx_int_t
ngx_http_abtest_store_update(ngx_http_request_t *r,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_update_t *up,
    ngx_http_abtest_store_done_pt done, const char **err)
{
#if (NGX_HTTP_ABTEST_STORE)

    ngx_pool_cleanup_t            *cln;
    ngx_http_abtest_store_sh_t    *sh;
    ngx_http_abtest_store_op_t    *op;
    ngx_http_abtest_store_proc_t  *p;

    p = &ngx_http_abtest_store_proc;

    if (p->amcf == NULL) {
        *err = "the store is not set up in this process";
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    sh = p->zone.sh;

    if (!sh->ready) {
        ngx_snprintf(p->error, sizeof(p->error) - 1,
                     "the store is unreachable: %s%Z",
                     sh->error[0] ? (char *) sh->error
                     : sh->connected ? "this server is reading it, try again"
                     : "this server is connecting to it, try again");
        *err = (const char *) p->error;
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    /* a worker connects on its first update, in the update's time */
    if (p->pg == NULL && ngx_http_abtest_store_connect(p) != NGX_OK) {
        ngx_snprintf(p->error, sizeof(p->error) - 1,
                     "the store is unreachable: %s%Z", p->error);
        *err = (const char *) p->error;
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        *err = "the update could not be started";
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op = ngx_http_abtest_store_op(p, NGX_HTTP_ABTEST_OP_UPDATE);
    if (op == NULL) {
        *err = "the update could not be started";
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->request = r;
    op->exp = exp;
    op->up = *up;
    op->done = done;

    /* a request closed meanwhile (a shutdown timeout) is not answered */
    op->cln = cln;
    cln->handler = ngx_http_abtest_store_detach;
    cln->data = op;

    r->main->count++;

    /* never answered from here: the queue runs from the event loop */
    if (!p->kick.posted) {
        ngx_post_event(&p->kick, &ngx_posted_events);
    }

    return NGX_DONE;

#else

    *err = "the module was built without the store";

    return NGX_HTTP_SERVICE_UNAVAILABLE;

#endif
}


#if (NGX_HTTP_ABTEST_STORE)

/* the listener's news for the zone: connected, caught up, or why not */

static void
ngx_http_abtest_store_shared(ngx_http_abtest_store_proc_t *p,
    ngx_uint_t ready, const u_char *error)
{
    ngx_http_abtest_store_sh_t  *sh;

    if (!p->listener) {
        return;
    }

    sh = p->zone.sh;

    ngx_shmtx_lock(p->zone.mutex);

    if (sh->listener == (ngx_atomic_t) ngx_pid) {
        sh->connected = (p->pg != NULL && p->connected);
        sh->ready = ready;
        ngx_cpystrn(sh->error, (u_char *) (error ? error : (u_char *) ""),
                    sizeof(sh->error));

        /* the figures are the last read, until the next read */
        if (error) {
            sh->figures_stale = 1;
            ngx_cpystrn(sh->figures_error, (u_char *) error,
                        sizeof(sh->figures_error));
        }
    }

    ngx_shmtx_unlock(p->zone.mutex);
}


/*
 * Every poll= (the listener: a read, in case a notification was missed;
 * a reconnection, with backoff) or, in the other workers, a look at the
 * listener: gone, or of an older configuration, it is replaced.
 */

static void
ngx_http_abtest_store_timer(ngx_event_t *ev)
{
    ngx_msec_t                     next;
    ngx_http_abtest_store_proc_t  *p = ev->data;

    ngx_http_abtest_store_claim(p);

    next = p->amcf->store->poll;

    if (p->listener) {
        if (p->pg == NULL) {
            if (ngx_http_abtest_store_connect(p) != NGX_OK) {
                /* tried again soon, then less often, at most poll= apart */
                next = p->backoff;
                p->backoff = ngx_min(2 * p->backoff, p->amcf->store->poll);
            }

        } else if (p->zone.sh->ready) {
            ngx_http_abtest_store_read(p);
        }
    }

    if (ngx_exiting) {
        return;
    }

    ngx_add_timer(&p->timer, next);
}


static void
ngx_http_abtest_store_claim(ngx_http_abtest_store_proc_t *p)
{
    ngx_pid_t                    pid;
    ngx_uint_t                   take;
    ngx_http_abtest_store_sh_t  *sh;

    sh = p->zone.sh;

    ngx_shmtx_lock(p->zone.mutex);

    pid = (ngx_pid_t) sh->listener;

    take = !ngx_exiting
           && pid != ngx_pid
           && (pid == 0
               || (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH)
               || sh->generation < p->zone.generation);

    if (take) {
        sh->listener = ngx_pid;
        sh->generation = p->zone.generation;
        sh->connected = 0;
        sh->ready = 0;
        sh->error[0] = '\0';
    }

    ngx_shmtx_unlock(p->zone.mutex);

    if (take) {
        ngx_log_error(NGX_LOG_INFO, p->log, 0,
                      "abtest: this worker listens to the store \"%V\"",
                      &p->amcf->store->target);

        p->listener = 1;

        /* a connection made for updates makes the schema and reads too */
        if (p->pg) {
            (void) ngx_http_abtest_store_op(p, NGX_HTTP_ABTEST_OP_SEED);
            ngx_http_abtest_store_run(p);
        }

        return;
    }

    if (p->listener && pid != ngx_pid) {
        /* a newer configuration's worker listens now */
        p->listener = 0;
    }
}


/* a connection, made asynchronously; the listener's begins with the seed */

static ngx_int_t
ngx_http_abtest_store_connect(ngx_http_abtest_store_proc_t *p)
{
    if (p->listener
        && ngx_http_abtest_store_op(p, NGX_HTTP_ABTEST_OP_SEED) == NULL)
    {
        return NGX_ERROR;
    }

    p->pg = PQconnectStart((const char *) p->amcf->store->conninfo.data);

    if (p->pg == NULL) {
        ngx_http_abtest_store_fail(p, "out of memory");
        return NGX_ERROR;
    }

    if (PQstatus(p->pg) == CONNECTION_BAD
        || PQsetnonblocking(p->pg, 1) == -1)
    {
        ngx_http_abtest_store_fail(p, "%s", PQerrorMessage(p->pg));
        return NGX_ERROR;
    }

    p->connected = 0;
    p->busy = 0;

    /* the first PQconnectPoll() waits for the socket to be writable */
    if (ngx_http_abtest_store_watch(p, 1) != NGX_OK) {
        ngx_http_abtest_store_fail(p, "the connection cannot be watched");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The socket, in nginx's event loop: readable (level-triggered, since
 * libpq does not always read until EAGAIN), writable while libpq has
 * something to send.  libpq may change the socket while it connects.
 */

static ngx_int_t
ngx_http_abtest_store_watch(ngx_http_abtest_store_proc_t *p, ngx_uint_t write)
{
    ngx_uint_t         changed;
    ngx_socket_t       fd;
    ngx_file_info_t    fi;
    ngx_connection_t  *c;

    fd = PQsocket(p->pg);

    if (fd == -1) {
        return NGX_ERROR;
    }

    c = p->c;
    changed = (c && c->fd != fd);

    /*
     * While it connects, libpq may close its socket for another (the
     * next host, a retry without SSL), which may get the same number:
     * the socket's inode tells them apart.
     */
    if (!p->connected) {
        if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
            return NGX_ERROR;
        }

        if (c && p->inode != ngx_file_uniq(&fi)) {
            changed = 1;
        }

        p->inode = ngx_file_uniq(&fi);
    }

    if (changed) {
        /* libpq closed the old socket itself, and epoll forgot it */
        if (c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }

        c->fd = (ngx_socket_t) -1;
        ngx_free_connection(c);
        p->c = NULL;
        c = NULL;
    }

    if (c == NULL) {
        c = ngx_get_connection(fd, p->log);
        if (c == NULL) {
            return NGX_ERROR;
        }

        c->data = p;
        c->read->handler = ngx_http_abtest_store_event;
        c->write->handler = ngx_http_abtest_store_event;
        c->read->log = p->log;
        c->write->log = p->log;

        p->c = c;
        p->writing = 0;

        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (write && !c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (!write && c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the connection closed, its socket out of the event loop */

static void
ngx_http_abtest_store_release(ngx_http_abtest_store_proc_t *p)
{
    ngx_connection_t  *c;

    c = p->c;

    if (c) {
        if (c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        c->fd = (ngx_socket_t) -1;
        ngx_free_connection(c);
        p->c = NULL;
    }

    if (p->pg) {
        PQfinish(p->pg);
        p->pg = NULL;
    }

    p->connected = 0;
    p->busy = 0;
}


static void
ngx_http_abtest_store_event(ngx_event_t *ev)
{
    int                            rc;
    ngx_connection_t              *c;
    ngx_http_abtest_store_proc_t  *p;

    c = ev->data;
    p = c->data;

    if (p->pg == NULL) {
        return;
    }

    if (!p->connected) {
        ngx_http_abtest_store_connect_poll(p);
        return;
    }

    if (ev->write) {
        rc = PQflush(p->pg);

        if (rc == -1) {
            ngx_http_abtest_store_fail(p, "%s", PQerrorMessage(p->pg));
            return;
        }

        if (rc == 0 && ngx_http_abtest_store_watch(p, 0) != NGX_OK) {
            ngx_http_abtest_store_fail(p, "the connection cannot be "
                                       "watched");
        }

        return;
    }

    if (!PQconsumeInput(p->pg)) {
        ngx_http_abtest_store_fail(p, "%s", PQerrorMessage(p->pg));
        return;
    }

    ngx_http_abtest_store_results(p);

    if (p->pg) {
        ngx_http_abtest_store_notified(p);
    }

    if (p->pg) {
        ngx_http_abtest_store_run(p);
    }
}


static void
ngx_http_abtest_store_connect_poll(ngx_http_abtest_store_proc_t *p)
{
    PostgresPollingStatusType  rc;

    rc = PQconnectPoll(p->pg);

    switch (rc) {

    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:
        if (ngx_http_abtest_store_watch(p, rc == PGRES_POLLING_WRITING)
            != NGX_OK)
        {
            ngx_http_abtest_store_fail(p, "the connection cannot be "
                                       "watched");
        }

        return;

    case PGRES_POLLING_OK:
        p->connected = 1;

        if (ngx_http_abtest_store_watch(p, 0) != NGX_OK) {
            ngx_http_abtest_store_fail(p, "the connection cannot be "
                                       "watched");
            return;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, p->log, 0,
                       "abtest store: connected to \"%V\"",
                       &p->amcf->store->target);

        /* connected, not caught up: the seed reads it all first */
        ngx_http_abtest_store_shared(p, 0, NULL);

        ngx_http_abtest_store_run(p);
        return;

    default: /* PGRES_POLLING_FAILED */
        ngx_http_abtest_store_fail(p, "%s", PQerrorMessage(p->pg));
    }
}


/* the results of the query in flight, step by step */

static void
ngx_http_abtest_store_results(ngx_http_abtest_store_proc_t *p)
{
    PGresult                    *res;
    ngx_queue_t                 *q;
    ngx_http_abtest_store_op_t  *op;

    while (p->pg && p->busy && !PQisBusy(p->pg)) {

        q = ngx_queue_head(&p->ops);
        op = ngx_queue_data(q, ngx_http_abtest_store_op_t, queue);

        res = PQgetResult(p->pg);

        if (res == NULL) {
            /* the query is over: the next step, or the next operation */
            p->busy = 0;
            ngx_http_abtest_store_step(p, op);
            continue;
        }

        if (ngx_http_abtest_store_result(p, op, res) != NGX_OK) {
            PQclear(res);
            ngx_http_abtest_store_fail(p, "%s", PQerrorMessage(p->pg));
            return;
        }

        PQclear(res);
    }
}


/* "NOTIFY abtest, '<version>'": the listener reads what moved */

static void
ngx_http_abtest_store_notified(ngx_http_abtest_store_proc_t *p)
{
    PGnotify    *n;
    ngx_uint_t   moved;

    moved = 0;

    while ((n = PQnotifies(p->pg)) != NULL) {
        if (ngx_atoof((u_char *) n->extra, ngx_strlen(n->extra))
            > p->zone.sh->version)
        {
            moved = 1;
        }

        PQfreemem(n);
    }

    if (moved && p->listener && p->zone.sh->ready) {
        ngx_http_abtest_store_read(p);
    }
}


/* a read of the rows whose version moved, unless one is on its way */

static void
ngx_http_abtest_store_read(ngx_http_abtest_store_proc_t *p)
{
    ngx_queue_t                 *q;
    ngx_http_abtest_store_op_t  *op;

    for (q = ngx_queue_head(&p->ops);
         q != ngx_queue_sentinel(&p->ops);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_http_abtest_store_op_t, queue);

        /* a read in flight may have missed the change: one more then */
        if (op->kind == NGX_HTTP_ABTEST_OP_READ
            && !(p->busy && q == ngx_queue_head(&p->ops)))
        {
            return;
        }
    }

    if (ngx_http_abtest_store_op(p, NGX_HTTP_ABTEST_OP_READ) != NULL) {
        ngx_http_abtest_store_run(p);
    }
}


/*
 * Every 2 s, the listener reads the fleet's figures (the summaries the
 * shipped events keep in the store) into the zone, where the stats
 * location finds them: requests never query the store.
 */

static void
ngx_http_abtest_store_figures_timer(ngx_event_t *ev)
{
    ngx_queue_t                   *q;
    ngx_http_abtest_store_op_t    *op;
    ngx_http_abtest_store_proc_t  *p = ev->data;

    if (ngx_exiting) {
        return;
    }

    ngx_add_timer(&p->figures, NGX_HTTP_ABTEST_FIGURES_EVERY);

    if (!p->listener || p->pg == NULL || !p->zone.sh->ready) {
        return;
    }

    for (q = ngx_queue_head(&p->ops);
         q != ngx_queue_sentinel(&p->ops);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_http_abtest_store_op_t, queue);

        if (op->kind == NGX_HTTP_ABTEST_OP_FIGURES) {
            return;
        }
    }

    if (ngx_http_abtest_store_op(p, NGX_HTTP_ABTEST_OP_FIGURES) != NULL) {
        ngx_http_abtest_store_run(p);
    }
}


/* the figures' rows into the zone, all under one hold of its lock */

static void
ngx_http_abtest_store_figures(ngx_http_abtest_store_proc_t *p, PGresult *res)
{
    int                            row, nrows;
    int64_t                        start, newest;
    ngx_str_t                      name, groups, group;
    ngx_uint_t                     kind, k;
    ngx_http_abtest_figure_t       f;
    ngx_http_abtest_store_sh_t    *sh;
    ngx_http_abtest_experiment_t  *exp;

    sh = p->zone.sh;
    nrows = PQntuples(res);

    if (PQnfields(res) != 8) {
        ngx_http_abtest_store_figures_failed(p, (u_char *)
                                   "the figures' query has other columns");
        return;
    }

    ngx_shmtx_lock(p->zone.mutex);

    p->zone.figures_clear_locked(p->amcf);
    sh->nnodes = 0;

    for (row = 0; row < nrows; row++) {
        kind = ngx_atoi((u_char *) PQgetvalue(res, row, 0),
                        PQgetlength(res, row, 0));

        name.data = (u_char *) PQgetvalue(res, row, 5);
        name.len = PQgetlength(res, row, 5);

        f.n = (uint64_t) ngx_max(0, ngx_atoof((u_char *)
                                              PQgetvalue(res, row, 6),
                                              PQgetlength(res, row, 6)));
        f.m = (uint64_t) ngx_max(0, ngx_atoof((u_char *)
                                              PQgetvalue(res, row, 7),
                                              PQgetlength(res, row, 7)));

        if (kind == NGX_HTTP_ABTEST_FIGURE_NODE) {
            newest = (int64_t) f.n;

            if (sh->nnodes < NGX_HTTP_ABTEST_FLEET_NODES
                && name.len <= NGX_HTTP_ABTEST_NAME_MAX)
            {
                k = sh->nnodes++;
                ngx_memcpy(sh->nodes[k].name, name.data, name.len);
                sh->nodes[k].len = name.len;
                sh->nodes[k].newest = newest;
            }

            continue;
        }

        exp = ngx_http_abtest_find_experiment(p->amcf,
                                    (u_char *) PQgetvalue(res, row, 1),
                                    PQgetlength(res, row, 1), 0);

        groups.data = (u_char *) PQgetvalue(res, row, 2);
        groups.len = PQgetlength(res, row, 2);

        /* another server's generation, or an experiment not ours */
        if (exp == NULL
            || groups.len != exp->generation.len
            || ngx_memcmp(groups.data, exp->generation.data, groups.len) != 0)
        {
            continue;
        }

        start = ngx_atoof((u_char *) PQgetvalue(res, row, 3),
                          PQgetlength(res, row, 3));

        group.data = (u_char *) PQgetvalue(res, row, 4);
        group.len = PQgetlength(res, row, 4);

        f.kind = kind;
        f.name = name;
        f.group = (kind == NGX_HTTP_ABTEST_FIGURE_MULTIPLE)
                  ? NGX_HTTP_ABTEST_NO_GROUP
                  : ngx_http_abtest_find_group(exp, group.data, group.len);

        p->zone.figure_locked(p->amcf, exp, start, &f);
    }

    sh->figures_at = ngx_http_abtest_now_ms();
    sh->figures_stale = 0;
    sh->figures_error[0] = '\0';

    ngx_shmtx_unlock(p->zone.mutex);

    if (p->figures_said) {
        ngx_log_error(NGX_LOG_NOTICE, p->log, 0,
                      "abtest: the store \"%V\" has the fleet's figures "
                      "again", &p->amcf->store->target);
        p->figures_said = 0;
    }
}


/*
 * The figures cannot be read (the events' schema not loaded, a right
 * missing): the last ones stay, said stale; one [warn] until they can.
 */

static void
ngx_http_abtest_store_figures_failed(ngx_http_abtest_store_proc_t *p,
    const u_char *err)
{
    ngx_http_abtest_store_sh_t  *sh;

    sh = p->zone.sh;

    ngx_shmtx_lock(p->zone.mutex);
    sh->figures_stale = 1;
    ngx_cpystrn(sh->figures_error, (u_char *) err, sizeof(sh->figures_error));
    ngx_shmtx_unlock(p->zone.mutex);

    if (!p->figures_said) {
        ngx_log_error(NGX_LOG_WARN, p->log, 0,
                      "abtest: the store \"%V\" gives no fleet's figures "
                      "(are sql/abtest-events.sql's tables there?): %s",
                      &p->amcf->store->target, err);
        p->figures_said = 1;
    }
}


static void
ngx_http_abtest_store_kick(ngx_event_t *ev)
{
    ngx_http_abtest_store_run(ev->data);
}


/* the first waiting operation's query, when the connection is free */

static void
ngx_http_abtest_store_run(ngx_http_abtest_store_proc_t *p)
{
    int                          rc;
    ngx_queue_t                 *q;
    ngx_http_abtest_store_op_t  *op;

    if (p->pg == NULL || !p->connected || p->busy
        || ngx_queue_empty(&p->ops))
    {
        return;
    }

    q = ngx_queue_head(&p->ops);
    op = ngx_queue_data(q, ngx_http_abtest_store_op_t, queue);

    if (ngx_http_abtest_store_send(p, op) != NGX_OK) {
        ngx_http_abtest_store_fail(p, "%s", PQerrorMessage(p->pg));
        return;
    }

    p->busy = 1;

    rc = PQflush(p->pg);

    if (rc == -1) {
        ngx_http_abtest_store_fail(p, "%s", PQerrorMessage(p->pg));
        return;
    }

    if (rc == 1 && ngx_http_abtest_store_watch(p, 1) != NGX_OK) {
        ngx_http_abtest_store_fail(p, "the connection cannot be watched");
    }
}


/* the current step's query of an operation */

static ngx_int_t
ngx_http_abtest_store_send(ngx_http_abtest_store_proc_t *p,
    ngx_http_abtest_store_op_t *op)
{
    ngx_int_t    rc;
    ngx_pool_t  *pool;

    /* libpq copies the parameters as it sends: a pool for the query */
    pool = ngx_create_pool(4096, p->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_abtest_store_query(p, op, pool);

    ngx_destroy_pool(pool);

    return rc;
}


static ngx_int_t
ngx_http_abtest_store_query(ngx_http_abtest_store_proc_t *p,
    ngx_http_abtest_store_op_t *op, ngx_pool_t *pool)
{
    const char                    *values[10];
    ngx_http_abtest_runtime_t      rt;
    ngx_http_abtest_experiment_t  *exp;

    exp = p->amcf->experiments.elts;

    switch (op->kind) {

    case NGX_HTTP_ABTEST_OP_SEED:

        switch (op->step) {

        case NGX_HTTP_ABTEST_SEED_CHECK:
            /* a schema a DBA made needs no right to make one */
            return PQsendQuery(p->pg,
                               "SELECT count(*) FROM pg_trigger WHERE "
                               "tgname = 'abtest_experiments_version' AND "
                               "tgrelid = to_regclass('abtest_experiments')")
                   ? NGX_OK : NGX_ERROR;

        case NGX_HTTP_ABTEST_SEED_SCHEMA:
            /* servers starting at once make it one after the other */
            return PQsendQuery(p->pg,
                               "BEGIN;"
                               "SELECT pg_advisory_xact_lock("
                               NGX_HTTP_ABTEST_STORE_LOCK ");"
                               NGX_HTTP_ABTEST_STORE_SCHEMA
                               "COMMIT;")
                   ? NGX_OK : NGX_ERROR;

        case NGX_HTTP_ABTEST_SEED_LISTEN:
            return PQsendQuery(p->pg, "LISTEN abtest") ? NGX_OK : NGX_ERROR;

        case NGX_HTTP_ABTEST_SEED_INSERT:
            /* a row of the zone's record where the store has none */
            p->zone.record(p->amcf, &exp[op->next], &rt);

            if (ngx_http_abtest_store_row_params(pool, &exp[op->next], &rt,
                                                 &p->amcf->store->node,
                                                 values)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            return PQsendQueryParams(p->pg, NGX_HTTP_ABTEST_STORE_INSERT,
                                     10, NULL, values, NULL, NULL, 0)
                   ? NGX_OK : NGX_ERROR;

        default: /* NGX_HTTP_ABTEST_SEED_READ */
            break;
        }

        /* fall through */

    case NGX_HTTP_ABTEST_OP_READ:

        /* every row: a few per experiment, and none missed */
        return PQsendQuery(p->pg,
                           "SELECT " NGX_HTTP_ABTEST_ROW_COLUMNS
                           " FROM abtest_experiments ORDER BY version")
               ? NGX_OK : NGX_ERROR;

    case NGX_HTTP_ABTEST_OP_FIGURES:
        return PQsendQuery(p->pg, NGX_HTTP_ABTEST_STORE_FIGURES)
               ? NGX_OK : NGX_ERROR;
    }

    /* NGX_HTTP_ABTEST_OP_UPDATE */

    switch (op->step) {

    case NGX_HTTP_ABTEST_UP_BEGIN:
        return PQsendQuery(p->pg, "BEGIN") ? NGX_OK : NGX_ERROR;

    case NGX_HTTP_ABTEST_UP_INSERT:
        /* the experiment's first change in the store may make its row */
        p->zone.record(p->amcf, op->exp, &rt);

        if (ngx_http_abtest_store_row_params(pool, op->exp, &rt,
                                             &p->amcf->store->node, values)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return PQsendQueryParams(p->pg, NGX_HTTP_ABTEST_STORE_INSERT,
                                 10, NULL, values, NULL, NULL, 0)
               ? NGX_OK : NGX_ERROR;

    case NGX_HTTP_ABTEST_UP_LOCK:
        values[0] = (const char *) op->exp->name.data;
        values[1] = (const char *) op->exp->generation.data;

        return PQsendQueryParams(p->pg,
                                 "SELECT " NGX_HTTP_ABTEST_ROW_COLUMNS
                                 " FROM abtest_experiments WHERE name = $1"
                                 " AND groups = $2 FOR UPDATE",
                                 2, NULL, values, NULL, NULL, 0)
               ? NGX_OK : NGX_ERROR;

    case NGX_HTTP_ABTEST_UP_WRITE:
        if (ngx_http_abtest_store_row_params(pool, op->exp, &op->rt,
                                             &p->amcf->store->node, values)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* the table's trigger gives the version, and announces it */
        return PQsendQueryParams(p->pg,
                   "UPDATE abtest_experiments SET weights = $3::jsonb, "
                   "state = $4, rollout_group = $5, start_ms = $6, "
                   "end_ms = $7, stats_start_ms = $8, history = $9::jsonb, "
                   "updated_by = $10 WHERE name = $1 AND groups = $2 "
                   "RETURNING version",
                   10, NULL, values, NULL, NULL, 0)
               ? NGX_OK : NGX_ERROR;

    case NGX_HTTP_ABTEST_UP_COMMIT:
        return PQsendQuery(p->pg, "COMMIT") ? NGX_OK : NGX_ERROR;

    default: /* NGX_HTTP_ABTEST_UP_ROLLBACK */
        return PQsendQuery(p->pg, "ROLLBACK") ? NGX_OK : NGX_ERROR;
    }
}


/*
 * One result of the query in flight.  A failed statement does not fail
 * the connection: the operation says why (a transaction ends with a
 * ROLLBACK); NGX_ERROR only for what the connection cannot go on with.
 */

static ngx_int_t
ngx_http_abtest_store_result(ngx_http_abtest_store_proc_t *p,
    ngx_http_abtest_store_op_t *op, PGresult *res)
{
    const char                    *msg, *err;
    ngx_int_t                      rc;
    ngx_pool_t                    *pool;
    ngx_http_abtest_experiment_t  *exp;
    u_char                         line[NGX_HTTP_ABTEST_STORE_ERROR_LEN];

    if (PQresultStatus(res) == PGRES_FATAL_ERROR
        || PQresultStatus(res) == PGRES_BAD_RESPONSE
        || PQresultStatus(res) == PGRES_NONFATAL_ERROR)
    {
        msg = PQresultErrorMessage(res);

        if (op->kind == NGX_HTTP_ABTEST_OP_SEED
            && op->step == NGX_HTTP_ABTEST_SEED_INSERT)
        {
            /*
             * a row the store does not take (its role may not insert, a
             * constraint of a DBA's): the others go on, and this
             * experiment runs from this server's record (the status says
             * "configuration" or "mismatch")
             */
            exp = p->amcf->experiments.elts;

            ngx_log_error(NGX_LOG_WARN, p->log, 0,
                          "abtest: the store \"%V\" refused a row for "
                          "experiment \"%V\" (groups %s): %s",
                          &p->amcf->store->target, &exp[op->next].name,
                          exp[op->next].generation.data,
                          ngx_http_abtest_store_line(line, sizeof(line),
                                                     msg));
            return NGX_OK;
        }

        if (op->status == NGX_OK) {
            op->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            ngx_snprintf(op->err, sizeof(op->err) - 1,
                         "the store refused it: %s%Z",
                         ngx_http_abtest_store_line(line, sizeof(line),
                                                    msg));
        }

        return NGX_OK;
    }

    if (op->status != NGX_OK) {
        /* what comes after a failed statement is not looked at */
        return NGX_OK;
    }

    switch (op->kind) {

    case NGX_HTTP_ABTEST_OP_FIGURES:

        if (PQresultStatus(res) == PGRES_TUPLES_OK) {
            ngx_http_abtest_store_figures(p, res);
        }

        return NGX_OK;

    case NGX_HTTP_ABTEST_OP_UPDATE:

        if (op->step == NGX_HTTP_ABTEST_UP_LOCK) {

            if (PQntuples(res) != 1) {
                op->status = NGX_HTTP_SERVICE_UNAVAILABLE;
                ngx_sprintf(op->err, "the store has no row for this "
                            "experiment's groups%Z");
                return NGX_OK;
            }

            pool = ngx_create_pool(4096, p->log);
            if (pool == NULL) {
                return NGX_ERROR;
            }

            rc = ngx_http_abtest_store_row(pool, op->exp, res, 0, &op->rt,
                                           &op->version, line);

            ngx_destroy_pool(pool);

            if (rc != NGX_OK) {
                /* a DBA's typo is not built upon */
                op->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
                ngx_snprintf(op->err, sizeof(op->err) - 1,
                             "the store's row of this experiment is "
                             "refused: %s%Z", line);
                return NGX_OK;
            }

            /* the seed's transitions, against the store's own record */
            rc = ngx_http_abtest_change(op->exp, &op->rt,
                                        op->exp->conf_state.rollout,
                                        &op->up, &err);
            if (rc != NGX_OK) {
                op->status = rc;
                ngx_cpystrn(op->err, (u_char *) err, sizeof(op->err));
            }

            return NGX_OK;
        }

        if (op->step == NGX_HTTP_ABTEST_UP_WRITE) {
            if (PQntuples(res) != 1) {
                op->status = NGX_HTTP_SERVICE_UNAVAILABLE;
                ngx_sprintf(op->err, "the store's row went away%Z");
                return NGX_OK;
            }

            op->version = ngx_atoof((u_char *) PQgetvalue(res, 0, 0),
                                    PQgetlength(res, 0, 0));
        }

        return NGX_OK;

    case NGX_HTTP_ABTEST_OP_SEED:

        if (op->step == NGX_HTTP_ABTEST_SEED_CHECK) {
            op->schema = PQntuples(res) == 1
                         && ngx_strcmp(PQgetvalue(res, 0, 0), "0") != 0;
            return NGX_OK;
        }

        if (op->step != NGX_HTTP_ABTEST_SEED_READ) {
            return NGX_OK;
        }

        /* fall through */

    default: /* NGX_HTTP_ABTEST_OP_READ */

        if (PQresultStatus(res) == PGRES_TUPLES_OK) {
            ngx_http_abtest_store_apply_rows(p, res);
        }

        return NGX_OK;
    }
}


/* a query is over: the operation's next step, or its end */

static void
ngx_http_abtest_store_step(ngx_http_abtest_store_proc_t *p,
    ngx_http_abtest_store_op_t *op)
{
    ngx_uint_t  n;

    n = p->amcf->experiments.nelts;

    switch (op->kind) {

    case NGX_HTTP_ABTEST_OP_SEED:

        if (op->status != NGX_OK) {
            ngx_http_abtest_store_fail(p, "%s", op->err);
            return;
        }

        switch (op->step) {

        case NGX_HTTP_ABTEST_SEED_CHECK:
            op->step = op->schema ? NGX_HTTP_ABTEST_SEED_LISTEN
                                  : NGX_HTTP_ABTEST_SEED_SCHEMA;
            return;

        case NGX_HTTP_ABTEST_SEED_SCHEMA:
            op->step = NGX_HTTP_ABTEST_SEED_LISTEN;
            return;

        case NGX_HTTP_ABTEST_SEED_LISTEN:
            op->step = n ? NGX_HTTP_ABTEST_SEED_INSERT
                         : NGX_HTTP_ABTEST_SEED_READ;
            return;

        case NGX_HTTP_ABTEST_SEED_INSERT:
            if (++op->next == n) {
                op->step = NGX_HTTP_ABTEST_SEED_READ;
            }

            return;
        }

        /* made and read: this server takes updates */

        ngx_http_abtest_store_shared(p, 1, NULL);

        p->backoff = 100;

        ngx_http_abtest_store_finish(p, op, NGX_OK, NULL);
        return;

    case NGX_HTTP_ABTEST_OP_READ:

        if (op->status != NGX_OK) {
            /* a table dropped, a privilege revoked: connect and seed again */
            ngx_http_abtest_store_fail(p, "%s", op->err);
            return;
        }

        ngx_http_abtest_store_finish(p, op, NGX_OK, NULL);
        return;

    case NGX_HTTP_ABTEST_OP_FIGURES:

        /* the events' tables missing, say: the state is not affected */
        if (op->status != NGX_OK) {
            ngx_http_abtest_store_figures_failed(p, op->err);
        }

        ngx_http_abtest_store_finish(p, op, NGX_OK, NULL);
        return;
    }

    /* NGX_HTTP_ABTEST_OP_UPDATE */

    switch (op->step) {

    case NGX_HTTP_ABTEST_UP_ROLLBACK:
        ngx_http_abtest_store_finish(p, op, op->status, (char *) op->err);
        return;

    case NGX_HTTP_ABTEST_UP_COMMIT:
        if (op->status == NGX_OK) {
            /* committed: this server shows it at once */
            (void) p->zone.apply(p->amcf, op->exp, &op->rt, op->version);
            ngx_http_abtest_store_finish(p, op, NGX_OK, NULL);
            return;
        }

        /* fall through */

    default:
        op->step = (op->status == NGX_OK) ? op->step + 1
                                          : NGX_HTTP_ABTEST_UP_ROLLBACK;
    }
}


/*
 * The connection is lost (or never made): said once when it begins, not
 * per request; the listener's server takes no update until it has read
 * the store again; every waiting operation ends with the reason.
 */

static void
ngx_http_abtest_store_fail(ngx_http_abtest_store_proc_t *p, const char *fmt,
    ...)
{
    u_char                      *s, msg[NGX_HTTP_ABTEST_STORE_ERROR_LEN];
    u_char                       text[NGX_HTTP_ABTEST_STORE_ERROR_LEN];
    va_list                      args;
    ngx_uint_t                   doubt;
    ngx_queue_t                 *q;
    ngx_http_abtest_store_op_t  *op;

    va_start(args, fmt);
    s = ngx_vslprintf(text, text + sizeof(text) - 1, fmt, args);
    va_end(args);

    *s = '\0';

    (void) ngx_http_abtest_store_line(msg, sizeof(msg), (char *) text);

    if (!p->listener && ngx_queue_empty(&p->ops)) {
        /* an update's connection, idle: nothing waited on it */
        ngx_log_error(NGX_LOG_INFO, p->log, 0,
                      "abtest: the store \"%V\" closed this worker's idle "
                      "connection: %s", &p->amcf->store->target, msg);

    } else if (!p->failing) {
        ngx_log_error(NGX_LOG_ERR, p->log, 0,
                      "abtest: the store \"%V\" is unreachable: %s",
                      &p->amcf->store->target, msg);
        p->failing = 1;
        ngx_cpystrn(p->error, msg, sizeof(p->error));

    } else if (ngx_strcmp(msg, p->error) != 0) {
        /* the same outage, for another reason: one [error] per outage */
        ngx_log_error(NGX_LOG_INFO, p->log, 0,
                      "abtest: the store \"%V\" is still unreachable: %s",
                      &p->amcf->store->target, msg);
        ngx_cpystrn(p->error, msg, sizeof(p->error));
    }

    /* a commit sent and not answered: only the store knows its outcome */
    doubt = 0;

    if (!ngx_queue_empty(&p->ops)) {
        op = ngx_queue_data(ngx_queue_head(&p->ops),
                            ngx_http_abtest_store_op_t, queue);
        doubt = p->busy && op->kind == NGX_HTTP_ABTEST_OP_UPDATE
                && op->step == NGX_HTTP_ABTEST_UP_COMMIT;
    }

    ngx_http_abtest_store_release(p);

    /* the server takes no update until its listener has read it again */
    ngx_http_abtest_store_shared(p, 0, msg);

    while (!ngx_queue_empty(&p->ops)) {
        q = ngx_queue_head(&p->ops);
        op = ngx_queue_data(q, ngx_http_abtest_store_op_t, queue);

        ngx_snprintf(op->err, sizeof(op->err) - 1,
                     "the store is unreachable: %s%s%Z", msg,
                     doubt ? "; the commit was sent: if the store made it, "
                             "every server shows it" : "");
        doubt = 0;

        ngx_http_abtest_store_finish(p, op, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     (char *) op->err);
    }

    if (p->listener && !ngx_exiting) {
        if (p->timer.timer_set) {
            ngx_del_timer(&p->timer);
        }

        ngx_add_timer(&p->timer, p->backoff);
        p->backoff = ngx_min(2 * p->backoff, p->amcf->store->poll);
    }
}


/* a new operation, queued behind the others, with its deadline */

static ngx_http_abtest_store_op_t *
ngx_http_abtest_store_op(ngx_http_abtest_store_proc_t *p, ngx_uint_t kind)
{
    ngx_http_abtest_store_op_t  *op;

    op = ngx_calloc(sizeof(ngx_http_abtest_store_op_t), p->log);
    if (op == NULL) {
        return NULL;
    }

    op->kind = kind;
    op->status = NGX_OK;

    op->deadline.handler = ngx_http_abtest_store_deadline;
    op->deadline.data = op;
    op->deadline.log = p->log;

    /* a worker shutting down answers its updates first, within timeout= */
    op->deadline.cancelable = (kind != NGX_HTTP_ABTEST_OP_UPDATE);

    ngx_add_timer(&op->deadline, p->amcf->store->timeout);

    ngx_queue_insert_tail(&p->ops, &op->queue);

    return op;
}


/* an operation ends: its request is answered, if it is still there */

static void
ngx_http_abtest_store_finish(ngx_http_abtest_store_proc_t *p,
    ngx_http_abtest_store_op_t *op, ngx_int_t status, const char *err)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    ngx_queue_remove(&op->queue);

    if (op->deadline.timer_set) {
        ngx_del_timer(&op->deadline);
    }

    if (status == NGX_OK && p->failing
        && op->kind != NGX_HTTP_ABTEST_OP_READ
        && op->kind != NGX_HTTP_ABTEST_OP_FIGURES)
    {
        /* the listener has read it all again, or an update got through */
        ngx_log_error(NGX_LOG_NOTICE, p->log, 0,
                      "abtest: the store \"%V\" is reachable again",
                      &p->amcf->store->target);
        p->failing = 0;
    }

    r = op->request;

    if (op->cln) {
        op->cln->handler = NULL;
    }

    if (r && err) {
        op->request = NULL;
        c = r->connection;

        op->done(r, op->exp, NULL, status, err);

        ngx_http_run_posted_requests(c);

    } else if (r && status == NGX_OK) {
        op->request = NULL;
        c = r->connection;

        op->done(r, op->exp, &op->rt, NGX_OK, NULL);

        ngx_http_run_posted_requests(c);
    }

    ngx_free(op);
}


/*
 * No answer within timeout=: the connection goes (the store rolls back
 * what it had not committed), and every waiting operation with it.
 */

static void
ngx_http_abtest_store_deadline(ngx_event_t *ev)
{
    ngx_http_abtest_store_proc_t  *p = &ngx_http_abtest_store_proc;

    ngx_http_abtest_store_fail(p, "no answer within %M ms",
                               p->amcf->store->timeout);
}


static void
ngx_http_abtest_store_detach(void *data)
{
    ngx_http_abtest_store_op_t  *op = data;

    /* the operation itself goes on, and ends without answering */
    op->request = NULL;
    op->cln = NULL;
}


/*
 * An experiment's row as query parameters $1 .. $10: name, groups,
 * weights, state, rollout_group, start_ms, end_ms, stats_start_ms,
 * history, updated_by.
 */

static ngx_int_t
ngx_http_abtest_store_row_params(ngx_pool_t *pool,
    ngx_http_abtest_experiment_t *exp, ngx_http_abtest_runtime_t *rt,
    ngx_str_t *node, const char **values)
{
    u_char                   *p;
    yajl_gen                  g;
    ngx_str_t                 json, *state;
    ngx_uint_t                i, k;
    int64_t                   ms[3];
    ngx_http_abtest_group_t  *group;

    group = exp->groups.elts;
    state = ngx_http_abtest_state_name(rt->state.state);

    values[0] = (const char *) exp->name.data;
    values[1] = (const char *) exp->generation.data;
    values[3] = (const char *) state->data;
    values[4] = (rt->state.rollout == NGX_HTTP_ABTEST_NO_GROUP)
                ? NULL : (const char *) group[rt->state.rollout].name.data;

    ms[0] = rt->start;
    ms[1] = rt->end;
    ms[2] = rt->stats_start;

    for (i = 0; i < 3; i++) {
        if (ms[i] < 0) {
            values[5 + i] = NULL;
            continue;
        }

        p = ngx_pnalloc(pool, NGX_INT64_LEN + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *ngx_sprintf(p, "%L", ms[i]) = '\0';
        values[5 + i] = (const char *) p;
    }

    for (k = 0; k < 2; k++) {
        g = ngx_http_abtest_json_gen(pool);
        if (g == NULL) {
            return NGX_ERROR;
        }

        if (k == 0) {
            if (ngx_http_abtest_store_weights_json(g, exp, rt->state.weights)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else {
            yajl_gen_array_open(g);

            for (i = 0; i < rt->state.nhistory; i++) {
                if (ngx_http_abtest_store_weights_json(g, exp,
                                                     rt->state.history[i])
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }

            yajl_gen_array_close(g);
        }

        /* a newline after the JSON: jsonb does not mind it */
        if (ngx_http_abtest_json_buf(g, pool, &json) != NGX_OK) {
            return NGX_ERROR;
        }

        json.data[json.len - 1] = '\0';
        values[k == 0 ? 2 : 8] = (const char *) json.data;
    }

    p = ngx_pnalloc(pool, node->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(p, node->data, node->len) = '\0';
    values[9] = (const char *) p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_abtest_store_weights_json(yajl_gen g,
    ngx_http_abtest_experiment_t *exp, uint32_t *weights)
{
    ngx_uint_t                i;
    ngx_http_abtest_group_t  *group;

    group = exp->groups.elts;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    for (i = 0; i < exp->groups.nelts; i++) {
        ngx_http_abtest_json_str(g, group[i].name.data, group[i].name.len);
        yajl_gen_integer(g, weights[i]);
    }

    return (yajl_gen_map_close(g) == yajl_gen_status_ok) ? NGX_OK
                                                          : NGX_ERROR;
}


/*
 * A row read from the store, checked as any client input: a DBA's typo
 * (weights of other groups, a rollout group that is none, a number that
 * is no number) is refused with "err", never applied.
 */

static ngx_int_t
ngx_http_abtest_store_row(ngx_pool_t *pool, ngx_http_abtest_experiment_t *exp,
    PGresult *res, int row, ngx_http_abtest_runtime_t *rt, int64_t *version,
    u_char *err)
{
    char                         *v;
    u_char                        msg[256];
    uint64_t                      total;
    yajl_val                      tree;
    ngx_int_t                     state;
    ngx_uint_t                    i;
    ngx_http_abtest_runtime_t     r;

    ngx_memzero(&r, sizeof(ngx_http_abtest_runtime_t));
    msg[0] = '\0';

    /* who enters, as configured, where the row does not say */
    r.state.coverage = exp->conf_state.coverage;
    r.state.schedule_start = exp->conf_state.schedule_start;
    r.state.schedule_stop = exp->conf_state.schedule_stop;

    /* weights */

    v = PQgetvalue(res, row, 2);
    tree = ngx_http_abtest_json_parse(pool, (u_char *) v, ngx_strlen(v), 2,
                                      msg, sizeof(msg));
    if (tree == NULL
        || ngx_http_abtest_json_weights(tree, exp, r.state.weights,
                                        &r.state.total, msg, sizeof(msg))
           != NGX_OK)
    {
        ngx_snprintf(err, NGX_HTTP_ABTEST_STORE_ERROR_LEN - 1,
                     "weights: %s%Z", msg[0] ? msg : (u_char *) "not JSON");
        return NGX_ERROR;
    }

    /* state, rollout_group */

    v = PQgetvalue(res, row, 3);
    state = ngx_http_abtest_state_by_name((u_char *) v, ngx_strlen(v));

    if (state == NGX_ERROR) {
        ngx_snprintf(err, NGX_HTTP_ABTEST_STORE_ERROR_LEN - 1,
                     "state: not active, inactive or rollout%Z");
        return NGX_ERROR;
    }

    r.state.state = state;
    r.state.rollout = NGX_HTTP_ABTEST_NO_GROUP;

    if (!PQgetisnull(res, row, 4)) {
        v = PQgetvalue(res, row, 4);
        r.state.rollout = ngx_http_abtest_find_group(exp, (u_char *) v,
                                                     ngx_strlen(v));
        if (r.state.rollout == NGX_HTTP_ABTEST_NO_GROUP) {
            ngx_snprintf(err, NGX_HTTP_ABTEST_STORE_ERROR_LEN - 1,
                         "rollout_group: not a group of the experiment%Z");
            return NGX_ERROR;
        }
    }

    /*
     * outside state rollout only the configured "rollout" group, which
     * the configuration's own record of an experiment carries (and its
     * JSON shows) until the first update
     */
    if ((r.state.state == NGX_HTTP_ABTEST_STATE_ROLLOUT)
        ? (r.state.rollout == NGX_HTTP_ABTEST_NO_GROUP)
        : (r.state.rollout != NGX_HTTP_ABTEST_NO_GROUP
           && r.state.rollout != exp->conf_state.rollout))
    {
        ngx_snprintf(err, NGX_HTTP_ABTEST_STORE_ERROR_LEN - 1,
                     "rollout_group: given without state rollout, or "
                     "missing with it%Z");
        return NGX_ERROR;
    }

    /* times */

    if (ngx_http_abtest_store_ms(res, row, 5, &r.start) != NGX_OK
        || ngx_http_abtest_store_ms(res, row, 6, &r.end) != NGX_OK
        || ngx_http_abtest_store_ms(res, row, 7, &r.stats_start) != NGX_OK)
    {
        ngx_snprintf(err, NGX_HTTP_ABTEST_STORE_ERROR_LEN - 1,
                     "start_ms, end_ms, stats_start_ms: not times%Z");
        return NGX_ERROR;
    }

    /* history: earlier weights, at most NGX_HTTP_ABTEST_HISTORY kept */

    v = PQgetvalue(res, row, 8);
    tree = ngx_http_abtest_json_parse(pool, (u_char *) v, ngx_strlen(v), 3,
                                      msg, sizeof(msg));
    if (tree == NULL || !YAJL_IS_ARRAY(tree)) {
        ngx_snprintf(err, NGX_HTTP_ABTEST_STORE_ERROR_LEN - 1,
                     "history: not an array of weights%Z");
        return NGX_ERROR;
    }

    for (i = 0; i < tree->u.array.len && i < NGX_HTTP_ABTEST_HISTORY; i++) {
        if (ngx_http_abtest_json_weights(tree->u.array.values[i], exp,
                                         r.state.history[i], &total, msg,
                                         sizeof(msg))
            != NGX_OK)
        {
            ngx_snprintf(err, NGX_HTTP_ABTEST_STORE_ERROR_LEN - 1,
                         "history[%ui]: %s%Z", i, msg);
            return NGX_ERROR;
        }

        r.state.nhistory = i + 1;
    }

    v = PQgetvalue(res, row, 9);
    *version = ngx_atoof((u_char *) v, ngx_strlen(v));

    if (*version <= 0) {
        ngx_snprintf(err, NGX_HTTP_ABTEST_STORE_ERROR_LEN - 1,
                     "version: not a positive number%Z");
        return NGX_ERROR;
    }

    *rt = r;

    return NGX_OK;
}


/* NULL is none (-1); otherwise a whole number, at least -1 */

static ngx_int_t
ngx_http_abtest_store_ms(PGresult *res, int row, int col, int64_t *ms)
{
    char  *v;

    if (PQgetisnull(res, row, col)) {
        *ms = -1;
        return NGX_OK;
    }

    v = PQgetvalue(res, row, col);

    if (v[0] == '-') {
        /* -1, which an export of the state file may hold */
        if (ngx_strcmp(v, "-1") != 0) {
            return NGX_ERROR;
        }

        *ms = -1;
        return NGX_OK;
    }

    *ms = ngx_atoof((u_char *) v, ngx_strlen(v));

    return (*ms == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


/*
 * The rows a read brought: those of this configuration's generations are
 * applied to the zone where they are newer (the store wins); an
 * experiment the store has no row of its groups for runs from this
 * server's record ("mismatch" if the store has other groups of it); a
 * hostile row is said once per version, and not applied.
 */

static void
ngx_http_abtest_store_apply_rows(ngx_http_abtest_store_proc_t *p,
    PGresult *res)
{
    int                            i, rows;
    char                          *name, *groups;
    u_char                         err[NGX_HTTP_ABTEST_STORE_ERROR_LEN];
    int64_t                        version, top;
    ngx_uint_t                     n, k, applied, back, *seen;
    ngx_pool_t                    *pool;
    ngx_http_abtest_runtime_t      rt;
    ngx_http_abtest_store_sh_t    *sh;
    ngx_http_abtest_experiment_t  *exp, *all;

#define NGX_HTTP_ABTEST_SEEN_OWN    1
#define NGX_HTTP_ABTEST_SEEN_OTHER  2

    sh = p->zone.sh;
    all = p->amcf->experiments.elts;
    n = p->amcf->experiments.nelts;
    rows = PQntuples(res);
    applied = 0;

    /*
     * The rows come in the order of their versions.  A store that holds
     * less than this server read from it was restored from a backup, or
     * lost commits in a crash (or a DBA deleted rows): what it holds is
     * the run-time state, though older, and the versions it gives next
     * are below the ones applied.
     */
    top = rows ? ngx_atoof((u_char *) PQgetvalue(res, rows - 1, 9),
                           PQgetlength(res, rows - 1, 9))
               : 0;
    back = (top < sh->version);

    if (back) {
        ngx_log_error(NGX_LOG_WARN, p->log, 0,
                      "abtest: the store \"%V\" holds versions up to %L, "
                      "below the %L this server read: its rows are applied "
                      "again", &p->amcf->store->target, top, sh->version);

        p->zone.forget(p->amcf);
        ngx_memzero(p->bad, (n + 1) * sizeof(int64_t));
    }

    pool = ngx_create_pool(4096, p->log);
    if (pool == NULL) {
        return;
    }

    seen = ngx_pcalloc(pool, (n + 1) * sizeof(ngx_uint_t));
    if (seen == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    for (i = 0; i < rows; i++) {
        name = PQgetvalue(res, i, 0);
        groups = PQgetvalue(res, i, 1);

        version = ngx_atoof((u_char *) PQgetvalue(res, i, 9),
                            PQgetlength(res, i, 9));
        top = ngx_max(top, version);

        exp = ngx_http_abtest_find_experiment(p->amcf, (u_char *) name,
                                              ngx_strlen(name), 0);
        if (exp == NULL) {
            /* another configuration's experiment */
            continue;
        }

        if (ngx_strcmp(groups, exp->generation.data) != 0) {
            /* another generation: a rolling deploy's other servers */
            seen[exp->index] |= NGX_HTTP_ABTEST_SEEN_OTHER;
            continue;
        }

        seen[exp->index] |= NGX_HTTP_ABTEST_SEEN_OWN;

        if (ngx_http_abtest_store_row(pool, exp, res, i, &rt, &version, err)
            != NGX_OK)
        {
            if (p->bad[exp->index] != version) {
                p->bad[exp->index] = version;
                ngx_log_error(NGX_LOG_ERR, p->log, 0,
                              "abtest: the store's row of experiment \"%V\" "
                              "(groups %s, version %L) is refused: %s; the "
                              "experiment keeps its run-time state",
                              &exp->name, groups, version, err);
            }

            continue;
        }

        if (p->zone.apply(p->amcf, exp, &rt, version) == NGX_OK) {
            applied++;
        }
    }

    for (k = 0; k < n; k++) {
        if (!(seen[k] & NGX_HTTP_ABTEST_SEEN_OWN)) {
            p->zone.source(p->amcf, &all[k],
                           (seen[k] & NGX_HTTP_ABTEST_SEEN_OTHER)
                           ? NGX_HTTP_ABTEST_SOURCE_MISMATCH
                           : NGX_HTTP_ABTEST_SOURCE_CONFIGURATION);
        }
    }

    ngx_destroy_pool(pool);

    ngx_shmtx_lock(p->zone.mutex);

    if (top > sh->version || back) {
        sh->version = top;
    }

    sh->applied = ngx_http_abtest_now_ms();

    ngx_shmtx_unlock(p->zone.mutex);

    if (applied) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, p->log, 0,
                       "abtest store: %ui rows applied", applied);

        p->zone.applied(p->amcf, p->log);
    }
}


/* a message of libpq's on one line: it may span lines, and ends with one */

static u_char *
ngx_http_abtest_store_line(u_char *dst, size_t size, const char *src)
{
    u_char  *d, *last;

    d = dst;
    last = dst + size - 1;

    for ( /* void */ ; *src && d < last; src++) {
        *d++ = (*src == LF || *src == CR || *src == '\t') ? ' ' : *src;
    }

    while (d > dst && d[-1] == ' ') {
        d--;
    }

    *d = '\0';

    return dst;
}

#endif
