/* test_providers_core.c - provider construction, endpoints, argument checks
 * and the Huawei key stop, without any network: refused calls never reach
 * the wire, and their callbacks run later on the loop, exactly once. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "config/secret.h"
#include "model/kind.h"
#include "providers/parse.h"
#include "providers/provider.h"

static uv_loop_t loop;
static struct nh_http *http;

static void mkcfg(struct nh_cfg_provider *c, enum nh_provider_kind kind, const char *region,
                  const char *endpoint)
{
    memset(c, 0, sizeof(*c));
    c->name = "p";
    c->kind = kind;
    c->region = (char *)region;
    c->endpoint = (char *)endpoint;
    c->project_id = kind == NH_PROVIDER_ACK ? NULL : "0123456789abcdef0123456789abcdef";
    c->access_key_id = nh_secret_new("testid", 6, "literal ak");
    c->access_key_secret = nh_secret_new("testsecret", 10, "literal sk");
}

static void cfg_clear(struct nh_cfg_provider *c)
{
    nh_secret_free(c->access_key_id);
    nh_secret_free(c->access_key_secret);
    nh_secret_free(c->token);
}

static void expect_endpoint(enum nh_provider_kind k, const char *region, const char *ep,
                            const char *want)
{
    struct nh_cfg_provider c;
    mkcfg(&c, k, region, ep);
    char *got = nh_provider_endpoint(&c);
    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(got);
    cfg_clear(&c);
}

static void test_endpoints_from_region_and_override(void **state)
{
    (void)state;
    expect_endpoint(NH_PROVIDER_ACK, "cn-hangzhou", NULL, "https://cs.cn-hangzhou.aliyuncs.com");
    expect_endpoint(NH_PROVIDER_ACK, "cn-wuhan", NULL, "https://cs.aliyuncs.com");
    expect_endpoint(NH_PROVIDER_CCE, "cn-north-4", NULL,
                    "https://cce.cn-north-4.myhuaweicloud.com");
    expect_endpoint(NH_PROVIDER_CCE, "eu-west-101", NULL,
                    "https://cce.eu-west-101.myhuaweicloud.eu");
    expect_endpoint(NH_PROVIDER_MODELARTS, "cn-north-7", NULL,
                    "https://modelarts.cn-north-7.myhuaweicloud.com");
    expect_endpoint(NH_PROVIDER_MODELARTS, "ap-southeast-1", NULL,
                    "https://modelarts.ap-southeast-1.myhuaweicloud.cn");
    expect_endpoint(NH_PROVIDER_CCE, "cn-north-4", "http://127.0.0.1:8080/",
                    "http://127.0.0.1:8080");
    expect_endpoint(NH_PROVIDER_ACK, "cn/evil", NULL, NULL);
    expect_endpoint(NH_PROVIDER_ACK, NULL, NULL, NULL);
}

static void test_new_refuses_bad_config_with_a_fix(void **state)
{
    struct nh_provider_env env = {.loop = &loop, .http = http};
    struct nh_provider *p = NULL;
    struct nh_cfg_provider c;
    char err[256];
    (void)state;

    mkcfg(&c, NH_PROVIDER_CCE, "cn-north-4", NULL);
    c.project_id = NULL;
    assert_int_equal(nh_provider_new(&c, &env, &p, err, sizeof(err)), -EINVAL);
    assert_null(p);
    assert_non_null(strstr(err, "project_id"));
    cfg_clear(&c);

    mkcfg(&c, NH_PROVIDER_ACK, "cn-hangzhou", "http://127.0.0.1:1/x");
    assert_int_equal(nh_provider_new(&c, &env, &p, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "without a path"));
    cfg_clear(&c);

    mkcfg(&c, NH_PROVIDER_ACK, "cn-hangzhou", NULL);
    nh_secret_free(c.access_key_secret);
    c.access_key_secret = NULL;
    assert_int_equal(nh_provider_new(&c, &env, &p, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "access_key_secret"));
    cfg_clear(&c);

    /* the secret never appears in messages */
    mkcfg(&c, NH_PROVIDER_CCE, "cn/bad", NULL);
    assert_int_equal(nh_provider_new(&c, &env, &p, err, sizeof(err)), -EINVAL);
    assert_null(strstr(err, "testsecret"));
    cfg_clear(&c);
}

/* The kind table (model/kind.c) is consistent: names unique and found by
 * name, limits within NH_KIND_MAX_NODES, capabilities that imply others. */
