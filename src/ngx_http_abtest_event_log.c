
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The durable events log (abtest_events_log): every accepted event as a
 * JSON line, in a file or to syslog.  The file is one of nginx's open
 * files, reopened on USR1.
 *
 * Without buffer=, the lines of one pass of the event loop are written
 * with one write() at its end, and the answers of that pass wait for it
 * (group commit): a 2xx means the lines were written.  With buffer=, an
 * answer goes out once its lines are in this worker's buffer, written
 * when it fills, every flush=, on USR1 and when the worker exits.
 *
 * Lines a write could not take (a full disk) wait and are tried again
 * every second by a timer that keeps an exiting worker alive until they
 * are written; meanwhile new events are refused.  The log says so once
 * when it happens and once when it is over.  Workers write under the
 * zone's lock, so that a write a full disk cuts short is undone before
 * any other worker's line can follow it: every line in the file is
 * whole.
 */


#include "ngx_http_abtest_event_log.h"


/* without buffer=, the buffer gathers the lines of one event loop pass */
#define NGX_HTTP_ABTEST_LOG_STAGING   (64 * 1024)
#define NGX_HTTP_ABTEST_LOG_FLUSH     1000       /* ms, with buffer= */
#define NGX_HTTP_ABTEST_LOG_RETRY     1000       /* ms, after a failure */


struct ngx_http_abtest_event_log_s {
    ngx_open_file_t           *file;
    ngx_syslog_peer_t         *syslog;

    /* the zone's lock, taken around every write() of the file */
    ngx_shmtx_t               *lock;

    /* this worker's lines not written yet */
    u_char                    *start;
    u_char                    *pos;
    u_char                    *last;

    /* a batch larger than the buffer that a write did not take whole */
    u_char                    *spill;
    ngx_str_t                  spilled;      /* what of it waits */

    /* bytes ever put in the buffer (or written past it), and written */
    uint64_t                   appended;
    uint64_t                   written;

    /* requests whose answers wait for their lines (no buffer=) */
    ngx_queue_t                waiting;

    ngx_msec_t                 flush;        /* 0: by each loop pass */
    ngx_uint_t                 failing;      /* a write failed */

    /* the zone's counters for the metrics: failed writes, bytes waiting */
    ngx_atomic_t              *errors;
    ngx_atomic_t              *buffered;

    ngx_event_t                timer;        /* flush= */
    ngx_event_t                retry;        /* after a failure */
    ngx_event_t                pass;         /* the end of a loop pass */
};


typedef struct {
    ngx_queue_t                queue;
    ngx_http_request_t        *request;
    uint64_t                   end;          /* "appended" after its lines */
    ngx_http_abtest_log_written_pt  handler;
    void                      *data;
} ngx_http_abtest_log_wait_t;


static ngx_int_t ngx_http_abtest_event_log_flush(
    ngx_http_abtest_event_log_t *elog, ngx_log_t *log);
static void ngx_http_abtest_event_log_publish(
    ngx_http_abtest_event_log_t *elog);
static ngx_int_t ngx_http_abtest_event_log_write_part(
    ngx_http_abtest_event_log_t *elog, ngx_str_t *part, ngx_log_t *log);
static void ngx_http_abtest_event_log_cleanup(void *data);
static void ngx_http_abtest_event_log_failed(ngx_http_abtest_event_log_t *elog,
    ngx_err_t err, size_t wait, ngx_log_t *log);
static void ngx_http_abtest_event_log_answer(
    ngx_http_abtest_event_log_t *elog);
static void ngx_http_abtest_event_log_wait_cleanup(void *data);
static void ngx_http_abtest_event_log_timer(ngx_event_t *ev);
static void ngx_http_abtest_event_log_file_flush(ngx_open_file_t *file,
    ngx_log_t *log);
static ngx_int_t ngx_http_abtest_event_log_syslog(
    ngx_http_abtest_event_log_t *elog, ngx_http_abtest_event_t *events,
    ngx_uint_t n, ngx_pool_t *pool, ngx_log_t *log);
static ngx_int_t ngx_http_abtest_event_log_direct(
    ngx_http_abtest_event_log_t *elog, ngx_http_abtest_event_t *events,
    ngx_uint_t n, size_t len, ngx_pool_t *pool, ngx_log_t *log);


/* abtest_events_log off | path [buffer=size] [flush=time] | syslog:... */

