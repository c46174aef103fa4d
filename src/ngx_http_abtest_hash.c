
/*
 * Copyright (C) ngx_http_abtest_module authors
 */


#include "ngx_http_abtest_hash.h"


static void ngx_http_abtest_hash_cleanup(void *data);


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
 * modulo, so that one digest serves the current and earlier weights.
 */

ngx_int_t
ngx_http_abtest_hash_digest(ngx_http_abtest_main_conf_t *amcf,
    ngx_str_t *device_id, ngx_str_t *experiment, u_char *md)
{
    u_char        *p, key[NGX_HTTP_ABTEST_DEVICE_ID_MAX + 1
                          + NGX_HTTP_ABTEST_NAME_MAX];
    unsigned int   len;

    if (device_id->len > NGX_HTTP_ABTEST_DEVICE_ID_MAX
        || experiment->len > NGX_HTTP_ABTEST_NAME_MAX)
    {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key, device_id->data, device_id->len);
    *p++ = ':';
    p = ngx_cpymem(p, experiment->data, experiment->len);

    if (EVP_DigestInit_ex(amcf->md_ctx, amcf->sha256, NULL) != 1
        || EVP_DigestUpdate(amcf->md_ctx, key, p - key) != 1
        || EVP_DigestFinal_ex(amcf->md_ctx, md, &len) != 1
        || len != NGX_HTTP_ABTEST_DIGEST_LEN)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The 256-bit big-endian number reduced byte by byte; with total <= 2^31
 * the intermediate value stays below 2^39.
 */

uint64_t
ngx_http_abtest_hash_mod(u_char *md, uint64_t total)
{
    uint64_t    rem;
    ngx_uint_t  i;

    rem = 0;

    for (i = 0; i < NGX_HTTP_ABTEST_DIGEST_LEN; i++) {
        rem = ((rem << 8) | md[i]) % total;
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
