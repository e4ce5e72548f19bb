/* Unit tests for route matching (fx_route_pick). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "../http/http.h"
#include "route.h"

#define HEAD_LISTEN "listen: [\"127.0.0.1:0\"]\n"
#define HEAD_UP     "upstreams: {a: {servers: [\"127.0.0.1:1\"]}, b: {servers: [\"127.0.0.1:2\"]}}\n"
#define HEAD        HEAD_LISTEN HEAD_UP "routes:\n"

static const struct fx_h1_limits limits = { 16384, 16384, 100 };

static struct fx_conf *load(const char *yaml)
{
    struct fx_conf *c = NULL;
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    int rc = fx_conf_load_string("route.yaml", yaml, strlen(yaml), &c, &err);
    if (rc != 0)
        print_message("config error: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

/* Parse `raw` (a complete head; must outlive the result's use) into `req`. */
static void parse(const char *raw, struct fx_h1_req *req)
{
    size_t scanned = 0;
    int rc = fx_h1_parse_req(raw, strlen(raw), req, &scanned, &limits);
    if (rc < 0)
        print_message("parse error %s for: %s\n", fx_err_name(rc), raw);
    assert_int_equal(rc, (int)strlen(raw));
}

/* Name of the route picked for `raw`, or NULL. */
static const char *pick(const struct fx_conf *c, const char *raw)
{
    struct fx_h1_req *req = malloc(sizeof(*req));
    assert_non_null(req);
    parse(raw, req);
    const struct fx_conf_route *r = fx_route_pick(c, req);
    free(req);
    if (r == NULL)
        return NULL;
    /* The result is borrowed from the snapshot. */
    assert_true(r >= c->routes && r < c->routes + c->nroutes);
    return r->name;
}

static void assert_pick(const struct fx_conf *c, const char *raw, const char *want)
{
    const char *got = pick(c, raw);
    if (want == NULL) {
        if (got != NULL)
            fail_msg("expected no route, got \"%s\" for: %s", got, raw);
        return;
    }
    if (got == NULL)
        fail_msg("expected route \"%s\", got none for: %s", want, raw);
    assert_string_equal(got, want);
}

#define GET(path, host) "GET " path " HTTP/1.1\r\nHost: " host "\r\n\r\n"

static void test_route_pick_path_prefix(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: api, match: {path_prefix: /api}, to: a}\n"
                                  "  - {name: rest, to: b}\n");
    assert_pick(c, GET("/api", "h"), "api");
    assert_pick(c, GET("/api/v1/users", "h"), "api");
    assert_pick(c, GET("/api?x=1", "h"), "api");
    assert_pick(c, GET("/ap", "h"), "rest");
    assert_pick(c, GET("/", "h"), "rest");
    assert_pick(c, GET("/API/v1", "h"), "rest"); /* paths are case-sensitive */
    assert_pick(c, GET("/v1/api", "h"), "rest");
    fx_conf_unref(c);
}

static void test_route_pick_default_prefix_matches_any_path(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: any, to: a}\n");
    assert_pick(c, GET("/", "h"), "any");
    assert_pick(c, GET("/deep/path?q", "h"), "any");
    assert_pick(c, "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", "any");
    fx_conf_unref(c);
}

static void test_route_pick_methods(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: read, match: {methods: [GET, HEAD]}, to: a}\n"
                                  "  - {name: write, match: {methods: [POST]}, to: b}\n");
    assert_pick(c, GET("/x", "h"), "read");
    assert_pick(c, "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n", "read");
    assert_pick(c, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "write");
    assert_pick(c, "PUT /x HTTP/1.1\r\nHost: h\r\n\r\n", NULL);
    /* Methods are case-sensitive tokens (RFC 9110 §9.1). */
    assert_pick(c, "get /x HTTP/1.1\r\nHost: h\r\n\r\n", NULL);
    /* A method that only starts like a listed one does not match. */
    assert_pick(c, "GETX /x HTTP/1.1\r\nHost: h\r\n\r\n", NULL);
    fx_conf_unref(c);
}

