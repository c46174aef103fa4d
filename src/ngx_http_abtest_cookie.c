
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * Cookies: their settings (abtest_cookie_*), reading the device, group
 * and forcing cookies a request carries, and formatting Set-Cookie.
 */


#include "ngx_http_abtest_cookie.h"
#include "ngx_http_abtest_util.h"


static char *ngx_http_abtest_cookie_name_check(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_abtest_cookie_attr_check(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_http_abtest_cookie_attrs(ngx_conf_t *cf,
    ngx_http_abtest_loc_conf_t *alcf);
static u_char *ngx_http_abtest_cookie_date(u_char *p, time_t expires);


/*
 * The Expires date of the last second and lifetime: formatted once per
 * second, as nginx does its own time strings, not once per response
 */
typedef struct {
    time_t                     now;
    time_t                     expires;
    u_char                     date[sizeof("Mon, 28 Sep 1970 06:00:00 GMT")];
} ngx_http_abtest_cookie_date_t;


ngx_conf_bitmask_t  ngx_http_abtest_cookie_flags[] = {
    { ngx_string("off"), NGX_HTTP_ABTEST_COOKIE_OFF },
    { ngx_string("secure"), NGX_HTTP_ABTEST_COOKIE_SECURE },
    { ngx_string("httponly"), NGX_HTTP_ABTEST_COOKIE_HTTPONLY },
    { ngx_string("samesite=strict"), NGX_HTTP_ABTEST_COOKIE_SS_STRICT },
    { ngx_string("samesite=lax"), NGX_HTTP_ABTEST_COOKIE_SS_LAX },
    { ngx_string("samesite=none"), NGX_HTTP_ABTEST_COOKIE_SS_NONE },
    { ngx_null_string, 0 }
};


static ngx_http_abtest_cookie_date_t  ngx_http_abtest_cookie_date_cache = {
    -1, -1, ""
};


ngx_conf_post_t  ngx_http_abtest_cookie_name_post =
    { ngx_http_abtest_cookie_name_check };
ngx_conf_post_t  ngx_http_abtest_cookie_attr_post =
    { ngx_http_abtest_cookie_attr_check };


char *
ngx_http_abtest_cookie_expires(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_abtest_loc_conf_t *alcf = conf;

    ngx_str_t  *value;

    if (alcf->cookie_expires != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "max") == 0) {
        alcf->cookie_expires = NGX_HTTP_ABTEST_EXPIRES_MAX;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "off") == 0) {
        alcf->cookie_expires = NGX_HTTP_ABTEST_EXPIRES_OFF;
        return NGX_CONF_OK;
    }

    alcf->cookie_expires = ngx_parse_time(&value[1], 1);

    if (alcf->cookie_expires == (time_t) NGX_ERROR
        || alcf->cookie_expires == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"abtest_cookie_expires\" value \"%V\": "
                           "use a time such as 365d, \"max\" or \"off\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_abtest_cookie_name_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *name = data;

    if (ngx_http_abtest_valid_name(name, 1) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid cookie name \"%V\": use 1 to %d "
                           "characters of [A-Za-z0-9_.-]",
                           name, NGX_HTTP_ABTEST_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a path or domain must not be able to add attributes of its own */

static char *
ngx_http_abtest_cookie_attr_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *attr = data;

    u_char      c;
    ngx_uint_t  i;

    for (i = 0; i < attr->len; i++) {
        c = attr->data[i];

        if (c <= ' ' || c == ';' || c == ',' || c == '"' || c == '\\'
            || c >= 0x7f)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid cookie attribute \"%V\": "
                               "spaces, control characters and ;,\"\\ "
                               "are not allowed", attr);
            return NGX_CONF_ERROR;
        }
    }

    if (attr->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty cookie attribute");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_abtest_cookie_merge(ngx_conf_t *cf, ngx_http_abtest_loc_conf_t *prev,
    ngx_http_abtest_loc_conf_t *conf)
{
    ngx_uint_t  samesite;

    ngx_conf_merge_str_value(conf->cookie_name, prev->cookie_name,
                             "device_id");
    ngx_conf_merge_str_value(conf->cookie_domain, prev->cookie_domain,
                             "none");
    ngx_conf_merge_str_value(conf->cookie_path, prev->cookie_path, "/");
    ngx_conf_merge_sec_value(conf->cookie_expires, prev->cookie_expires,
                             365 * 24 * 60 * 60);
    ngx_conf_merge_bitmask_value(conf->cookie_flags, prev->cookie_flags,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_ABTEST_COOKIE_OFF));

    if (conf->cookie_domain.len == sizeof("none") - 1
        && ngx_strncmp(conf->cookie_domain.data, "none", 4) == 0)
    {
        ngx_str_null(&conf->cookie_domain);
    }

    if ((conf->cookie_flags & NGX_HTTP_ABTEST_COOKIE_OFF)
        && (conf->cookie_flags & ~(NGX_CONF_BITMASK_SET
                                   |NGX_HTTP_ABTEST_COOKIE_OFF)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"abtest_cookie_flags off\" cannot be combined "
                           "with other flags");
        return NGX_CONF_ERROR;
    }

    samesite = conf->cookie_flags & (NGX_HTTP_ABTEST_COOKIE_SS_STRICT
                                     |NGX_HTTP_ABTEST_COOKIE_SS_LAX
                                     |NGX_HTTP_ABTEST_COOKIE_SS_NONE);

    /* more than one bit set */
    if (samesite & (samesite - 1)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"abtest_cookie_flags\" takes one samesite= "
                           "value only");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_abtest_cookie_attrs(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Everything after "name=value" but Expires, which depends on the time
 * of the response, is put together once per location at merge time.
 */

static ngx_int_t
ngx_http_abtest_cookie_attrs(ngx_conf_t *cf, ngx_http_abtest_loc_conf_t *alcf)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   flags;

    flags = alcf->cookie_flags;

    len = sizeof("; Path=") - 1 + alcf->cookie_path.len
          + sizeof("; Secure; HttpOnly; SameSite=Strict") - 1;

    if (alcf->cookie_domain.len) {
        len += sizeof("; Domain=") - 1 + alcf->cookie_domain.len;
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    alcf->cookie_attrs.data = p;

    if (alcf->cookie_domain.len) {
        p = ngx_cpymem(p, "; Domain=", sizeof("; Domain=") - 1);
        p = ngx_cpymem(p, alcf->cookie_domain.data, alcf->cookie_domain.len);
    }

    p = ngx_cpymem(p, "; Path=", sizeof("; Path=") - 1);
    p = ngx_cpymem(p, alcf->cookie_path.data, alcf->cookie_path.len);

    if (flags & NGX_HTTP_ABTEST_COOKIE_SECURE) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    if (flags & NGX_HTTP_ABTEST_COOKIE_HTTPONLY) {
        p = ngx_cpymem(p, "; HttpOnly", sizeof("; HttpOnly") - 1);
    }

    if (flags & NGX_HTTP_ABTEST_COOKIE_SS_STRICT) {
        p = ngx_cpymem(p, "; SameSite=Strict", sizeof("; SameSite=Strict") - 1);

    } else if (flags & NGX_HTTP_ABTEST_COOKIE_SS_LAX) {
        p = ngx_cpymem(p, "; SameSite=Lax", sizeof("; SameSite=Lax") - 1);

    } else if (flags & NGX_HTTP_ABTEST_COOKIE_SS_NONE) {
        p = ngx_cpymem(p, "; SameSite=None", sizeof("; SameSite=None") - 1);
    }

    alcf->cookie_attrs.len = p - alcf->cookie_attrs.data;

    ngx_str_null(&alcf->cookie_max_age);

    if (alcf->cookie_expires != NGX_HTTP_ABTEST_EXPIRES_OFF
        && alcf->cookie_expires != NGX_HTTP_ABTEST_EXPIRES_MAX)
    {
        p = ngx_pnalloc(cf->pool, sizeof("; Max-Age=") - 1 + NGX_TIME_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        alcf->cookie_max_age.data = p;
        p = ngx_sprintf(p, "; Max-Age=%T", alcf->cookie_expires);
        alcf->cookie_max_age.len = p - alcf->cookie_max_age.data;
    }

    return NGX_OK;
}


/*
 * Checks across experiments once the whole http block is parsed: a group
 * cookie may be written by one experiment only, and not be the device
 * cookie.
 */

ngx_int_t
ngx_http_abtest_cookie_check(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf, ngx_http_abtest_loc_conf_t *alcf)
{
    ngx_str_t                      device = ngx_string("device_id");
    ngx_uint_t                     i, j;
    ngx_http_abtest_experiment_t  *exp;

    /* the http level's own settings are not merged with defaults */
    if (alcf->cookie_name.len) {
        device = alcf->cookie_name;
    }

    exp = amcf->experiments.elts;

    for (i = 0; i < amcf->experiments.nelts; i++) {
        if (exp[i].cookie.len == 0) {
            continue;
        }

        if (exp[i].cookie.len == device.len
            && ngx_strncmp(exp[i].cookie.data, device.data, device.len) == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "experiment \"%V\" in %s:%ui uses the device "
                          "cookie \"%V\" as its group cookie",
                          &exp[i].name, exp[i].file, exp[i].line,
                          &exp[i].cookie);
            return NGX_ERROR;
        }

        for (j = 0; j < i; j++) {
            if (exp[j].cookie.len == exp[i].cookie.len
                && ngx_strncmp(exp[j].cookie.data, exp[i].cookie.data,
                               exp[i].cookie.len) == 0)
            {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "experiments \"%V\" and \"%V\" in %s:%ui both "
                              "write the group cookie \"%V\"",
                              &exp[j].name, &exp[i].name, exp[i].file,
                              exp[i].line, &exp[i].cookie);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * Cookie parsing changed twice in nginx: an array of headers before
 * 1.23.0, a list after it, and a parser that splits on ";" only in 1.29.6.
 */

ngx_int_t
ngx_http_abtest_read_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
#if (nginx_version >= 1029006)

    return ngx_http_parse_cookie_lines(r, r->headers_in.cookie, name, value)
           ? NGX_OK : NGX_DECLINED;

#elif (nginx_version >= 1023000)

    return ngx_http_parse_multi_header_lines(r, r->headers_in.cookie, name,
                                             value)
           ? NGX_OK : NGX_DECLINED;

#else

    return ngx_http_parse_multi_header_lines(&r->headers_in.cookies, name,
                                             value)
           == NGX_DECLINED ? NGX_DECLINED : NGX_OK;

#endif
}


/*
 * The device the request's cookie names: NGX_OK for a valid id,
 * NGX_DECLINED for none, NGX_ERROR for a cookie that is no device id
 * ("id" then holds it, for its length).
 */

ngx_int_t
ngx_http_abtest_cookie_device(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_http_abtest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_abtest_module);

    if (ngx_http_abtest_read_cookie(r, &alcf->cookie_name, id) != NGX_OK) {
        ngx_str_null(id);
        return NGX_DECLINED;
    }

    return (ngx_http_abtest_valid_device_id(id) == NGX_OK) ? NGX_OK
                                                            : NGX_ERROR;
}


ngx_int_t
ngx_http_abtest_cookie_set(ngx_http_request_t *r,
    ngx_http_abtest_loc_conf_t *alcf, ngx_str_t *name, ngx_str_t *value,
    ngx_uint_t lifetime)
{
    u_char           *p;
    size_t            len;
    ngx_table_elt_t  *set_cookie;

    len = name->len + 1 + value->len + alcf->cookie_max_age.len
          + sizeof("; Expires=Mon, 28 Sep 1970 06:00:00 GMT") - 1
          + alcf->cookie_attrs.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    set_cookie = ngx_list_push(&r->headers_out.headers);
    if (set_cookie == NULL) {
        return NGX_ERROR;
    }

    set_cookie->hash = 1;
    ngx_str_set(&set_cookie->key, "Set-Cookie");
    set_cookie->value.data = p;
#if (nginx_version >= 1023000)
    set_cookie->next = NULL;
#endif

    p = ngx_copy(p, name->data, name->len);
    *p++ = '=';
    p = ngx_copy(p, value->data, value->len);

    if (lifetime == NGX_HTTP_ABTEST_LIFETIME_DELETE) {
        p = ngx_cpymem(p, "; Max-Age=0", sizeof("; Max-Age=0") - 1);

    } else if (lifetime == NGX_HTTP_ABTEST_LIFETIME_SESSION
               || alcf->cookie_expires == NGX_HTTP_ABTEST_EXPIRES_OFF)
    {
        /* no Expires, no Max-Age */

    } else if (alcf->cookie_expires == NGX_HTTP_ABTEST_EXPIRES_MAX) {
        p = ngx_cpymem(p, "; Expires=Thu, 31 Dec 2037 23:55:55 GMT",
                       sizeof("; Expires=Thu, 31 Dec 2037 23:55:55 GMT") - 1);

    } else {
        /* the RFC 1123 date that Flask's cookies carry too */
        p = ngx_cpymem(p, "; Expires=", sizeof("; Expires=") - 1);
        p = ngx_http_abtest_cookie_date(p, alcf->cookie_expires);
        p = ngx_copy(p, alcf->cookie_max_age.data, alcf->cookie_max_age.len);
    }

    p = ngx_copy(p, alcf->cookie_attrs.data, alcf->cookie_attrs.len);

    set_cookie->value.len = p - set_cookie->value.data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abtest cookie: \"%V\"", &set_cookie->value);

    return NGX_OK;
}


static u_char *
ngx_http_abtest_cookie_date(u_char *p, time_t expires)
{
    time_t                          now;
    ngx_http_abtest_cookie_date_t  *c = &ngx_http_abtest_cookie_date_cache;

    now = ngx_time();

    if (c->now != now || c->expires != expires) {
        (void) ngx_http_time(c->date, now + expires);
        c->now = now;
        c->expires = expires;
    }

    return ngx_cpymem(p, c->date, sizeof(c->date) - 1);
}
