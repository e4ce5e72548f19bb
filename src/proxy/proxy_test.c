/* Unit tests of the proxy module's pure logic: ejection back-off, the
 * choice of a server among ejected ones, and which Upgrade requests and 101
 * answers make a tunnel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>

#include "../http/http.h"
#include "proxy_int.h"

static void test_proxy_backoff_ms_doubles_to_the_cap(void **state)
{
    (void)state;
    assert_int_equal(fx_proxy_backoff_ms(0), 1000);
    assert_int_equal(fx_proxy_backoff_ms(1), 2000);
    assert_int_equal(fx_proxy_backoff_ms(2), 4000);
    assert_int_equal(fx_proxy_backoff_ms(3), 8000);
    assert_int_equal(fx_proxy_backoff_ms(4), 16000);
    assert_int_equal(fx_proxy_backoff_ms(5), FX_EJECT_MAX_MS);
    assert_int_equal(fx_proxy_backoff_ms(6), FX_EJECT_MAX_MS);
}

static void test_proxy_backoff_ms_huge_streak_stays_capped(void **state)
{
    (void)state;
    assert_int_equal(fx_proxy_backoff_ms(64), FX_EJECT_MAX_MS);
    assert_int_equal(fx_proxy_backoff_ms(UINT32_MAX), FX_EJECT_MAX_MS);
}

struct pick_fx {
    struct fx_srv_health health[8];
    struct fx_conf_server servers[4];
    struct fx_conf_upstream up;
};

/* Four servers whose pool ids are 4..7 (not their index, as after interning). */
static void pick_init(struct pick_fx *fx)
{
    memset(fx, 0, sizeof(*fx));
    for (unsigned int i = 0; i < 4; i++)
        fx->servers[i].pool_id = 4 + i;
    fx->up.servers = fx->servers;
    fx->up.nservers = 4;
}

static void eject(struct pick_fx *fx, size_t i, uint64_t until)
{
    atomic_store(&fx->health[fx->servers[i].pool_id].down_until_ms, until);
}

static void test_proxy_srv_pick_round_robin_when_all_up(void **state)
{
    (void)state;
    struct pick_fx f;
    struct pick_fx *fx = &f;
    pick_init(fx);
    for (size_t s = 0; s < 9; s++)
        assert_int_equal(fx_proxy_srv_pick(fx->health, &fx->up, s, 0, 100), s % 4);
}

static void test_proxy_srv_pick_skips_ejected(void **state)
{
    (void)state;
    struct pick_fx f;
    struct pick_fx *fx = &f;
    pick_init(fx);
    eject(fx, 1, 500);
    eject(fx, 2, 600);
    assert_int_equal(fx_proxy_srv_pick(fx->health, &fx->up, 1, 0, 100), 3);
    assert_int_equal(fx_proxy_srv_pick(fx->health, &fx->up, 0, 0, 100), 0);
    /* Once the back-off ends the server is a candidate again. */
    assert_int_equal(fx_proxy_srv_pick(fx->health, &fx->up, 1, 0, 500), 1);
}

static void test_proxy_srv_pick_all_ejected_takes_soonest(void **state)
{
    (void)state;
    struct pick_fx f;
    struct pick_fx *fx = &f;
    pick_init(fx);
    eject(fx, 0, 900);
    eject(fx, 1, 700);
    eject(fx, 2, 800);
    eject(fx, 3, 750);
    assert_int_equal(fx_proxy_srv_pick(fx->health, &fx->up, 2, 0, 100), 1);
    /* ... among the servers not tried yet. */
    assert_int_equal(fx_proxy_srv_pick(fx->health, &fx->up, 2, 1u << 1, 100), 3);
}

static void test_proxy_srv_pick_skips_tried(void **state)
{
    (void)state;
    struct pick_fx f;
    struct pick_fx *fx = &f;
    pick_init(fx);
    assert_int_equal(fx_proxy_srv_pick(fx->health, &fx->up, 1, 1u << 1, 100), 2);
    assert_int_equal(fx_proxy_srv_pick(fx->health, &fx->up, 3, (1u << 3) | 1u, 100), 1);
    /* Every server tried: the start one (the caller stops before this). */
    assert_int_equal(fx_proxy_srv_pick(fx->health, &fx->up, 6, 0xf, 100), 2);
}