static void test_route_pick_host_ignores_case_and_port(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: ex, match: {host: Example.COM}, to: a}\n"
                                  "  - {name: rest, to: b}\n");
    assert_pick(c, GET("/", "example.com"), "ex");
    assert_pick(c, GET("/", "EXAMPLE.com"), "ex");
    assert_pick(c, GET("/", "example.com:8080"), "ex");
    assert_pick(c, GET("/", "Example.Com:80"), "ex");
    assert_pick(c, GET("/", "example.co"), "rest");
    assert_pick(c, GET("/", "example.com.evil"), "rest");
    assert_pick(c, GET("/", "www.example.com"), "rest");
    assert_pick(c, GET("/", "xexample.com:8080"), "rest");
    fx_conf_unref(c);
}

static void test_route_pick_host_ipv6(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: v6, match: {host: \"[::1]\"}, to: a}\n"
                                  "  - {name: rest, to: b}\n");
    assert_pick(c, GET("/", "[::1]:8080"), "v6");
    assert_pick(c, GET("/", "[::1]"), "v6");
    assert_pick(c, GET("/", "[::2]:8080"), "rest");
    assert_pick(c, GET("/", "[::10]"), "rest");
    assert_pick(c, GET("/", "127.0.0.1:8080"), "rest");
    fx_conf_unref(c);
}

static void test_route_pick_host_ipv4_with_port(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: v4, match: {host: 10.0.0.1}, to: a}\n");
    assert_pick(c, GET("/", "10.0.0.1:8080"), "v4");
    assert_pick(c, GET("/", "10.0.0.1"), "v4");
    assert_pick(c, GET("/", "10.0.0.12"), NULL);
    fx_conf_unref(c);
}

static void test_route_pick_absolute_form_authority_wins(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: other, match: {host: other.com}, to: b}\n"
                                  "  - {name: api, match: {host: api.example.com, path_prefix: "
                                  "/v1}, to: a}\n");
    const char *abs = "GET http://API.example.com:8080/v1/x HTTP/1.1\r\nHost: other.com\r\n\r\n";
    assert_pick(c, abs, "api");
    /* The path prefix applies to the path after the authority. */
    assert_pick(c, "GET http://api.example.com/v2 HTTP/1.1\r\nHost: api.example.com\r\n\r\n", NULL);
    /* Bare authority: the path is "/", which "/v1" does not prefix. */
    assert_pick(c, "GET http://other.com HTTP/1.1\r\nHost: api.example.com\r\n\r\n", "other");
    assert_pick(c, "GET https://[::1]:443/v1 HTTP/1.1\r\nHost: api.example.com\r\n\r\n", NULL);
    fx_conf_unref(c);
}

static void test_route_pick_http10_host(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: ex, match: {host: example.com}, to: a}\n"
                                  "  - {name: rest, to: b}\n");
    assert_pick(c, "GET / HTTP/1.0\r\nHost: example.com\r\n\r\n", "ex");
    assert_pick(c, "GET / HTTP/1.0\r\nHost: other.com\r\n\r\n", "rest");
    /* HTTP/1.0 may omit Host: only a host-less route can match. */
    assert_pick(c, "GET / HTTP/1.0\r\n\r\n", "rest");
    fx_conf_unref(c);
}

static void test_route_pick_header_exact_value(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: canary, match: {headers: {X-Env: canary}}, to: a}\n"
                                  "  - {name: rest, to: b}\n");
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nX-Env: canary\r\n\r\n", "canary");
    /* Names compare case-insensitively; surrounding OWS is not part of the value. */
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nx-env: canary\r\n\r\n", "canary");
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nX-ENV:   canary  \r\n\r\n", "canary");
    /* Values compare exactly. */
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nX-Env: Canary\r\n\r\n", "rest");
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nX-Env: canary2\r\n\r\n", "rest");
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nX-Env: canar\r\n\r\n", "rest");
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nX-Env-2: canary\r\n\r\n", "rest");
    assert_pick(c, GET("/", "h"), "rest");
    fx_conf_unref(c);
}