char *
ngx_http_abtest_events_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_main_conf_t *amcf = conf;

    size_t                        size;
    ngx_str_t                    *value, s;
    ngx_msec_t                    flush;
    ngx_uint_t                    i;
    ngx_pool_cleanup_t           *cln;
    ngx_http_abtest_event_log_t  *elog;

    if (amcf->event_log != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters with \"off\"";
        }

        amcf->event_log = NULL;
        return NGX_CONF_OK;
    }

    elog = ngx_pcalloc(cf->pool, sizeof(ngx_http_abtest_event_log_t));
    if (elog == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_strncmp(value[1].data, "syslog:", 7) == 0) {
        if (cf->args->nelts != 2) {
            return "takes no buffer= or flush= with syslog";
        }

        elog->syslog = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
        if (elog->syslog == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_syslog_process_conf(cf, elog->syslog) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        amcf->event_log = elog;
        return NGX_CONF_OK;
    }

    size = 0;
    flush = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "buffer=", 7) == 0) {
            s.len = value[i].len - 7;
            s.data = value[i].data + 7;

            size = ngx_parse_size(&s);

            if (size == (size_t) NGX_ERROR || size == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid buffer size \"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.len = value[i].len - 6;
            s.data = value[i].data + 6;

            flush = ngx_parse_time(&s, 0);

            if (flush == (ngx_msec_t) NGX_ERROR || flush == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid flush time \"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (flush && size == 0) {
        return "takes flush= only with buffer=";
    }

    if (size) {
        elog->flush = flush ? flush : NGX_HTTP_ABTEST_LOG_FLUSH;

    } else {
        size = NGX_HTTP_ABTEST_LOG_STAGING;
    }

    elog->file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (elog->file == NULL) {
        return NGX_CONF_ERROR;
    }

    if (elog->file->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is already written by another buffered "
                           "log", &value[1]);
        return NGX_CONF_ERROR;
    }

    elog->start = ngx_pnalloc(cf->pool, size);
    if (elog->start == NULL) {
        return NGX_CONF_ERROR;
    }

    elog->pos = elog->start;
    elog->last = elog->start + size;

    ngx_queue_init(&elog->waiting);

    /* a quiet worker exits at once: its buffer is written on the way out */
    elog->timer.handler = ngx_http_abtest_event_log_timer;
    elog->timer.data = elog;
    elog->timer.log = &cf->cycle->new_log;
    elog->timer.cancelable = 1;

    /* but lines a write refused keep it until they are written */
    elog->retry.handler = ngx_http_abtest_event_log_timer;
    elog->retry.data = elog;
    elog->retry.log = &cf->cycle->new_log;

    elog->pass.handler = ngx_http_abtest_event_log_timer;
    elog->pass.data = elog;
    elog->pass.log = &cf->cycle->new_log;

    elog->file->flush = ngx_http_abtest_event_log_file_flush;
    elog->file->data = elog;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_abtest_event_log_cleanup;
    cln->data = elog;

    amcf->event_log = elog;

    return NGX_CONF_OK;
}


/* the zone's lock, which the log's writes take (set before any line) */

void
ngx_http_abtest_event_log_set_lock(ngx_http_abtest_event_log_t *elog,
    ngx_shmtx_t *lock)
{
    elog->lock = lock;
}


/*
 * The zone's counters the metrics read: every failed write() is added to
 * "errors", and this process's bytes not written yet are kept in
 * "buffered" (its slot), so that a scrape answered by any worker sees the
 * server's.
 */

void
ngx_http_abtest_event_log_set_counters(ngx_http_abtest_event_log_t *elog,
    ngx_atomic_t *errors, ngx_atomic_t *buffered)
{
    elog->errors = errors;
    elog->buffered = buffered;
}


static void
ngx_http_abtest_event_log_publish(ngx_http_abtest_event_log_t *elog)
{
    if (elog->buffered) {
        *elog->buffered = (ngx_atomic_uint_t)
                          (elog->appended - elog->written);
    }
}


/*
 * Called before the ring takes a batch of "len" bytes of lines: while a
 * write is failing nothing more is taken, and otherwise the lines must
 * fit the buffer once it is written out (a batch larger than the whole
 * buffer is written on its own).  A refusal means nothing was stored.
 */

