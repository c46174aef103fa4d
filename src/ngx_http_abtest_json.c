
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * JSON text in and out: yajl generators and parse trees in a pool, and
 * the values of the experiment model (weights, states, groups) as JSON.
 */


#include "ngx_http_abtest_json.h"
#include "ngx_http_abtest_experiment.h"
#include "ngx_http_abtest_util.h"



/* an object or array being built */
typedef struct {
    yajl_val                       value;
    ngx_array_t                    keys;       /* const char *, objects */
    ngx_array_t                    values;     /* yajl_val */
} ngx_http_abtest_json_frame_t;


typedef struct {
    ngx_pool_t                    *pool;
    ngx_http_abtest_json_frame_t  *frames;
    ngx_uint_t                     depth;
    ngx_uint_t                     max_depth;
    char                          *key;        /* for the next value */
    yajl_val                       root;
    u_char                         error[64];  /* a callback's refusal */
} ngx_http_abtest_json_tree_t;


static void *ngx_http_abtest_json_alloc(void *ctx, size_t size);
static void *ngx_http_abtest_json_realloc(void *ctx, void *ptr, size_t size);
static void ngx_http_abtest_json_free(void *ctx, void *ptr);
static yajl_val ngx_http_abtest_json_add(ngx_http_abtest_json_tree_t *t,
    yajl_type type);
static char *ngx_http_abtest_json_cstr(ngx_http_abtest_json_tree_t *t,
    const unsigned char *s, size_t len);
static int ngx_http_abtest_json_null(void *ctx);
static int ngx_http_abtest_json_boolean(void *ctx, int b);
static int ngx_http_abtest_json_number(void *ctx, const char *s, size_t len);
static int ngx_http_abtest_json_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_abtest_json_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_abtest_json_start_map(void *ctx);
static int ngx_http_abtest_json_start_array(void *ctx);
static int ngx_http_abtest_json_open(ngx_http_abtest_json_tree_t *t,
    yajl_type type);
static int ngx_http_abtest_json_close(void *ctx);


static yajl_callbacks  ngx_http_abtest_json_callbacks = {
    ngx_http_abtest_json_null,
    ngx_http_abtest_json_boolean,
    NULL,
    NULL,
    ngx_http_abtest_json_number,
    ngx_http_abtest_json_string,
    ngx_http_abtest_json_start_map,
    ngx_http_abtest_json_key,
    ngx_http_abtest_json_close,
    ngx_http_abtest_json_start_array,
    ngx_http_abtest_json_close
};


/*
 * yajl allocates from the pool: nothing to free one by one, nothing left
 * behind on any path.  A block keeps its size before it, for realloc.
 */

static void *
ngx_http_abtest_json_alloc(void *ctx, size_t size)
{
    size_t  *p;

    p = ngx_palloc(ctx, sizeof(size_t) + size);
    if (p == NULL) {
        return NULL;
    }

    *p = size;

    return p + 1;
}


static void *
ngx_http_abtest_json_realloc(void *ctx, void *ptr, size_t size)
{
    void    *p;
    size_t   old;

    if (ptr == NULL) {
        return ngx_http_abtest_json_alloc(ctx, size);
    }

    old = ((size_t *) ptr)[-1];

    if (size <= old) {
        return ptr;
    }

    p = ngx_http_abtest_json_alloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    return ngx_cpymem(p, ptr, old) - old;
}


static void
ngx_http_abtest_json_free(void *ctx, void *ptr)
{
    /* the pool frees it */
}


void
ngx_http_abtest_json_alloc_funcs(yajl_alloc_funcs *funcs, ngx_pool_t *pool)
{
    funcs->malloc = ngx_http_abtest_json_alloc;
    funcs->realloc = ngx_http_abtest_json_realloc;
    funcs->free = ngx_http_abtest_json_free;
    funcs->ctx = pool;
}


yajl_gen
ngx_http_abtest_json_gen(ngx_pool_t *pool)
{
    yajl_gen          g;
    yajl_alloc_funcs  funcs;

    ngx_http_abtest_json_alloc_funcs(&funcs, pool);

    /* yajl copies "funcs" */
    g = yajl_gen_alloc(&funcs);
    if (g == NULL) {
        return NULL;
    }

    /* a string that is not UTF-8 fails instead of producing bad JSON */
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);

    return g;
}