static void test_kind_table_is_consistent(void **state)
{
    (void)state;
    for (size_t i = 0; i < NH_PROVIDER_KINDS; i++) {
        const struct nh_kind *k = nh_kind_at(i);
        assert_non_null(k);
        assert_int_equal(k->kind, (enum nh_provider_kind)i);
        assert_ptr_equal(nh_kind_get(k->kind), k);
        assert_ptr_equal(nh_kind_by_name(k->name), k);
        assert_string_equal(nh_provider_kind_name(k->kind), k->name);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(nh_kind_at(j)->name, k->name);
        assert_true(k->max_pool > 0 && k->max_pool <= NH_KIND_MAX_NODES);
        assert_true(k->max_workers >= 0 && k->max_workers <= NH_KIND_MAX_NODES);
        /* workers outside pools have a limit and a name for it, or neither */
        assert_int_equal(k->max_workers > 0, nh_kind_has(k->kind, NH_CAP_LOOSE_WORKERS));
        assert_int_equal(k->workers_what != NULL, k->max_workers > 0);
        if (nh_kind_has(k->kind, NH_CAP_GROWS_LOOSE_WORKERS))
            assert_true(nh_kind_has(k->kind, NH_CAP_LOOSE_WORKERS));
        assert_non_null(k->pool_what);
        assert_non_null(k->credentials);
    }
    assert_null(nh_kind_at(NH_PROVIDER_KINDS));
    assert_null(nh_kind_get((enum nh_provider_kind)NH_PROVIDER_KINDS));
    assert_null(nh_kind_by_name("aws-eks"));
    assert_null(nh_kind_by_name(NULL));
    assert_string_equal(nh_provider_kind_name((enum nh_provider_kind)NH_PROVIDER_KINDS), "?");
    assert_false(nh_kind_has((enum nh_provider_kind)NH_PROVIDER_KINDS, 0));
}

