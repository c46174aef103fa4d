
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#include "ngx_http_abtest_hash.h"


static void ngx_http_abtest_hash_cleanup(void *data);
static ngx_int_t ngx_http_abtest_hash_cache_init(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf);


ngx_int_t
ngx_http_abtest_hash_init(ngx_conf_t *cf, ngx_http_abtest_main_conf_t *amcf)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_abtest_hash_cleanup;
    cln->data = amcf;

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    /*
     * An explicit fetch once per configuration: the implicit fetch done by
     * EVP_sha256() and SHA256() looks the algorithm up on every call.
     */
    amcf->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
    amcf->sha256 = EVP_sha256();
#endif

    if (amcf->sha256 == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "abtest: SHA-256 is not available from OpenSSL");
        return NGX_ERROR;
    }

    amcf->md_ctx = EVP_MD_CTX_new();
    if (amcf->md_ctx == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_abtest_hash_cache_init(cf, amcf);
}


/*
 * SHA-256 of a 36-byte UUID and a name takes two compression rounds per
 * experiment.  A device's requests (page, assets, API calls) come in
 * runs, so each worker keeps the digests of recent devices in a small
 * direct-mapped table.
 */

static ngx_int_t
ngx_http_abtest_hash_cache_init(ngx_conf_t *cf,
    ngx_http_abtest_main_conf_t *amcf)
{
    u_char      *digests;
    size_t       per_entry;
    ngx_uint_t   i, n;

    n = ngx_min(amcf->experiments.nelts, NGX_HTTP_ABTEST_DIGEST_CACHED);

    if (n == 0) {
        return NGX_OK;
    }

    per_entry = n * NGX_HTTP_ABTEST_DIGEST_LEN;

    amcf->digest_cache = ngx_pcalloc(cf->pool,
                                     NGX_HTTP_ABTEST_DIGEST_CACHE
                                     * sizeof(ngx_http_abtest_digest_entry_t));
    digests = ngx_palloc(cf->pool, NGX_HTTP_ABTEST_DIGEST_CACHE * per_entry);

    if (amcf->digest_cache == NULL || digests == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ABTEST_DIGEST_CACHE; i++) {
        amcf->digest_cache[i].digests = digests + i * per_entry;
    }

    return NGX_OK;
}


static void
ngx_http_abtest_hash_cleanup(void *data)
{
    ngx_http_abtest_main_conf_t  *amcf = data;

    if (amcf->md_ctx) {
        EVP_MD_CTX_free(amcf->md_ctx);
        amcf->md_ctx = NULL;
    }

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    if (amcf->sha256) {
        EVP_MD_free((EVP_MD *) amcf->sha256);
        amcf->sha256 = NULL;
    }
#endif
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

    if (device_id->len > NGX_HTTP_ABTEST_DEVICE_ID_MAX
        || exp->name.len > NGX_HTTP_ABTEST_NAME_MAX)
    {
        return NGX_ERROR;
    }

    e = NULL;
    bit = 0;

    if (amcf->digest_cache && exp->index < NGX_HTTP_ABTEST_DIGEST_CACHED) {
        e = &amcf->digest_cache[ngx_murmur_hash2(device_id->data,
                                                 device_id->len)
                                % NGX_HTTP_ABTEST_DIGEST_CACHE];
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

    if (EVP_DigestInit_ex(amcf->md_ctx, amcf->sha256, NULL) != 1
        || EVP_DigestUpdate(amcf->md_ctx, key, p - key) != 1
        || EVP_DigestFinal_ex(amcf->md_ctx, md, &len) != 1
        || len != NGX_HTTP_ABTEST_DIGEST_LEN)
    {
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