/*
 * Client JSON as a yajl tree built in the pool.  Unlike yajl's own tree
 * (freed recursively, strings cut at a NUL), it bounds the nesting while
 * parsing and refuses a NUL byte, raw or escaped, rather than cutting a
 * string short.  On error, "err" says what is wrong.
 */

yajl_val
ngx_http_abtest_json_parse(ngx_pool_t *pool, u_char *text, size_t len,
    ngx_uint_t max_depth, u_char *err, size_t err_len)
{
    u_char                       *msg, *p;
    yajl_handle                   h;
    yajl_status                   rc;
    yajl_alloc_funcs              funcs;
    ngx_http_abtest_json_tree_t   t;

    if (memchr(text, '\0', len)) {
        ngx_snprintf(err, err_len, "holds a NUL byte%Z");
        return NULL;
    }

    ngx_memzero(&t, sizeof(ngx_http_abtest_json_tree_t));
    t.pool = pool;
    t.max_depth = max_depth;

    t.frames = ngx_palloc(pool,
                          max_depth * sizeof(ngx_http_abtest_json_frame_t));
    if (t.frames == NULL) {
        return NULL;
    }

    ngx_http_abtest_json_alloc_funcs(&funcs, pool);

    h = yajl_alloc(&ngx_http_abtest_json_callbacks, &funcs, &t);
    if (h == NULL) {
        return NULL;
    }

    rc = yajl_parse(h, text, len);

    if (rc == yajl_status_ok) {
        rc = yajl_complete_parse(h);
    }

    if (rc == yajl_status_ok) {
        return t.root;
    }

    if (t.error[0]) {
        ngx_snprintf(err, err_len, "%s%Z", t.error);
        return NULL;
    }

    /* yajl's message ends with a newline, or spans lines: the first */

    msg = yajl_get_error(h, 0, text, len);
    p = (u_char *) ngx_strchr(msg, '\n');
    if (p) {
        *p = '\0';
    }

    ngx_snprintf(err, err_len, "invalid JSON: %s%Z", msg);

    return NULL;
}


static yajl_val
ngx_http_abtest_json_add(ngx_http_abtest_json_tree_t *t, yajl_type type)
{
    yajl_val                       v, *value;
    const char                   **key;
    ngx_http_abtest_json_frame_t  *f;

    v = ngx_pcalloc(t->pool, sizeof(struct yajl_val_s));
    if (v == NULL) {
        return NULL;
    }

    v->type = type;

    if (t->depth == 0) {
        t->root = v;
        return v;
    }

    f = &t->frames[t->depth - 1];

    if (f->value->type == yajl_t_object) {
        key = ngx_array_push(&f->keys);
        if (key == NULL) {
            return NULL;
        }

        *key = t->key;
    }

    value = ngx_array_push(&f->values);
    if (value == NULL) {
        return NULL;
    }

    *value = v;

    return v;
}


/*
 * A NUL-terminated copy; JSON's "\u0000" would cut it, and is refused, as
 * is what yajl lets through of invalid UTF-8 (overlong forms, surrogates,
 * code points above U+10FFFF), with yajl's own message for the rest.
 */

static char *
ngx_http_abtest_json_cstr(ngx_http_abtest_json_tree_t *t,
    const unsigned char *s, size_t len)
{
    u_char     *p;
    ngx_str_t   text;

    if (memchr(s, '\0', len)) {
        ngx_cpystrn(t->error, (u_char *) "\\u0000 in a string is not "
                    "supported", sizeof(t->error));
        return NULL;
    }

    text.data = (u_char *) s;
    text.len = len;

    if (ngx_http_abtest_valid_utf8(&text) != NGX_OK) {
        ngx_cpystrn(t->error, (u_char *) NGX_HTTP_ABTEST_JSON_BAD_UTF8,
                    sizeof(t->error));
        return NULL;
    }

    p = ngx_pnalloc(t->pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s, len);
    p[len] = '\0';

    return (char *) p;
}


static int
ngx_http_abtest_json_null(void *ctx)
{
    return ngx_http_abtest_json_add(ctx, yajl_t_null) != NULL;
}


