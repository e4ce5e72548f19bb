/* Unit tests for configuration loading and validation. */
#include <arpa/inet.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>
#include <jansson.h>

#include <openssl/evp.h>

#include "../core/err.h"
#include "conf.h"
#include "schema.h"

/* A minimal valid document: five lines, so appended keys start at line 6. */
#define BASE_LISTEN "listen: \"127.0.0.1:0\"\n"
#define BASE_UP     "upstreams:\n  a: {servers: [\"127.0.0.1:3000\"]}\n"
#define BASE_RT     "routes:\n  - {name: r, to: a}\n"
#define BASE        BASE_LISTEN BASE_UP BASE_RT
/* Route tests: the route mapping starts at line 4, its keys at column 5. */
#define ROUTE_HEAD BASE_LISTEN "upstreams: {a: {servers: [\"127.0.0.1:3000\"]}}\nroutes:\n"

static struct fx_conf *load_ok(const char *yaml)
{
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    int rc = fx_conf_load_string("t.yaml", yaml, strlen(yaml), &c, &err);
    if (rc != 0)
        print_message("unexpected error: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

static void assert_conf_error(const char *yaml, const char *want)
{
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    int rc = fx_conf_load_string("t.yaml", yaml, strlen(yaml), &c, &err);
    assert_string_equal(err.msg, want);
    assert_int_equal(rc, FX_ECONF);
    assert_int_equal(err.code, FX_ECONF);
    assert_null(c);
}

/* Same, comparing only the first strlen(want) bytes of the message. */
static void assert_conf_error_prefix(const char *yaml, const char *want)
{
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    int rc = fx_conf_load_string("t.yaml", yaml, strlen(yaml), &c, &err);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        print_message("got:  %s\nwant: %s...\n", err.msg, want);
    assert_int_equal(strncmp(err.msg, want, strlen(want)), 0);
    assert_int_equal(rc, FX_ECONF);
    assert_null(c);
}

/* ---- valid documents ---------------------------------------------------- */

static const char full_config[] =
    "listen: [\"127.0.0.1:8080\", \"[::1]:8081\"]\n"
    "admin: {listen: \"127.0.0.1:9901\"}\n"
    "workers: 4\n"
    "log: {access: /var/log/ficus/access.log, format: json}\n"
    "limits:\n"
    "  header_bytes: 32KiB\n"
    "  max_headers: 64\n"
    "  client_header_timeout: 5s\n"
    "  client_body_timeout: 250ms\n"
    "  send_timeout: 2m\n"
    "  idle_timeout: 1h\n"
    "  drain_timeout: 0\n"
    "  max_connections: 500\n"
    "upstreams:\n"
    "  legacy: {servers: [\"127.0.0.1:3000\"], connect_timeout: 1s, read_timeout: 20s, "
    "idle_timeout: 4s}\n"
    "  orders:\n"
    "    servers: [\"127.0.0.1:4000\", \"localhost:4001\"]\n"
    "    send_timeout: 3s\n"
    "    max_idle: 0\n"
    "routes:\n"
    "  - name: orders\n"
    "    match: {path_prefix: /api/orders, methods: [GET, POST], host: shop.example.com,\n"
    "            headers: {X-Beta: \"1\", X-Tenant: acme}}\n"
    "    to: orders\n"
    "  - name: default\n"
    "    to: legacy\n";

static void check_full_upstreams(const struct fx_conf *c)
{
    assert_int_equal(c->nupstreams, 2);
    const struct fx_conf_upstream *legacy = &c->upstreams[0];
    assert_string_equal(legacy->name, "legacy");
    assert_int_equal(legacy->line, 15);
    assert_int_equal(legacy->nservers, 1);
    assert_string_equal(legacy->servers[0].addr.text, "127.0.0.1:3000");
    assert_int_equal(legacy->servers[0].pool_id, 0);
    assert_int_equal(legacy->connect_timeout_ms, 1000);
    assert_int_equal(legacy->read_timeout_ms, 20000);
    assert_int_equal(legacy->send_timeout_ms, 30000);
    assert_int_equal(legacy->max_idle, 512);
    assert_int_equal(legacy->idle_timeout_ms, 4000);
    const struct fx_conf_upstream *orders = &c->upstreams[1];
    assert_string_equal(orders->name, "orders");
    assert_int_equal(orders->line, 16);
    assert_int_equal(orders->nservers, 2);
    assert_string_equal(orders->servers[1].addr.text, "127.0.0.1:4001");
    assert_int_equal(orders->connect_timeout_ms, 2000);
    assert_int_equal(orders->send_timeout_ms, 3000);
    assert_int_equal(orders->max_idle, 0);
    assert_int_equal(orders->idle_timeout_ms, 60000);
}

static void check_full_routes(const struct fx_conf *c)
{
    assert_int_equal(c->nroutes, 2);
    const struct fx_conf_route *r = &c->routes[0];
    assert_string_equal(r->name, "orders");
    assert_int_equal(r->line, 21);
    assert_string_equal(r->path_prefix, "/api/orders");
    assert_int_equal(r->path_prefix_len, strlen("/api/orders"));
    assert_int_equal(r->nmethods, 2);
    assert_string_equal(r->methods[0], "GET");
    assert_string_equal(r->methods[1], "POST");
    assert_string_equal(r->host, "shop.example.com");
    assert_int_equal(r->nheaders, 2);
    assert_string_equal(r->headers[0].name, "X-Beta");
    assert_string_equal(r->headers[0].value, "1");
    assert_string_equal(r->headers[1].name, "X-Tenant");
    assert_string_equal(r->headers[1].value, "acme");
    assert_string_equal(r->to_name, "orders");
    assert_ptr_equal(r->to, &c->upstreams[1]);
    const struct fx_conf_route *d = &c->routes[1];
    assert_string_equal(d->name, "default");
    assert_int_equal(d->line, 25);
    assert_string_equal(d->path_prefix, "/");
    assert_int_equal(d->path_prefix_len, 1);
    assert_int_equal(d->nmethods, 0);
    assert_null(d->host);
    assert_int_equal(d->nheaders, 0);
    assert_ptr_equal(d->to, &c->upstreams[0]);
}

static void test_conf_load_string_full_config(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(full_config);
    assert_string_equal(c->path, "t.yaml");
    assert_int_equal(c->nlisten, 2);
    assert_string_equal(c->listen[0].text, "127.0.0.1:8080");
    assert_string_equal(c->listen[1].text, "[::1]:8081");
    assert_true(c->admin_enabled);
    assert_string_equal(c->admin_listen.text, "127.0.0.1:9901");
    assert_int_equal(c->workers, 4);
    assert_int_equal(c->access_mode, FX_CONF_LOG_FILE);
    assert_string_equal(c->access_path, "/var/log/ficus/access.log");
    assert_int_equal(c->limits.header_bytes, 32768);
    assert_int_equal(c->limits.max_headers, 64);
    assert_int_equal(c->limits.client_header_timeout_ms, 5000);
    assert_int_equal(c->limits.client_body_timeout_ms, 250);
    assert_int_equal(c->limits.send_timeout_ms, 120000);
    assert_int_equal(c->limits.idle_timeout_ms, 3600000);
    assert_int_equal(c->limits.drain_timeout_ms, 0);
    assert_int_equal(c->limits.max_connections, 500);
    check_full_upstreams(c);
    check_full_routes(c);
    assert_int_equal(atomic_load(&c->refcnt), 1);
    fx_conf_unref(c);
}

static void test_conf_load_string_defaults(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(BASE);
    assert_int_equal(c->nlisten, 1);
    assert_string_equal(c->listen[0].text, "127.0.0.1:0");
    assert_false(c->admin_enabled);
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->access_mode, FX_CONF_LOG_STDOUT);
    assert_null(c->access_path);
    assert_int_equal(c->limits.header_bytes, 16384);
    assert_int_equal(c->limits.shadow_queue_bytes, 64u << 20);
    assert_int_equal(c->limits.shadow_inflight_bytes, 64u << 20);
    assert_int_equal(c->limits.max_headers, 100);
    assert_int_equal(c->limits.client_header_timeout_ms, 10000);
    assert_int_equal(c->limits.client_body_timeout_ms, 60000);
    assert_int_equal(c->limits.send_timeout_ms, 60000);
    assert_int_equal(c->limits.idle_timeout_ms, 60000);
    assert_int_equal(c->limits.drain_timeout_ms, 30000);
    assert_int_equal(c->limits.max_connections, 10000);
    assert_int_equal(c->upstreams[0].connect_timeout_ms, 2000);
    assert_int_equal(c->upstreams[0].read_timeout_ms, 30000);
    assert_int_equal(c->upstreams[0].send_timeout_ms, 30000);
    assert_int_equal(c->upstreams[0].max_idle, 512);
    assert_int_equal(c->upstreams[0].idle_timeout_ms, 60000);
    assert_string_equal(c->routes[0].path_prefix, "/");
    assert_ptr_equal(c->routes[0].to, &c->upstreams[0]);
    fx_conf_unref(c);
}

static void test_conf_load_string_brief_example(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(
        "listen: [\"127.0.0.1:8080\"]\n"
        "admin: {listen: \"127.0.0.1:9901\"}\n"
        "workers: auto\n"
        "log: {access: stdout, format: json}\n"
        "limits: {header_bytes: 16384, client_header_timeout: 10s, idle_timeout: 60s,"
        " max_connections: 10000}\n"
        "upstreams:\n"
        "  legacy: {servers: [\"127.0.0.1:3000\"], connect_timeout: 2s, read_timeout: 30s}\n"
        "  orders: {servers: [\"127.0.0.1:4000\", \"127.0.0.1:4001\"]}\n"
        "routes:\n"
        "  - name: orders\n"
        "    match: {path_prefix: /api/orders, methods: [GET, POST]}\n"
        "    to: orders\n"
        "  - name: default\n"
        "    match: {path_prefix: /}\n"
        "    to: legacy\n");
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->nroutes, 2);
    assert_ptr_equal(c->routes[1].to, &c->upstreams[0]);
    fx_conf_unref(c);
}

static void test_conf_load_string_routes_before_upstreams(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(BASE_RT BASE_LISTEN BASE_UP);
    assert_ptr_equal(c->routes[0].to, &c->upstreams[0]);
    fx_conf_unref(c);
}

static void test_conf_load_string_log_off_and_anchor(void **state)
{
    (void)state;
    /* An anchor without an alias is harmless. */
    struct fx_conf *c = load_ok(BASE "log: {access: \"off\"}\nlimits: &l {max_headers: 10}\n");
    assert_int_equal(c->access_mode, FX_CONF_LOG_OFF);
    assert_null(c->access_path);
    assert_int_equal(c->limits.max_headers, 10);
    fx_conf_unref(c);
}

static void test_conf_load_string_single_server_string(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(BASE_LISTEN "upstreams: {a: {servers: \"[::1]:80\"}}\n" BASE_RT);
    assert_int_equal(c->upstreams[0].nservers, 1);
    assert_string_equal(c->upstreams[0].servers[0].addr.text, "[::1]:80");
    fx_conf_unref(c);
}

static void test_conf_load_string_port0_listen_twice(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(
        "listen: [\"127.0.0.1:0\", \"127.0.0.1:0\"]\nadmin: {listen: \"127.0.0.1:0\"}\n" BASE_UP
            BASE_RT);
    assert_int_equal(c->nlisten, 2);
    assert_true(c->admin_enabled);
    fx_conf_unref(c);
}

static void test_conf_ref_unref(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(BASE);
    fx_conf_ref(c);
    assert_int_equal(atomic_load(&c->refcnt), 2);
    fx_conf_unref(c);
    assert_int_equal(atomic_load(&c->refcnt), 1);
    fx_conf_unref(c);
    fx_conf_unref(NULL);
}

/* ---- error positions and causes ----------------------------------------- */

static void test_conf_error_unknown_top_level_key(void **state)
{
    (void)state;
    assert_conf_error(BASE_LISTEN "listn: x\n",
                      "t.yaml:2:1: unknown key \"listn\" in top level (did you mean \"listen\"?)");
}

static void test_conf_error_reserved_keys_rejected(void **state)
{
    (void)state;
    /* shadow belongs to a route, not to the top level. */
    assert_conf_error(BASE "shadow: {}\n", "t.yaml:6:1: unknown key \"shadow\" in top level");
    assert_conf_error(BASE "cache: {}\n", "t.yaml:6:1: unknown key \"cache\" in top level");
}

static void test_conf_error_unknown_nested_keys(void **state)
{
    (void)state;
    assert_conf_error(BASE "limits: {idle: 10s}\n", "t.yaml:6:10: unknown key \"idle\" in limits");
    assert_conf_error(BASE_LISTEN "upstreams:\n  a:\n    servers: [\"127.0.0.1:3000\"]\n"
                                  "    retry: 3\n" BASE_RT,
                      "t.yaml:5:5: unknown key \"retry\" in upstream \"a\"");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: {path: /x}\n    to: a\n",
                      "t.yaml:5:13: unknown key \"path\" in route \"r\" match");
    assert_conf_error(BASE "admin: {listen: \"127.0.0.1:1\", ssl: true}\n",
                      "t.yaml:6:32: unknown key \"ssl\" in admin");
    assert_conf_error(BASE "log: {level: debug}\n", "t.yaml:6:7: unknown key \"level\" in log");
}

static void test_conf_error_duplicate_key(void **state)
{
    (void)state;
    assert_conf_error(BASE_LISTEN "listen: \"127.0.0.1:1\"\n",
                      "t.yaml:2:1: duplicate key \"listen\" in top level (first at line 1)");
}

static void test_conf_error_undefined_upstream(void **state)
{
    (void)state;
    assert_conf_error(ROUTE_HEAD "  - name: orders\n    to: ordrs\n",
                      "t.yaml:5:9: route \"orders\": upstream \"ordrs\" is not defined");
}

