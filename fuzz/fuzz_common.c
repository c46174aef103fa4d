
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The harnesses' common ground.  nginx is not started: its globals that
 * the parsers reach (page size, cached time, error strings, ngx_cycle and
 * a log) are set up once, and the module's configuration is made here as
 * ngx_http_abtest_experiment.c makes it from an abtest_experiment block.
 * Every input gets a pool of its own, destroyed after it, so that
 * LeakSanitizer sees anything the module keeps (NGX_DEBUG_PALLOC makes
 * each pool allocation a malloc() of its own).
 *
 * FUZZ_LOG=1 in the environment writes nginx's log lines and what each
 * harness made of its input (ngx_fuzz_say()) to stderr, for looking at
 * one input; otherwise log lines are formatted and dropped.
 *
 * FUZZ_IGNORE=name,... turns off the harnesses' checks of those names
 * (ngx_fuzz_ignore()), to fuzz on past a finding not fixed yet: "utf8",
 * text that is not UTF-8 where the module claims it is.
 */


#include "fuzz_common.h"
#include "ngx_http_abtest_experiment.h"
#include "ngx_http_abtest_hash.h"

#include <stdlib.h>


typedef struct {
    char                      *name;
    char                      *groups[NGX_HTTP_ABTEST_GROUPS_MAX + 1];
    ngx_uint_t                 weights[NGX_HTTP_ABTEST_GROUPS_MAX];
    ngx_uint_t                 state;
    char                      *fallback;     /* NULL: the first declared */
    char                      *rollout;
    char                      *cookie;       /* group cookie, or NULL */
    ngx_uint_t                 assign;

    /*
     * earlier weight settings, in the groups' name order, as the zone
     * keeps them after updates (without a zone, conf_state is the state)
     */
    ngx_uint_t                 nhistory;
    ngx_uint_t                 history[2][NGX_HTTP_ABTEST_GROUPS_MAX];
} ngx_fuzz_experiment_t;


static void ngx_fuzz_experiment(ngx_pool_t *pool, ngx_array_t *experiments,
    ngx_fuzz_experiment_t *conf);
static ngx_int_t ngx_libc_cdecl ngx_fuzz_cmp_groups(const void *one,
    const void *two);
static void ngx_fuzz_log_writer(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);


ngx_log_t                    *ngx_fuzz_log;
ngx_http_abtest_main_conf_t  *ngx_fuzz_amcf;
ngx_http_abtest_loc_conf_t   *ngx_fuzz_alcf;

static ngx_log_t              ngx_fuzz_log_s;
static ngx_open_file_t        ngx_fuzz_log_file;
static ngx_cycle_t            ngx_fuzz_cycle;
static ngx_uint_t             ngx_fuzz_log_stderr;
static char                  *ngx_fuzz_ignored;

static u_char  ngx_fuzz_key[NGX_HTTP_ABTEST_KEY_LEN] =
    "0123456789abcdef0123456789abcdef";


/*
 * The experiments: the seed demo's two (one drawn at random), one
 * inactive, one in rollout, one with the most groups an experiment may
 * have; weights and names unsorted where the configuration allows it.
 */

static ngx_fuzz_experiment_t  ngx_fuzz_experiments[] = {

    { "homepage_button_test", { "B", "A", NULL }, { 50, 50 },
      NGX_HTTP_ABTEST_STATE_ACTIVE, "A", NULL, "exp_group",
      NGX_HTTP_ABTEST_ASSIGN_HASH,
      2, { { 90, 10 }, { 10, 90 } } },

    { "headline_test", { "Journey", "Future", NULL }, { 1, 1 },
      NGX_HTTP_ABTEST_STATE_ACTIVE, NULL, NULL, "exp_headline",
      NGX_HTTP_ABTEST_ASSIGN_RANDOM,
      1, { { 1, 3 } } },

    { "pricing", { "control", "cheap", "premium", NULL }, { 2, 1, 1 },
      NGX_HTTP_ABTEST_STATE_INACTIVE, "control", NULL, "exp_pricing",
      NGX_HTTP_ABTEST_ASSIGN_HASH,
      0, { { 0 } } },

    { "checkout.flow-v2", { "old", "new", NULL }, { 1, 1 },
      NGX_HTTP_ABTEST_STATE_ROLLOUT, NULL, "new", NULL,
      NGX_HTTP_ABTEST_ASSIGN_HASH,
      0, { { 0 } } },

    { "many", { NULL }, { 0 },
      NGX_HTTP_ABTEST_STATE_ACTIVE, NULL, NULL, "exp_many",
      NGX_HTTP_ABTEST_ASSIGN_HASH,
      1, { { 0 } } }
};


