
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The durable events log (abtest_events_log): every accepted event as a
 * JSON line, in a file through a per-worker buffer, or to syslog.  The
 * file is one of nginx's open files, so it is reopened on USR1 and its
 * buffer written before that and when a worker exits, as access_log's.
 */


#include "ngx_http_abtest_event_log.h"


/* without buffer=, the buffer gathers the lines of one event loop pass */
#define NGX_HTTP_ABTEST_LOG_STAGING   (64 * 1024)
#define NGX_HTTP_ABTEST_LOG_FLUSH     1000       /* ms, with buffer= */
#define NGX_HTTP_ABTEST_LOG_RETRY     1000       /* ms, after a failure */


struct ngx_http_abtest_event_log_s {
    ngx_open_file_t           *file;
    ngx_syslog_peer_t         *syslog;

    /* this worker's lines not written yet */
    u_char                    *start;
    u_char                    *pos;
    u_char                    *last;

    ngx_msec_t                 flush;        /* 0: by each loop pass */
    ngx_uint_t                 torn;         /* the file ends in a cut line */
    ngx_event_t                timer;
    ngx_event_t                pass;         /* the end of a loop pass */
};


static ngx_int_t ngx_http_abtest_event_log_flush(
    ngx_http_abtest_event_log_t *elog, ngx_log_t *log);
static void ngx_http_abtest_event_log_retry(ngx_http_abtest_event_log_t *elog);
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

    elog->timer.handler = ngx_http_abtest_event_log_timer;
    elog->timer.data = elog;
    elog->timer.log = &cf->cycle->new_log;
    elog->timer.cancelable = 1;

    elog->pass.handler = ngx_http_abtest_event_log_timer;
    elog->pass.data = elog;
    elog->pass.log = &cf->cycle->new_log;

    elog->file->flush = ngx_http_abtest_event_log_file_flush;
    elog->file->data = elog;

    amcf->event_log = elog;

    return NGX_CONF_OK;
}


/*
 * Called before the ring takes a batch of "len" bytes of lines: the lines
 * must fit the buffer once it is written out, or the batch is refused
 * while nothing of it is stored.  A batch larger than the whole buffer
 * is written on its own.
 */

ngx_int_t
ngx_http_abtest_event_log_reserve(ngx_http_abtest_event_log_t *elog,
    size_t len, ngx_log_t *log)
{
    if (elog->syslog || len <= (size_t) (elog->last - elog->pos)) {
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
 * Writes the buffer out.  What a failed write (a full disk) leaves is
 * kept and tried again later; meanwhile new batches that do not fit are
 * refused.
 */

static ngx_int_t
ngx_http_abtest_event_log_flush(ngx_http_abtest_event_log_t *elog,
    ngx_log_t *log)
{
    size_t   len;
    ssize_t  n;

    len = elog->pos - elog->start;

    if (len == 0) {
        return NGX_OK;
    }

    if (elog->torn) {
        if (ngx_write_fd(elog->file->fd, "\n", 1) != 1) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "abtest: cannot write the events log \"%V\", "
                          "%uz bytes of events wait", &elog->file->name, len);
            ngx_http_abtest_event_log_retry(elog);
            return NGX_ERROR;
        }

        elog->torn = 0;
    }

    n = ngx_write_fd(elog->file->fd, elog->start, len);

    if (n == (ssize_t) len) {
        elog->pos = elog->start;
        return NGX_OK;
    }

    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "abtest: cannot write the events log \"%V\", "
                      "%uz bytes of events wait", &elog->file->name, len);
        n = 0;

    } else {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "abtest: the events log \"%V\" took %z of %uz bytes, "
                      "the rest waits", &elog->file->name, n, len);
    }

    ngx_memmove(elog->start, elog->start + n, len - n);
    elog->pos = elog->start + len - n;

    ngx_http_abtest_event_log_retry(elog);

    return NGX_ERROR;
}


/* lines that wait are tried again later, by a worker */

static void
ngx_http_abtest_event_log_retry(ngx_http_abtest_event_log_t *elog)
{
    if ((ngx_process == NGX_PROCESS_WORKER
         || ngx_process == NGX_PROCESS_SINGLE)
        && !elog->timer.timer_set)
    {
        ngx_add_timer(&elog->timer, elog->flush ? elog->flush
                                                : NGX_HTTP_ABTEST_LOG_RETRY);
    }
}


static void
ngx_http_abtest_event_log_timer(ngx_event_t *ev)
{
    (void) ngx_http_abtest_event_log_flush(ev->data, ev->log);
}


/* before a reopen (USR1) and when the worker exits */

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

    (void) ngx_http_abtest_event_log_flush(elog, log);
}


/* a batch larger than the buffer: written at once, after the buffer */

static ngx_int_t
ngx_http_abtest_event_log_direct(ngx_http_abtest_event_log_t *elog,
    ngx_http_abtest_event_t *events, ngx_uint_t n, size_t len,
    ngx_pool_t *pool, ngx_log_t *log)
{
    u_char      *buf, *p;
    ssize_t      written;
    ngx_uint_t   i;

    if (ngx_http_abtest_event_log_flush(elog, log) != NGX_OK) {
        return NGX_ERROR;
    }

    buf = ngx_pnalloc(pool, len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = buf;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, events[i].line.data, events[i].line.len);
    }

    for (p = buf; p < buf + len; p += written) {
        written = ngx_write_fd(elog->file->fd, p, buf + len - p);

        if (written == -1 || written == 0) {
            ngx_log_error(NGX_LOG_ALERT, log, written ? ngx_errno : 0,
                          "abtest: cannot write %uz bytes of events to the "
                          "events log \"%V\"", buf + len - p,
                          &elog->file->name);
            break;
        }
    }

    if (p == buf + len || p == buf) {
        return (p == buf) ? NGX_ERROR : NGX_OK;
    }

    /*
     * A line is cut: the rest waits in the (empty) buffer to complete it,
     * or else the next write starts a new line, so that later lines are
     * whole.
     */

    if ((size_t) (buf + len - p) <= (size_t) (elog->last - elog->start)) {
        elog->pos = ngx_cpymem(elog->start, p, buf + len - p);
        ngx_http_abtest_event_log_retry(elog);
        return NGX_OK;
    }

    elog->torn = 1;

    return NGX_ERROR;
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