static void test_kinds_and_unsupported_operations(void **state)
{
    struct nh_provider_env env = {.loop = &loop, .http = http};
    struct nh_provider *p[3];
    struct nh_cfg_provider c[3];
    char err[256];
    (void)state;

    mkcfg(&c[0], NH_PROVIDER_ACK, "cn-hangzhou", NULL);
    mkcfg(&c[1], NH_PROVIDER_CCE, "cn-north-4", NULL);
    mkcfg(&c[2], NH_PROVIDER_MODELARTS, "cn-north-7", NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(nh_provider_new(&c[i], &env, &p[i], err, sizeof(err)), 0);
    assert_string_equal(p[0]->ops->kind, "aliyun-ack");
    assert_string_equal(p[1]->ops->kind, "huawei-cce");
    assert_string_equal(p[2]->ops->kind, "huawei-modelarts");
    assert_string_equal(p[0]->endpoint, "https://cs.cn-hangzhou.aliyuncs.com");
    assert_non_null(p[0]->ops->scale_cluster);
    assert_null(p[0]->ops->delete_pool);
    assert_null(p[1]->ops->scale_cluster);
    assert_null(p[1]->ops->delete_pool);
    assert_null(p[2]->ops->scale_cluster);
    assert_non_null(p[2]->ops->remove_nodes); /* BatchDeletePoolNodes (issue #19) */
    assert_non_null(p[2]->ops->delete_pool);
    assert_non_null(p[0]->ops->cluster_state);
    assert_non_null(p[1]->ops->cluster_state);
    assert_null(p[2]->ops->cluster_state);
    for (int i = 0; i < 3; i++) {
        nh_provider_free(p[i]);
        cfg_clear(&c[i]);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
}

struct got {
    int calls;
    struct nh_prov_error err;
    bool had_err;
};

static void on_cancelled(void *ud, const struct nh_prov_error *err, struct nh_observed *obs)
{
    struct got *g = ud;
    g->calls++;
    g->had_err = err != NULL;
    if (err != NULL)
        g->err = *err;
    if (obs != NULL)
        nh_observed_clear(obs);
}

/* Observing a cluster named by id only or by resource pool only: 0 when
 * the kind addresses clusters that way (the call is then cancelled by
 * nh_provider_free, once), -EINVAL otherwise. */
static int observe_by(struct nh_provider *p, bool by_pool, struct got *g)
{
    struct nh_cfg_cluster cl = {
        .name = "x", .id = by_pool ? NULL : "c1", .pool = by_pool ? "pool-abc" : NULL};
    return p->ops->observe(p, &cl, on_cancelled, g);
}

/* Each provider's vtable matches its row in the kind table: the name, an
 * operation exactly where the row has the capability, and what the row
 * says a provider needs (project id, a token, how clusters are named). */
static void test_vtables_match_the_kind_table(void **state)
{
    struct nh_provider_env env = {.loop = &loop, .http = http};
    char err[256];
    (void)state;

    for (size_t i = 0; i < NH_PROVIDER_KINDS; i++) {
        const struct nh_kind *k = nh_kind_at(i);
        bool pool_scoped = nh_kind_has(k->kind, NH_CAP_POOL_SCOPED);
        struct nh_provider *p;
        struct nh_cfg_provider c;
        struct got g = {0};

        mkcfg(&c, k->kind, "cn-north-4", "http://127.0.0.1:9");
        assert_int_equal(nh_provider_new(&c, &env, &p, err, sizeof(err)), 0);
        assert_int_equal(p->kind, k->kind);
        assert_string_equal(p->ops->kind, k->name);
        assert_non_null(p->ops->observe);
        assert_non_null(p->ops->scale_pool);
        assert_non_null(p->ops->poll);
        assert_int_equal(p->ops->scale_cluster != NULL,
                         nh_kind_has(k->kind, NH_CAP_GROWS_LOOSE_WORKERS));
        assert_int_equal(p->ops->remove_nodes != NULL, nh_kind_has(k->kind, NH_CAP_NAMES_VICTIMS));
        assert_int_equal(p->ops->delete_pool != NULL, nh_kind_has(k->kind, NH_CAP_DELETES_POOLS));
        assert_int_equal(p->ops->cluster_state != NULL, nh_kind_has(k->kind, NH_CAP_CLUSTER_STATE));
        assert_int_equal(observe_by(p, !pool_scoped, &g), -EINVAL);
        assert_int_equal(observe_by(p, pool_scoped, &g), 0);
        nh_provider_free(p);
        assert_int_equal(g.calls, 1);
        assert_int_equal(g.err.cls, NH_ERR_CANCELLED);
        uv_run(&loop, UV_RUN_NOWAIT);

        /* a project id where the row says the kind is project-scoped */
        c.project_id = NULL;
        assert_int_equal(nh_provider_new(&c, &env, &p, err, sizeof(err)),
                         nh_kind_has(k->kind, NH_CAP_PROJECT_SCOPED) ? -EINVAL : 0);
        nh_provider_free(nh_kind_has(k->kind, NH_CAP_PROJECT_SCOPED) ? NULL : p);
        cfg_clear(&c);

        /* a token alone is enough where the row says the kind takes one */
        mkcfg(&c, k->kind, "cn-north-4", "http://127.0.0.1:9");
        nh_secret_free(c.access_key_id);
        nh_secret_free(c.access_key_secret);
        c.access_key_id = c.access_key_secret = NULL;
        c.token = nh_secret_new("tok", 3, "literal token");
        p = NULL;
        assert_int_equal(nh_provider_new(&c, &env, &p, err, sizeof(err)),
                         nh_kind_has(k->kind, NH_CAP_TOKEN_AUTH) ? 0 : -EINVAL);
        if (p == NULL)
            assert_non_null(strstr(err, k->credentials));
        nh_provider_free(p);
        cfg_clear(&c);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
}

static void on_observe(void *ud, const struct nh_prov_error *err, struct nh_observed *obs)
{
    struct got *g = ud;
    g->calls++;
    g->had_err = err != NULL;
    if (err != NULL)
        g->err = *err;
    if (obs != NULL)
        nh_observed_clear(obs);
}

static void on_mutate(void *ud, const struct nh_prov_error *err, enum nh_job_kind k, const char *id)
{
    struct got *g = ud;
    (void)k;
    (void)id;
    g->calls++;
    g->had_err = err != NULL;
    if (err != NULL)
        g->err = *err;
}

static void test_unsafe_ids_are_refused_before_anything(void **state)
{
    struct nh_provider_env env = {.loop = &loop, .http = http};
    struct nh_provider *p;
    struct nh_cfg_provider c;
    struct got g = {0};
    char err[256];
    (void)state;

    mkcfg(&c, NH_PROVIDER_ACK, "cn-hangzhou", "http://127.0.0.1:9");
    assert_int_equal(nh_provider_new(&c, &env, &p, err, sizeof(err)), 0);
    struct nh_cfg_cluster bad = {.name = "x", .id = "../etc"};
    assert_int_equal(p->ops->observe(p, &bad, on_observe, &g), -EINVAL);
    struct nh_cfg_cluster ok = {.name = "x", .id = "c1"};
    struct nh_action a = {.kind = NH_ACT_SCALE_POOL, .pool_id = "np/1", .target = 2};
    assert_int_equal(p->ops->scale_pool(p, &ok, &a, on_mutate, &g), -EINVAL);
    struct nh_action r = {.kind = NH_ACT_REMOVE_NODES};
    assert_int_equal(p->ops->remove_nodes(p, &ok, &r, on_mutate, &g), -EINVAL);
    /* ScaleCluster without scale_out parameters cannot be built */
    struct nh_action s = {.kind = NH_ACT_SCALE_CLUSTER, .target = 3};
    assert_int_equal(p->ops->scale_cluster(p, &ok, &s, on_mutate, &g), -EINVAL);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(g.calls, 0); /* a refused call never calls back */
    nh_provider_free(p);
    cfg_clear(&c);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* After a signature failure nothing is sent: the call still answers once,
 * later on the loop, with NH_ERR_AUTH (port 9 would refuse a connection). */
static void test_auth_stopped_fails_at_once_without_sending(void **state)
{
    struct nh_provider_env env = {.loop = &loop, .http = http};
    struct nh_provider *p;
    struct nh_cfg_provider c;
    struct got g = {0}, g2 = {0};
    char err[256];
    (void)state;

    mkcfg(&c, NH_PROVIDER_CCE, "cn-north-4", "http://127.0.0.1:9");
    assert_int_equal(nh_provider_new(&c, &env, &p, err, sizeof(err)), 0);
    p->auth_stopped = true;
    struct nh_cfg_cluster cl = {.name = "x", .id = "c1"};
    assert_int_equal(p->ops->observe(p, &cl, on_observe, &g), 0);
    assert_int_equal(g.calls, 0);
    struct nh_action a = {.kind = NH_ACT_SCALE_POOL, .pool_id = "np1", .target = 2};
    assert_int_equal(p->ops->scale_pool(p, &cl, &a, on_mutate, &g2), 0);
    assert_int_equal(g2.calls, 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(g.calls, 1);
    assert_true(g.had_err);
    assert_int_equal(g.err.cls, NH_ERR_AUTH);
    assert_int_equal(g.err.http_status, 0);
    assert_non_null(strstr(g.err.message, "fix credentials and reload"));
    assert_int_equal(g2.calls, 1);
    assert_int_equal(g2.err.cls, NH_ERR_AUTH);
    assert_string_equal(g2.err.op, "ScaleNodePool");
    nh_provider_free(p);
    cfg_clear(&c);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* Freeing the provider before a deferred answer: the callback still runs
 * exactly once, with NH_ERR_CANCELLED. */
static void test_free_before_deferred_delivery(void **state)
{
    struct nh_provider_env env = {.loop = &loop, .http = http};
    struct nh_provider *p;
    struct nh_cfg_provider c;
    struct got g = {0};
    char err[256];
    (void)state;

    mkcfg(&c, NH_PROVIDER_MODELARTS, "cn-north-7", "http://127.0.0.1:9");
    assert_int_equal(nh_provider_new(&c, &env, &p, err, sizeof(err)), 0);
    p->auth_stopped = true;
    struct nh_cfg_cluster cl = {.name = "x", .pool = "pool-abc"};
    assert_int_equal(p->ops->observe(p, &cl, on_observe, &g), 0);
    nh_provider_free(p);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.err.cls, NH_ERR_CANCELLED);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(g.calls, 1);
    cfg_clear(&c);
}

static int setup(void **state)
{
    (void)state;
    uv_loop_init(&loop);
    return nh_http_new(&loop, NULL, &http) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    nh_http_close(http);
    while (uv_run(&loop, UV_RUN_DEFAULT) != 0)
        ;
    return uv_loop_close(&loop) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints_from_region_and_override),
        cmocka_unit_test(test_new_refuses_bad_config_with_a_fix),
        cmocka_unit_test(test_kinds_and_unsupported_operations),
        cmocka_unit_test(test_kind_table_is_consistent),
        cmocka_unit_test(test_vtables_match_the_kind_table),
        cmocka_unit_test(test_unsafe_ids_are_refused_before_anything),
        cmocka_unit_test(test_auth_stopped_fails_at_once_without_sending),
        cmocka_unit_test(test_free_before_deferred_delivery),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
