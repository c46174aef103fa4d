
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The seed's assignment rule: SHA-256 of "<device_id>:<experiment>" as a
 * big-endian number, modulo the sum of the weights, walked through the
 * groups in name order.  Each process keeps its own digest handles and
 * a cache of recent devices' digests.
 */


#include "ngx_http_abtest_hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>


/* per-process cache of recent devices' digests (returning devices) */
#define NGX_HTTP_ABTEST_DIGEST_CACHE   1024
#define NGX_HTTP_ABTEST_DIGEST_CACHED  64       /* first experiments */


typedef struct {
    u_char                     id[NGX_HTTP_ABTEST_DEVICE_ID_MAX];
    size_t                     len;
    uint64_t                   have;         /* a bit per experiment */
    u_char                    *digests;      /* 32 bytes per experiment */
} ngx_http_abtest_digest_entry_t;


typedef struct {
    /* fetched once per process, not on every request */
    EVP_MD                    *sha256;
    EVP_MD_CTX                *md_ctx;
    /* initialised once: each digest starts from a copy of it */
    EVP_MD_CTX                *md_init;

    /* the cache, for the configuration whose experiments it indexes */
    ngx_http_abtest_main_conf_t     *amcf;
    ngx_http_abtest_digest_entry_t  *cache;
    u_char                          *digests;
    ngx_uint_t                       cached;  /* experiments per entry */
    /* the entry of the last device looked up: a request's experiments */
    ngx_http_abtest_digest_entry_t  *last;
} ngx_http_abtest_hash_process_t;


static EVP_MD *ngx_http_abtest_sha256_fetch(void);
static void ngx_http_abtest_sha256_free(EVP_MD *md);
static ngx_int_t ngx_http_abtest_sha256(u_char *text, size_t len,
    u_char *md);
static ngx_int_t ngx_http_abtest_hash_cache(ngx_http_abtest_main_conf_t *amcf,
    ngx_log_t *log);


static ngx_http_abtest_hash_process_t  ngx_http_abtest_hash_proc;


/*
 * At configuration time, so that nginx -t tells what is missing; and the
 * configuration's own key of "assign random" draws, made in the master
 * for all its workers (a zone brings a key that outlives reloads).
 */