static void test_proxy_srv_pick_single_server(void **state)
{
    (void)state;
    struct pick_fx f;
    struct pick_fx *fx = &f;
    pick_init(fx);
    fx->up.nservers = 1;
    eject(fx, 0, 900);
    assert_int_equal(fx_proxy_srv_pick(fx->health, &fx->up, 5, 0, 100), 0);
}

/* ---- upgrades ------------------------------------------------------------ */

static struct fx_conf_upgrade allow_list(const char *a, const char *b)
{
    struct fx_conf_upgrade u;
    memset(&u, 0, sizeof(u));
    if (a != NULL)
        strcpy(u.protocols[u.nprotocols++], a);
    if (b != NULL)
        strcpy(u.protocols[u.nprotocols++], b);
    return u;
}

static struct fx_h1_req req_of(const char *text)
{
    struct fx_h1_req r;
    size_t scanned = 0;
    struct fx_h1_limits lim = { 16384, 16384, 100 };
    assert_true(fx_h1_parse_req(text, strlen(text), &r, &scanned, &lim) > 0);
    return r;
}

/* Filtered Upgrade value of request `text` (static head plus `headers`). */
static size_t filter(const char *headers, const struct fx_conf_upgrade *allow, char *out,
                     size_t cap)
{
    static char text[1024];
    (void)snprintf(text, sizeof(text), "GET /ws HTTP/1.1\r\nHost: h\r\n%s\r\n", headers);
    struct fx_h1_req r = req_of(text);
    return fx_proxy_upgrade_filter(&r, allow, out, cap);
}

static void test_proxy_upgrade_filter_websocket_only_by_default(void **state)
{
    (void)state;
    struct fx_conf_upgrade ws = allow_list("websocket", NULL);
    char out[FX_UPGRADE_MAX];
    assert_int_equal(filter("Connection: Upgrade\r\nUpgrade: websocket\r\n", &ws, out, sizeof(out)),
                     9);
    assert_string_equal(out, "websocket");
    assert_int_equal(
        filter("Connection: keep-alive, UPGRADE\r\nUpgrade: WebSocket\r\n", &ws, out, sizeof(out)),
        9);
    assert_string_equal(out, "WebSocket");
    /* h2c smuggling: never forwarded unless listed. */
    assert_int_equal(filter("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                            "HTTP2-Settings: AAMAAABkAAQAAP__\r\n",
                            &ws, out, sizeof(out)),
                     0);
    assert_string_equal(out, "");
    assert_int_equal(
        filter("Connection: Upgrade\r\nUpgrade: h2c, websocket\r\n", &ws, out, sizeof(out)), 9);
    assert_string_equal(out, "websocket");
    /* Without Connection: upgrade the Upgrade header is only hop-by-hop noise. */
    assert_int_equal(filter("Upgrade: websocket\r\n", &ws, out, sizeof(out)), 0);
    assert_int_equal(filter("Connection: Upgrade\r\n", &ws, out, sizeof(out)), 0);
}

