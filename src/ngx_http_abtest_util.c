
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * Small helpers every concern uses: the time in milliseconds and as
 * ISO 8601, and what names, device ids and client text may hold.
 */


#include "ngx_http_abtest_util.h"


/*
 * The date and time of the last second an ISO 8601 time was written for,
 * up to the milliseconds: formatted once per second, as nginx does its
 * own time strings, not once per event
 */
typedef struct {
    time_t                     sec;
    size_t                     len;
    u_char                     text[NGX_INT_T_LEN
                                    + sizeof("-01-01T00:00:00.")];
} ngx_http_abtest_iso_cache_t;


static ngx_http_abtest_iso_cache_t  ngx_http_abtest_iso_cache = { -1, 0, "" };


int64_t
ngx_http_abtest_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/* ISO 8601 in UTC with milliseconds: NGX_HTTP_ABTEST_ISO_LEN bytes */

u_char *
ngx_http_abtest_iso_time(u_char *buf, int64_t ms)
{
    time_t                        sec;
    ngx_uint_t                    msec;
    ngx_tm_t                      tm;
    ngx_http_abtest_iso_cache_t  *c = &ngx_http_abtest_iso_cache;

    if (ms < 0) {
        ngx_gmtime((time_t) (ms / 1000), &tm);

        return ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                           tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                           tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                           (int) (ms % 1000));
    }

    sec = (time_t) (ms / 1000);
    msec = (ngx_uint_t) (ms % 1000);

    if (c->sec != sec) {
        ngx_gmtime(sec, &tm);

        c->len = ngx_sprintf(c->text, "%4d-%02d-%02dT%02d:%02d:%02d.",
                             tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                             tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec)
                 - c->text;
        c->sec = sec;
    }

    buf = ngx_cpymem(buf, c->text, c->len);

    *buf++ = (u_char) ('0' + msec / 100);
    *buf++ = (u_char) ('0' + msec / 10 % 10);
    *buf++ = (u_char) ('0' + msec % 10);
    *buf++ = 'Z';

    return buf;
}


/*
 * "2026-12-24T00:00:00Z", or with ".sss" milliseconds: UTC only, so that
 * every server of a fleet reads the same moment.  Milliseconds since the
 * epoch, or NGX_ERROR.
 */

int64_t
ngx_http_abtest_parse_iso_time(u_char *p, size_t len)
{
    int64_t     days, ms;
    ngx_int_t   year, month, day, hour, min, sec, msec, leap;
    ngx_uint_t  i;

    static ngx_uint_t  mday[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };

    if (len != sizeof("1970-01-01T00:00:00Z") - 1
        && len != NGX_HTTP_ABTEST_ISO_LEN)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < len - 1; i++) {
        if (i == 4 || i == 7) {
            if (p[i] != '-') {
                return NGX_ERROR;
            }

        } else if (i == 10) {
            if (p[i] != 'T') {
                return NGX_ERROR;
            }

        } else if (i == 13 || i == 16) {
            if (p[i] != ':') {
                return NGX_ERROR;
            }

        } else if (i == 19) {
            if (p[i] != '.') {
                return NGX_ERROR;
            }

        } else if (p[i] < '0' || p[i] > '9') {
            return NGX_ERROR;
        }
    }

    if (p[len - 1] != 'Z') {
        return NGX_ERROR;
    }

    year = ngx_atoi(p, 4);
    month = ngx_atoi(p + 5, 2);
    day = ngx_atoi(p + 8, 2);
    hour = ngx_atoi(p + 11, 2);
    min = ngx_atoi(p + 14, 2);
    sec = ngx_atoi(p + 17, 2);
    msec = (len == NGX_HTTP_ABTEST_ISO_LEN) ? ngx_atoi(p + 20, 3) : 0;

    leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    if (year < 1970 || month < 1 || month > 12 || day < 1
        || day > (ngx_int_t) mday[month - 1] + (month == 2 && leap)
        || hour > 23 || min > 59 || sec > 59)
    {
        return NGX_ERROR;
    }

    /* Gauss' formula, as ngx_http_parse_time(): years start on March 1 */
    month -= 2;

    if (month <= 0) {
        month += 12;
        year--;
    }

    days = (int64_t) 365 * year + year / 4 - year / 100 + year / 400
           + 367 * month / 12 - 30 + day - 1 - 719527 + 31 + 28;

    ms = ((days * 24 + hour) * 60 + min) * 60 + sec;

    return ms * 1000 + msec;
}