static void test_route_pick_headers_all_required(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - name: both\n"
                                  "    match: {headers: {X-A: \"1\", X-B: two words}}\n"
                                  "    to: a\n");
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nX-B: two words\r\nX-A: 1\r\n\r\n", "both");
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n", NULL);
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nX-B: two words\r\n\r\n", NULL);
    assert_pick(c, "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B: two  words\r\n\r\n", NULL);
    fx_conf_unref(c);
}

#define ALL_ROUTE                                                               \
    "  - name: all\n"                                                           \
    "    match: {path_prefix: /api, methods: [POST], host: shop.example.com,\n" \
    "            headers: {X-Tenant: acme}}\n"                                  \
    "    to: a\n"

static void test_route_pick_all_conditions(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD ALL_ROUTE);
    assert_pick(c,
                "POST /api/orders HTTP/1.1\r\nHost: Shop.Example.com:443\r\n"
                "x-tenant: acme\r\nContent-Length: 0\r\n\r\n",
                "all");
    /* Each condition on its own can veto the match. */
    assert_pick(c,
                "POST /web HTTP/1.1\r\nHost: shop.example.com\r\nX-Tenant: acme\r\n"
                "Content-Length: 0\r\n\r\n",
                NULL);
    assert_pick(c, "GET /api HTTP/1.1\r\nHost: shop.example.com\r\nX-Tenant: acme\r\n\r\n", NULL);
    assert_pick(c,
                "POST /api HTTP/1.1\r\nHost: blog.example.com\r\nX-Tenant: acme\r\n"
                "Content-Length: 0\r\n\r\n",
                NULL);
    assert_pick(c,
                "POST /api HTTP/1.1\r\nHost: shop.example.com\r\nX-Tenant: other\r\n"
                "Content-Length: 0\r\n\r\n",
                NULL);
    fx_conf_unref(c);
}

static void test_route_pick_first_match_wins(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: first, match: {path_prefix: /}, to: a}\n"
                                  "  - {name: second, match: {path_prefix: /api}, to: b}\n");
    assert_pick(c, GET("/api/x", "h"), "first");
    fx_conf_unref(c);

    c = load(HEAD "  - {name: specific, match: {path_prefix: /api}, to: b}\n"
                  "  - {name: general, match: {path_prefix: /}, to: a}\n");
    assert_pick(c, GET("/api/x", "h"), "specific");
    assert_pick(c, GET("/other", "h"), "general");

    struct fx_h1_req *req = malloc(sizeof(*req));
    assert_non_null(req);
    parse(GET("/api/x", "h"), req);
    const struct fx_conf_route *r = fx_route_pick(c, req);
    assert_ptr_equal(r, &c->routes[0]);
    assert_non_null(r->to);
    assert_string_equal(r->to->name, "b");
    parse(GET("/x", "h"), req);
    r = fx_route_pick(c, req);
    assert_ptr_equal(r, &c->routes[1]);
    assert_string_equal(r->to->name, "a");
    free(req);
    fx_conf_unref(c);
}

static void test_route_pick_no_match_is_null(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: api, match: {path_prefix: /api}, to: a}\n"
                                  "  - {name: h, match: {host: only.example}, to: b}\n");
    assert_pick(c, GET("/web", "other.example"), NULL);
    assert_pick(c, GET("/web", "only.example"), "h");
    fx_conf_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_pick_path_prefix),
        cmocka_unit_test(test_route_pick_default_prefix_matches_any_path),
        cmocka_unit_test(test_route_pick_methods),
        cmocka_unit_test(test_route_pick_host_ignores_case_and_port),
        cmocka_unit_test(test_route_pick_host_ipv6),
        cmocka_unit_test(test_route_pick_host_ipv4_with_port),
        cmocka_unit_test(test_route_pick_absolute_form_authority_wins),
        cmocka_unit_test(test_route_pick_http10_host),
        cmocka_unit_test(test_route_pick_header_exact_value),
        cmocka_unit_test(test_route_pick_headers_all_required),
        cmocka_unit_test(test_route_pick_all_conditions),
        cmocka_unit_test(test_route_pick_first_match_wins),
        cmocka_unit_test(test_route_pick_no_match_is_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