static void test_proxy_upgrade_filter_refuses_bodies_and_http10(void **state)
{
    (void)state;
    struct fx_conf_upgrade ws = allow_list("websocket", NULL);
    char out[FX_UPGRADE_MAX];
    const char *up = "Connection: Upgrade\r\nUpgrade: websocket\r\n";
    char h[256];
    (void)snprintf(h, sizeof(h), "%sContent-Length: 5\r\n", up);
    assert_int_equal(filter(h, &ws, out, sizeof(out)), 0);
    (void)snprintf(h, sizeof(h), "%sTransfer-Encoding: chunked\r\n", up);
    assert_int_equal(filter(h, &ws, out, sizeof(out)), 0);
    (void)snprintf(h, sizeof(h), "%sContent-Length: 0\r\n", up);
    assert_int_equal(filter(h, &ws, out, sizeof(out)), 9);
    struct fx_h1_req r =
        req_of("GET / HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_int_equal(fx_proxy_upgrade_filter(&r, &ws, out, sizeof(out)), 0);
}

static void test_proxy_upgrade_filter_lists_versions_and_bounds(void **state)
{
    (void)state;
    struct fx_conf_upgrade two = allow_list("websocket", "chat");
    char out[FX_UPGRADE_MAX];
    assert_int_equal(filter("Connection: upgrade\r\nUpgrade: chat/2, foo, websocket\r\n"
                            "Upgrade: Chat/3\r\n",
                            &two, out, sizeof(out)),
                     strlen("chat/2, websocket, Chat/3"));
    assert_string_equal(out, "chat/2, websocket, Chat/3");
    /* Items that are not "token[/token]" are skipped. */
    assert_int_equal(filter("Connection: upgrade\r\nUpgrade: chat/, /2, chat/a/b, websocket\r\n",
                            &two, out, sizeof(out)),
                     9);
    assert_string_equal(out, "websocket");
    /* Longer than the room: no upgrade at all rather than a cut list. */
    assert_int_equal(filter("Connection: upgrade\r\nUpgrade: websocket, chat\r\n", &two, out, 12),
                     0);
    assert_string_equal(out, "");
    struct fx_conf_upgrade none = allow_list(NULL, NULL);
    assert_int_equal(
        filter("Connection: upgrade\r\nUpgrade: websocket\r\n", &none, out, sizeof(out)), 0);
}

static bool answer_ok(const char *asked, const char *head)
{
    struct fx_h1_resp r;
    size_t scanned = 0;
    struct fx_h1_limits lim = { 16384, 16384, 100 };
    assert_true(fx_h1_parse_resp(head, strlen(head), &r, &scanned, &lim) > 0);
    return fx_proxy_upgrade_answer_ok(asked, &r);
}

static void test_proxy_upgrade_answer_ok_needs_match(void **state)
{
    (void)state;
    const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n\r\n";
    assert_true(answer_ok("websocket", ok));
    assert_true(answer_ok("h2c, WebSocket", ok));
    assert_false(answer_ok("", ok)); /* nobody asked */
    assert_false(answer_ok("chat", ok));
    assert_false(answer_ok("websocket", "HTTP/1.1 101 Switching Protocols\r\n"
                                        "Upgrade: websocket\r\n\r\n"));
    assert_false(answer_ok("websocket", "HTTP/1.1 101 Switching Protocols\r\n"
                                        "Connection: Upgrade\r\n\r\n"));
    assert_false(answer_ok("websocket", "HTTP/1.1 101 Switching Protocols\r\n"
                                        "Connection: Upgrade\r\nUpgrade: websocket, h2c\r\n\r\n"));
    const char *v2 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: chat/2\r\n"
                     "Connection: upgrade\r\n\r\n";
    assert_true(answer_ok("chat/2", v2));
    assert_true(answer_ok("chat", v2));
    assert_false(answer_ok("chat/3", v2));
    assert_false(answer_ok("websocket", "HTTP/1.1 200 OK\r\nUpgrade: websocket\r\n"
                                        "Connection: Upgrade\r\nContent-Length: 0\r\n\r\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy_backoff_ms_doubles_to_the_cap),
        cmocka_unit_test(test_proxy_backoff_ms_huge_streak_stays_capped),
        cmocka_unit_test(test_proxy_srv_pick_round_robin_when_all_up),
        cmocka_unit_test(test_proxy_srv_pick_skips_ejected),
        cmocka_unit_test(test_proxy_srv_pick_all_ejected_takes_soonest),
        cmocka_unit_test(test_proxy_srv_pick_skips_tried),
        cmocka_unit_test(test_proxy_srv_pick_single_server),
        cmocka_unit_test(test_proxy_upgrade_filter_websocket_only_by_default),
        cmocka_unit_test(test_proxy_upgrade_filter_refuses_bodies_and_http10),
        cmocka_unit_test(test_proxy_upgrade_filter_lists_versions_and_bounds),
        cmocka_unit_test(test_proxy_upgrade_answer_ok_needs_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