static void test_conf_error_workers(void **state)
{
    (void)state;
    assert_conf_error(BASE "workers: many\n",
                      "t.yaml:6:10: workers: expected an integer or \"auto\", got \"many\"");
    assert_conf_error(BASE "workers: [1]\n",
                      "t.yaml:6:10: workers: expected an integer or \"auto\", got a list");
    assert_conf_error(BASE "workers: 0\n", "t.yaml:6:10: workers: 0 is out of range 1..256");
    assert_conf_error(BASE "workers: 257\n", "t.yaml:6:10: workers: 257 is out of range 1..256");
    assert_conf_error(BASE "workers: -1\n",
                      "t.yaml:6:10: workers: expected an integer or \"auto\", got \"-1\"");
}

static void test_conf_error_server_address(void **state)
{
    (void)state;
    assert_conf_error(BASE_LISTEN "upstreams:\n  legacy: {servers: [\"127.0.0.1\"]}\n" BASE_RT,
                      "t.yaml:3:22: upstream \"legacy\": servers[0]: invalid address "
                      "\"127.0.0.1\": missing port");
    assert_conf_error(BASE_LISTEN "upstreams:\n  a: {servers: [\"127.0.0.1:1\", \"10.0.0.1:0\"]}\n",
                      "t.yaml:3:32: upstream \"a\": servers[1]: invalid address \"10.0.0.1:0\": "
                      "port 0 not allowed here (use 1..65535)");
    assert_conf_error(BASE_LISTEN "upstreams:\n  a: {servers: [\"backend.internal:80\"]}\n",
                      "t.yaml:3:17: upstream \"a\": servers[0]: invalid address "
                      "\"backend.internal:80\": DNS names are not supported ('backend.internal'); "
                      "use an IP address");
    assert_conf_error(BASE_LISTEN "upstreams:\n  a: {servers: []}\n",
                      "t.yaml:3:16: upstream \"a\": servers: at least one address is required");
    assert_conf_error(
        BASE_LISTEN "upstreams:\n  a: {servers: }\n",
        "t.yaml:3:16: upstream \"a\": servers: expected a list of addresses, got null");
}

static void test_conf_error_listen_address(void **state)
{
    (void)state;
    assert_conf_error("listen: \"127.0.0.1:70000\"\n",
                      "t.yaml:1:9: listen: invalid address \"127.0.0.1:70000\": port 70000 out of "
                      "range");
    assert_conf_error("listen: [\"127.0.0.1:80\", \"1.2.3:80\"]\n",
                      "t.yaml:1:26: listen[1]: invalid address \"1.2.3:80\": invalid IPv4 address "
                      "'1.2.3'");
    assert_conf_error("listen: [\"127.0.0.1:80\", \"127.0.0.1:80\"]\n",
                      "t.yaml:1:26: listen[1]: duplicate address \"127.0.0.1:80\"");
    assert_conf_error("listen: []\n", "t.yaml:1:9: listen: at least one address is required");
    /* A mapping is one listener given as {address, tls}. */
    assert_conf_error("listen: {a: b}\n", "t.yaml:1:10: unknown key \"a\" in listen");
    assert_conf_error("listen: [\"127.0.0.1:80\", {tls: {certificates: []}}]\n",
                      "t.yaml:1:47: listen[1].tls.certificates: expected a list of 1 to 64 "
                      "{cert, key} mappings");
    assert_conf_error("listen: [{address: \"127.0.0.1:80\", tls: {certificates: [{cert: c}]}}]\n",
                      "t.yaml:1:57: missing required key \"key\" in listen[0].tls.certificates[0]");
    assert_conf_error("listen: [{address: \"127.0.0.1:80\", tls: {certificates: [{cert: c, key: "
                      "k}], profile: old}}]\n",
                      "t.yaml:1:86: listen[0].tls.profile: unknown value \"old\": expected "
                      "intermediate or modern");
    assert_conf_error("listen: [{address: \"127.0.0.1:80\", tls: {certificates: [{cert: nofile, "
                      "key: k}]}}]\n",
                      "t.yaml:1:41: listen[0].tls: nofile: cannot open: No such file or directory");
    assert_conf_error("listen: [[\"127.0.0.1:1\"]]\n",
                      "t.yaml:1:10: listen[0]: expected a string, got a list");
}

static void test_conf_error_admin(void **state)
{
    (void)state;
    assert_conf_error(
        "listen: \"127.0.0.1:8080\"\nadmin: {listen: \"127.0.0.1:8080\"}\n" BASE_UP BASE_RT,
        "t.yaml:2:17: admin.listen: address \"127.0.0.1:8080\" is also in listen");
    assert_conf_error(BASE "admin: {}\n", "t.yaml:6:8: missing required key \"listen\" in admin");
    assert_conf_error(BASE "admin: \"127.0.0.1:1\"\n",
                      "t.yaml:6:8: admin: expected a mapping, got \"127.0.0.1:1\"");
}

static void test_conf_error_duplicate_route_name(void **state)
{
    (void)state;
    assert_conf_error(ROUTE_HEAD "  - name: default\n    to: a\n  - name: default\n    to: a\n",
                      "t.yaml:6:11: duplicate route name \"default\" (first defined at line 4)");
}

static void test_conf_error_duplicate_upstream_name(void **state)
{
    (void)state;
    assert_conf_error(BASE_LISTEN "upstreams:\n  a: {servers: [\"127.0.0.1:1\"]}\n"
                                  "  a: {servers: [\"127.0.0.1:2\"]}\n" BASE_RT,
                      "t.yaml:4:3: duplicate upstream name \"a\" (first defined at line 3)");
}

static void test_conf_error_names(void **state)
{
    (void)state;
    assert_conf_error(BASE_LISTEN "upstreams:\n  \"a b\": {servers: [\"127.0.0.1:1\"]}\n",
                      "t.yaml:3:3: invalid upstream name \"a b\": use 1 to 64 letters, digits, "
                      "'-', '_' or '.'");
    assert_conf_error(ROUTE_HEAD "  - name: \"r/1\"\n    to: a\n",
                      "t.yaml:4:11: invalid route name \"r/1\": use 1 to 64 letters, digits, "
                      "'-', '_' or '.'");
}

static void test_conf_error_durations(void **state)
{
    (void)state;
    assert_conf_error(BASE "limits: {idle_timeout: 10 sec}\n",
                      "t.yaml:6:24: limits.idle_timeout: invalid duration \"10 sec\": expected a "
                      "number followed by ms, s, m or h");
    assert_conf_error(BASE "limits: {idle_timeout: 10}\n",
                      "t.yaml:6:24: limits.idle_timeout: expected a duration like 10s, got \"10\"");
    assert_conf_error(BASE "limits: {idle_timeout: 25h}\n",
                      "t.yaml:6:24: limits.idle_timeout: 25h is out of range 1ms..24h");
    assert_conf_error(BASE "limits: {send_timeout: 0}\n",
                      "t.yaml:6:24: limits.send_timeout: 0 is out of range 1ms..24h");
    assert_conf_error(BASE_LISTEN "upstreams:\n  a:\n    servers: [\"127.0.0.1:1\"]\n"
                                  "    connect_timeout: 1.5s\n",
                      "t.yaml:5:22: upstream \"a\": connect_timeout: invalid duration \"1.5s\": "
                      "expected a number followed by ms, s, m or h");
    assert_conf_error(BASE "limits: {drain_timeout: {}}\n",
                      "t.yaml:6:25: limits.drain_timeout: expected a string, got a mapping");
}

static void test_conf_error_sizes_and_counts(void **state)
{
    (void)state;
    assert_conf_error(BASE "limits: {header_bytes: 16 KB}\n",
                      "t.yaml:6:24: limits.header_bytes: invalid size \"16 KB\": expected bytes or "
                      "a number followed by KiB, MiB or GiB");
    assert_conf_error(BASE "limits: {header_bytes: 512}\n",
                      "t.yaml:6:24: limits.header_bytes: 512 is out of range 1024..1048576 bytes");
    assert_conf_error(BASE "limits: {header_bytes: 2MiB}\n",
                      "t.yaml:6:24: limits.header_bytes: 2MiB is out of range 1024..1048576 bytes");
    assert_conf_error(BASE "limits: {max_headers: 129}\n",
                      "t.yaml:6:23: limits.max_headers: 129 is out of range 1..128");
    assert_conf_error(BASE "limits: {shadow_queue_bytes: 512KiB}\n",
                      "t.yaml:6:30: limits.shadow_queue_bytes: 512KiB is out of range "
                      "1048576..68719476736 bytes");
    assert_conf_error(BASE "limits: {shadow_inflight_bytes: 65GiB}\n",
                      "t.yaml:6:33: limits.shadow_inflight_bytes: 65GiB is out of range "
                      "1048576..68719476736 bytes");
    assert_conf_error(BASE "limits: {max_connections: lots}\n",
                      "t.yaml:6:27: limits.max_connections: expected an integer, got \"lots\"");
    assert_conf_error(BASE_LISTEN "upstreams: {a: {servers: [\"127.0.0.1:1\"], max_idle: 10001}}\n",
                      "t.yaml:2:53: upstream \"a\": max_idle: 10001 is out of range 0..10000");
}

static void test_conf_limits_shadow_budgets(void **state)
{
    (void)state;
    static const char y[] =
        BASE "limits: {shadow_queue_bytes: 16MiB, shadow_inflight_bytes: 1GiB}\n";
    struct fx_conf *c = NULL;
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(fx_conf_load_string("t.yaml", y, strlen(y), &c, &err), 0);
    assert_int_equal(c->limits.shadow_queue_bytes, 16u << 20);
    assert_int_equal(c->limits.shadow_inflight_bytes, 1u << 30);
    fx_conf_unref(c);
}

static void test_conf_error_wrong_types(void **state)
{
    (void)state;
    assert_conf_error(BASE "limits: [1]\n", "t.yaml:6:9: limits: expected a mapping, got a list");
    assert_conf_error(BASE "log: off\n", "t.yaml:6:6: log: expected a mapping, got \"off\"");
    assert_conf_error(BASE_LISTEN BASE_UP "routes: {a: b}\n",
                      "t.yaml:4:9: routes: expected a list, got a mapping");
    assert_conf_error(BASE_LISTEN "upstreams: [a]\n",
                      "t.yaml:2:12: upstreams: expected a mapping, got a list");
    assert_conf_error(BASE_LISTEN "upstreams: {a: x}\n",
                      "t.yaml:2:16: upstream \"a\": expected a mapping, got \"x\"");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: {host: [a]}\n    to: a\n",
                      "t.yaml:5:19: route \"r\": match.host: expected a string, got a list");
    assert_conf_error(ROUTE_HEAD "  - [r]\n",
                      "t.yaml:4:5: routes[0]: expected a mapping, got a list");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: /x\n    to: a\n",
                      "t.yaml:5:12: route \"r\": match: expected a mapping, got \"/x\"");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: {methods: GET}\n    to: a\n",
                      "t.yaml:5:22: route \"r\": match.methods: expected a list, got \"GET\"");
    assert_conf_error("? [a]\n: b\n",
                      "t.yaml:1:3: invalid key in top level: expected a string, got a list");
}

static void test_conf_error_missing_required(void **state)
{
    (void)state;
    assert_conf_error(BASE_UP BASE_RT, "t.yaml:1:1: missing required key \"listen\" in top level");
    assert_conf_error(BASE_LISTEN BASE_RT,
                      "t.yaml:1:1: missing required key \"upstreams\" in top level");
    assert_conf_error(BASE_LISTEN BASE_UP,
                      "t.yaml:1:1: missing required key \"routes\" in top level");
    assert_conf_error(ROUTE_HEAD "  - name: r\n",
                      "t.yaml:4:5: missing required key \"to\" in route \"r\"");
    assert_conf_error(ROUTE_HEAD "  - to: a\n",
                      "t.yaml:4:5: missing required key \"name\" in routes[0]");
    assert_conf_error(BASE_LISTEN "upstreams:\n  a: {max_idle: 1}\n" BASE_RT,
                      "t.yaml:3:6: missing required key \"servers\" in upstream \"a\"");
    assert_conf_error(BASE_LISTEN BASE_UP "routes: []\n",
                      "t.yaml:4:9: routes: at least one route is required");
    assert_conf_error(BASE_LISTEN "upstreams: {}\n" BASE_RT,
                      "t.yaml:2:12: upstreams: at least one upstream is required");
}

