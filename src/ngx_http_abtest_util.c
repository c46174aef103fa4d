
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * Small helpers every concern uses: the time in milliseconds and as
 * ISO 8601, and what names, device ids and client text may hold.
 */


#include "ngx_http_abtest_util.h"


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
    ngx_tm_t  tm;

    ngx_gmtime((time_t) (ms / 1000), &tm);

    return ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                       (int) (ms % 1000));
}


/*
 * Names of experiments, groups and cookies end up in variables, cookies,
 * upstream names and JSON: [A-Za-z0-9_-], plus "." where "dot" is set,
 * 1 to 64 bytes.
 */

ngx_int_t
ngx_http_abtest_valid_name(ngx_str_t *name, ngx_uint_t dot)
{
    uint32_t    *map;
    ngx_uint_t   i;

    /* a bit per character, as nginx's own tables: [A-Za-z0-9_-] (and .) */
    static uint32_t  id_chars[] = {
        0x00000000, 0x03ff2000, 0x87fffffe, 0x07fffffe,
        0x00000000, 0x00000000, 0x00000000, 0x00000000
    };

    static uint32_t  name_chars[] = {
        0x00000000, 0x03ff6000, 0x87fffffe, 0x07fffffe,
        0x00000000, 0x00000000, 0x00000000, 0x00000000
    };

    if (name->len == 0 || name->len > NGX_HTTP_ABTEST_NAME_MAX) {
        return NGX_ERROR;
    }

    map = dot ? name_chars : id_chars;

    for (i = 0; i < name->len; i++) {
        if ((map[name->data[i] >> 5] & (1U << (name->data[i] & 0x1f))) == 0) {
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
