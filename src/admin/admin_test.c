/* Unit tests of the admin listener's request checks: Host allow-list, token
 * roles and request parsing. Includes admin.c to reach its static helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include "admin.c"

static bool allowed(const struct fx_conf *c, const char *host)
{
    return host_allowed(c, (struct fx_str){ host, strlen(host) });
}

static void test_host_allowed_loopback_and_literals(void **state)
{
    (void)state;
    struct fx_conf c = { 0 };
    assert_true(allowed(&c, "localhost"));
    assert_true(allowed(&c, "LocalHost:9901"));
    assert_true(allowed(&c, "127.0.0.1"));
    assert_true(allowed(&c, "127.0.0.1:9901"));
    assert_true(allowed(&c, "[::1]"));
    assert_true(allowed(&c, "[::1]:9901"));
    assert_true(allowed(&c, "10.1.2.3:9901"));
    assert_false(allowed(&c, "evil.example"));
    assert_false(allowed(&c, "evil.example:9901"));
    assert_false(allowed(&c, "localhost.evil.example"));
    assert_false(allowed(&c, "127.0.0.1.nip.io"));
    assert_false(allowed(&c, ""));
    assert_false(allowed(&c, ":9901"));
    assert_false(allowed(&c, "localhost:"));
    assert_false(allowed(&c, "localhost:99999x"));
    assert_false(allowed(&c, "[::1"));
    assert_false(allowed(&c, "[evil]"));
}

static void test_host_allowed_configured_names(void **state)
{
    (void)state;
    char *hosts[] = { "ficus.internal", "ops.example:9901" };
    struct fx_conf c = { 0 };
    c.admin_allowed_hosts = hosts;
    c.nadmin_allowed_hosts = 2;
    assert_true(allowed(&c, "ficus.internal"));
    assert_true(allowed(&c, "FICUS.internal:1234"));
    assert_true(allowed(&c, "ops.example:9901"));
    assert_false(allowed(&c, "ops.example"));
    assert_false(allowed(&c, "ops.example:9902"));
    assert_false(allowed(&c, "x.ficus.internal"));
}

static void test_role_grants_order(void **state)
{
    (void)state;
    assert_true(role_grants(FX_CONF_ROLE_READ, FX_CONF_ROLE_READ));
    assert_false(role_grants(FX_CONF_ROLE_READ, FX_CONF_ROLE_OPERATE));
    assert_true(role_grants(FX_CONF_ROLE_OPERATE, FX_CONF_ROLE_READ));
    assert_true(role_grants(FX_CONF_ROLE_OPERATE, FX_CONF_ROLE_OPERATE));
    assert_false(role_grants(FX_CONF_ROLE_OPERATE, FX_CONF_ROLE_ADMIN));
    assert_true(role_grants(FX_CONF_ROLE_ADMIN, FX_CONF_ROLE_OPERATE));
    assert_true(role_grants(FX_CONF_ROLE_READ, 0));
}

static int parse(const char *text, struct req *rq)
{
    memset(rq, 0, sizeof(*rq));
    return parse_request(rq, text, strlen(text));
}

static void test_parse_request_host(void **state)
{
    (void)state;
    struct req rq;
    assert_int_equal(parse("GET /healthz HTTP/1.1\r\nHost:  localhost:9901 \r\n\r\n", &rq), 0);
    assert_true(rq.has_host);
    assert_true(fx_str_eq(rq.host, FX_STR("localhost:9901")));
    assert_false(rq.http10);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", &rq), 400);
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &rq), 0);
    assert_true(rq.http10);
    assert_false(rq.has_host);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_allowed_loopback_and_literals),
        cmocka_unit_test(test_host_allowed_configured_names),
        cmocka_unit_test(test_role_grants_order),
        cmocka_unit_test(test_parse_request_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