static void test_conf_error_match_values(void **state)
{
    (void)state;
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: {methods: [GET, \"BAD METHOD\"]}\n"
                                 "    to: a\n",
                      "t.yaml:5:28: route \"r\": match.methods[1]: invalid method \"BAD METHOD\"");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: {path_prefix: api}\n    to: a\n",
                      "t.yaml:5:26: route \"r\": match.path_prefix: must start with '/', got "
                      "\"api\"");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: {path_prefix: \"/a b\"}\n    to: a\n",
                      "t.yaml:5:26: route \"r\": match.path_prefix: \"/a b\" contains spaces or "
                      "control characters");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: {headers: {\"X Beta\": \"1\"}}\n"
                                 "    to: a\n",
                      "t.yaml:5:23: route \"r\": match.headers: invalid header name \"X Beta\"");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: {headers: {X-A: \"1\", x-a: \"2\"}}\n"
                                 "    to: a\n",
                      "t.yaml:5:33: route \"r\": match.headers: duplicate header \"x-a\"");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: {headers: {X-A: [1]}}\n    to: a\n",
                      "t.yaml:5:28: route \"r\": match.headers: \"X-A\": expected a string, got a "
                      "list");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    match: {host: \"a.com:80\"}\n    to: a\n",
                      "t.yaml:5:19: route \"r\": match.host: \"a.com:80\": host must not include a "
                      "port");
}

static void test_conf_error_log(void **state)
{
    (void)state;
    assert_conf_error(BASE "log: {format: text}\n",
                      "t.yaml:6:15: log.format: unsupported format \"text\" (only json)");
    assert_conf_error(BASE "log: {access: \"\"}\n",
                      "t.yaml:6:15: log.access: expected stdout, off or a file path, got \"\"");
    assert_conf_error(BASE "log: {access: \"a\\0b\"}\n",
                      "t.yaml:6:15: log.access: \"a\\x00b\" contains a NUL byte");
}

static void test_conf_error_yaml_syntax(void **state)
{
    (void)state;
    assert_conf_error_prefix("listen: [\n",
                             "t.yaml:2:1: invalid YAML: did not find expected node content");
    assert_conf_error("a: b\n  c: d\n",
                      "t.yaml:2:4: invalid YAML: mapping values are not allowed in this context");
    assert_conf_error_prefix("listen: \"abc\n",
                             "t.yaml:2:1: invalid YAML: found unexpected end of stream");
    assert_conf_error("a: \xff\n", "t.yaml:1:4: invalid YAML: invalid leading UTF-8 octet "
                                   "(byte 0xff)");
    assert_conf_error("a: b\n\tc: d\n", "t.yaml:2:1: invalid YAML: found a tab character that "
                                        "violates indentation (while scanning a plain scalar that "
                                        "started at line 1)");
}

static void test_conf_error_yaml_features(void **state)
{
    (void)state;
    assert_conf_error("a: &x [1]\nb: *x\n", "t.yaml:2:4: YAML aliases are not supported");
    assert_conf_error("a: 1\n---\nb: 2\n", "t.yaml:2:1: multiple YAML documents are not supported");
    char deep[256] = "a: ";
    for (int i = 0; i < 70; i++)
        deep[3 + i] = '[';
    for (int i = 0; i < 70; i++)
        deep[73 + i] = ']';
    assert_conf_error(deep, "t.yaml:1:67: nesting deeper than 64 levels");
}

static void test_conf_error_empty_and_top_level(void **state)
{
    (void)state;
    assert_conf_error("", "t.yaml: empty configuration");
    assert_conf_error("# only a comment\n\n", "t.yaml: empty configuration");
    assert_conf_error("---\n", "t.yaml: empty configuration");
    assert_conf_error("- a\n", "t.yaml:1:1: expected a mapping at top level, got a list");
    assert_conf_error("hello\n", "t.yaml:1:1: expected a mapping at top level, got \"hello\"");
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_conf_load_string("t.yaml", NULL, 0, &c, &err), FX_ECONF);
    assert_string_equal(err.msg, "t.yaml: empty configuration");
}

static void test_conf_error_long_value_truncated(void **state)
{
    (void)state;
    char yaml[2048];
    char big[600]; /* libyaml caps simple keys at 1024 characters */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    (void)snprintf(yaml, sizeof(yaml), BASE "%s: 1\n", big);
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_conf_load_string("t.yaml", yaml, strlen(yaml), &c, &err), FX_ECONF);
    assert_true(strlen(err.msg) < 200);
    assert_non_null(strstr(err.msg, "t.yaml:6:1: unknown key \"xxxx"));
    assert_non_null(strstr(err.msg, "xxx...\" in top level"));
}

static void test_conf_error_null_err_and_args(void **state)
{
    (void)state;
    struct fx_conf *c = NULL;
    assert_int_equal(fx_conf_load_string("t.yaml", "a: 1\n", 5, &c, NULL), FX_ECONF);
    assert_null(c);
    struct fx_err err = { 0 };
    assert_int_equal(fx_conf_load_string("t.yaml", BASE, strlen(BASE), NULL, &err), FX_EINVAL);
    assert_int_equal(fx_conf_load_string("t.yaml", NULL, 3, &c, &err), FX_EINVAL);
    assert_int_equal(fx_conf_load_string(NULL, "x: 1\n", 5, &c, &err), FX_ECONF);
    assert_string_equal(err.msg, "<config>:1:1: unknown key \"x\" in top level");
}

/* ---- files -------------------------------------------------------------- */

static void test_conf_load_temp_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ficus-conf-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, BASE, strlen(BASE)), (ssize_t)strlen(BASE));
    assert_int_equal(close(fd), 0);
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_conf_load(path, &c, &err), 0);
    assert_string_equal(c->path, path);
    assert_int_equal(c->nroutes, 1);
    fx_conf_unref(c);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "bogus: 1\n", 9), 9);
    assert_int_equal(close(fd), 0);
    assert_int_equal(fx_conf_load(path, &c, &err), FX_ECONF);
    char want[128];
    (void)snprintf(want, sizeof(want), "%s:6:1: unknown key \"bogus\" in top level", path);
    assert_string_equal(err.msg, want);
    assert_int_equal(unlink(path), 0);
}

static void test_conf_load_missing_file(void **state)
{
    (void)state;
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_conf_load("/nonexistent/ficus.yaml", &c, &err), FX_ECONF);
    assert_null(c);
    assert_int_equal(err.code, FX_ECONF);
    assert_string_equal(err.msg, "/nonexistent/ficus.yaml: cannot open: No such file or directory");
    assert_int_equal(fx_conf_load("/tmp", &c, &err), FX_ECONF);
    assert_string_equal(err.msg, "/tmp: cannot read: Is a directory");
}

/* ---- scalar syntax ------------------------------------------------------ */

static void test_conf_parse_duration_accepts(void **state)
{
    (void)state;
    uint64_t ms = 1;
    assert_int_equal(fx_conf_parse_duration("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(fx_conf_parse_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(fx_conf_parse_duration("10s", &ms), 0);
    assert_int_equal(ms, 10000);
    assert_int_equal(fx_conf_parse_duration("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(fx_conf_parse_duration("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(fx_conf_parse_duration("0s", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(fx_conf_parse_duration("007s", &ms), 0);
    assert_int_equal(ms, 7000);
}

static void test_conf_parse_duration_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "10",
        "s",
        "10 s",
        " 10s",
        "10s ",
        "-1s",
        "+1s",
        "1.5s",
        "10S",
        "10sec",
        "10d",
        "1e3ms",
        "18446744073709551616ms",
        "18446744073709551615h",
        "0x10s",
        "ms10",
    };
    uint64_t ms = 42;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fx_conf_parse_duration(bad[i], &ms) != FX_EINVAL)
            fail_msg("accepted duration \"%s\"", bad[i]);
    }
    assert_int_equal(ms, 42);
    assert_int_equal(fx_conf_parse_duration(NULL, &ms), FX_EINVAL);
    assert_int_equal(fx_conf_parse_duration("1s", NULL), FX_EINVAL);
}

static void test_conf_parse_size_accepts(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {
        { "0", 0 },
        { "16384", 16384 },
        { "16KiB", 16384 },
        { "16KB", 16384 },
        { "16K", 16384 },
        { "16k", 16384 },
        { "1MiB", 1048576 },
        { "1MB", 1048576 },
        { "1M", 1048576 },
        { "1m", 1048576 },
        { "1GiB", 1073741824 },
        { "1G", 1073741824 },
        { "2g", 2147483648u },
        { "1GB", 1073741824 },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 0;
        if (fx_conf_parse_size(ok[i].in, &v) != 0 || v != ok[i].want)
            fail_msg("size \"%s\" gave %llu", ok[i].in, (unsigned long long)v);
    }
}

static void test_conf_parse_size_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "K",
        "16 KiB",
        "16kib",
        "16Kb",
        "1.5M",
        "-1",
        "16B",
        "16T",
        "16KiBs",
        "18446744073709551616",
        "17179869184G",
        " 1",
    };
    uint64_t v = 42;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fx_conf_parse_size(bad[i], &v) != FX_EINVAL)
            fail_msg("accepted size \"%s\"", bad[i]);
    }
    assert_int_equal(v, 42);
    assert_int_equal(fx_conf_parse_size(NULL, &v), FX_EINVAL);
}

/* ---- JSON dump ---------------------------------------------------------- */

static json_t *dump_to_json(const struct fx_conf *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(fx_conf_dump_json(c, f), 0);
    assert_int_equal(fclose(f), 0);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (root == NULL)
        fail_msg("invalid JSON: %s: %s", jerr.text, text);
    free(text);
    return root;
}

static void test_conf_dump_json_full(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(full_config);
    json_t *root = dump_to_json(c);
    assert_string_equal(json_string_value(json_array_get(json_object_get(root, "listen"), 1)),
                        "[::1]:8081");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(root, "admin"), "listen")),
        "127.0.0.1:9901");
    assert_int_equal(json_integer_value(json_object_get(root, "workers")), 4);
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "log"), "access")),
                        "/var/log/ficus/access.log");
    json_t *limits = json_object_get(root, "limits");
    assert_int_equal(json_integer_value(json_object_get(limits, "idle_timeout_ms")), 3600000);
    assert_int_equal(json_integer_value(json_object_get(limits, "header_bytes")), 32768);
    json_t *orders = json_object_get(json_object_get(root, "upstreams"), "orders");
    assert_int_equal(json_array_size(json_object_get(orders, "servers")), 2);
    assert_int_equal(json_integer_value(json_object_get(orders, "send_timeout_ms")), 3000);
    json_t *r0 = json_array_get(json_object_get(root, "routes"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "name")), "orders");
    assert_string_equal(json_string_value(json_object_get(r0, "to")), "orders");
    json_t *match = json_object_get(r0, "match");
    assert_string_equal(json_string_value(json_object_get(match, "host")), "shop.example.com");
    assert_string_equal(json_string_value(json_array_get(json_object_get(match, "methods"), 1)),
                        "POST");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(match, "headers"), "X-Tenant")), "acme");
    json_decref(root);
    fx_conf_unref(c);
}

static void test_conf_dump_json_defaults(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(BASE);
    json_t *root = dump_to_json(c);
    assert_true(json_is_null(json_object_get(root, "admin")));
    assert_string_equal(json_string_value(json_object_get(root, "workers")), "auto");
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "log"), "access")),
                        "stdout");
    json_t *a = json_object_get(json_object_get(root, "upstreams"), "a");
    assert_int_equal(json_integer_value(json_object_get(a, "connect_timeout_ms")), 2000);
    assert_int_equal(fx_conf_dump_json(NULL, stdout), FX_EIO);
    json_decref(root);
    fx_conf_unref(c);
}

/* ---- paths section ------------------------------------------------------ */

static void test_conf_paths_defaults_and_keys(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(BASE);
    assert_true(c->paths.merge_slashes && c->paths.decode_unreserved && c->paths.resolve_dots);
    assert_int_equal(c->paths.flags, 0x7);
    json_t *root = dump_to_json(c);
    json_t *p = json_object_get(root, "paths");
    assert_true(json_is_true(json_object_get(p, "merge_slashes")));
    assert_true(json_is_true(json_object_get(p, "resolve_dots")));
    json_decref(root);
    fx_conf_unref(c);
    c = load_ok(BASE "paths: {merge_slashes: false, decode_unreserved: \"true\", "
                     "resolve_dots: false}\n");
    assert_false(c->paths.merge_slashes);
    assert_true(c->paths.decode_unreserved);
    assert_int_equal(c->paths.flags, 0x2);
    fx_conf_unref(c);
}

static void test_conf_paths_errors(void **state)
{
    (void)state;
    assert_conf_error(BASE "paths: {merge_slashes: 1}\n",
                      "t.yaml:6:24: paths.merge_slashes: expected true or false, got \"1\"");
    assert_conf_error(BASE "paths: {dots: true}\n", "t.yaml:6:9: unknown key \"dots\" in paths");
    assert_conf_error(BASE "paths: [true]\n", "t.yaml:6:8: paths: expected a mapping, got a list");
    assert_conf_error(ROUTE_HEAD "  - {name: r, to: a, match: {path_prefix: /%61dmin}}\n",
                      "t.yaml:4:43: route \"r\": match.path_prefix: \"/%61dmin\" never matches: "
                      "request paths are normalised (see paths), write \"/admin\"");
    assert_conf_error(ROUTE_HEAD "  - {name: r, to: a, match: {path_prefix: /a/../b}}\n",
                      "t.yaml:4:43: route \"r\": match.path_prefix: \"/a/../b\" never matches: "
                      "request paths are normalised (see paths), write \"/b\"");
    /* Only the steps that are on count. */
    struct fx_conf *c = load_ok(ROUTE_HEAD "  - {name: r, to: a, match: {path_prefix: /a//b}}\n"
                                           "paths: {merge_slashes: false}\n");
    fx_conf_unref(c);
}

/* ---- migrate section ---------------------------------------------------- */

/* Migrate tests: the route's migrate mapping holds the lines from line 7 on,
 * its keys at column 7. */
#define MIG_UP                                                                            \
    "upstreams: {a: {servers: [\"127.0.0.1:3000\"]}, b: {servers: [\"127.0.0.1:4000\"]}," \
    " c: {servers: [\"127.0.0.1:5000\"]}}\n"
#define MIG_HEAD BASE_LISTEN MIG_UP "routes:\n  - name: r\n    to: a\n    migrate:\n"

static const char migrate_full[] =
    MIG_HEAD "      to: b\n"
             "      weight: 12.5%\n"
             "      sticky: header:X-User-Id\n"
             "      ramp: {steps: [0.01%, 5%, 25%, 50%, 100%], interval: 10m}\n"
             "      guard: {max_error_rate_increase: 0.5%, max_p99_ratio: 1.25, min_requests: 50,\n"
             "              window: 30s, rollback_factor: 3}\n"
             "      override:\n"
             "        header: X-Ficus-Target\n"
             "        from: [\"127.0.0.1/32\", \"10.0.0.0/8\", \"::1/128\", \"192.168.1.7\",\n"
             "               \"2001:db8::/32\", \"0.0.0.0/0\"]\n";

