
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * The state file's text (abtest_zone ... state=path), as
 * ngx_http_abtest_state_file_read() hands it to
 * ngx_http_abtest_state_file_parse(): the whole input is the file, in an
 * allocation of its size plus a NUL, read against the configured
 * experiments.
 *
 * What is restored must be what the zone can run on: for each
 * experiment found, a configuration equal to the experiment's own,
 * positive weights for its groups only and their sum (the modulo of the
 * seed's rule divides by it), a known state, a rollout group of its own
 * where the state is rollout, at most NGX_HTTP_ABTEST_HISTORY earlier
 * weight settings each of which picks a group for any digest.
 */


#include "fuzz_common.h"
#include "ngx_http_abtest_hash.h"
#include "ngx_http_abtest_state_file.h"


static void ngx_fuzz_state_check(ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_saved_t *saved);
static void ngx_fuzz_state_weights(ngx_http_abtest_experiment_t *exp,
    uint32_t *weights, uint64_t total);


static ngx_str_t  ngx_fuzz_state_path = ngx_string("/fuzz/abtest.state");

/* digests at the ends of the range: the first and the last bucket */
static u_char     ngx_fuzz_digests[3][NGX_HTTP_ABTEST_DIGEST_LEN] = {
    { 0 },
    { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
    { 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                           *text, key[NGX_HTTP_ABTEST_KEY_LEN],
                                      before[NGX_HTTP_ABTEST_KEY_LEN];
    ngx_int_t                         rc;
    ngx_uint_t                        i, n;
    ngx_http_abtest_saved_t          *saved;
    ngx_http_abtest_experiment_t     *exp;
    ngx_http_abtest_saved_holdout_t   holdout;

    /* as the file is read: its size and a NUL */
    text = ngx_alloc(size + 1, ngx_fuzz_log);
    if (text == NULL) {
        ngx_fuzz_fail("no memory");
    }

    ngx_memcpy(text, data, size);
    text[size] = '\0';

    n = ngx_fuzz_amcf->experiments.nelts;
    exp = ngx_fuzz_amcf->experiments.elts;

    saved = ngx_calloc(n * sizeof(ngx_http_abtest_saved_t), ngx_fuzz_log);
    if (saved == NULL) {
        ngx_fuzz_fail("no memory");
    }

    ngx_memset(key, 0xa5, sizeof(key));
    ngx_memcpy(before, key, sizeof(key));

    ngx_memzero(&holdout, sizeof(ngx_http_abtest_saved_holdout_t));

    rc = ngx_http_abtest_state_file_parse(&ngx_fuzz_state_path, text, size,
                                          &ngx_fuzz_amcf->experiments,
                                          saved, &holdout, key, ngx_fuzz_log);

    /*
     * "key" is scratch but on NGX_OK: ngx_http_abtest_shm_restore() copies
     * it to the zone only then (a bad digit late in a random_key leaves
     * the digits before it decoded: regressions/state_file/)
     */
    ngx_fuzz_check(rc == NGX_OK || rc == NGX_DECLINED || rc == NGX_ERROR);

    ngx_fuzz_say("rc %i, key %s", rc,
                 ngx_memcmp(key, before, sizeof(key)) ? "read" : "kept");

    for (i = 0; i < n; i++) {
        ngx_fuzz_say("\"%V\": found %ui state %ui rollout %i total %uL "
                     "history %ui", &exp[i].name, saved[i].found,
                     saved[i].state.state, (ngx_int_t) saved[i].state.rollout,
                     saved[i].state.total, saved[i].state.nhistory);

        if (saved[i].found) {
            ngx_fuzz_state_check(&exp[i], &saved[i]);
        }
    }

    ngx_free(saved);
    ngx_free(text);

    return 0;
}


static void
ngx_fuzz_state_check(ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_saved_t *saved)
{
    uint64_t                      total;
    ngx_uint_t                    i, k;
    ngx_http_abtest_exp_state_t  *st;

    ngx_fuzz_check(saved->found == 1);

    /* only a file written for this configuration is taken */
    ngx_fuzz_check(saved->configured.state == exp->conf_state.state);
    ngx_fuzz_check(saved->configured.rollout == exp->conf_state.rollout);
    ngx_fuzz_check(ngx_memcmp(saved->configured.weights,
                              exp->conf_state.weights,
                              sizeof(exp->conf_state.weights))
                   == 0);

    st = &saved->state;

    ngx_fuzz_state_weights(exp, st->weights, st->total);

    ngx_fuzz_check(st->state == NGX_HTTP_ABTEST_STATE_ACTIVE
                   || st->state == NGX_HTTP_ABTEST_STATE_INACTIVE
                   || st->state == NGX_HTTP_ABTEST_STATE_ROLLOUT);
    ngx_fuzz_check(st->rollout == NGX_HTTP_ABTEST_NO_GROUP
                   || st->rollout < exp->groups.nelts);
    ngx_fuzz_check(st->state != NGX_HTTP_ABTEST_STATE_ROLLOUT
                   || st->rollout != NGX_HTTP_ABTEST_NO_GROUP);

    ngx_fuzz_check(st->nhistory <= NGX_HTTP_ABTEST_HISTORY);

    for (k = 0; k < st->nhistory; k++) {
        total = 0;

        for (i = 0; i < exp->groups.nelts; i++) {
            total += st->history[k][i];
        }

        ngx_fuzz_state_weights(exp, st->history[k], total);
    }

    ngx_fuzz_check(saved->start >= -1);
    ngx_fuzz_check(saved->end >= -1);
}


/* weights the seed's rule can walk: every bucket lands in a group */

static void
ngx_fuzz_state_weights(ngx_http_abtest_experiment_t *exp, uint32_t *weights,
    uint64_t total)
{
    uint64_t    sum, bucket;
    ngx_uint_t  i, group;

    sum = 0;

    for (i = 0; i < exp->groups.nelts; i++) {
        ngx_fuzz_check(weights[i] > 0);
        sum += weights[i];
    }

    for ( /* void */ ; i < NGX_HTTP_ABTEST_GROUPS_MAX; i++) {
        ngx_fuzz_check(weights[i] == 0);
    }

    ngx_fuzz_check(sum == total);
    ngx_fuzz_check(total >= 1 && total <= NGX_HTTP_ABTEST_WEIGHT_TOTAL_MAX);

    for (i = 0; i < 3; i++) {
        bucket = ngx_http_abtest_hash_mod(ngx_fuzz_digests[i], total);
        group = ngx_http_abtest_hash_pick(weights, exp->groups.nelts,
                                          bucket);

        ngx_fuzz_check(bucket < total);
        ngx_fuzz_check(group < exp->groups.nelts);
    }
}
