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

/* fx_route_pick with a fresh scratch; *error (if not NULL) gets s.error. */
static const struct fx_conf_route *pick_req(const struct fx_conf *c, const struct fx_h1_req *req,
                                            int *error)
{
    struct fx_route_scratch s;
    assert_int_equal(fx_route_scratch_init(&s), 0);
    const struct fx_conf_route *r = fx_route_pick(c, req, &s);
    if (error != NULL)
        *error = s.error;
    fx_route_scratch_fini(&s);
    fx_route_scratch_fini(&s); /* a second fini is a no-op */
    return r;
}

/* Name of the route picked for `raw`, or NULL. */
static const char *pick(const struct fx_conf *c, const char *raw)
{
    struct fx_h1_req *req = malloc(sizeof(*req));
    assert_non_null(req);
    parse(raw, req);
    const struct fx_conf_route *r = pick_req(c, req, NULL);
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
    const struct fx_conf_route *r = pick_req(c, req, NULL);
    assert_ptr_equal(r, &c->routes[0]);
    assert_non_null(r->to);
    assert_string_equal(r->to->name, "b");
    parse(GET("/x", "h"), req);
    r = pick_req(c, req, NULL);
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

/* ---- path_regex ---------------------------------------------------------- */

static void test_route_pick_path_regex(void **state)
{
    (void)state;
    struct fx_conf *c =
        load(HEAD "  - {name: orders, match: {path_regex: \"^/api/v[0-9]+/orders\"}, "
                  "to: a}\n"
                  "  - {name: any, match: {path_regex: \"\\\\.php$\"}, to: b}\n");
    assert_pick(c, GET("/api/v1/orders", "x"), "orders");
    assert_pick(c, GET("/api/v12/orders/7?x=1", "x"), "orders");
    assert_pick(c, GET("/api/vX/orders", "x"), NULL);
    assert_pick(c, GET("/v1/api/v1/orders", "x"), NULL); /* anchored as written */
    /* Unanchored: anywhere in the path, but never in the query. */
    assert_pick(c, GET("/old/index.php", "x"), "any");
    assert_pick(c, GET("/old/index.php?a=1", "x"), "any");
    assert_pick(c, GET("/search?q=index.php", "x"), NULL);
    assert_pick(c, GET("/index.phpx", "x"), NULL);
    fx_conf_unref(c);
}

static void test_route_pick_path_regex_match_limit_stops_walk(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: evil, match: {path_regex: \"^/(a+)+$\"}, to: a}\n"
                                  "  - {name: rest, to: b}\n");
    char raw[512];
    char path[201];
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 2] = 'b';
    path[sizeof(path) - 1] = '\0';
    (void)snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    struct fx_h1_req *req = malloc(sizeof(*req));
    assert_non_null(req);
    parse(raw, req);
    int error = 0;
    /* The limit is reached: no route, not the next one, and the reason is kept. */
    assert_null(pick_req(c, req, &error));
    assert_true(error < 0);
    free(req);
    assert_pick(c, GET("/aaaa", "x"), "evil");
    assert_pick(c, GET("/aab", "x"), "rest"); /* short subjects still decide */
    fx_conf_unref(c);
}

/* ---- host wildcards ------------------------------------------------------- */

static void test_route_host_match_table(void **state)
{
    (void)state;
    static const struct {
        const char *pattern; /* as written in match.host */
        const char *host;    /* request host, port already removed */
        bool want;
    } cases[] = {
        { "*.example.com", "a.example.com", true },
        { "*.example.com", "A.B.Example.COM", true },
        { "*.example.com", "example.com", false },
        { "*.example.com", ".example.com", false },
        { "*.example.com", "aexample.com", false },
        { "*.example.com", "a.example.com.evil", false },
        { ".example.com", "example.com", true },
        { ".example.com", "EXAMPLE.com", true },
        { ".example.com", "a.b.example.com", true },
        { ".example.com", "badexample.com", false },
        { "www.example.*", "www.example.com", true },
        { "www.example.*", "www.example.co.uk", true },
        { "www.example.*", "WWW.EXAMPLE.ORG", true },
        { "www.example.*", "www.example", false },
        { "www.example.*", "www.example.", false },
        { "www.example.*", "www.examples.com", false },
        { "api.example.com", "API.example.com", true },
        { "api.example.com", "x.api.example.com", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[512];
        (void)snprintf(yaml, sizeof(yaml), HEAD "  - {name: r, match: {host: \"%s\"}, to: a}\n",
                       cases[i].pattern);
        struct fx_conf *c = load(yaml);
        const struct fx_conf_route *r = &c->routes[0];
        bool got = fx_route_host_match(
            r->host_kind, (struct fx_str){ r->host_pat, r->host_pat_len }, fx_str_c(cases[i].host));
        if (got != cases[i].want)
            fail_msg("host %s against %s: got %d", cases[i].host, cases[i].pattern, got);
        fx_conf_unref(c);
    }
}

static void test_route_pick_host_wildcard_ignores_port(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: sub, match: {host: \"*.shop.test\"}, to: a}\n"
                                  "  - {name: tail, match: {host: \"www.shop.*\"}, to: b}\n");
    assert_pick(c, GET("/", "eu.shop.test:8080"), "sub");
    assert_pick(c, GET("/", "www.shop.example:443"), "tail");
    assert_pick(c, GET("/", "shop.test:80"), NULL);
    assert_pick(c, "GET http://a.shop.test:81/x HTTP/1.1\r\nHost: other\r\n\r\n", "sub");
    fx_conf_unref(c);
}

/* ---- strip_prefix ---------------------------------------------------------- */

static void assert_strip(const struct fx_conf_route *r, const char *path, const char *want)
{
    struct fx_str got = fx_route_strip_prefix(r, fx_str_c(path));
    if (!fx_str_eq(got, fx_str_c(want)))
        fail_msg("strip %s from %s: got \"%.*s\", want \"%s\"", r->strip_prefix, path, (int)got.len,
                 got.ptr, want);
}

static void test_route_strip_prefix_boundaries(void **state)
{
    (void)state;
    struct fx_conf *c = load(HEAD "  - {name: r, strip_prefix: /api, to: a}\n"
                                  "  - {name: deep, strip_prefix: /a/b, to: a}\n"
                                  "  - {name: none, to: a}\n");
    const struct fx_conf_route *r = &c->routes[0];
    assert_strip(r, "/api/orders/1?x=1", "/orders/1?x=1");
    assert_strip(r, "/api/", "/");
    assert_strip(r, "/api", "");         /* the caller writes "/" */
    assert_strip(r, "/api?x=1", "?x=1"); /* the caller writes "/" before it */
    assert_strip(r, "/apiary", "/apiary");
    assert_strip(r, "/API/x", "/API/x"); /* paths are case-sensitive */
    assert_strip(r, "/web/api/x", "/web/api/x");
    assert_strip(r, "/ap", "/ap");
    assert_strip(&c->routes[1], "/a/b/c", "/c");
    assert_strip(&c->routes[1], "/a/bc", "/a/bc");
    assert_strip(&c->routes[2], "/api/x", "/api/x"); /* no strip_prefix */
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
        cmocka_unit_test(test_route_pick_path_regex),
        cmocka_unit_test(test_route_pick_path_regex_match_limit_stops_walk),
        cmocka_unit_test(test_route_host_match_table),
        cmocka_unit_test(test_route_pick_host_wildcard_ignores_port),
        cmocka_unit_test(test_route_strip_prefix_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