static void check_cidr(const struct fx_cidr *b, int family, const char *addr, unsigned int prefix)
{
    unsigned char want[16] = { 0 };
    assert_int_equal(b->family, family);
    assert_int_equal(inet_pton(family, addr, want), 1);
    assert_memory_equal(b->addr, want, family == AF_INET ? 4 : 16);
    assert_int_equal(b->prefix, prefix);
}

static void test_conf_migrate_full(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(migrate_full);
    const struct fx_conf_route *r = &c->routes[0];
    const struct fx_conf_migrate *m = r->migrate;
    assert_non_null(m);
    assert_ptr_equal(r->to, &c->upstreams[0]);
    assert_string_equal(m->to_name, "b");
    assert_ptr_equal(m->to, &c->upstreams[1]);
    assert_int_equal(m->line, 7);
    assert_int_equal(m->weight_bp, 1250);
    assert_int_equal(m->sticky, FX_STICKY_HEADER);
    assert_string_equal(m->sticky_name, "X-User-Id");
    static const uint32_t steps[] = { 1, 500, 2500, 5000, 10000 };
    assert_int_equal(m->nsteps, 5);
    assert_memory_equal(m->steps_bp, steps, sizeof(steps));
    assert_int_equal(m->ramp_interval_ms, 600000);
    assert_int_equal(m->guard_max_err_increase_bp, 50);
    assert_true(m->guard_max_p99_ratio == 1.25);
    assert_int_equal(m->guard_min_requests, 50);
    assert_int_equal(m->guard_window_ms, 30000);
    assert_true(m->guard_rollback_factor == 3.0);
    assert_string_equal(m->override_header, "X-Ficus-Target");
    assert_int_equal(m->noverride_from, 6);
    check_cidr(&m->override_from[0], AF_INET, "127.0.0.1", 32);
    check_cidr(&m->override_from[1], AF_INET, "10.0.0.0", 8);
    check_cidr(&m->override_from[2], AF_INET6, "::1", 128);
    check_cidr(&m->override_from[3], AF_INET, "192.168.1.7", 32);
    check_cidr(&m->override_from[4], AF_INET6, "2001:db8::", 32);
    check_cidr(&m->override_from[5], AF_INET, "0.0.0.0", 0);
    assert_int_equal(strlen(m->fingerprint), 64);
    assert_int_equal(strspn(m->fingerprint, "0123456789abcdef"), 64);
    fx_conf_unref(c);
}

static void test_conf_migrate_defaults(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(MIG_HEAD "      to: c\n"
                                         "  - {name: plain, to: b}\n");
    const struct fx_conf_migrate *m = c->routes[0].migrate;
    assert_non_null(m);
    assert_ptr_equal(m->to, &c->upstreams[2]);
    assert_int_equal(m->weight_bp, 0);
    assert_int_equal(m->sticky, FX_STICKY_NONE);
    assert_null(m->sticky_name);
    assert_null(m->steps_bp);
    assert_int_equal(m->nsteps, 0);
    assert_int_equal(m->ramp_interval_ms, 0);
    assert_int_equal(m->guard_max_err_increase_bp, 100);
    assert_true(m->guard_max_p99_ratio == 1.5);
    assert_int_equal(m->guard_min_requests, 200);
    assert_int_equal(m->guard_window_ms, 300000);
    assert_true(m->guard_rollback_factor == 2.0);
    assert_null(m->override_header);
    assert_null(m->override_from);
    assert_int_equal(m->noverride_from, 0);
    assert_null(c->routes[1].migrate);
    fx_conf_unref(c);
    /* An override without `from` lets nobody pin a side. */
    c = load_ok(MIG_HEAD "      to: b\n      override: {header: X-T}\n");
    assert_string_equal(c->routes[0].migrate->override_header, "X-T");
    assert_int_equal(c->routes[0].migrate->noverride_from, 0);
    fx_conf_unref(c);
}

static void test_conf_migrate_sticky_and_weights(void **state)
{
    (void)state;
    static const struct {
        const char *sticky;
        enum fx_sticky kind;
        const char *name;
    } sticky[] = {
        { "header:X-User-Id", FX_STICKY_HEADER, "X-User-Id" },
        { "cookie:session_id", FX_STICKY_COOKIE, "session_id" },
        { "query:user[id]", FX_STICKY_QUERY, "user[id]" },
        { "ip", FX_STICKY_IP, NULL },
    };
    char yaml[1024];
    for (size_t i = 0; i < sizeof(sticky) / sizeof(sticky[0]); i++) {
        (void)snprintf(yaml, sizeof(yaml), MIG_HEAD "      to: b\n      sticky: \"%s\"\n",
                       sticky[i].sticky);
        struct fx_conf *c = load_ok(yaml);
        const struct fx_conf_migrate *m = c->routes[0].migrate;
        assert_int_equal(m->sticky, sticky[i].kind);
        if (sticky[i].name == NULL)
            assert_null(m->sticky_name);
        else
            assert_string_equal(m->sticky_name, sticky[i].name);
        fx_conf_unref(c);
    }
    static const struct {
        const char *text;
        uint32_t bp;
    } weights[] = {
        { "0%", 0 },          { "0.01%", 1 },  { "0.1%", 10 },     { "5%", 500 },
        { "12.5%", 1250 },    { "25%", 2500 }, { "99.99%", 9999 }, { "100%", 10000 },
        { "100.00%", 10000 }, { "007%", 700 },
    };
    for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++) {
        (void)snprintf(yaml, sizeof(yaml), MIG_HEAD "      to: b\n      weight: \"%s\"\n",
                       weights[i].text);
        struct fx_conf *c = load_ok(yaml);
        if (c->routes[0].migrate->weight_bp != weights[i].bp)
            fail_msg("weight %s gave %u bp", weights[i].text, c->routes[0].migrate->weight_bp);
        fx_conf_unref(c);
    }
}

/* ---- route shadow section ------------------------------------------------------ */

#define SH_HEAD BASE_LISTEN MIG_UP "routes:\n  - name: r\n    to: a\n    shadow:\n"

static void test_conf_shadow_full(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(SH_HEAD "      to: b\n"
                                        "      sample: 10%\n"
                                        "      methods: [GET, POST]\n"
                                        "      max_body: 1KiB\n"
                                        "      max_inflight: 8\n"
                                        "      secondary: c\n"
                                        "      compare:\n"
                                        "        ignore_headers: [Date, X-Request-Id]\n"
                                        "        ignore_json: [\"$.generated_at\", "
                                        "\"$.items[*].etag\", \"$['odd key'][0]\"]\n"
                                        "      redact: [X-Api-Key]\n"
                                        "      block_promotion_above: 1%\n");
    const struct fx_conf_shadow *sh = c->routes[0].shadow;
    assert_non_null(sh);
    assert_ptr_equal(sh->to, &c->upstreams[1]);
    assert_ptr_equal(sh->secondary, &c->upstreams[2]);
    assert_string_equal(sh->secondary_name, "c");
    assert_int_equal(sh->sample_bp, 1000);
    assert_int_equal(sh->nmethods, 2);
    assert_string_equal(sh->methods[1], "POST");
    assert_int_equal(sh->max_body, 1024);
    assert_int_equal(sh->max_inflight, 8);
    assert_int_equal(sh->nignore_headers, 2);
    assert_string_equal(sh->ignore_headers[0], "Date");
    assert_int_equal(sh->nignore_json, 3);
    assert_string_equal(sh->ignore_json[1], "$.items[*].etag");
    assert_int_equal(sh->nredact, 1);
    assert_int_equal(sh->block_bp, 100);
    assert_int_equal(sh->line, 7);
    fx_conf_unref(c);
}

static void test_conf_shadow_defaults(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(SH_HEAD "      to: b\n");
    const struct fx_conf_shadow *sh = c->routes[0].shadow;
    assert_non_null(sh);
    assert_int_equal(sh->sample_bp, 10000);
    assert_int_equal(sh->nmethods, 2);
    assert_string_equal(sh->methods[0], "GET");
    assert_string_equal(sh->methods[1], "HEAD");
    assert_int_equal(sh->max_body, 64 * 1024);
    assert_int_equal(sh->max_inflight, 256);
    assert_null(sh->secondary);
    assert_int_equal(sh->nignore_json, 0);
    assert_int_equal(sh->block_bp, FX_SHADOW_NO_BLOCK);
    fx_conf_unref(c);
}

static void test_conf_error_shadow(void **state)
{
    (void)state;
    assert_conf_error(SH_HEAD "      to: a\n",
                      "t.yaml:7:11: route \"r\": shadow.to: must differ from the route's to "
                      "(\"a\"): the copies would go to the primary itself");
    assert_conf_error(SH_HEAD "      to: zz\n",
                      "t.yaml:7:11: route \"r\": shadow.to: upstream \"zz\" is not defined");
    assert_conf_error(SH_HEAD "      to: b\n      secondary: b\n",
                      "t.yaml:8:18: route \"r\": shadow.secondary: must differ from shadow.to "
                      "(\"b\"): the secondary is a second legacy instance");
    assert_conf_error(SH_HEAD "      sample: 5%\n",
                      "t.yaml:7:7: missing required key \"to\" in route \"r\" shadow");
    assert_conf_error(SH_HEAD "      to: b\n      sample: 150%\n",
                      "t.yaml:8:15: route \"r\": shadow.sample: 150% is out of range 0%..100%");
    assert_conf_error(SH_HEAD "      to: b\n      compare: {ignore_json: [\"items.x\"]}\n",
                      "t.yaml:8:31: route \"r\": shadow.compare.ignore_json[0]: invalid JSON path "
                      "(expected $.key, $.list[*].key, $['odd key'] ...) \"items.x\"");
    assert_conf_error(SH_HEAD "      to: b\n      methods: [\"G ET\"]\n",
                      "t.yaml:8:17: route \"r\": shadow.methods[0]: invalid method \"G ET\"");
    assert_conf_error(SH_HEAD "      to: b\n      max_inflight: 0\n",
                      "t.yaml:8:21: route \"r\": shadow.max_inflight: 0 is out of range 1..100000");
    assert_conf_error(SH_HEAD "      to: b\n      mirror: yes\n",
                      "t.yaml:8:7: unknown key \"mirror\" in route \"r\" shadow");
}

static void test_conf_error_migrate_to(void **state)
{
    (void)state;
    assert_conf_error(MIG_HEAD "      to: ordrs\n",
                      "t.yaml:7:11: route \"r\": migrate.to: upstream \"ordrs\" is not defined");
    assert_conf_error(MIG_HEAD "      to: a\n",
                      "t.yaml:7:11: route \"r\": migrate.to: must differ from the route's to "
                      "(\"a\")");
    /* `to` after `migrate` in the route: the check waits for the whole route. */
    assert_conf_error(BASE_LISTEN MIG_UP "routes:\n  - name: r\n    migrate: {to: b}\n    to: b\n",
                      "t.yaml:5:19: route \"r\": migrate.to: must differ from the route's to "
                      "(\"b\")");
    assert_conf_error(MIG_HEAD "      weight: 5%\n",
                      "t.yaml:7:7: missing required key \"to\" in route \"r\" migrate");
    assert_conf_error(MIG_HEAD "      to: [b]\n",
                      "t.yaml:7:11: route \"r\": migrate.to: expected a string, got a list");
    assert_conf_error(MIG_HEAD "      to: b\n      split: 5%\n",
                      "t.yaml:8:7: unknown key \"split\" in route \"r\" migrate");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    to: a\n    migrate: 5%\n",
                      "t.yaml:6:14: route \"r\": migrate: expected a mapping, got \"5%\"");
    assert_conf_error(ROUTE_HEAD "  - name: r\n    to: a\n    migrate:\n",
                      "t.yaml:6:13: route \"r\": migrate: expected a mapping, got null");
}

static void test_conf_error_migrate_weight(void **state)
{
    (void)state;
    /* A bare number is a percentage, as for `ficus ctl weight` and the API. */
    struct fx_conf *c = load_ok(MIG_HEAD "      to: b\n      weight: 5\n");
    assert_int_equal(c->routes[0].migrate->weight_bp, 500);
    fx_conf_unref(c);
    static const char *const bad[] = { "0.001%", "-1%",  "5 %",  ".5%", "5.%",
                                       "5%%",    "0x5%", "1e2%", "%",   "5%x" };
    char yaml[512];
    char want[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        (void)snprintf(yaml, sizeof(yaml), MIG_HEAD "      to: b\n      weight: \"%s\"\n", bad[i]);
        (void)snprintf(want, sizeof(want),
                       "t.yaml:8:15: route \"r\": migrate.weight: invalid percentage \"%s\": "
                       "expected a value like 5%% or 0.25%%",
                       bad[i]);
        assert_conf_error(yaml, want);
    }
    assert_conf_error(MIG_HEAD "      to: b\n      weight: 100.01%\n",
                      "t.yaml:8:15: route \"r\": migrate.weight: 100.01% is out of range "
                      "0%..100%");
    assert_conf_error(MIG_HEAD "      to: b\n      weight: 99999999999999999999%\n",
                      "t.yaml:8:15: route \"r\": migrate.weight: invalid percentage "
                      "\"99999999999999999999%\": expected a value like 5% or 0.25%");
    assert_conf_error(MIG_HEAD "      to: b\n      weight: 18446744073709551615%\n",
                      "t.yaml:8:15: route \"r\": migrate.weight: 18446744073709551615% is out of "
                      "range 0%..100%");
}