static int
ngx_http_abtest_json_boolean(void *ctx, int b)
{
    return ngx_http_abtest_json_add(ctx, b ? yajl_t_true : yajl_t_false)
           != NULL;
}


/* the number as written; "i" and "d" where it fits, as yajl's tree has */

static int
ngx_http_abtest_json_number(void *ctx, const char *s, size_t len)
{
    char      *end;
    yajl_val   v;

    v = ngx_http_abtest_json_add(ctx, yajl_t_number);
    if (v == NULL) {
        return 0;
    }

    v->u.number.r = ngx_http_abtest_json_cstr(ctx, (u_char *) s, len);
    if (v->u.number.r == NULL) {
        return 0;
    }

    errno = 0;
    v->u.number.i = strtoll(v->u.number.r, &end, 10);

    if (errno == 0 && *end == '\0') {
        v->u.number.flags |= YAJL_NUMBER_INT_VALID;
    }

    errno = 0;
    v->u.number.d = strtod(v->u.number.r, &end);

    if (errno == 0 && *end == '\0') {
        v->u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
    }

    return 1;
}


static int
ngx_http_abtest_json_string(void *ctx, const unsigned char *s, size_t len)
{
    yajl_val  v;

    v = ngx_http_abtest_json_add(ctx, yajl_t_string);
    if (v == NULL) {
        return 0;
    }

    v->u.string = ngx_http_abtest_json_cstr(ctx, s, len);

    return v->u.string != NULL;
}


static int
ngx_http_abtest_json_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_abtest_json_tree_t  *t = ctx;

    t->key = ngx_http_abtest_json_cstr(t, s, len);

    return t->key != NULL;
}


static int
ngx_http_abtest_json_start_map(void *ctx)
{
    return ngx_http_abtest_json_open(ctx, yajl_t_object);
}


static int
ngx_http_abtest_json_start_array(void *ctx)
{
    return ngx_http_abtest_json_open(ctx, yajl_t_array);
}


static int
ngx_http_abtest_json_open(ngx_http_abtest_json_tree_t *t, yajl_type type)
{
    yajl_val                       v;
    ngx_http_abtest_json_frame_t  *f;

    if (t->depth == t->max_depth) {
        ngx_snprintf(t->error, sizeof(t->error),
                     "nested deeper than %ui levels%Z", t->max_depth);
        return 0;
    }

    v = ngx_http_abtest_json_add(t, type);
    if (v == NULL) {
        return 0;
    }

    f = &t->frames[t->depth++];
    f->value = v;

    if (ngx_array_init(&f->values, t->pool, 4, sizeof(yajl_val)) != NGX_OK
        || (type == yajl_t_object
            && ngx_array_init(&f->keys, t->pool, 4, sizeof(char *))
               != NGX_OK))
    {
        return 0;
    }

    return 1;
}


static int
ngx_http_abtest_json_close(void *ctx)
{
    ngx_http_abtest_json_tree_t *t = ctx;

    ngx_http_abtest_json_frame_t  *f;

    f = &t->frames[--t->depth];

    if (f->value->type == yajl_t_object) {
        f->value->u.object.keys = f->keys.elts;
        f->value->u.object.values = f->values.elts;
        f->value->u.object.len = f->values.nelts;

    } else {
        f->value->u.array.values = f->values.elts;
        f->value->u.array.len = f->values.nelts;
    }

    return 1;
}


/* an ISO 8601 time, or null for a negative "ms" */

void
ngx_http_abtest_json_time(yajl_gen g, int64_t ms)
{
    u_char  buf[NGX_HTTP_ABTEST_ISO_LEN], *p;

    if (ms < 0) {
        yajl_gen_null(g);
        return;
    }

    p = ngx_http_abtest_iso_time(buf, ms);

    ngx_http_abtest_json_str(g, buf, p - buf);
}


ngx_int_t
ngx_http_abtest_json_buf(yajl_gen g, ngx_pool_t *pool, ngx_str_t *out)
{
    size_t                len;
    const unsigned char  *buf;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, buf, len);
    out->data[len] = '\n';
    out->len = len + 1;

    return NGX_OK;
}


/*
 * {"A": 30, "B": 70}: exactly the experiment's groups, positive integer
 * weights summing to at most 2^31.  Weights come out in group order.
 */

