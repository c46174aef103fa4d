
/*
 * Copyright (C) ngx_http_abtest_module authors
 *
 * An update body (POST to the experiments location with write=on), as
 * ngx_http_abtest_api_update() reads it: the whole input is the body,
 * copied NUL-terminated as ngx_http_abtest_http_parse_body() leaves it,
 * parsed into a tree in a pool (ngx_http_abtest_json_parse(), at most
 * NGX_HTTP_ABTEST_UPDATE_DEPTH levels), then made an update of one of the
 * configured experiments (ngx_http_abtest_api_parse_update()).
 *
 * What is accepted must be what the zone can apply: a configured
 * experiment, positive weights for exactly its groups summing to at most
 * 2^31, a known state, a rollout group of the experiment; a refusal has
 * a message that fits in an answer's JSON.  Any tree is also generated
 * again (ngx_http_abtest_json_copy()): that must be JSON that reads back
 * to the same text.
 */


#include "fuzz_common.h"
#include "ngx_http_abtest_api.h"
#include "ngx_http_abtest_json.h"
#include "ngx_http_abtest_shm.h"
#include "ngx_http_abtest_util.h"


static void ngx_fuzz_update_check(ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_update_t *up);
static void ngx_fuzz_update_copy(ngx_pool_t *pool, yajl_val tree);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                        *body, err[256];
    yajl_val                       tree;
    ngx_str_t                      msg;
    ngx_uint_t                     status;
    ngx_pool_t                    *pool;
    ngx_http_abtest_update_t       up;
    ngx_http_abtest_experiment_t  *exp;

    pool = ngx_fuzz_pool();

    body = ngx_pnalloc(pool, size + 1);
    if (body == NULL) {
        ngx_fuzz_fail("no memory");
    }

    ngx_memcpy(body, data, size);
    body[size] = '\0';

    err[0] = '\0';
    tree = ngx_http_abtest_json_parse(pool, body, size,
                                      NGX_HTTP_ABTEST_UPDATE_DEPTH, err,
                                      sizeof(err));

    if (tree == NULL) {
        ngx_fuzz_say("400 body: %s", err);

        /* a 400 naming what is wrong (an empty message: a 500) */
        ngx_fuzz_check(err[0] != '\0');
        goto done;
    }

    ngx_fuzz_update_copy(pool, tree);

    if (!YAJL_IS_OBJECT(tree)) {
        ngx_fuzz_say("400 body: must be a JSON object");
        goto done;
    }

    exp = NULL;
    err[0] = '\0';
    ngx_memzero(&up, sizeof(ngx_http_abtest_update_t));

    status = ngx_http_abtest_api_parse_update(ngx_fuzz_amcf, tree, &exp, &up,
                                              err, sizeof(err));

    ngx_fuzz_say("%ui %s", status,
                 status == NGX_HTTP_OK ? (u_char *) "" : err);

    if (status == NGX_HTTP_OK) {
        ngx_fuzz_say("experiment \"%V\": weights %ui total %uL, state %ui "
                     "%ui, rollout %ui %i, reset %ui", &exp->name,
                     up.has_weights, up.total, up.has_state, up.state,
                     up.has_rollout, (ngx_int_t) up.rollout, up.reset_stats);
        ngx_fuzz_update_check(exp, &up);
        goto done;
    }

    ngx_fuzz_check(status == NGX_HTTP_BAD_REQUEST
                   || status == NGX_HTTP_NOT_FOUND);

    msg.data = err;
    msg.len = ngx_strnlen(err, sizeof(err));

    ngx_fuzz_check(msg.len > 0 && msg.len < sizeof(err));
    ngx_fuzz_check(ngx_fuzz_ignore("utf8")
                   || ngx_http_abtest_valid_utf8(&msg) == NGX_OK);

done:

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_update_check(ngx_http_abtest_experiment_t *exp,
    ngx_http_abtest_update_t *up)
{
    uint64_t                       sum;
    ngx_uint_t                     i, n;
    ngx_http_abtest_experiment_t  *all;

    all = ngx_fuzz_amcf->experiments.elts;

    ngx_fuzz_check(exp >= all
                   && exp < all + ngx_fuzz_amcf->experiments.nelts);

    n = exp->groups.nelts;

    if (up->has_weights) {
        sum = 0;

        for (i = 0; i < n; i++) {
            ngx_fuzz_check(up->weights[i] > 0);
            sum += up->weights[i];
        }

        for ( /* void */ ; i < NGX_HTTP_ABTEST_GROUPS_MAX; i++) {
            ngx_fuzz_check(up->weights[i] == 0);
        }

        ngx_fuzz_check(sum == up->total);
        ngx_fuzz_check(sum <= NGX_HTTP_ABTEST_WEIGHT_TOTAL_MAX);
    }

    if (up->has_state) {
        ngx_fuzz_check(up->state == NGX_HTTP_ABTEST_STATE_ACTIVE
                       || up->state == NGX_HTTP_ABTEST_STATE_INACTIVE
                       || up->state == NGX_HTTP_ABTEST_STATE_ROLLOUT);
    }

    if (up->has_rollout) {
        ngx_fuzz_check(up->rollout == NGX_HTTP_ABTEST_NO_GROUP
                       || up->rollout < n);
    }

    ngx_fuzz_check(up->reset_stats == 0 || up->reset_stats == 1);
}


/* the tree generated again is JSON that reads back to the same text */

static void
ngx_fuzz_update_copy(ngx_pool_t *pool, yajl_val tree)
{
    u_char     err[256];
    yajl_gen   g;
    yajl_val   again;
    ngx_str_t  one, two;

    g = ngx_http_abtest_json_gen(pool);
    if (g == NULL) {
        ngx_fuzz_fail("no memory");
    }

    if (ngx_http_abtest_json_copy(g, tree) != yajl_gen_status_ok
        || ngx_http_abtest_json_buf(g, pool, &one) != NGX_OK)
    {
        ngx_fuzz_fail("a parsed tree cannot be generated again");
    }

    err[0] = '\0';
    again = ngx_http_abtest_json_parse(pool, one.data, one.len - 1,
                                       NGX_HTTP_ABTEST_UPDATE_DEPTH, err,
                                       sizeof(err));
    if (again == NULL) {
        ngx_fuzz_fail("a tree generated again is not JSON (%s): %V", err,
                      &one);
    }

    g = ngx_http_abtest_json_gen(pool);
    if (g == NULL) {
        ngx_fuzz_fail("no memory");
    }

    if (ngx_http_abtest_json_copy(g, again) != yajl_gen_status_ok
        || ngx_http_abtest_json_buf(g, pool, &two) != NGX_OK)
    {
        ngx_fuzz_fail("a tree read again cannot be generated again");
    }

    if (one.len != two.len || ngx_strncmp(one.data, two.data, one.len) != 0) {
        ngx_fuzz_fail("generated twice, a tree differs:\n%V%V", &one, &two);
    }
}