static void test_conf_error_migrate_sticky(void **state)
{
    (void)state;
    assert_conf_error(MIG_HEAD "      to: b\n      sticky: user\n",
                      "t.yaml:8:15: route \"r\": migrate.sticky: expected header:NAME, "
                      "cookie:NAME, query:NAME or ip, got \"user\"");
    assert_conf_error(MIG_HEAD "      to: b\n      sticky: IP\n",
                      "t.yaml:8:15: route \"r\": migrate.sticky: expected header:NAME, "
                      "cookie:NAME, query:NAME or ip, got \"IP\"");
    assert_conf_error(MIG_HEAD "      to: b\n      sticky: \"header:X User\"\n",
                      "t.yaml:8:15: route \"r\": migrate.sticky: invalid header name \"X User\"");
    assert_conf_error(MIG_HEAD "      to: b\n      sticky: \"cookie:\"\n",
                      "t.yaml:8:15: route \"r\": migrate.sticky: invalid cookie name \"\"");
    assert_conf_error(MIG_HEAD "      to: b\n      sticky: \"query:a&b\"\n",
                      "t.yaml:8:15: route \"r\": migrate.sticky: invalid query parameter name "
                      "\"a&b\"");
}

static void test_conf_error_migrate_ramp(void **state)
{
    (void)state;
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: {steps: [1%, 50%, 25%], interval: 1m}\n",
                      "t.yaml:8:31: route \"r\": migrate.ramp.steps: steps must increase (25% "
                      "after 50%)");
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: {steps: [5%, 5.0%], interval: 1m}\n",
                      "t.yaml:8:26: route \"r\": migrate.ramp.steps: steps must increase (5.0% "
                      "after 5%)");
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: {steps: [0%], interval: 1m}\n",
                      "t.yaml:8:22: route \"r\": migrate.ramp.steps[0]: 0% is out of range "
                      "0.01%..100%");
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: {steps: [5%, half], interval: 1m}\n",
                      "t.yaml:8:26: route \"r\": migrate.ramp.steps[1]: invalid percentage "
                      "\"half\": expected a value like 5% or 0.25%");
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: {steps: [], interval: 1m}\n",
                      "t.yaml:8:21: route \"r\": migrate.ramp.steps: at least one step is "
                      "required");
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: {steps: 5%, interval: 1m}\n",
                      "t.yaml:8:21: route \"r\": migrate.ramp.steps: expected a list of "
                      "percentages, got \"5%\"");
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: {steps: [5%]}\n",
                      "t.yaml:8:13: missing required key \"interval\" in route \"r\" "
                      "migrate.ramp");
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: {interval: 1m}\n",
                      "t.yaml:8:13: missing required key \"steps\" in route \"r\" migrate.ramp");
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: {steps: [5%], interval: 50ms}\n",
                      "t.yaml:8:37: route \"r\": migrate.ramp.interval: 50ms is out of range "
                      "100ms..168h");
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: {steps: [5%], interval: 1m, jitter: 1s}\n",
                      "t.yaml:8:41: unknown key \"jitter\" in route \"r\" migrate.ramp");
    assert_conf_error(MIG_HEAD "      to: b\n      ramp: [5%]\n",
                      "t.yaml:8:13: route \"r\": migrate.ramp: expected a mapping, got a list");
}

static void test_conf_error_migrate_guard(void **state)
{
    (void)state;
    assert_conf_error(MIG_HEAD "      to: b\n      guard: {max_p99_ratio: 1.0}\n",
                      "t.yaml:8:30: route \"r\": migrate.guard.max_p99_ratio: 1.0 is out of range: "
                      "expected more than 1 and at most 100");
    assert_conf_error(MIG_HEAD "      to: b\n      guard: {max_p99_ratio: 100.5}\n",
                      "t.yaml:8:30: route \"r\": migrate.guard.max_p99_ratio: 100.5 is out of "
                      "range: expected more than 1 and at most 100");
    assert_conf_error(MIG_HEAD "      to: b\n      guard: {max_p99_ratio: fast}\n",
                      "t.yaml:8:30: route \"r\": migrate.guard.max_p99_ratio: expected a number "
                      "like 1.5, got \"fast\"");
    assert_conf_error(MIG_HEAD "      to: b\n      guard: {max_p99_ratio: 1.0001}\n",
                      "t.yaml:8:30: route \"r\": migrate.guard.max_p99_ratio: expected a number "
                      "like 1.5, got \"1.0001\"");
    assert_conf_error(MIG_HEAD "      to: b\n      guard: {rollback_factor: 0.5}\n",
                      "t.yaml:8:32: route \"r\": migrate.guard.rollback_factor: 0.5 is out of "
                      "range 1..100");
    assert_conf_error(MIG_HEAD "      to: b\n      guard: {min_requests: 0}\n",
                      "t.yaml:8:29: route \"r\": migrate.guard.min_requests: 0 is out of range "
                      "1..1000000000");
    assert_conf_error(MIG_HEAD "      to: b\n      guard: {window: 500ms}\n",
                      "t.yaml:8:23: route \"r\": migrate.guard.window: 500ms is out of range "
                      "1s..24h");
    assert_conf_error(MIG_HEAD "      to: b\n      guard: {max_error_rate_increase: 1x}\n",
                      "t.yaml:8:40: route \"r\": migrate.guard.max_error_rate_increase: invalid "
                      "percentage \"1x\": expected a value like 5% or 0.25%");
    assert_conf_error(MIG_HEAD "      to: b\n      guard: {p99: 2}\n",
                      "t.yaml:8:15: unknown key \"p99\" in route \"r\" migrate.guard");
}

static void test_conf_error_migrate_override(void **state)
{
    (void)state;
    assert_conf_error(MIG_HEAD "      to: b\n      override: {from: [\"127.0.0.1/32\"]}\n",
                      "t.yaml:8:17: missing required key \"header\" in route \"r\" "
                      "migrate.override");
    assert_conf_error(MIG_HEAD "      to: b\n"
                               "      override: {header: X-T, from: [\"127.0.0.1/32\", "
                               "\"10.0.0.1/8\"]}\n",
                      "t.yaml:8:54: route \"r\": migrate.override.from[1]: invalid CIDR "
                      "\"10.0.0.1/8\": host bits set");
    static const struct {
        const char *cidr;
        const char *why;
    } bad[] = {
        { "10.0.0.0/33", "prefix length must be 0..32" },
        { "::1/129", "prefix length must be 0..128" },
        { "::1/127", "host bits set" },
        { "10.0.0.128/25", "" },
        { "10.0.0.64/25", "host bits set" },
        { "2001:db8::1/64", "host bits set" },
        { "bogus", "expected an address block like 10.0.0.0/8 or ::1/128" },
        { "10.0.0.0/", "expected an address block like 10.0.0.0/8 or ::1/128" },
        { "/8", "expected an address block like 10.0.0.0/8 or ::1/128" },
        { "10.0.0/8", "expected an address block like 10.0.0.0/8 or ::1/128" },
        { "10.0.0.0/-8", "expected an address block like 10.0.0.0/8 or ::1/128" },
        { "[::1]/128", "expected an address block like 10.0.0.0/8 or ::1/128" },
        { "fe80::1%eth0/128", "expected an address block like 10.0.0.0/8 or ::1/128" },
    };
    char yaml[512];
    char want[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        (void)snprintf(yaml, sizeof(yaml),
                       MIG_HEAD "      to: b\n      override: {header: X-T, from: [\"%s\"]}\n",
                       bad[i].cidr);
        if (bad[i].why[0] == '\0') {
            fx_conf_unref(load_ok(yaml));
            continue;
        }
        (void)snprintf(
            want, sizeof(want),
            "t.yaml:8:38: route \"r\": migrate.override.from[0]: invalid CIDR \"%s\": %s",
            bad[i].cidr, bad[i].why);
        assert_conf_error(yaml, want);
    }
    assert_conf_error(MIG_HEAD "      to: b\n      override: {header: X-T, from: \"10.0.0.0/8\"}\n",
                      "t.yaml:8:37: route \"r\": migrate.override.from: expected a list of address "
                      "blocks, got \"10.0.0.0/8\"");
    assert_conf_error(MIG_HEAD "      to: b\n      override: {header: \"X T\"}\n",
                      "t.yaml:8:26: route \"r\": migrate.override.header: invalid header name "
                      "\"X T\"");
    assert_conf_error(MIG_HEAD "      to: b\n      override: {header: X-T, users: [a]}\n",
                      "t.yaml:8:31: unknown key \"users\" in route \"r\" migrate.override");
}

/* ---- fingerprint -------------------------------------------------------- */

static void sha256_hex(const char *text, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    assert_int_equal(EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL), 1);
    assert_int_equal(len, 32);
    for (unsigned int i = 0; i < len; i++)
        (void)snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Fingerprint of route r with the given migrate body (after MIG_HEAD). */
static void fingerprint_of(const char *body, char out[65])
{
    char yaml[2048];
    (void)snprintf(yaml, sizeof(yaml), "%s%s", MIG_HEAD, body);
    struct fx_conf *c = load_ok(yaml);
    memcpy(out, c->routes[0].migrate->fingerprint, 65);
    fx_conf_unref(c);
}

static void test_conf_migrate_fingerprint_canonical(void **state)
{
    (void)state;
    static const char *const same[] = {
        "      to: b\n"
        "      weight: 5%\n"
        "      sticky: header:X-User-Id\n"
        "      ramp: {steps: [1%, 5%, 25%, 50%, 100%], interval: 10m}\n"
        "      override: {header: X-Ficus-Target, from: [\"127.0.0.1/32\", \"10.0.0.0/8\", "
        "\"::1/128\"]}\n",
        /* Other order, flow and block mixed, comments, other spellings of the
         * same values, defaults written out. */
        "      # the new orders service\n"
        "      override:\n"
        "        from:\n"
        "          - 127.0.0.1     # a bare address is a /32\n"
        "          - \"10.0.0.0/8\"\n"
        "          - \"0:0::0001\"\n"
        "        header: \"X-Ficus-Target\"\n"
        "      guard: {window: 300s, rollback_factor: 2.000, max_p99_ratio: 1.50,\n"
        "              min_requests: 200, max_error_rate_increase: 1.00%}\n"
        "      ramp:\n"
        "        interval: 600s\n"
        "        steps: [1.0%, 5.00%, 25%, \"50%\", 100%]\n"
        "      sticky: 'header:X-User-Id'\n"
        "      weight: 5.00%\n"
        "      to: \"b\"\n",
    };
    char want[65];
    char got[65];
    sha256_hex("to=b;weight=500;sticky=1:X-User-Id;steps=100,500,2500,5000,10000;interval=600000;"
               "guard=100,1.5,200,300000,2;override=X-Ficus-Target:127.0.0.1/32,10.0.0.0/8,::1/128",
               want);
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        fingerprint_of(same[i], got);
        assert_string_equal(got, want);
    }
    fingerprint_of("      to: b\n", got);
    sha256_hex("to=b;weight=0;sticky=0:;steps=;interval=0;guard=100,1.5,200,300000,2;override=",
               want);
    assert_string_equal(got, want);
}

static void test_conf_migrate_fingerprint_changes(void **state)
{
    (void)state;
    /* Each body differs from the first in exactly one value. */
    static const char *const bodies[] = {
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: c, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5.01%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: cookie:X-U, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-V, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: ip, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%, 6%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [4%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 61s},"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U,"
        " override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " guard: {max_error_rate_increase: 2%}, override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " guard: {max_p99_ratio: 1.501}, override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " guard: {min_requests: 201}, override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " guard: {window: 6m}, override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " guard: {rollback_factor: 2.5}, override: {header: X-T, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-S, from: [10.0.0.0/8]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/9]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-T, from: [10.0.0.0/8, \"::1\"]}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m},"
        " override: {header: X-T}}\n",
        "      {to: b, weight: 5%, sticky: header:X-U, ramp: {steps: [5%], interval: 1m}}\n",
    };
    enum {
        N = sizeof(bodies) / sizeof(bodies[0])
    };
    char fp[N][65];
    for (size_t i = 0; i < N; i++)
        fingerprint_of(bodies[i], fp[i]);
    for (size_t i = 0; i < N; i++) {
        for (size_t j = i + 1; j < N; j++) {
            if (strcmp(fp[i], fp[j]) == 0)
                fail_msg("bodies %zu and %zu have the same fingerprint", i, j);
        }
    }
    /* The route around the section does not take part. */
    char other[65];
    struct fx_conf *c = load_ok(BASE_LISTEN MIG_UP "routes:\n  - name: other\n"
                                                   "    match: {path_prefix: /x}\n    to: c\n"
                                                   "    migrate:\n" /* same as bodies[0] */
                                                   "      {to: b, weight: 5%, sticky: header:X-U,"
                                                   " ramp: {steps: [5%], interval: 1m},"
                                                   " override: {header: X-T, from: "
                                                   "[10.0.0.0/8]}}\n");
    memcpy(other, c->routes[0].migrate->fingerprint, sizeof(other));
    fx_conf_unref(c);
    assert_string_equal(other, fp[0]);
}

/* ---- store -------------------------------------------------------------- */

static struct fx_conf *load_named(const char *name, const char *yaml)
{
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    int rc = fx_conf_load_string(name, yaml, strlen(yaml), &c, &err);
    if (rc != 0)
        print_message("unexpected error: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return c;
}

static void test_conf_store_paths(void **state)
{
    (void)state;
    static const struct {
        const char *conf;
        const char *store;
        const char *want;
    } cases[] = {
        { "t.yaml", NULL, "ficus.db" },
        { "/etc/ficus/ficus.yaml", NULL, "/etc/ficus/ficus.db" },
        { "conf/ficus.yaml", NULL, "conf/ficus.db" },
        { "/ficus.yaml", NULL, "/ficus.db" },
        { "/etc/ficus/ficus.yaml", "sqlite:data/f.db", "/etc/ficus/data/f.db" },
        { "/etc/ficus/ficus.yaml", "sqlite:/var/lib/ficus/ficus.db", "/var/lib/ficus/ficus.db" },
        { "conf/ficus.yaml", "sqlite:../state.db", "conf/../state.db" },
        { "t.yaml", "sqlite:state.db", "state.db" },
    };
    char yaml[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].store == NULL)
            (void)snprintf(yaml, sizeof(yaml), "%s", BASE);
        else
            (void)snprintf(yaml, sizeof(yaml), BASE "store: \"%s\"\n", cases[i].store);
        struct fx_conf *c = load_named(cases[i].conf, yaml);
        assert_string_equal(c->store_path, cases[i].want);
        fx_conf_unref(c);
    }
}