ngx_int_t
ngx_http_abtest_json_weights(yajl_val obj, ngx_http_abtest_experiment_t *exp,
    uint32_t *weights, uint64_t *total, u_char *err, size_t err_len)
{
    size_t      i, len;
    uint64_t    sum;
    long long   w;
    ngx_uint_t  group;

    if (!YAJL_IS_OBJECT(obj)) {
        ngx_snprintf(err, err_len, "groups: must be an object%Z");
        return NGX_ERROR;
    }

    if (obj->u.object.len != exp->groups.nelts) {
        ngx_snprintf(err, err_len, "groups: must name the %ui groups of "
                     "\"%V\", no more, no less%Z", exp->groups.nelts,
                     &exp->name);
        return NGX_ERROR;
    }

    ngx_memzero(weights, exp->groups.nelts * sizeof(uint32_t));
    sum = 0;

    for (i = 0; i < obj->u.object.len; i++) {
        len = ngx_strlen(obj->u.object.keys[i]);
        group = ngx_http_abtest_find_group(exp,
                                        (u_char *) obj->u.object.keys[i],
                                        len);

        if (group == NGX_HTTP_ABTEST_NO_GROUP || weights[group] != 0) {
            ngx_snprintf(err, err_len, "groups: \"%s\" is not a group of "
                         "\"%V\", or named twice%Z",
                         ngx_http_abtest_client_name(obj->u.object.keys[i]),
                         &exp->name);
            return NGX_ERROR;
        }

        if (!YAJL_IS_INTEGER(obj->u.object.values[i])) {
            ngx_snprintf(err, err_len, "groups.%*s: the weight must be a "
                         "positive integer%Z", len, obj->u.object.keys[i]);
            return NGX_ERROR;
        }

        w = YAJL_GET_INTEGER(obj->u.object.values[i]);

        if (w <= 0 || (uint64_t) w > NGX_HTTP_ABTEST_WEIGHT_TOTAL_MAX) {
            ngx_snprintf(err, err_len, "groups.%*s: the weight must be a "
                         "positive integer%Z", len, obj->u.object.keys[i]);
            return NGX_ERROR;
        }

        weights[group] = (uint32_t) w;
        sum += w;
    }

    if (sum > NGX_HTTP_ABTEST_WEIGHT_TOTAL_MAX) {
        ngx_snprintf(err, err_len, "groups: the weights sum to %uL, more "
                     "than 2^31%Z", sum);
        return NGX_ERROR;
    }

    *total = sum;

    return NGX_OK;
}


/* "active" | "inactive" | "rollout" */

ngx_int_t
ngx_http_abtest_json_state(yajl_val v, ngx_uint_t *state)
{
    ngx_int_t    n;
    const char  *s;

    s = YAJL_GET_STRING(v);

    if (s == NULL) {
        return NGX_ERROR;
    }

    n = ngx_http_abtest_state_by_name((u_char *) s, ngx_strlen(s));

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    *state = n;

    return NGX_OK;
}


/* a group name or null (NO_GROUP) */

ngx_int_t
ngx_http_abtest_json_group(yajl_val v, ngx_http_abtest_experiment_t *exp,
    ngx_uint_t *group)
{
    const char  *s;

    if (YAJL_IS_NULL(v)) {
        *group = NGX_HTTP_ABTEST_NO_GROUP;
        return NGX_OK;
    }

    s = YAJL_GET_STRING(v);

    if (s == NULL) {
        return NGX_ERROR;
    }

    *group = ngx_http_abtest_find_group(exp, (u_char *) s, ngx_strlen(s));

    return (*group == NGX_HTTP_ABTEST_NO_GROUP) ? NGX_ERROR : NGX_OK;
}


void
ngx_http_abtest_json_state_name(yajl_gen g, ngx_uint_t state)
{
    ngx_str_t  *name;

    name = ngx_http_abtest_state_name(state);

    ngx_http_abtest_json_str(g, name->data, name->len);
}


/* a count, an index or a time: null where it is negative (none) */

void
ngx_http_abtest_json_integer_or_null(yajl_gen g, int64_t v)
{
    if (v < 0) {
        yajl_gen_null(g);

    } else {
        yajl_gen_integer(g, v);
    }
}