void
ngx_fuzz_init(void)
{
    char                    *name;
    ngx_uint_t               i, n;
    ngx_pool_t              *pool;
    ngx_fuzz_experiment_t   *many;

    ngx_pagesize = getpagesize();
    for (n = ngx_pagesize; n >>= 1; ngx_pagesize_shift++) { /* void */ }
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    /* nginx writes alerts to stderr as well until it has a log */
    ngx_use_stderr = 0;

    if (ngx_strerror_init() != NGX_OK) {
        ngx_fuzz_fail("ngx_strerror_init() failed");
    }

    ngx_time_init();

    ngx_fuzz_log_stderr = (getenv("FUZZ_LOG") != NULL);
    ngx_fuzz_ignored = getenv("FUZZ_IGNORE");

    ngx_fuzz_log_file.fd = open("/dev/null", O_WRONLY);
    ngx_fuzz_log_s.file = &ngx_fuzz_log_file;
    ngx_fuzz_log_s.log_level = NGX_LOG_DEBUG | NGX_LOG_DEBUG_CORE
                               | NGX_LOG_DEBUG_HTTP;
    ngx_fuzz_log_s.writer = ngx_fuzz_log_writer;
    ngx_fuzz_log = &ngx_fuzz_log_s;

    /* what lives as long as the process: never freed, as in nginx */
    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_fuzz_log);
    if (pool == NULL) {
        ngx_fuzz_fail("no memory");
    }

    ngx_fuzz_cycle.pool = pool;
    ngx_fuzz_cycle.log = ngx_fuzz_log;
    ngx_cycle = &ngx_fuzz_cycle;

    /* the modules' indices, as nginx's start and http block set them */
    if (ngx_preinit_modules() != NGX_OK) {
        ngx_fuzz_fail("ngx_preinit_modules() failed");
    }

    for (n = 0; ngx_modules[n]; n++) { /* void */ }

    ngx_fuzz_cycle.modules = ngx_modules;
    ngx_fuzz_cycle.modules_n = n;
    ngx_http_max_module = ngx_count_modules(&ngx_fuzz_cycle,
                                            NGX_HTTP_MODULE);

    /* 64 groups g00 .. g63, weights 1 .. 64, earlier ones 64 .. 1 */
    many = &ngx_fuzz_experiments[4];

    for (i = 0; i < NGX_HTTP_ABTEST_GROUPS_MAX; i++) {
        name = ngx_pnalloc(pool, sizeof("g00"));
        if (name == NULL) {
            ngx_fuzz_fail("no memory");
        }

        (void) ngx_sprintf((u_char *) name, "g%02ui%Z", i);

        many->groups[i] = name;
        many->weights[i] = i + 1;
        many->history[0][i] = NGX_HTTP_ABTEST_GROUPS_MAX - i;
    }

    many->groups[i] = NULL;

    ngx_fuzz_amcf = ngx_pcalloc(pool, sizeof(ngx_http_abtest_main_conf_t));
    ngx_fuzz_alcf = ngx_pcalloc(pool, sizeof(ngx_http_abtest_loc_conf_t));

    if (ngx_fuzz_amcf == NULL || ngx_fuzz_alcf == NULL
        || ngx_array_init(&ngx_fuzz_amcf->experiments, pool, 4,
                          sizeof(ngx_http_abtest_experiment_t))
           != NGX_OK)
    {
        ngx_fuzz_fail("no memory");
    }

    for (i = 0; i < sizeof(ngx_fuzz_experiments)
                    / sizeof(ngx_fuzz_experiment_t); i++)
    {
        ngx_fuzz_experiment(pool, &ngx_fuzz_amcf->experiments,
                            &ngx_fuzz_experiments[i]);
    }

    /* no zone: the states are the configuration's (conf_state) */
    ngx_fuzz_amcf->random_key = ngx_fuzz_key;

    /* abtest on; abtest_force on; the default cookie settings */
    ngx_fuzz_alcf->enable = 1;
    ngx_fuzz_alcf->force = 1;
    ngx_fuzz_alcf->body_max = 1024 * 1024;
    ngx_fuzz_alcf->body_max_name = "client_max_body_size";
    ngx_fuzz_alcf->use = NGX_CONF_UNSET;
    ngx_str_set(&ngx_fuzz_alcf->cookie_name, "device_id");
    ngx_str_set(&ngx_fuzz_alcf->cookie_domain, "none");
    ngx_str_set(&ngx_fuzz_alcf->cookie_path, "/");
    ngx_fuzz_alcf->cookie_expires = 365 * 24 * 60 * 60;
    ngx_str_set(&ngx_fuzz_alcf->cookie_max_age, "; Max-Age=31536000");
    ngx_str_set(&ngx_fuzz_alcf->cookie_attrs, "; Path=/; SameSite=Lax");

    /* this process's SHA-256 handles, as a worker sets them up */
    if (ngx_http_abtest_hash_init_process(&ngx_fuzz_cycle) != NGX_OK) {
        ngx_fuzz_fail("no SHA-256");
    }
}