ngx_int_t
ngx_http_abtest_event_log_reserve(ngx_http_abtest_event_log_t *elog,
    size_t len, ngx_log_t *log)
{
    if (elog->syslog) {
        return NGX_OK;
    }

    if (elog->failing) {
        return NGX_DECLINED;
    }

    if (len <= (size_t) (elog->last - elog->pos)) {
        return NGX_OK;
    }

    return ngx_http_abtest_event_log_flush(elog, log);
}


/* the lines of events the ring has taken (their "line" is set) */

ngx_int_t
ngx_http_abtest_event_log_write(ngx_http_abtest_event_log_t *elog,
    ngx_http_abtest_event_t *events, ngx_uint_t n, ngx_pool_t *pool,
    ngx_log_t *log)
{
    size_t      len;
    ngx_uint_t  i;

    if (elog->syslog) {
        return ngx_http_abtest_event_log_syslog(elog, events, n, pool, log);
    }

    len = 0;

    for (i = 0; i < n; i++) {
        len += events[i].line.len;
    }

    if (len > (size_t) (elog->last - elog->pos)) {
        return ngx_http_abtest_event_log_direct(elog, events, n, len, pool,
                                                log);
    }

    for (i = 0; i < n; i++) {
        elog->pos = ngx_cpymem(elog->pos, events[i].line.data,
                               events[i].line.len);
    }

    elog->appended += len;
    ngx_http_abtest_event_log_publish(elog);

    if (elog->flush) {
        if (!elog->timer.timer_set) {
            ngx_add_timer(&elog->timer, elog->flush);
        }

    } else if (!elog->pass.posted) {
        /*
         * written once the worker has handled what is ready now (the
         * requests of one pass of its event loop): one write() for them
         * all under load, at once otherwise
         */
        ngx_post_event(&elog->pass, &ngx_posted_events);
    }

    return NGX_OK;
}


/*
 * After its events were written into the log: NGX_OK when the request
 * may answer now (buffer=, syslog, or its lines are written already),
 * NGX_DONE when "handler" answers it once the loop pass's write has
 * taken its lines.  The request is held meanwhile.
 */

ngx_int_t
ngx_http_abtest_event_log_wait(ngx_http_abtest_event_log_t *elog,
    ngx_http_request_t *r, ngx_http_abtest_log_written_pt handler,
    void *data)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_abtest_log_wait_t  *w;

    if (elog->syslog || elog->flush || elog->written >= elog->appended) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_abtest_log_wait_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    w = cln->data;
    w->request = r;
    w->end = elog->appended;
    w->handler = handler;
    w->data = data;

    /* a request closed meanwhile (a shutdown timeout) leaves the queue */
    cln->handler = ngx_http_abtest_event_log_wait_cleanup;

    ngx_queue_insert_tail(&elog->waiting, &w->queue);

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_abtest_event_log_wait_cleanup(void *data)
{
    ngx_http_abtest_log_wait_t  *w = data;

    if (w->request) {
        ngx_queue_remove(&w->queue);
        w->request = NULL;
    }
}


/* the requests whose lines are written now get their answers */

static void
ngx_http_abtest_event_log_answer(ngx_http_abtest_event_log_t *elog)
{
    ngx_queue_t                 *q;
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_abtest_log_wait_t  *w;

    while (!ngx_queue_empty(&elog->waiting)) {
        q = ngx_queue_head(&elog->waiting);
        w = ngx_queue_data(q, ngx_http_abtest_log_wait_t, queue);

        if (w->end > elog->written) {
            return;
        }

        ngx_queue_remove(q);

        r = w->request;
        w->request = NULL;
        c = r->connection;

        w->handler(r, w->data);

        ngx_http_run_posted_requests(c);
    }
}


/*
 * Writes out what waits: a large batch a write cut short first (nothing
 * is taken into the buffer meanwhile), then the buffer.  What a failed
 * write (a full disk) leaves is kept, and tried again by the retry
 * timer.  Then the requests whose lines are written get their answers.
 */