/* a share of NGX_HTTP_ABTEST_SHARE_ALL as a fraction: 2000 is 0.2 */

void
ngx_http_abtest_json_share(yajl_gen g, ngx_uint_t share)
{
    u_char      buf[NGX_INT_T_LEN + 6], *p;
    ngx_uint_t  frac;

    p = ngx_sprintf(buf, "%ui", share / NGX_HTTP_ABTEST_SHARE_ALL);
    frac = share % NGX_HTTP_ABTEST_SHARE_ALL;

    if (frac) {
        p = ngx_sprintf(p, ".%04ui", frac);

        while (p[-1] == '0') {
            p--;
        }
    }

    yajl_gen_number(g, (const char *) buf, p - buf);
}


/* a fraction from 0 to 1 in steps of 0.0001 as a share, or NGX_ERROR */

ngx_int_t
ngx_http_abtest_json_share_value(yajl_val v)
{
    double  d, n;

    if (YAJL_IS_INTEGER(v)) {
        d = (double) YAJL_GET_INTEGER(v);

    } else if (YAJL_IS_DOUBLE(v)) {
        d = YAJL_GET_DOUBLE(v);

    } else {
        return NGX_ERROR;
    }

    if (!(d >= 0 && d <= 1)) {
        return NGX_ERROR;
    }

    n = floor(d * NGX_HTTP_ABTEST_SHARE_ALL + 0.5);

    if (fabs(n - d * NGX_HTTP_ABTEST_SHARE_ALL) > 1e-6) {
        return NGX_ERROR;
    }

    return (ngx_int_t) n;
}


/* generates a parsed value again; its depth was bounded by json_parse */

yajl_gen_status
ngx_http_abtest_json_copy(yajl_gen g, yajl_val v)
{
    size_t           i;
    const char      *s;
    yajl_gen_status  rc;

    switch (v->type) {

    case yajl_t_string:
        s = YAJL_GET_STRING(v);
        return yajl_gen_string(g, (const unsigned char *) s, ngx_strlen(s));

    case yajl_t_number:
        /* the number as it was written, not as a double rounded it */
        return yajl_gen_number(g, v->u.number.r, ngx_strlen(v->u.number.r));

    case yajl_t_object:
        rc = yajl_gen_map_open(g);

        for (i = 0; rc == yajl_gen_status_ok && i < v->u.object.len; i++) {
            s = v->u.object.keys[i];
            rc = yajl_gen_string(g, (const unsigned char *) s,
                                 ngx_strlen(s));

            if (rc == yajl_gen_status_ok) {
                rc = ngx_http_abtest_json_copy(g, v->u.object.values[i]);
            }
        }

        return (rc == yajl_gen_status_ok) ? yajl_gen_map_close(g) : rc;

    case yajl_t_array:
        rc = yajl_gen_array_open(g);

        for (i = 0; rc == yajl_gen_status_ok && i < v->u.array.len; i++) {
            rc = ngx_http_abtest_json_copy(g, v->u.array.values[i]);
        }

        return (rc == yajl_gen_status_ok) ? yajl_gen_array_close(g) : rc;

    case yajl_t_true:
        return yajl_gen_bool(g, 1);

    case yajl_t_false:
        return yajl_gen_bool(g, 0);

    default:
        return yajl_gen_null(g);
    }
}


/* the length of a string as a quoted JSON string */

size_t
ngx_http_abtest_json_quoted_len(u_char *s, size_t len)
{
    return len + 2 + ngx_escape_json(NULL, s, len);
}


u_char *
ngx_http_abtest_json_quote(u_char *dst, u_char *s, size_t len)
{
    *dst++ = '"';
    dst = (u_char *) ngx_escape_json(dst, s, len);
    *dst++ = '"';

    return dst;
}


/* a number with 15 significant digits, or null where it is not finite */

void
ngx_http_abtest_json_double(yajl_gen g, double v)
{
    int   n;
    char  buf[32];

    if (!isfinite(v)) {
        yajl_gen_null(g);
        return;
    }

    n = snprintf(buf, sizeof(buf), "%.15g", v);

    yajl_gen_number(g, buf, n);
}