/*
 * As ngx_http_abtest_experiment_finish() completes an experiment: groups
 * sorted by name, the configured weights and their total in that order,
 * the fallback and rollout groups found by name.
 */

static void
ngx_fuzz_experiment(ngx_pool_t *pool, ngx_array_t *experiments,
    ngx_fuzz_experiment_t *conf)
{
    char                          *fallback;
    uint64_t                       total;
    ngx_uint_t                     i, k, n;
    ngx_http_abtest_group_t       *group;
    ngx_http_abtest_experiment_t  *exp;

    exp = ngx_array_push(experiments);
    if (exp == NULL) {
        ngx_fuzz_fail("no memory");
    }

    ngx_memzero(exp, sizeof(ngx_http_abtest_experiment_t));

    for (n = 0; conf->groups[n]; n++) { /* void */ }

    if (ngx_array_init(&exp->groups, pool, n,
                       sizeof(ngx_http_abtest_group_t))
        != NGX_OK)
    {
        ngx_fuzz_fail("no memory");
    }

    exp->name.data = (u_char *) conf->name;
    exp->name.len = ngx_strlen(conf->name);
    exp->title = exp->name;
    exp->index = experiments->nelts - 1;
    exp->assign = conf->assign;
    ngx_str_set(&exp->exposure, "pageview");
    ngx_str_set(&exp->goal, "button_click");

    if (conf->cookie) {
        exp->cookie.data = (u_char *) conf->cookie;
        exp->cookie.len = ngx_strlen(conf->cookie);
    }

    for (i = 0; i < n; i++) {
        group = ngx_array_push(&exp->groups);
        if (group == NULL) {
            ngx_fuzz_fail("no memory");
        }

        group->name.data = (u_char *) conf->groups[i];
        group->name.len = ngx_strlen(conf->groups[i]);
        group->weight = conf->weights[i];
    }

    ngx_sort(exp->groups.elts, n, sizeof(ngx_http_abtest_group_t),
             ngx_fuzz_cmp_groups);

    group = exp->groups.elts;
    total = 0;

    ngx_crc32_init(exp->groups_crc);

    for (i = 0; i < n; i++) {
        exp->conf_state.weights[i] = (uint32_t) group[i].weight;
        total += group[i].weight;

        ngx_crc32_update(&exp->groups_crc, group[i].name.data,
                         group[i].name.len + 1);

        for (k = 0; k < conf->nhistory; k++) {
            exp->conf_state.history[k][i] = (uint32_t) conf->history[k][i];
        }
    }

    ngx_crc32_final(exp->groups_crc);

    exp->conf_state.total = total;
    exp->conf_state.state = conf->state;
    exp->conf_state.nhistory = conf->nhistory;

    /* every device enters (ngx_http_abtest_target.c): the rule is checked */
    exp->conf_state.coverage = NGX_HTTP_ABTEST_SHARE_ALL;
    exp->conf_state.schedule_start = -1;
    exp->conf_state.schedule_stop = -1;

    fallback = conf->fallback ? conf->fallback : conf->groups[0];
    exp->fallback = ngx_http_abtest_find_group(exp, (u_char *) fallback,
                                               ngx_strlen(fallback));

    exp->conf_state.rollout = conf->rollout
                              ? ngx_http_abtest_find_group(exp,
                                        (u_char *) conf->rollout,
                                        ngx_strlen(conf->rollout))
                              : NGX_HTTP_ABTEST_NO_GROUP;

    if (exp->fallback == NGX_HTTP_ABTEST_NO_GROUP
        || (conf->rollout
            && exp->conf_state.rollout == NGX_HTTP_ABTEST_NO_GROUP))
    {
        ngx_fuzz_fail("experiment \"%s\": a group is missing", conf->name);
    }
}