static void test_conf_error_store(void **state)
{
    (void)state;
    assert_conf_error(BASE "store: postgres://db.internal/ficus\n",
                      "t.yaml:6:8: store: unsupported scheme \"postgres:\": only sqlite:PATH");
    assert_conf_error(BASE "store: SQLITE:x.db\n",
                      "t.yaml:6:8: store: unsupported scheme \"SQLITE:\": only sqlite:PATH");
    assert_conf_error(BASE "store: ficus.db\n",
                      "t.yaml:6:8: store: expected sqlite:PATH, got \"ficus.db\"");
    assert_conf_error(BASE "store: /var/lib/ficus.db\n",
                      "t.yaml:6:8: store: expected sqlite:PATH, got \"/var/lib/ficus.db\"");
    assert_conf_error(BASE "store: \"sqlite:\"\n",
                      "t.yaml:6:8: store: expected sqlite:PATH, got \"sqlite:\"");
    assert_conf_error(BASE "store: sqlite:/var/lib/\n",
                      "t.yaml:6:8: store: \"sqlite:/var/lib/\" names a directory, not a database "
                      "file");
    assert_conf_error(BASE "store: [sqlite:x]\n",
                      "t.yaml:6:8: store: expected a string, got a list");
}

/* ---- files in a temporary directory ------------------------------------- */

struct tmpdir {
    char path[64];
};

static struct tmpdir tmpdir_make(void)
{
    struct tmpdir d;
    (void)snprintf(d.path, sizeof(d.path), "/tmp/ficus-conf-test-XXXXXX");
    assert_non_null(mkdtemp(d.path));
    return d;
}

static void tmpdir_write(const struct tmpdir *d, const char *name, const char *text)
{
    char path[128];
    (void)snprintf(path, sizeof(path), "%s/%s", d->path, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void tmpdir_remove(const struct tmpdir *d, const char *const *names, size_t n)
{
    char path[128];
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(path, sizeof(path), "%s/%s", d->path, names[i]);
        (void)unlink(path);
    }
    assert_int_equal(rmdir(d->path), 0);
}

/* A configuration whose line 2 is `admin: {..., token_file: FILE}`, FILE at column 44. */
static int load_with_tokens(const struct tmpdir *d, const char *token_file, struct fx_conf **c,
                            struct fx_err *err)
{
    char yaml[512];
    char conf[128];
    (void)snprintf(yaml, sizeof(yaml),
                   BASE_LISTEN "admin: {listen: \"127.0.0.1:0\", token_file: %s}\n" BASE_UP BASE_RT,
                   token_file);
    tmpdir_write(d, "ficus.yaml", yaml);
    (void)snprintf(conf, sizeof(conf), "%s/ficus.yaml", d->path);
    return fx_conf_load(conf, c, err);
}

static void test_conf_load_file_store_default(void **state)
{
    (void)state;
    struct tmpdir d = tmpdir_make();
    tmpdir_write(&d, "ficus.yaml", BASE "store: sqlite:state/ficus.db\n");
    char conf[128];
    char want[128];
    (void)snprintf(conf, sizeof(conf), "%s/ficus.yaml", d.path);
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_conf_load(conf, &c, &err), 0);
    (void)snprintf(want, sizeof(want), "%s/state/ficus.db", d.path);
    assert_string_equal(c->store_path, want);
    fx_conf_unref(c);
    tmpdir_write(&d, "ficus.yaml", BASE);
    assert_int_equal(fx_conf_load(conf, &c, &err), 0);
    (void)snprintf(want, sizeof(want), "%s/ficus.db", d.path);
    assert_string_equal(c->store_path, want);
    assert_int_equal(c->nadmin_tokens, 0);
    assert_null(c->admin_token_file);
    fx_conf_unref(c);
    static const char *const names[] = { "ficus.yaml" };
    tmpdir_remove(&d, names, 1);
}

/* The dump names the token file and counts the tokens, never shows them. */
static void check_dump_hides_tokens(const struct fx_conf *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(fx_conf_dump_json(c, f), 0);
    assert_int_equal(fclose(f), 0);
    for (size_t i = 0; i < c->nadmin_tokens; i++)
        assert_null(strstr(text, c->admin_tokens[i]));
    json_t *root = json_loadb(text, len, 0, NULL);
    assert_non_null(root);
    json_t *admin = json_object_get(root, "admin");
    assert_string_equal(json_string_value(json_object_get(admin, "token_file")),
                        c->admin_token_file);
    assert_int_equal(json_integer_value(json_object_get(admin, "token_count")), c->nadmin_tokens);
    json_decref(root);
    free(text);
}

static void test_conf_admin_tokens(void **state)
{
    (void)state;
    struct tmpdir d = tmpdir_make();
    tmpdir_write(&d, "admin.token",
                 "# Ficus admin tokens\n"
                 "\n"
                 "ops:0123456789abcdef\n"
                 "  ci : tok-ci-0123456789ABCDEF  \r\n"
                 "\t# indented comment\n"
                 "bare-token-0123456789\n"
                 "deploy.bot_2:with:colons:0123456789");
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    int rc = load_with_tokens(&d, "admin.token", &c, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(c->admin_token_file, "admin.token");
    assert_int_equal(c->nadmin_tokens, 4);
    check_dump_hides_tokens(c);
    static const char *const names[] = { "ops", "ci", "admin", "deploy.bot_2" };
    static const char *const tokens[] = { "0123456789abcdef", "tok-ci-0123456789ABCDEF",
                                          "bare-token-0123456789", "with:colons:0123456789" };
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(c->admin_token_names[i], names[i]);
        assert_string_equal(c->admin_tokens[i], tokens[i]);
    }
    fx_conf_unref(c);
    /* An absolute path is used as written. */
    char abs[128];
    (void)snprintf(abs, sizeof(abs), "%s/admin.token", d.path);
    assert_int_equal(load_with_tokens(&d, abs, &c, &err), 0);
    assert_string_equal(c->admin_token_file, abs);
    assert_int_equal(c->nadmin_tokens, 4);
    fx_conf_unref(c);
    static const char *const files[] = { "ficus.yaml", "admin.token" };
    tmpdir_remove(&d, files, 2);
}

/* A role after a blank: read, operate, admin; none means admin. */
static void test_conf_admin_token_roles(void **state)
{
    (void)state;
    struct tmpdir d = tmpdir_make();
    tmpdir_write(&d, "admin.token",
                 "grafana:read-0123456789abcdef read\n"
                 "bot:operate-0123456789abcdef\toperate\n"
                 "root:admin-0123456789abcdef   admin  \n"
                 "old:plain-0123456789abcdef\n"
                 "bare-0123456789abcdef read\n"
                 "x:with:colons:0123456789\n");
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    int rc = load_with_tokens(&d, "admin.token", &c, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(c->nadmin_tokens, 6);
    static const char *const names[] = { "grafana", "bot", "root", "old", "admin", "x" };
    static const char *const tokens[] = { "read-0123456789abcdef",  "operate-0123456789abcdef",
                                          "admin-0123456789abcdef", "plain-0123456789abcdef",
                                          "bare-0123456789abcdef",  "with:colons:0123456789" };
    static const enum fx_conf_admin_role roles[] = {
        FX_CONF_ROLE_READ,  FX_CONF_ROLE_OPERATE, FX_CONF_ROLE_ADMIN,
        FX_CONF_ROLE_ADMIN, FX_CONF_ROLE_READ,    FX_CONF_ROLE_ADMIN,
    };
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(c->admin_token_names[i], names[i]);
        assert_string_equal(c->admin_tokens[i], tokens[i]);
        assert_int_equal(c->admin_token_roles[i], roles[i]);
    }
    check_dump_hides_tokens(c);
    fx_conf_unref(c);
    static const char *const files[] = { "ficus.yaml", "admin.token" };
    tmpdir_remove(&d, files, 2);
}

/* admin.allowed_hosts and admin.open, with their defaults and errors. */
static void test_conf_admin_hosts_and_open(void **state)
{
    (void)state;
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    const char *plain = BASE_LISTEN "admin: {listen: \"127.0.0.1:0\"}\n" BASE_UP BASE_RT;
    assert_int_equal(fx_conf_load_string("t.yaml", plain, strlen(plain), &c, &err), 0);
    assert_int_equal(c->admin_open, FX_CONF_ADMIN_OPEN_HEALTHZ | FX_CONF_ADMIN_OPEN_METRICS);
    assert_int_equal(c->nadmin_allowed_hosts, 0);
    fx_conf_unref(c);
    const char *set =
        BASE_LISTEN "admin: {listen: \"127.0.0.1:0\", allowed_hosts: "
                    "[ficus.internal, \"ops.example:9901\"], open: [healthz]}\n" BASE_UP BASE_RT;
    int rc = fx_conf_load_string("t.yaml", set, strlen(set), &c, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(c->admin_open, FX_CONF_ADMIN_OPEN_HEALTHZ);
    assert_int_equal(c->nadmin_allowed_hosts, 2);
    assert_string_equal(c->admin_allowed_hosts[0], "ficus.internal");
    assert_string_equal(c->admin_allowed_hosts[1], "ops.example:9901");
    fx_conf_unref(c);
    const char *none = BASE_LISTEN "admin: {listen: \"127.0.0.1:0\", open: []}\n" BASE_UP BASE_RT;
    assert_int_equal(fx_conf_load_string("t.yaml", none, strlen(none), &c, &err), 0);
    assert_int_equal(c->admin_open, 0);
    fx_conf_unref(c);
    const char *bad =
        BASE_LISTEN "admin: {listen: \"127.0.0.1:0\", open: [config]}\n" BASE_UP BASE_RT;
    assert_int_equal(fx_conf_load_string("t.yaml", bad, strlen(bad), &c, &err), FX_ECONF);
    assert_non_null(strstr(err.msg, "admin.open[0]: unknown endpoint \"config\""));
    const char *badh =
        BASE_LISTEN "admin: {listen: \"127.0.0.1:0\", allowed_hosts: [\"a b\"]}\n" BASE_UP BASE_RT;
    assert_int_equal(fx_conf_load_string("t.yaml", badh, strlen(badh), &c, &err), FX_ECONF);
    assert_non_null(strstr(err.msg, "admin.allowed_hosts[0]: invalid host \"a b\""));
}

/* Load with a token file holding `text`; the error must be `cause` after
 * `CONF:2:44: admin.token_file: "DIR/admin.token" ` and never show `secret`. */
static void assert_token_error(const struct tmpdir *d, const char *text, const char *cause,
                               const char *secret)
{
    char want[512];
    tmpdir_write(d, "admin.token", text);
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(load_with_tokens(d, "admin.token", &c, &err), FX_ECONF);
    assert_null(c);
    (void)snprintf(want, sizeof(want),
                   "%s/ficus.yaml:2:44: admin.token_file: \"%s/admin.token\" %s", d->path, d->path,
                   cause);
    assert_string_equal(err.msg, want);
    if (secret != NULL)
        assert_null(strstr(err.msg, secret));
}

static void test_conf_error_admin_tokens(void **state)
{
    (void)state;
    struct tmpdir d = tmpdir_make();
    assert_token_error(&d, "ops:short-token\n",
                       "line 1: token for \"ops\" is shorter than 16 characters", "short-token");
    assert_token_error(&d, "# x\n0123456789abcde\n",
                       "line 2: token for \"admin\" is shorter than 16 characters", "0123456789");
    assert_token_error(&d, "ops:\n", "line 1: token for \"ops\" is shorter than 16 characters",
                       NULL);
    assert_token_error(&d, "# only comments\n\n   \n", "holds no token", NULL);
    assert_token_error(&d, "", "holds no token", NULL);
    assert_token_error(&d, "bad name:0123456789abcdef0\n",
                       "line 1: invalid token name before ':' (use 1 to 32 letters, digits, '-', "
                       "'_' or '.')",
                       "0123456789abcdef0");
    assert_token_error(&d, "abcdefghijklmnopqrstuvwxyz0123456:0123456789abcdef0\n",
                       "line 1: invalid token name before ':' (use 1 to 32 letters, digits, '-', "
                       "'_' or '.')",
                       "abcdefghijklmnopqrstuvwxyz");
    assert_token_error(&d, ":0123456789abcdef0\n",
                       "line 1: invalid token name before ':' (use 1 to 32 letters, digits, '-', "
                       "'_' or '.')",
                       NULL);
    assert_token_error(&d, "a:0123456789abcdef\nb:0123456789abcdef\n",
                       "line 2: token for \"b\" repeats an earlier token", "0123456789abcdef");
    assert_token_error(&d, "a:0123456 789abcdef read\n",
                       "line 1: token for \"a\" contains spaces or control characters",
                       "789abcdef");
    assert_token_error(&d, "a:0123456 789abcdef\n",
                       "line 1: unknown role after the token (use read, operate or admin)",
                       "789abcdef");
    assert_token_error(&d, "a:0123456789abcdef reader\n",
                       "line 1: unknown role after the token (use read, operate or admin)",
                       "0123456789abcdef");
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    char want[512];
    assert_int_equal(load_with_tokens(&d, "missing.token", &c, &err), FX_ECONF);
    (void)snprintf(want, sizeof(want),
                   "%s/ficus.yaml:2:44: admin.token_file: cannot open \"%s/missing.token\": No "
                   "such file or directory",
                   d.path, d.path);
    assert_string_equal(err.msg, want);
    assert_int_equal(load_with_tokens(&d, "/tmp", &c, &err), FX_ECONF);
    (void)snprintf(want, sizeof(want),
                   "%s/ficus.yaml:2:44: admin.token_file: \"/tmp\" is not a regular file", d.path);
    assert_string_equal(err.msg, want);
    assert_int_equal(load_with_tokens(&d, "\"\"", &c, &err), FX_ECONF);
    (void)snprintf(want, sizeof(want),
                   "%s/ficus.yaml:2:44: admin.token_file: expected a file path, got \"\"", d.path);
    assert_string_equal(err.msg, want);
    char *big = malloc(70000);
    assert_non_null(big);
    memset(big, '#', 69999);
    big[69999] = '\0';
    assert_token_error(&d, big, "is larger than 65536 bytes", NULL);
    free(big);
    static const char *const files[] = { "ficus.yaml", "admin.token" };
    tmpdir_remove(&d, files, 2);
}

static void test_conf_dump_json_migrate(void **state)
{
    (void)state;
    struct fx_conf *c = load_named("/etc/ficus/ficus.yaml", migrate_full);
    json_t *root = dump_to_json(c);
    json_t *store = json_object_get(root, "store");
    assert_string_equal(json_string_value(json_object_get(store, "scheme")), "sqlite");
    assert_string_equal(json_string_value(json_object_get(store, "path")), "/etc/ficus/ficus.db");
    json_t *m = json_object_get(json_array_get(json_object_get(root, "routes"), 0), "migrate");
    assert_string_equal(json_string_value(json_object_get(m, "to")), "b");
    assert_int_equal(json_integer_value(json_object_get(m, "weight_bp")), 1250);
    assert_string_equal(json_string_value(json_object_get(m, "sticky")), "header:X-User-Id");
    json_t *ramp = json_object_get(m, "ramp");
    assert_int_equal(json_array_size(json_object_get(ramp, "steps_bp")), 5);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(ramp, "steps_bp"), 0)), 1);
    assert_int_equal(json_integer_value(json_object_get(ramp, "interval_ms")), 600000);
    json_t *guard = json_object_get(m, "guard");
    assert_int_equal(json_integer_value(json_object_get(guard, "max_error_rate_increase_bp")), 50);
    assert_true(json_real_value(json_object_get(guard, "max_p99_ratio")) == 1.25);
    assert_int_equal(json_integer_value(json_object_get(guard, "min_requests")), 50);
    assert_int_equal(json_integer_value(json_object_get(guard, "window_ms")), 30000);
    assert_true(json_real_value(json_object_get(guard, "rollback_factor")) == 3.0);
    json_t *ov = json_object_get(m, "override");
    assert_string_equal(json_string_value(json_object_get(ov, "header")), "X-Ficus-Target");
    json_t *from = json_object_get(ov, "from");
    assert_int_equal(json_array_size(from), 6);
    assert_string_equal(json_string_value(json_array_get(from, 2)), "::1/128");
    assert_string_equal(json_string_value(json_array_get(from, 3)), "192.168.1.7/32");
    assert_string_equal(json_string_value(json_array_get(from, 4)), "2001:db8::/32");
    assert_string_equal(json_string_value(json_object_get(m, "fingerprint")),
                        c->routes[0].migrate->fingerprint);
    json_decref(root);
    fx_conf_unref(c);
    c = load_ok(MIG_HEAD "      {to: b, sticky: ip}\n  - {name: plain, to: b}\n");
    root = dump_to_json(c);
    json_t *routes = json_object_get(root, "routes");
    m = json_object_get(json_array_get(routes, 0), "migrate");
    assert_string_equal(json_string_value(json_object_get(m, "sticky")), "ip");
    assert_true(json_is_null(json_object_get(m, "ramp")));
    assert_true(json_is_null(json_object_get(m, "override")));
    assert_true(json_is_null(json_object_get(json_array_get(routes, 1), "migrate")));
    json_decref(root);
    fx_conf_unref(c);
}