static ngx_int_t
ngx_http_abtest_event_log_flush(ngx_http_abtest_event_log_t *elog,
    ngx_log_t *log)
{
    ngx_int_t  rc;
    ngx_str_t  part;

    rc = NGX_OK;

    if (elog->spill) {
        rc = ngx_http_abtest_event_log_write_part(elog, &elog->spilled, log);

        if (rc == NGX_OK) {
            ngx_free(elog->spill);
            elog->spill = NULL;
        }
    }

    part.data = elog->start;
    part.len = elog->pos - elog->start;

    if (rc == NGX_OK && part.len) {
        rc = ngx_http_abtest_event_log_write_part(elog, &part, log);

        /* a line cut short is completed by the next write */
        elog->pos = ngx_movemem(elog->start, part.data, part.len);
    }

    ngx_http_abtest_event_log_answer(elog);

    return rc;
}


/*
 * One write(), whole or undone: a write a full disk cuts short is cut off
 * the file again (under the lock no other worker wrote after it), and
 * all of "part" waits.  Should that fail, "part" is left with what the
 * write did not take, which the next write completes.
 */

static ngx_int_t
ngx_http_abtest_event_log_write_part(ngx_http_abtest_event_log_t *elog,
    ngx_str_t *part, ngx_log_t *log)
{
    off_t    end;
    ssize_t  n;

    if (elog->lock) {
        ngx_shmtx_lock(elog->lock);
    }

    n = ngx_write_fd(elog->file->fd, part->data, part->len);

    if (n > 0 && n < (ssize_t) part->len) {
        end = lseek(elog->file->fd, 0, SEEK_END);

        if (end >= n && ftruncate(elog->file->fd, end - n) == 0) {
            n = 0;

        } else {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "abtest: a write cut short could not be undone in "
                          "the events log \"%V\": its line is completed "
                          "later", &elog->file->name);
        }
    }

    if (elog->lock) {
        ngx_shmtx_unlock(elog->lock);
    }

    if (n == (ssize_t) part->len) {
        elog->written += part->len;
        ngx_http_abtest_event_log_publish(elog);
        part->data += part->len;
        part->len = 0;

        if (elog->failing) {
            elog->failing = 0;

            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "abtest: the events log \"%V\" is written again",
                          &elog->file->name);
        }

        return NGX_OK;
    }

    ngx_http_abtest_event_log_failed(elog, (n == -1) ? ngx_errno : 0,
                                     part->len - (n > 0 ? n : 0), log);

    if (n > 0) {
        elog->written += n;
        ngx_http_abtest_event_log_publish(elog);
        part->data += n;
        part->len -= n;
    }

    return NGX_ERROR;
}


/*
 * Once per failure, not per request: the lines wait, the retry timer
 * (not cancelable: an exiting worker stays until they are written) tries
 * every second, and new events are refused meanwhile.
 */

static void
ngx_http_abtest_event_log_failed(ngx_http_abtest_event_log_t *elog,
    ngx_err_t err, size_t wait, ngx_log_t *log)
{
    if (elog->errors) {
        (void) ngx_atomic_fetch_add(elog->errors, 1);
    }

    if (!elog->failing) {
        elog->failing = 1;

        ngx_log_error(NGX_LOG_ALERT, log, err,
                      "abtest: cannot write the events log \"%V\": %uz "
                      "bytes of events wait and are tried again every "
                      "second, new events are refused meanwhile",
                      &elog->file->name, wait);
    }

    if ((ngx_process == NGX_PROCESS_WORKER
         || ngx_process == NGX_PROCESS_SINGLE)
        && !elog->retry.timer_set)
    {
        ngx_add_timer(&elog->retry, NGX_HTTP_ABTEST_LOG_RETRY);
    }
}


static void
ngx_http_abtest_event_log_timer(ngx_event_t *ev)
{
    (void) ngx_http_abtest_event_log_flush(ev->data, ev->log);
}


/*
 * Before a reopen (USR1) and when the worker exits.  At the exit, lines
 * a write refuses are tried again every second until they are written:
 * the worker serves nothing any more, and its events were acknowledged.
 * Only a fast shutdown (TERM, INT) gives up on them, saying how many.
 */