static ngx_int_t ngx_libc_cdecl
ngx_fuzz_cmp_groups(const void *one, const void *two)
{
    ngx_http_abtest_group_t  *a, *b;

    a = (ngx_http_abtest_group_t *) one;
    b = (ngx_http_abtest_group_t *) two;

    return ngx_memn2cmp(a->name.data, b->name.data, a->name.len, b->name.len);
}


static void
ngx_fuzz_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    if (ngx_fuzz_log_stderr) {
        (void) ngx_write_fd(ngx_stderr, buf, len);
    }
}


ngx_pool_t *
ngx_fuzz_pool(void)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(1024, ngx_fuzz_log);
    if (pool == NULL) {
        ngx_fuzz_fail("no memory");
    }

    return pool;
}


/*
 * A request as the module sees one after nginx read its header: the main
 * request, with the module's configurations where
 * ngx_http_get_module_*_conf() look, its arguments and its Cookie headers
 * (nginx 1.22: an array of pointers to the headers; from 1.23 a list
 * linked through "next").  Values are copied into allocations of their
 * own size, NUL-terminated as nginx's header parser leaves them.
 */

ngx_http_request_t *
ngx_fuzz_request(ngx_pool_t *pool, ngx_str_t *args, ngx_str_t *cookies,
    ngx_uint_t ncookies)
{
    u_char              *p;
    ngx_uint_t           i, n;
    ngx_table_elt_t     *h;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;
#if (nginx_version < 1023000)
    ngx_table_elt_t    **ph;
#else
    ngx_table_elt_t    **last;
#endif

    n = ngx_http_max_module;

    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));

    if (r == NULL || c == NULL) {
        ngx_fuzz_fail("no memory");
    }

    c->pool = pool;
    c->log = ngx_fuzz_log;
    c->fd = (ngx_socket_t) -1;

    r->connection = c;
    r->pool = pool;
    r->main = r;
    r->count = 1;

    r->ctx = ngx_pcalloc(pool, n * sizeof(void *));
    r->main_conf = ngx_pcalloc(pool, n * sizeof(void *));
    r->srv_conf = ngx_pcalloc(pool, n * sizeof(void *));
    r->loc_conf = ngx_pcalloc(pool, n * sizeof(void *));

    if (r->ctx == NULL || r->main_conf == NULL || r->srv_conf == NULL
        || r->loc_conf == NULL)
    {
        ngx_fuzz_fail("no memory");
    }

    r->main_conf[ngx_http_abtest_module.ctx_index] = ngx_fuzz_amcf;
    r->loc_conf[ngx_http_abtest_module.ctx_index] = ngx_fuzz_alcf;

    if (args && args->len) {
        r->args.data = ngx_pnalloc(pool, args->len + 1);
        if (r->args.data == NULL) {
            ngx_fuzz_fail("no memory");
        }

        p = ngx_cpymem(r->args.data, args->data, args->len);
        *p = '\0';
        r->args.len = args->len;
    }

    if (ngx_list_init(&r->headers_in.headers, pool, 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        ngx_fuzz_fail("no memory");
    }

#if (nginx_version < 1023000)
    if (ngx_array_init(&r->headers_in.cookies, pool, 2,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        ngx_fuzz_fail("no memory");
    }
#else
    last = &r->headers_in.cookie;
#endif

    for (i = 0; i < ncookies; i++) {
        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            ngx_fuzz_fail("no memory");
        }

        ngx_memzero(h, sizeof(ngx_table_elt_t));
        h->hash = 1;
        ngx_str_set(&h->key, "Cookie");
        h->lowcase_key = (u_char *) "cookie";

        h->value.data = ngx_pnalloc(pool, cookies[i].len + 1);
        if (h->value.data == NULL) {
            ngx_fuzz_fail("no memory");
        }

        p = ngx_cpymem(h->value.data, cookies[i].data, cookies[i].len);
        *p = '\0';
        h->value.len = cookies[i].len;

#if (nginx_version < 1023000)
        ph = ngx_array_push(&r->headers_in.cookies);
        if (ph == NULL) {
            ngx_fuzz_fail("no memory");
        }

        *ph = h;
#else
        *last = h;
        last = &h->next;
#endif
    }

    return r;
}