ngx_int_t
ngx_http_abtest_hash_init_conf(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf)
{
    EVP_MD  *md;

    md = ngx_http_abtest_sha256_fetch();

    if (md == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "abtest: SHA-256 is not available from OpenSSL");
        return NGX_ERROR;
    }

    ngx_http_abtest_sha256_free(md);

    amcf->random_key = ngx_palloc(cf->pool, NGX_HTTP_ABTEST_KEY_LEN);
    if (amcf->random_key == NULL) {
        return NGX_ERROR;
    }

    if (RAND_bytes(amcf->random_key, NGX_HTTP_ABTEST_KEY_LEN) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "abtest: RAND_bytes() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * OpenSSL 3: an explicit fetch once per process, since the implicit fetch
 * done by EVP_sha256() and SHA256() looks the algorithm up on every call
 */

static EVP_MD *
ngx_http_abtest_sha256_fetch(void)
{
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    return EVP_MD_fetch(NULL, "SHA256", NULL);
#else
    return (EVP_MD *) EVP_sha256();
#endif
}


static void
ngx_http_abtest_sha256_free(EVP_MD *md)
{
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    EVP_MD_free(md);
#endif
}


ngx_int_t
ngx_http_abtest_hash_init_process(ngx_cycle_t *cycle)
{
    ngx_http_abtest_hash_process_t  *hp = &ngx_http_abtest_hash_proc;

    if (hp->md_ctx) {
        return NGX_OK;
    }

    hp->sha256 = ngx_http_abtest_sha256_fetch();
    hp->md_ctx = EVP_MD_CTX_new();
    hp->md_init = EVP_MD_CTX_new();

    if (hp->sha256 == NULL || hp->md_ctx == NULL || hp->md_init == NULL
        || EVP_DigestInit_ex(hp->md_init, hp->sha256, NULL) != 1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "abtest: SHA-256 is not available from OpenSSL");
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_abtest_hash_exit_process(void)
{
    ngx_http_abtest_hash_process_t  *hp = &ngx_http_abtest_hash_proc;

    EVP_MD_CTX_free(hp->md_ctx);
    EVP_MD_CTX_free(hp->md_init);
    ngx_http_abtest_sha256_free(hp->sha256);

    if (hp->cache) {
        ngx_free(hp->cache);
        ngx_free(hp->digests);
    }

    ngx_memzero(hp, sizeof(ngx_http_abtest_hash_process_t));
}


/*
 * SHA-256 of a 36-byte UUID and a name takes two compression rounds per
 * experiment.  A device's requests (page, assets, API calls) come in
 * runs, so each process keeps the digests of recent devices in a small
 * direct-mapped table, made again for a new configuration (nginx without
 * a master process reloads in the same process).
 */

static ngx_int_t
ngx_http_abtest_hash_cache(ngx_http_abtest_main_conf_t *amcf, ngx_log_t *log)
{
    size_t                           per_entry;
    ngx_uint_t                       i, n;
    ngx_http_abtest_hash_process_t  *hp = &ngx_http_abtest_hash_proc;

    if (hp->cache) {
        ngx_free(hp->cache);
        ngx_free(hp->digests);
        hp->cache = NULL;
        hp->digests = NULL;
    }

    hp->amcf = amcf;
    hp->cached = 0;
    hp->last = NULL;

    n = ngx_min(amcf->experiments.nelts, NGX_HTTP_ABTEST_DIGEST_CACHED);

    if (n == 0) {
        return NGX_OK;
    }

    per_entry = n * NGX_HTTP_ABTEST_DIGEST_LEN;

    hp->cache = ngx_calloc(NGX_HTTP_ABTEST_DIGEST_CACHE
                           * sizeof(ngx_http_abtest_digest_entry_t), log);
    hp->digests = ngx_alloc(NGX_HTTP_ABTEST_DIGEST_CACHE * per_entry, log);

    if (hp->cache == NULL || hp->digests == NULL) {
        ngx_free(hp->cache);
        ngx_free(hp->digests);
        hp->cache = NULL;
        hp->digests = NULL;
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ABTEST_DIGEST_CACHE; i++) {
        hp->cache[i].digests = hp->digests + i * per_entry;
    }

    hp->cached = n;

    return NGX_OK;
}


/*
 * The seed's rule: int(sha256("<device_id>:<experiment>"), big-endian)
 * modulo the sum of the weights.  The digest is kept apart from the
 * modulo, so that one digest serves the current and earlier weights; it
 * does not depend on the weights, so the cache needs no invalidation.
 */

ngx_int_t
ngx_http_abtest_hash_digest(ngx_http_abtest_main_conf_t *amcf,
    ngx_str_t *device_id, ngx_http_abtest_experiment_t *exp, u_char *md)
{
    u_char                          *p, key[NGX_HTTP_ABTEST_DEVICE_ID_MAX + 1
                                            + NGX_HTTP_ABTEST_NAME_MAX];
    uint64_t                         bit;
    unsigned int                     len;
    ngx_http_abtest_digest_entry_t  *e;
    ngx_http_abtest_hash_process_t  *hp = &ngx_http_abtest_hash_proc;

    if (device_id->len > NGX_HTTP_ABTEST_DEVICE_ID_MAX
        || exp->name.len > NGX_HTTP_ABTEST_NAME_MAX
        || hp->md_ctx == NULL)
    {
        return NGX_ERROR;
    }

    if (hp->amcf != amcf) {
        /* without a cache the digests are only not cached */
        (void) ngx_http_abtest_hash_cache(amcf, ngx_cycle->log);
    }

    e = NULL;
    bit = 0;

    if (exp->index < hp->cached) {
        /* an id is only ever kept in its own slot */
        e = hp->last;

        if (e == NULL || e->len != device_id->len
            || ngx_memcmp(e->id, device_id->data, device_id->len) != 0)
        {
            e = &hp->cache[ngx_murmur_hash2(device_id->data, device_id->len)
                           % NGX_HTTP_ABTEST_DIGEST_CACHE];
            hp->last = e;
        }

        bit = (uint64_t) 1 << exp->index;

        if (e->len == device_id->len
            && ngx_memcmp(e->id, device_id->data, device_id->len) == 0)
        {
            if (e->have & bit) {
                ngx_memcpy(md, e->digests
                               + exp->index * NGX_HTTP_ABTEST_DIGEST_LEN,
                           NGX_HTTP_ABTEST_DIGEST_LEN);
                return NGX_OK;
            }

        } else {
            ngx_memcpy(e->id, device_id->data, device_id->len);
            e->len = device_id->len;
            e->have = 0;
        }
    }

    p = ngx_cpymem(key, device_id->data, device_id->len);
    *p++ = ':';
    p = ngx_cpymem(p, exp->name.data, exp->name.len);

    if (exp->assign == NGX_HTTP_ABTEST_ASSIGN_RANDOM) {
        /* a draw no client can foretell or choose: keyed by the server */
        if (amcf->random_key == NULL
            || HMAC(hp->sha256, amcf->random_key, NGX_HTTP_ABTEST_KEY_LEN,
                    key, p - key, md, &len)
               == NULL
            || len != NGX_HTTP_ABTEST_DIGEST_LEN)
        {
            return NGX_ERROR;
        }

    } else if (ngx_http_abtest_sha256(key, p - key, md) != NGX_OK) {
        return NGX_ERROR;
    }

    if (e) {
        ngx_memcpy(e->digests + exp->index * NGX_HTTP_ABTEST_DIGEST_LEN, md,
                   NGX_HTTP_ABTEST_DIGEST_LEN);
        e->have |= bit;
    }

    return NGX_OK;
}


/*
 * Who enters, by a hash of its own, independent of the group rule's:
 * int(sha256("<device_id>:<first>[:<second>]"), big-endian) modulo
 * NGX_HTTP_ABTEST_SHARE_ALL, the device's bucket of 0.01% ("<device>:
 * <experiment>:coverage", "<device>:layer:<name>", "<device>:holdout").
 * Not cached: only experiments that restrict who enters ask for it.
 */

ngx_int_t
ngx_http_abtest_hash_share(ngx_str_t *device_id, ngx_str_t *first,
    ngx_str_t *second)
{
    u_char                          *p, md[NGX_HTTP_ABTEST_DIGEST_LEN],
                                     key[NGX_HTTP_ABTEST_DEVICE_ID_MAX + 2
                                         + 2 * NGX_HTTP_ABTEST_NAME_MAX];
    ngx_http_abtest_hash_process_t  *hp = &ngx_http_abtest_hash_proc;

    if (device_id->len > NGX_HTTP_ABTEST_DEVICE_ID_MAX
        || first->len > NGX_HTTP_ABTEST_NAME_MAX
        || (second && second->len > NGX_HTTP_ABTEST_NAME_MAX)
        || hp->md_ctx == NULL)
    {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key, device_id->data, device_id->len);
    *p++ = ':';
    p = ngx_cpymem(p, first->data, first->len);

    if (second) {
        *p++ = ':';
        p = ngx_cpymem(p, second->data, second->len);
    }

    if (ngx_http_abtest_sha256(key, p - key, md) != NGX_OK) {
        return NGX_ERROR;
    }

    return (ngx_int_t) ngx_http_abtest_hash_mod(md, NGX_HTTP_ABTEST_SHARE_ALL);
}


/* SHA-256 from a copy of the prepared context: no init per digest */

static ngx_int_t
ngx_http_abtest_sha256(u_char *text, size_t len, u_char *md)
{
    unsigned int                     n;
    ngx_http_abtest_hash_process_t  *hp = &ngx_http_abtest_hash_proc;

    if (EVP_MD_CTX_copy_ex(hp->md_ctx, hp->md_init) != 1
        || EVP_DigestUpdate(hp->md_ctx, text, len) != 1
        || EVP_DigestFinal_ex(hp->md_ctx, md, &n) != 1
        || n != NGX_HTTP_ABTEST_DIGEST_LEN)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The 256-bit big-endian number reduced 32 bits at a time; with total
 * <= 2^31 the intermediate value stays below 2^63.
 */

uint64_t
ngx_http_abtest_hash_mod(u_char *md, uint64_t total)
{
    uint64_t    rem;
    ngx_uint_t  i;

    rem = 0;

    for (i = 0; i < NGX_HTTP_ABTEST_DIGEST_LEN; i += 4) {
        rem = ((rem << 32) | ((uint64_t) md[i] << 24 | md[i + 1] << 16
                              | md[i + 2] << 8 | md[i + 3]))
              % total;
    }

    return rem;
}


/* walks the groups in name order, as the seed's sorted(groups.items()) */

ngx_uint_t
ngx_http_abtest_hash_pick(uint32_t *weights, ngx_uint_t ngroups,
    uint64_t bucket)
{
    uint64_t    upper;
    ngx_uint_t  i;

    upper = 0;

    for (i = 0; i < ngroups; i++) {
        upper += weights[i];

        if (bucket < upper) {
            return i;
        }
    }

    return NGX_HTTP_ABTEST_NO_GROUP;
}