static void
ngx_http_abtest_event_log_file_flush(ngx_open_file_t *file, ngx_log_t *log)
{
    ngx_http_abtest_event_log_t  *elog = file->data;

    if (elog->timer.timer_set) {
        ngx_del_timer(&elog->timer);
    }

    if (elog->pass.posted) {
        ngx_delete_posted_event(&elog->pass);
    }

    if (ngx_http_abtest_event_log_flush(elog, log) == NGX_OK
        || !(ngx_exiting || ngx_quit || ngx_terminate))
    {
        /* a reopen: what waits goes to the new file, by the retry timer */
        return;
    }

    /* the worker (or nginx without a master process) is exiting */

    if (elog->retry.timer_set) {
        ngx_del_timer(&elog->retry);
    }

    while (elog->spill || elog->pos > elog->start) {

        if (ngx_terminate) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "abtest: fast shutdown, %uz bytes of events are "
                          "not in the events log \"%V\"",
                          (size_t) (elog->pos - elog->start)
                          + elog->spilled.len, &file->name);
            return;
        }

        ngx_msleep(NGX_HTTP_ABTEST_LOG_RETRY);

        (void) ngx_http_abtest_event_log_flush(elog, log);
    }
}


/*
 * The configuration is freed (an old one, after a reload without a
 * master process): its timers go, and what waits is written if it can.
 */

static void
ngx_http_abtest_event_log_cleanup(void *data)
{
    ngx_http_abtest_event_log_t  *elog = data;

    if (elog->timer.timer_set) {
        ngx_del_timer(&elog->timer);
    }

    if (elog->retry.timer_set) {
        ngx_del_timer(&elog->retry);
    }

    if (elog->pass.posted) {
        ngx_delete_posted_event(&elog->pass);
    }

    if (ngx_process == NGX_PROCESS_WORKER
        || ngx_process == NGX_PROCESS_SINGLE)
    {
        (void) ngx_http_abtest_event_log_flush(elog, elog->timer.log);
    }

    if (elog->spill) {
        ngx_free(elog->spill);
        elog->spill = NULL;
    }
}


/*
 * A batch larger than the buffer: written at once, after the buffer; what
 * a write does not take waits in memory of its own (nothing more is taken
 * until it is written).
 */

static ngx_int_t
ngx_http_abtest_event_log_direct(ngx_http_abtest_event_log_t *elog,
    ngx_http_abtest_event_t *events, ngx_uint_t n, size_t len,
    ngx_pool_t *pool, ngx_log_t *log)
{
    u_char      *buf, *p;
    ngx_str_t    part;
    ngx_uint_t   i;

    if (ngx_http_abtest_event_log_flush(elog, log) != NGX_OK) {
        return NGX_ERROR;
    }

    buf = ngx_alloc(len, log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = buf;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, events[i].line.data, events[i].line.len);
    }

    elog->appended += len;
    ngx_http_abtest_event_log_publish(elog);

    part.data = buf;
    part.len = len;

    if (ngx_http_abtest_event_log_write_part(elog, &part, log) == NGX_OK) {
        ngx_free(buf);
        return NGX_OK;
    }

    elog->spill = buf;
    elog->spilled = part;

    return NGX_OK;
}


/* one message per event, as access_log sends its lines to syslog */

static ngx_int_t
ngx_http_abtest_event_log_syslog(ngx_http_abtest_event_log_t *elog,
    ngx_http_abtest_event_t *events, ngx_uint_t n, ngx_pool_t *pool,
    ngx_log_t *log)
{
    u_char      *buf, *p;
    size_t       header;
    ngx_int_t    rc;
    ngx_uint_t   i;

    header = sizeof("<255>Jan 01 00:00:00 ") - 1 + ngx_cycle->hostname.len
             + 1 + elog->syslog->tag.len + 2;

    rc = NGX_OK;

    for (i = 0; i < n; i++) {
        buf = ngx_pnalloc(pool, header + events[i].line.len);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        p = ngx_syslog_add_header(elog->syslog, buf);
        p = ngx_cpymem(p, events[i].line.data, events[i].line.len - 1);

        if (ngx_syslog_send(elog->syslog, buf, p - buf) < 0) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "abtest: an event could not be sent to syslog");
            rc = NGX_ERROR;
        }
    }

    return rc;
}


/* for the status: the file's name or the syslog server, and this worker's */

void
ngx_http_abtest_event_log_state(ngx_http_abtest_event_log_t *elog,
    ngx_str_t *target, ngx_http_abtest_event_log_state_t *st)
{
    if (elog->syslog) {
        *target = elog->syslog->server.name;
        st->syslog = 1;

    } else {
        *target = elog->file->name;
        st->syslog = 0;
    }

    st->failing = elog->failing;
    st->pending = elog->appended - elog->written;
    st->written = elog->written;
}