/*
 * The next line of the input, as nginx would hand it over in a request
 * line or a header: cut at CR, LF or NUL (nginx ends a line at CR or LF
 * and refuses a NUL), without the spaces around it that nginx strips
 * from a header's value.  Returns the bytes it took, the LF included.
 */

size_t
ngx_fuzz_line(const u_char *data, size_t size, ngx_str_t *line)
{
    u_char  *p, *last, *end;

    p = (u_char *) data;
    last = p + size;

    end = ngx_strlchr(p, last, '\n');
    if (end == NULL) {
        end = last;
    }

    line->data = p;

    for ( /* void */ ; p < end && *p != '\r' && *p != '\0'; p++) {
        /* void */
    }

    line->len = p - line->data;

    while (line->len && line->data[0] == ' ') {
        line->data++;
        line->len--;
    }

    while (line->len && line->data[line->len - 1] == ' ') {
        line->len--;
    }

    return (end < last) ? (size_t) (end - data) + 1 : size;
}


/* whether FUZZ_IGNORE names the check */

ngx_uint_t
ngx_fuzz_ignore(char *check)
{
    size_t   len;
    u_char  *p, *last, *end;

    if (ngx_fuzz_ignored == NULL) {
        return 0;
    }

    len = ngx_strlen(check);
    p = (u_char *) ngx_fuzz_ignored;
    last = p + ngx_strlen(p);

    while (p < last) {
        end = ngx_strlchr(p, last, ',');
        if (end == NULL) {
            end = last;
        }

        if ((size_t) (end - p) == len && ngx_strncmp(p, check, len) == 0) {
            return 1;
        }

        p = end + 1;
    }

    return 0;
}


void ngx_cdecl
ngx_fuzz_say(const char *fmt, ...)
{
    u_char   *p, buf[NGX_MAX_ERROR_STR];
    va_list   args;

    if (!ngx_fuzz_log_stderr) {
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    *p++ = '\n';

    (void) ngx_write_fd(ngx_stderr, buf, p - buf);
}


void ngx_cdecl
ngx_fuzz_fail(const char *fmt, ...)
{
    u_char   *p, buf[NGX_MAX_ERROR_STR];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    *p++ = '\n';

    (void) ngx_write_fd(ngx_stderr, buf, p - buf);

    abort();
}