/* ---- schema engine -------------------------------------------------------- */

static void test_conf_suggest_nearest_key(void **state)
{
    (void)state;
    static const char *const words[] = { "listen", "upstreams", "routes", "limits" };
    assert_string_equal(fx_conf_suggest("upstrem", words, 4, sizeof(words[0])), "upstreams");
    assert_string_equal(fx_conf_suggest("lsiten", words, 4, sizeof(words[0])), "listen");
    assert_string_equal(fx_conf_suggest("rutes", words, 4, sizeof(words[0])), "routes");
    assert_null(fx_conf_suggest("cache", words, 4, sizeof(words[0])));
    assert_null(fx_conf_suggest("x", words, 4, sizeof(words[0])));
    assert_null(fx_conf_suggest("listen", words, 4, sizeof(words[0])));
}

static void test_conf_parse_percent_forms(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint32_t bp;
    } ok[] = { { "25%", 2500 }, { "0.01%", 1 }, { "100%", 10000 }, { "5", 500 }, { "12.5", 1250 } };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint32_t bp = 0;
        assert_int_equal(fx_conf_parse_percent(ok[i].s, &bp), 0);
        assert_int_equal(bp, ok[i].bp);
    }
    static const char *const bad[] = { "", "5 %", "-1", "1.234%", "5%%", "%", "1e2" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t bp = 7;
        assert_int_equal(fx_conf_parse_percent(bad[i], &bp), FX_EINVAL);
        assert_int_equal(bp, 7);
    }
    uint32_t bp = 0;
    assert_int_equal(fx_conf_parse_percent("100.01%", &bp), FX_ELIMIT);
    assert_int_equal(fx_conf_parse_percent(NULL, &bp), FX_EINVAL);
}

static void test_conf_check_lists_every_error(void **state)
{
    (void)state;
    char path[] = "/tmp/ficus-conf-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char yaml[] = "listen: \"127.0.0.1:0\"\nlistn: x\nlimits: {idle_timout: 5s}\n"
                               "upstreams:\n  a: {servers: [\"127.0.0.1:1\"], max_idle: -1}\n"
                               "routes:\n  - {name: r, to: b}\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    (void)close(fd);
    char *text = NULL;
    size_t len = 0;
    FILE *diag = open_memstream(&text, &len);
    assert_non_null(diag);
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_conf_check(path, diag, &c, &err), FX_ECONF);
    (void)fclose(diag);
    (void)unlink(path);
    assert_null(c);
    char want[1024];
    (void)snprintf(
        want, sizeof(want),
        "%s:2:1: unknown key \"listn\" in top level (did you mean \"listen\"?)\n"
        "%s:3:10: unknown key \"idle_timout\" in limits (did you mean \"idle_timeout\"?)\n"
        "%s:5:43: upstream \"a\": max_idle: expected an integer, got \"-1\"\n"
        "%s:7:19: route \"r\": upstream \"b\" is not defined\n",
        path, path, path, path);
    assert_string_equal(text, want);
    /* The first error is also the one fx_conf_load() reports. */
    assert_int_equal(strncmp(err.msg, want, strlen(err.msg)), 0);
    free(text);
}

static void test_conf_schema_defaults_match_dump(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(BASE);
    assert_int_equal(c->limits.header_bytes, 16384);
    assert_int_equal(c->limits.idle_timeout_ms, 60000);
    assert_int_equal(c->limits.shadow_inflight_bytes, 64u << 20);
    assert_true(c->paths.merge_slashes && c->paths.resolve_dots && c->paths.decode_unreserved);
    assert_int_equal(c->paths.flags, 0x7);
    fx_conf_unref(c);
}

static void test_conf_error_methods_case(void **state)
{
    (void)state;
    assert_conf_error(BASE_LISTEN BASE_UP "routes:\n  - name: r\n    to: a\n"
                                          "    match: {methods: [GET, get]}\n",
                      "t.yaml:7:28: route \"r\": match.methods[1]: \"get\": HTTP methods are "
                      "case-sensitive; did you mean \"GET\"?");
    assert_conf_error(BASE "admin: {listen: \"127.0.0.1:0\", open: [helthz]}\n",
                      "t.yaml:6:39: admin.open[0]: unknown endpoint \"helthz\" (did you mean "
                      "\"healthz\"?)");
    /* A method that is not a standard one in another case is still a token. */
    struct fx_conf *c = load_ok(BASE_LISTEN BASE_UP "routes:\n  - name: r\n    to: a\n"
                                                    "    match: {methods: [PURGE, purge]}\n");
    assert_int_equal(c->routes[0].nmethods, 2);
    fx_conf_unref(c);
}

/* ---- log.fields ----------------------------------------------------------------- */

static void test_conf_log_fields(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(BASE);
    assert_int_equal(c->nlog_fields, 0); /* the default line */
    fx_conf_unref(c);
    c = load_ok(BASE "log: {fields: [status, user_agent, time]}\n");
    assert_int_equal(c->nlog_fields, 3);
    assert_int_equal(c->log_fields[0], FX_CONF_LOG_F_STATUS);
    assert_int_equal(c->log_fields[1], FX_CONF_LOG_F_USER_AGENT);
    assert_int_equal(c->log_fields[2], FX_CONF_LOG_F_TIME);
    fx_conf_unref(c);
    assert_string_equal(fx_conf_log_field_name(FX_CONF_LOG_F_UPSTREAM_HEADER_US),
                        "upstream_header_us");
    assert_string_equal(fx_conf_log_field_name(FX_CONF_LOG_NFIELDS), "");
    /* The default line is today's: time first, error last. */
    assert_string_equal(fx_conf_log_field_name(0), "time");
    assert_string_equal(fx_conf_log_field_name(FX_CONF_LOG_NDEFAULT - 1), "error");
}

static void test_conf_log_field_find_suggests(void **state)
{
    (void)state;
    const char *hint = "x";
    assert_int_equal(fx_conf_log_field_find("referer", &hint), FX_CONF_LOG_F_REFERER);
    assert_null(hint);
    assert_int_equal(fx_conf_log_field_find("user_agnet", &hint), -1);
    assert_string_equal(hint, "user_agent");
    assert_int_equal(fx_conf_log_field_find("useragent", &hint), -1);
    assert_string_equal(hint, "user_agent");
    assert_int_equal(fx_conf_log_field_find("referrer", &hint), -1);
    assert_string_equal(hint, "referer");
    assert_int_equal(fx_conf_log_field_find("Status", &hint), -1); /* names are lower case */
    assert_string_equal(hint, "status");
    assert_int_equal(fx_conf_log_field_find("zzzzzzzz", &hint), -1);
    assert_null(hint);
    assert_int_equal(fx_conf_log_field_find("", &hint), -1);
    assert_null(hint);
}

static void test_conf_error_log_fields(void **state)
{
    (void)state;
    assert_conf_error(BASE "log: {fields: [time, user_agnet]}\n",
                      "t.yaml:6:22: log.fields[1]: unknown field \"user_agnet\" (did you mean "
                      "user_agent?)");
    assert_conf_error(BASE "log: {fields: [status, status]}\n",
                      "t.yaml:6:24: log.fields[1]: field \"status\" is listed twice");
    assert_conf_error_prefix(BASE "log: {fields: []}\n",
                             "t.yaml:6:15: log.fields: expected a non-empty list");
    assert_conf_error_prefix(BASE "log: {fields: time}\n",
                             "t.yaml:6:15: log.fields: expected a non-empty list");
}

/* ---- path_regex, host wildcards, rewrites -------------------------------- */

static void test_conf_route_regex_wildcards_rewrites(void **state)
{
    (void)state;
    struct fx_conf *c =
        load_ok(ROUTE_HEAD "  - name: r\n"
                           "    match: {path_regex: \"^/api/v[0-9]+/orders\", host: \"*.ex.com\"}\n"
                           "    strip_prefix: /api\n"
                           "    set_headers: {X-Env: prod, Host: legacy.internal, X-Empty: \"\"}\n"
                           "    remove_headers: [Cookie, x-debug]\n"
                           "    to: a\n");
    const struct fx_conf_route *r = &c->routes[0];
    assert_string_equal(r->path_regex, "^/api/v[0-9]+/orders");
    assert_non_null(r->path_re);
    assert_int_equal(r->host_kind, FX_CONF_HOST_SUBDOMAINS);
    assert_int_equal(r->host_pat_len, strlen(".ex.com"));
    assert_memory_equal(r->host_pat, ".ex.com", r->host_pat_len);
    assert_string_equal(r->strip_prefix, "/api");
    assert_int_equal(r->strip_prefix_len, 4);
    assert_int_equal(r->nset_headers, 3);
    assert_string_equal(r->set_headers[1].name, "Host");
    assert_string_equal(r->set_headers[1].value, "legacy.internal");
    assert_string_equal(r->set_headers[2].value, "");
    assert_int_equal(r->nremove_headers, 2);
    assert_string_equal(r->remove_headers[1], "x-debug");
    /* The canonical dump shows the keys as written. */
    json_t *root = dump_to_json(c);
    json_t *jr = json_array_get(json_object_get(root, "routes"), 0);
    json_t *m = json_object_get(jr, "match");
    assert_string_equal(json_string_value(json_object_get(m, "path_regex")),
                        "^/api/v[0-9]+/orders");
    assert_string_equal(json_string_value(json_object_get(m, "host")), "*.ex.com");
    assert_string_equal(json_string_value(json_object_get(jr, "strip_prefix")), "/api");
    json_t *set = json_object_get(jr, "set_headers");
    assert_int_equal(json_object_size(set), 3);
    assert_string_equal(json_string_value(json_object_get(set, "Host")), "legacy.internal");
    json_t *rm = json_object_get(jr, "remove_headers");
    assert_int_equal(json_array_size(rm), 2);
    assert_string_equal(json_string_value(json_array_get(rm, 0)), "Cookie");
    json_decref(root);
    fx_conf_unref(c);
    /* Unset: null, {} and [], and no path_regex key. */
    c = load_ok(BASE);
    root = dump_to_json(c);
    jr = json_array_get(json_object_get(root, "routes"), 0);
    assert_true(json_is_null(json_object_get(jr, "strip_prefix")));
    assert_int_equal(json_object_size(json_object_get(jr, "set_headers")), 0);
    assert_int_equal(json_array_size(json_object_get(jr, "remove_headers")), 0);
    assert_null(json_object_get(json_object_get(jr, "match"), "path_regex"));
    json_decref(root);
    fx_conf_unref(c);
}