/*
 * A share of devices in 0.01% steps: "20%" or "20.5%" (percent=1: the
 * sign may be left out, as in abtest_layer), NGX_HTTP_ABTEST_SHARE_ALL
 * being all; NGX_ERROR if it is not one from 0% to 100%.
 */

ngx_int_t
ngx_http_abtest_parse_share(u_char *p, size_t len, ngx_uint_t percent)
{
    ngx_int_t  n;

    if (len > 1 && p[len - 1] == '%') {
        len--;

    } else if (!percent) {
        return NGX_ERROR;
    }

    n = ngx_atofp(p, len, 2);

    if (n == NGX_ERROR || n > NGX_HTTP_ABTEST_SHARE_ALL) {
        return NGX_ERROR;
    }

    return n;
}


/* a number in decimal, as ngx_sprintf()'s "%uL" and "%L", without it */

u_char *
ngx_http_abtest_uint64(u_char *p, uint64_t n)
{
    u_char  *q, digits[NGX_INT64_LEN];

    q = digits + NGX_INT64_LEN;

    do {
        *--q = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, q, digits + NGX_INT64_LEN - q);
}


u_char *
ngx_http_abtest_int64(u_char *p, int64_t n)
{
    if (n >= 0) {
        return ngx_http_abtest_uint64(p, (uint64_t) n);
    }

    *p++ = '-';

    return ngx_http_abtest_uint64(p, (uint64_t) -(n + 1) + 1);
}


/*
 * A byte per character, as nginx's own tables: 1 for [A-Za-z0-9_-], the
 * characters of a device id, 2 for those of a name, which may hold "."
 */

static u_char  ngx_http_abtest_name_chars[] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 0,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};


/*
 * Names of experiments, groups and cookies end up in variables, cookies,
 * upstream names and JSON: [A-Za-z0-9_-], plus "." where "dot" is set,
 * 1 to 64 bytes.
 */

ngx_int_t
ngx_http_abtest_valid_name(ngx_str_t *name, ngx_uint_t dot)
{
    u_char      want;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > NGX_HTTP_ABTEST_NAME_MAX) {
        return NGX_ERROR;
    }

    want = dot ? 2 : 1;

    for (i = 0; i < name->len; i++) {
        if ((ngx_http_abtest_name_chars[name->data[i]] & want) == 0) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* 1 to 64 bytes of [A-Za-z0-9_-], the characters of a name without "." */

ngx_int_t
ngx_http_abtest_valid_device_id(ngx_str_t *id)
{
    return ngx_http_abtest_valid_name(id, 0);
}


/* an event name: 1 to 64 bytes of UTF-8, no control characters */

ngx_int_t
ngx_http_abtest_valid_event_name(ngx_str_t *name)
{
    ngx_uint_t  i;

    if (name->len == 0 || name->len > NGX_HTTP_ABTEST_NAME_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        if (name->data[i] < 0x20 || name->data[i] == 0x7f) {
            return NGX_ERROR;
        }
    }

    return ngx_http_abtest_valid_utf8(name);
}


/*
 * Text that goes into JSON, which is UTF-8: well-formed sequences only
 * (no stray continuation bytes, overlong forms, surrogates or code points
 * above U+10FFFF), stricter than yajl's own check of client strings,
 * which lets the last three through.
 */

ngx_int_t
ngx_http_abtest_valid_utf8(ngx_str_t *text)
{
    u_char      c, *p, *last;
    uint32_t    u, min;
    ngx_uint_t  n;

    p = text->data;
    last = p + text->len;

    while (p < last) {
        c = *p++;

        if (c < 0x80) {
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            min = 0x10000;

        } else {
            return NGX_ERROR;
        }

        if ((size_t) (last - p) < n) {
            return NGX_ERROR;
        }

        /* the lead byte's bits: 5, 4 or 3 */
        u = c & (0x3f >> n);

        while (n--) {
            c = *p++;

            if ((c & 0xc0) != 0x80) {
                return NGX_ERROR;
            }

            u = (u << 6) | (c & 0x3f);
        }

        if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A name a client sent, for a message: whole or not at all, so that a
 * message never cuts a UTF-8 character in two (names were checked UTF-8)
 */

const char *
ngx_http_abtest_client_name(const char *name)
{
    return (ngx_strlen(name) <= NGX_HTTP_ABTEST_NAME_MAX)
           ? name : "(a name longer than 64 bytes)";
}
