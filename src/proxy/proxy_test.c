/* Unit tests of the proxy module's pure logic: ejection back-off and the
 * choice of a server among ejected ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>

#include "proxy.h"

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