static void test_conf_error_path_regex(void **state)
{
    (void)state;
    assert_conf_error(ROUTE_HEAD "  - {name: x, match: {path_regex: \"^/(api\"}, to: a}\n",
                      "t.yaml:4:35: route \"x\": match.path_regex: missing closing parenthesis "
                      "at offset 6 in \"^/(api\"");
    assert_conf_error(ROUTE_HEAD "  - {name: x, match: {path_regex: \"/a[z-a]\"}, to: a}\n",
                      "t.yaml:4:35: route \"x\": match.path_regex: range out of order in "
                      "character class at offset 5 in \"/a[z-a]\"");
    assert_conf_error(ROUTE_HEAD "  - {name: x, match: {path_regex: \"\"}, to: a}\n",
                      "t.yaml:4:35: route \"x\": match.path_regex: must not be empty");
    assert_conf_error(ROUTE_HEAD
                      "  - {name: x, match: {path_prefix: /a, path_regex: \"^/a\"}, to: a}\n",
                      "t.yaml:4:52: route \"x\": match.path_regex: cannot be combined with "
                      "match.path_prefix (anchor the regex instead: \"^/api/...\")");
}

static void test_conf_error_host_wildcards(void **state)
{
    (void)state;
    static const char *const bad[] = { "a.*.com", "*",        "*.",       "**.a.com", "*.a.*",
                                       "a*.com",  ".*.a.com", "*..a.com", "*.a.com*" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[256];
        char want[512];
        (void)snprintf(yaml, sizeof(yaml),
                       ROUTE_HEAD "  - {name: r, match: {host: \"%s\"}, to: a}\n", bad[i]);
        (void)snprintf(want, sizeof(want),
                       "t.yaml:4:29: route \"r\": match.host: invalid host \"%s\"", bad[i]);
        assert_conf_error_prefix(yaml, want);
    }
    struct fx_conf *c = load_ok(ROUTE_HEAD "  - {name: a, match: {host: .ex.com}, to: a}\n"
                                           "  - {name: b, match: {host: \"www.ex.*\"}, to: a}\n"
                                           "  - {name: c, match: {host: Ex.Com}, to: a}\n");
    assert_int_equal(c->routes[0].host_kind, FX_CONF_HOST_DOMAIN);
    assert_int_equal(c->routes[1].host_kind, FX_CONF_HOST_PREFIX);
    assert_int_equal(c->routes[1].host_pat_len, strlen("www.ex."));
    assert_int_equal(c->routes[2].host_kind, FX_CONF_HOST_EXACT);
    fx_conf_unref(c);
}

static void test_conf_error_rewrites(void **state)
{
    (void)state;
    static const char *const refused[] = { "Content-Length",
                                           "transfer-encoding",
                                           "Connection",
                                           "Upgrade",
                                           "TE",
                                           "Trailer",
                                           "Keep-Alive",
                                           "Expect",
                                           "X-Ficus-Shadow",
                                           "x-ficus-anything",
                                           "Proxy-Authorization",
                                           "X-Forwarded-For" };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char yaml[256];
        char want[256];
        (void)snprintf(yaml, sizeof(yaml),
                       ROUTE_HEAD "  - {name: r, to: a, set_headers: {%s: v}}\n", refused[i]);
        (void)snprintf(want, sizeof(want), "t.yaml:4:36: route \"r\": set_headers: \"%s\" is ",
                       refused[i]);
        assert_conf_error_prefix(yaml, want);
        (void)snprintf(yaml, sizeof(yaml),
                       ROUTE_HEAD "  - {name: r, to: a, remove_headers: [%s]}\n", refused[i]);
        (void)snprintf(want, sizeof(want), "t.yaml:4:39: route \"r\": remove_headers: \"%s\" is ",
                       refused[i]);
        assert_conf_error_prefix(yaml, want);
    }
    assert_conf_error(ROUTE_HEAD "  - {name: r, to: a, remove_headers: [Cookie, HOST]}\n",
                      "t.yaml:4:47: route \"r\": remove_headers: \"HOST\" is required (replace it "
                      "with set_headers)");
    assert_conf_error(ROUTE_HEAD "  - {name: r, to: a, set_headers: {X-A: \"1\", x-a: \"2\"}}\n",
                      "t.yaml:4:46: route \"r\": set_headers: \"x-a\" is already in set_headers");
    assert_conf_error(
        ROUTE_HEAD "  - {name: r, to: a, set_headers: {X-A: \"1\"}, remove_headers: [X-A]}\n",
        "t.yaml:4:64: route \"r\": remove_headers: \"X-A\" is already in set_headers");
    assert_conf_error(ROUTE_HEAD "  - {name: r, to: a, set_headers: {X-A: \" v\"}}\n",
                      "t.yaml:4:41: route \"r\": set_headers: \"X-A\": not a field value (control "
                      "characters or edge spaces)");
    assert_conf_error(ROUTE_HEAD "  - {name: r, to: a, set_headers: {\"X A\": v}}\n",
                      "t.yaml:4:36: route \"r\": set_headers: invalid header name \"X A\"");
    assert_conf_error(ROUTE_HEAD "  - {name: r, to: a, strip_prefix: /api/}\n",
                      "t.yaml:4:36: route \"r\": strip_prefix: must start with '/' and not end "
                      "with one (\"/api\"), got \"/api/\"");
    assert_conf_error(ROUTE_HEAD "  - {name: r, to: a, strip_prefix: /}\n",
                      "t.yaml:4:36: route \"r\": strip_prefix: must start with '/' and not end "
                      "with one (\"/api\"), got \"/\"");
    assert_conf_error_prefix(ROUTE_HEAD "  - {name: r, to: a, strip_prefix: /a//b}\n",
                             "t.yaml:4:36: route \"r\": strip_prefix: \"/a//b\" never matches");
}

/* ---- timeouts and upgrade (schema type FX_CONF_T_TOKENS) ------------------ */

static void test_conf_upgrade_defaults_and_lists(void **state)
{
    (void)state;
    struct fx_conf *c = load_ok(BASE);
    assert_int_equal(c->timeouts.tunnel_ms, 3600000);
    assert_int_equal(c->upgrade.nprotocols, 1);
    assert_string_equal(c->upgrade.protocols[0], "websocket");
    fx_conf_unref(c);
    c = load_ok(BASE "timeouts: {tunnel: 90s}\nupgrade: {protocols: [websocket, Chat, x.y-z]}\n");
    assert_int_equal(c->timeouts.tunnel_ms, 90000);
    assert_int_equal(c->upgrade.nprotocols, 3);
    assert_string_equal(c->upgrade.protocols[1], "Chat");
    assert_string_equal(c->upgrade.protocols[2], "x.y-z");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    assert_int_equal(fx_conf_dump_json(c, f), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(out, "\"timeouts\":{\"tunnel_ms\":90000}"));
    assert_non_null(strstr(out, "\"upgrade\":{\"protocols\":[\"websocket\",\"Chat\",\"x.y-z\"]}"));
    free(out);
    fx_conf_unref(c);
    c = load_ok(BASE "upgrade: {protocols: []}\n");
    assert_int_equal(c->upgrade.nprotocols, 0);
    fx_conf_unref(c);
}

static void test_conf_upgrade_errors(void **state)
{
    (void)state;
    assert_conf_error(BASE "upgrade: {protocols: [websocket, WebSocket]}\n",
                      "t.yaml:6:34: upgrade.protocols[1]: \"WebSocket\" is listed twice");
    assert_conf_error(BASE "upgrade: {protocols: [\"web socket\"]}\n",
                      "t.yaml:6:23: upgrade.protocols[0]: invalid name \"web socket\": expected a "
                      "token of 1..31 bytes");
    assert_conf_error(BASE "upgrade: {protocols: websocket}\n",
                      "t.yaml:6:22: upgrade.protocols: expected a list, got \"websocket\"");
    assert_conf_error(BASE "upgrade: {protocols: [a, b, c, d, e, f, g, h, i]}\n",
                      "t.yaml:6:22: upgrade.protocols: at most 8 names, got 9");
    assert_conf_error(BASE "timeouts: {tunnel: 10ms}\n",
                      "t.yaml:6:20: timeouts.tunnel: 10ms is out of range 1s..24h");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_load_string_full_config),
        cmocka_unit_test(test_conf_load_string_defaults),
        cmocka_unit_test(test_conf_load_string_brief_example),
        cmocka_unit_test(test_conf_load_string_routes_before_upstreams),
        cmocka_unit_test(test_conf_load_string_log_off_and_anchor),
        cmocka_unit_test(test_conf_load_string_single_server_string),
        cmocka_unit_test(test_conf_load_string_port0_listen_twice),
        cmocka_unit_test(test_conf_ref_unref),
        cmocka_unit_test(test_conf_suggest_nearest_key),
        cmocka_unit_test(test_conf_error_methods_case),
        cmocka_unit_test(test_conf_parse_percent_forms),
        cmocka_unit_test(test_conf_check_lists_every_error),
        cmocka_unit_test(test_conf_schema_defaults_match_dump),
        cmocka_unit_test(test_conf_error_unknown_top_level_key),
        cmocka_unit_test(test_conf_error_reserved_keys_rejected),
        cmocka_unit_test(test_conf_error_unknown_nested_keys),
        cmocka_unit_test(test_conf_error_duplicate_key),
        cmocka_unit_test(test_conf_error_undefined_upstream),
        cmocka_unit_test(test_conf_error_workers),
        cmocka_unit_test(test_conf_error_server_address),
        cmocka_unit_test(test_conf_error_listen_address),
        cmocka_unit_test(test_conf_error_admin),
        cmocka_unit_test(test_conf_error_duplicate_route_name),
        cmocka_unit_test(test_conf_error_duplicate_upstream_name),
        cmocka_unit_test(test_conf_error_names),
        cmocka_unit_test(test_conf_error_durations),
        cmocka_unit_test(test_conf_error_sizes_and_counts),
        cmocka_unit_test(test_conf_limits_shadow_budgets),
        cmocka_unit_test(test_conf_error_wrong_types),
        cmocka_unit_test(test_conf_error_missing_required),
        cmocka_unit_test(test_conf_error_match_values),
        cmocka_unit_test(test_conf_error_log),
        cmocka_unit_test(test_conf_error_yaml_syntax),
        cmocka_unit_test(test_conf_error_yaml_features),
        cmocka_unit_test(test_conf_error_empty_and_top_level),
        cmocka_unit_test(test_conf_error_long_value_truncated),
        cmocka_unit_test(test_conf_error_null_err_and_args),
        cmocka_unit_test(test_conf_load_temp_file),
        cmocka_unit_test(test_conf_load_missing_file),
        cmocka_unit_test(test_conf_parse_duration_accepts),
        cmocka_unit_test(test_conf_parse_duration_rejects),
        cmocka_unit_test(test_conf_parse_size_accepts),
        cmocka_unit_test(test_conf_parse_size_rejects),
        cmocka_unit_test(test_conf_dump_json_full),
        cmocka_unit_test(test_conf_dump_json_defaults),
        cmocka_unit_test(test_conf_paths_defaults_and_keys),
        cmocka_unit_test(test_conf_paths_errors),
        cmocka_unit_test(test_conf_shadow_full),
        cmocka_unit_test(test_conf_shadow_defaults),
        cmocka_unit_test(test_conf_error_shadow),
        cmocka_unit_test(test_conf_migrate_full),
        cmocka_unit_test(test_conf_migrate_defaults),
        cmocka_unit_test(test_conf_migrate_sticky_and_weights),
        cmocka_unit_test(test_conf_error_migrate_to),
        cmocka_unit_test(test_conf_error_migrate_weight),
        cmocka_unit_test(test_conf_error_migrate_sticky),
        cmocka_unit_test(test_conf_error_migrate_ramp),
        cmocka_unit_test(test_conf_error_migrate_guard),
        cmocka_unit_test(test_conf_error_migrate_override),
        cmocka_unit_test(test_conf_migrate_fingerprint_canonical),
        cmocka_unit_test(test_conf_migrate_fingerprint_changes),
        cmocka_unit_test(test_conf_store_paths),
        cmocka_unit_test(test_conf_error_store),
        cmocka_unit_test(test_conf_load_file_store_default),
        cmocka_unit_test(test_conf_admin_tokens),
        cmocka_unit_test(test_conf_admin_token_roles),
        cmocka_unit_test(test_conf_admin_hosts_and_open),
        cmocka_unit_test(test_conf_error_admin_tokens),
        cmocka_unit_test(test_conf_dump_json_migrate),
        cmocka_unit_test(test_conf_log_fields),
        cmocka_unit_test(test_conf_log_field_find_suggests),
        cmocka_unit_test(test_conf_error_log_fields),
        cmocka_unit_test(test_conf_route_regex_wildcards_rewrites),
        cmocka_unit_test(test_conf_error_path_regex),
        cmocka_unit_test(test_conf_error_host_wildcards),
        cmocka_unit_test(test_conf_error_rewrites),
        cmocka_unit_test(test_conf_upgrade_defaults_and_lists),
        cmocka_unit_test(test_conf_upgrade_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
