
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The schedule moves experiments' states at their "start" and "stop"
 * without a request needing to arrive: a timer in every worker, due at
 * the next scheduled moment and at least once a second (a schedule set
 * through the API is seen within a second).  The zone makes each
 * transition once (ngx_http_abtest_shm_schedule()).
 */


#include "ngx_http_abtest_schedule.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_util.h"


#define NGX_HTTP_ABTEST_SCHEDULE_TICK  1000      /* ms */


static void ngx_http_abtest_schedule_handler(ngx_event_t *ev);


static ngx_event_t  ngx_http_abtest_schedule_event;


void
ngx_http_abtest_schedule_init_process(ngx_cycle_t *cycle,
    ngx_http_abtest_main_conf_t *amcf)
{
    ngx_event_t  *ev;

    if (amcf->zone == NULL || amcf->experiments.nelts == 0
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return;
    }

    ev = &ngx_http_abtest_schedule_event;

    ngx_memzero(ev, sizeof(ngx_event_t));

    ev->handler = ngx_http_abtest_schedule_handler;
    ev->data = amcf;
    ev->log = cycle->log;

    /* a worker shutting down does not wait for it */
    ev->cancelable = 1;

    ngx_add_timer(ev, 1);
}


static void
ngx_http_abtest_schedule_handler(ngx_event_t *ev)
{
    int64_t                       now, next;
    ngx_msec_t                    delay;
    ngx_http_abtest_main_conf_t  *amcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    amcf = ev->data;

    now = ngx_http_abtest_now_ms();
    next = ngx_http_abtest_shm_schedule(amcf, now, ev->log);

    delay = NGX_HTTP_ABTEST_SCHEDULE_TICK;

    if (next > now && next - now < NGX_HTTP_ABTEST_SCHEDULE_TICK) {
        delay = (ngx_msec_t) (next - now);
    }

    ngx_add_timer(ev, delay);
}
