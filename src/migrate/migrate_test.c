/* Unit tests for migrate: sticky buckets, latency histograms, the guard,
 * status names and weight strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>

#include "../core/err_types.h"
#include "migrate.h"

/* ---- helpers ------------------------------------------------------------ */

/* A second, deliberately plain implementation of the documented algorithm
 * (docs/migration.md), so the production code is checked against the spec
 * and not against itself. */
static uint32_t ref_bucket(const char *key)
{
    uint64_t h = 14695981039346656037ULL; /* 0xcbf29ce484222325 */
    for (const char *c = key; *c != '\0'; c++) {
        h = h ^ (uint64_t)(unsigned char)*c;
        h = h * 1099511628211ULL; /* 0x100000001b3 */
    }
    h = h ^ (h >> 33);
    h = h * 0xff51afd7ed558ccdULL;
    h = h ^ (h >> 33);
    h = h * 0xc4ceb9fe1a85ec53ULL;
    h = h ^ (h >> 33);
    return (uint32_t)(h % 10000);
}

static uint32_t bucket_of(const char *key)
{
    return fx_mig_bucket(key, strlen(key));
}

/* The guard defaults of docs/migration.md. */
static struct fx_conf_migrate guard_defaults(void)
{
    struct fx_conf_migrate m;
    memset(&m, 0, sizeof(m));
    m.guard_max_err_increase_bp = 100;
    m.guard_max_p99_ratio = 1.5;
    m.guard_min_requests = 200;
    m.guard_window_ms = 5ULL * 60 * 1000;
    m.guard_rollback_factor = 2.0;
    return m;
}

static struct fx_mig_window window(uint64_t new_req, uint64_t new_err, uint64_t new_p99,
                                   uint64_t old_req, uint64_t old_err, uint64_t old_p99)
{
    struct fx_mig_window w;
    memset(&w, 0, sizeof(w));
    w.req[FX_SIDE_NEW] = new_req;
    w.err[FX_SIDE_NEW] = new_err;
    w.p99_us[FX_SIDE_NEW] = new_p99;
    w.req[FX_SIDE_LEGACY] = old_req;
    w.err[FX_SIDE_LEGACY] = old_err;
    w.p99_us[FX_SIDE_LEGACY] = old_p99;
    return w;
}

/* ---- bucket ------------------------------------------------------------- */

/* Computed once with the algorithm of docs/migration.md (and with Python);
 * any change here breaks stickiness for every deployed route. */
static void test_mig_bucket_known_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        uint32_t bucket;
    } vec[] = {
        { "", 4342 },           { "user-1", 5477 },
        { "user-42", 1453 },    { "alice@example.com", 3736 },
        { "203.0.113.7", 462 },
    };
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        assert_int_equal(bucket_of(vec[i].key), vec[i].bucket);
        assert_int_equal(ref_bucket(vec[i].key), vec[i].bucket);
    }
    assert_int_equal(fx_mig_bucket(NULL, 0), 4342);
}

static void test_mig_bucket_matches_reference(void **state)
{
    (void)state;
    char key[64];
    for (int i = 0; i < 2000; i++) {
        (void)snprintf(key, sizeof(key), "k%d-%x", i, (unsigned)i * 2654435761U);
        assert_int_equal(bucket_of(key), ref_bucket(key));
    }
}

static void test_mig_bucket_uses_len_not_nul(void **state)
{
    (void)state;
    /* Keys are byte views: only `len` bytes count, embedded NULs included. */
    assert_int_equal(fx_mig_bucket("user-1xyz", 6), bucket_of("user-1"));
    assert_int_not_equal(fx_mig_bucket("a\0b", 3), fx_mig_bucket("a", 1));
}

static void test_mig_bucket_share_within_half_point(void **state)
{
    (void)state;
    enum {
        NKEYS = 100000
    };
    uint32_t *b = calloc(NKEYS, sizeof(*b));
    assert_non_null(b);
    char key[32];
    for (int i = 0; i < NKEYS; i++) {
        (void)snprintf(key, sizeof(key), "user-%d", i);
        b[i] = bucket_of(key);
        assert_true(b[i] < FX_MIG_BUCKETS);
    }
    static const uint32_t weights[] = { 100, 500, 2500, 5000, 9900 };
    for (size_t k = 0; k < sizeof(weights) / sizeof(weights[0]); k++) {
        size_t n = 0;
        for (int i = 0; i < NKEYS; i++)
            n += fx_mig_is_new(b[i], weights[k]);
        double share = (double)n / NKEYS;
        double want = weights[k] / 10000.0;
        if (share < want - 0.005 || share > want + 0.005)
            fail_msg("weight %u bp: new share %.4f, want %.4f +- 0.005", weights[k], share, want);
    }
    free(b);
}

static void test_mig_bucket_sticky(void **state)
{
    (void)state;
    char a[32];
    char b[32];
    for (int i = 0; i < 1000; i++) {
        (void)snprintf(a, sizeof(a), "session-%d", i);
        memcpy(b, a, sizeof(b)); /* a different buffer with the same bytes */
        uint32_t first = bucket_of(a);
        assert_int_equal(bucket_of(a), first);
        assert_int_equal(bucket_of(b), first);
    }
}

static void test_mig_is_new_monotonic(void **state)
{
    (void)state;
    static const uint32_t weights[] = { 0,    1,    2,    5,    10,   50,   100,  250,
                                        500,  1000, 1500, 2500, 3333, 5000, 6000, 7500,
                                        9000, 9500, 9900, 9990, 9999, 10000 };
    char key[32];
    for (int i = 0; i < 10000; i++) {
        (void)snprintf(key, sizeof(key), "user-%d", i);
        uint32_t b = bucket_of(key);
        bool was_new = false;
        for (size_t k = 0; k < sizeof(weights) / sizeof(weights[0]); k++) {
            bool now_new = fx_mig_is_new(b, weights[k]);
            assert_false(was_new && !now_new);
            was_new = now_new;
        }
        /* The switch happens exactly when the weight passes the bucket. */
        assert_false(fx_mig_is_new(b, b));
        assert_true(fx_mig_is_new(b, b + 1));
        assert_false(fx_mig_is_new(b, 0));
        assert_true(fx_mig_is_new(b, FX_MIG_BUCKETS));
    }
}

/* ---- latency histogram -------------------------------------------------- */

static void test_mig_lat_bucket_edges(void **state)
{
    (void)state;
    assert_int_equal(fx_mig_lat_bucket(0), 0);
    assert_int_equal(fx_mig_lat_bucket(50), 0);
    assert_int_equal(fx_mig_lat_bucket(51), 1);
    assert_int_equal(fx_mig_lat_bucket(1000), 4);
    assert_int_equal(fx_mig_lat_bucket(10000), 14);
    assert_int_equal(fx_mig_lat_bucket(12000), 15);
    assert_int_equal(fx_mig_lat_bucket(60000000), FX_MIG_LAT_BUCKETS - 2);
    assert_int_equal(fx_mig_lat_bucket(60000001), FX_MIG_LAT_BUCKETS - 1);
    assert_int_equal(fx_mig_lat_bucket(UINT64_MAX), FX_MIG_LAT_BUCKETS - 1);
    assert_int_equal(fx_mig_lat_upper_us(0), 50);
    assert_int_equal(fx_mig_lat_upper_us(FX_MIG_LAT_BUCKETS - 1), 120000000);
    assert_int_equal(fx_mig_lat_upper_us(1000), 120000000);
}

static void test_mig_lat_bucket_round_trip_and_resolution(void **state)
{
    (void)state;
    for (size_t b = 0; b + 1 < FX_MIG_LAT_BUCKETS; b++) {
        uint64_t up = fx_mig_lat_upper_us(b);
        assert_int_equal(fx_mig_lat_bucket(up), b);
        assert_int_equal(fx_mig_lat_bucket(up + 1), b + 1);
        assert_true(fx_mig_lat_upper_us(b + 1) > up);
        /* About 26% steps (28% at most) from 1 ms to 8 s. */
        if (up >= 1000 && up < 8000000) {
            double ratio = (double)fx_mig_lat_upper_us(b + 1) / (double)up;
            if (ratio < 1.2 || ratio > 1.28)
                fail_msg("bucket %zu: step x%.3f", b, ratio);
        }
    }
    assert_true(fx_mig_lat_upper_us(FX_MIG_LAT_BUCKETS - 2) >= 60000000);
}

static void test_mig_quantile_empty_is_zero(void **state)
{
    (void)state;
    uint64_t h[FX_MIG_LAT_BUCKETS] = { 0 };
    assert_int_equal(fx_mig_quantile_us(h, 0.99), 0);
    assert_int_equal(fx_mig_quantile_us(h, 1.0), 0);
}

static void test_mig_quantile_single_bucket(void **state)
{
    (void)state;
    uint64_t h[FX_MIG_LAT_BUCKETS] = { 0 };
    h[fx_mig_lat_bucket(7000)] = 12345;
    assert_int_equal(fx_mig_quantile_us(h, 0.5), 8000);
    assert_int_equal(fx_mig_quantile_us(h, 0.99), 8000);
    assert_int_equal(fx_mig_quantile_us(h, 1.0), 8000);
}

static void test_mig_quantile_tail(void **state)
{
    (void)state;
    uint64_t h[FX_MIG_LAT_BUCKETS] = { 0 };
    /* 990 fast, 10 slow: p99 is the 990th value, still fast. */
    h[10] = 990;
    h[40] = 10;
    assert_int_equal(fx_mig_quantile_us(h, 0.99), fx_mig_lat_upper_us(10));
    assert_int_equal(fx_mig_quantile_us(h, 0.991), fx_mig_lat_upper_us(40));
    assert_int_equal(fx_mig_quantile_us(h, 0.5), fx_mig_lat_upper_us(10));
    /* One more slow value moves p99 into the slow bucket. */
    h[10] = 989;
    h[40] = 11;
    assert_int_equal(fx_mig_quantile_us(h, 0.99), fx_mig_lat_upper_us(40));
}

static void test_mig_quantile_uniform(void **state)
{
    (void)state;
    uint64_t h[FX_MIG_LAT_BUCKETS];
    for (size_t b = 0; b < FX_MIG_LAT_BUCKETS; b++)
        h[b] = 100;
    assert_int_equal(fx_mig_quantile_us(h, 0.5), fx_mig_lat_upper_us(23));
    assert_int_equal(fx_mig_quantile_us(h, 1.0 / FX_MIG_LAT_BUCKETS), fx_mig_lat_upper_us(0));
    /* The open-ended last bucket reports its lower bound times two. */
    assert_int_equal(fx_mig_quantile_us(h, 1.0), 120000000);
    assert_int_equal(fx_mig_quantile_us(h, 0.99), fx_mig_lat_upper_us(47));
}

static void test_mig_quantile_clamps_q(void **state)
{
    (void)state;
    uint64_t h[FX_MIG_LAT_BUCKETS] = { 0 };
    h[3] = 1;
    h[20] = 1;
    assert_int_equal(fx_mig_quantile_us(h, 0.0), fx_mig_lat_upper_us(3));
    assert_int_equal(fx_mig_quantile_us(h, -1.0), fx_mig_lat_upper_us(3));
    assert_int_equal(fx_mig_quantile_us(h, 2.0), fx_mig_lat_upper_us(20));
    assert_int_equal(fx_mig_quantile_us(NULL, 0.5), 0);
}

/* ---- guard -------------------------------------------------------------- */

static void test_mig_judge_advance(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    struct fx_mig_window w = window(1000, 5, 12500, 5000, 20, 10000);
    char why[512];
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_ADVANCE);
    assert_string_equal(why, "within limits: new 0.50% errors vs legacy 0.40% (+0.10%, limit "
                             "+1.00%, rollback above +2.00%); p99 new 12.5 ms vs legacy 10.0 ms "
                             "(x1.25, limit x1.50, rollback above x3.00); 1000 new / 5000 "
                             "legacy requests");
}

static void test_mig_judge_p99_below_floor_is_noise(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    /* 4 ms against 0.5 ms is x8 raw, but both are under the 5 ms floor. */
    struct fx_mig_window w = window(1000, 0, 4000, 5000, 0, 500);
    char why[512];
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_ADVANCE);
    /* Above the floor the ratio counts again: 20 ms against 0.5 ms is x4 of 5 ms. */
    w.p99_us[FX_SIDE_NEW] = 20000;
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_ROLLBACK);
}

static void test_mig_judge_hold_too_few_requests(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    /* Even a terrible window is only held while the sample is too small. */
    struct fx_mig_window w = window(199, 199, 900000, 5000, 0, 10000);
    char why[512];
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_HOLD);
    assert_non_null(strstr(why, "too few new requests (199 < 200)"));
    assert_non_null(strstr(why, "199 new / 5000 legacy requests"));
    w.req[FX_SIDE_NEW] = 0;
    w.err[FX_SIDE_NEW] = 0;
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_HOLD);
    assert_non_null(strstr(why, "p99 new n/a vs legacy 10.0 ms (ratio not checked)"));
}

static void test_mig_judge_hold_error_slightly_over(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    /* +1.50%: over the 1% limit, under the 2% rollback line. */
    struct fx_mig_window w = window(1000, 20, 10000, 1000, 5, 10000);
    char why[512];
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_HOLD);
    assert_non_null(strstr(why, "error rate increase above the limit"));
    assert_non_null(strstr(why, "new 2.00% errors vs legacy 0.50% (+1.50%, limit +1.00%"));
}

static void test_mig_judge_hold_p99_slightly_over(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    struct fx_mig_window w = window(1000, 0, 20000, 1000, 0, 10000);
    char why[512];
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_HOLD);
    assert_non_null(strstr(why, "p99 ratio above the limit"));
    assert_non_null(strstr(why, "p99 new 20.0 ms vs legacy 10.0 ms (x2.00, limit x1.50"));
}

static void test_mig_judge_exact_limits_advance(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    /* Exactly +1.00% and exactly x1.50 do not exceed the limits. */
    struct fx_mig_window w = window(1000, 20, 15000, 1000, 10, 10000);
    assert_int_equal(fx_mig_judge(&m, &w, NULL, 0), FX_MIG_ADVANCE);
    w = window(200, 0, 1000, 1000, 0, 1000);
    assert_int_equal(fx_mig_judge(&m, &w, NULL, 0), FX_MIG_ADVANCE);
}

static void test_mig_judge_rollback_on_errors(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    struct fx_mig_window w = window(1000, 102, 12000, 5000, 0, 10000);
    char why[512];
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_ROLLBACK);
    assert_string_equal(why, "error rate increase above the rollback limit: new 10.20% errors "
                             "vs legacy 0.00% (+10.20%, limit +1.00%, rollback above +2.00%); "
                             "p99 new 12.0 ms vs legacy 10.0 ms (x1.20, limit x1.50, rollback "
                             "above x3.00); 1000 new / 5000 legacy requests");
    /* Just past the rollback line: +2.10%. */
    w = window(1000, 21, 10000, 1000, 0, 10000);
    assert_int_equal(fx_mig_judge(&m, &w, NULL, 0), FX_MIG_ROLLBACK);
}

static void test_mig_judge_rollback_on_p99(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    struct fx_mig_window w = window(1000, 0, 40000, 5000, 0, 10000);
    char why[512];
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_ROLLBACK);
    assert_non_null(strstr(why, "p99 ratio above the rollback limit"));
    assert_non_null(strstr(why, "(x4.00, limit x1.50, rollback above x3.00)"));
}

static void test_mig_judge_new_better_than_legacy_advances(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    /* The new side beating legacy is a negative increase, not a breach. */
    struct fx_mig_window w = window(1000, 0, 5000, 1000, 100, 10000);
    char why[512];
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_ADVANCE);
    assert_non_null(strstr(why, "(-10.00%, limit +1.00%"));
}

static void test_mig_judge_legacy_without_traffic(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    char why[512];
    /* Legacy rate counts as 0 and the p99 ratio is skipped. */
    struct fx_mig_window w = window(1000, 5, 900000, 0, 0, 0);
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_ADVANCE);
    assert_non_null(strstr(why, "vs legacy 0.00% (+0.50%"));
    assert_non_null(strstr(why, "p99 new 900.0 ms vs legacy n/a (ratio not checked)"));
    w = window(1000, 15, 10000, 0, 0, 0);
    assert_int_equal(fx_mig_judge(&m, &w, NULL, 0), FX_MIG_HOLD);
    w = window(1000, 50, 10000, 0, 0, 0);
    assert_int_equal(fx_mig_judge(&m, &w, NULL, 0), FX_MIG_ROLLBACK);
    /* Legacy traffic with a p99 of 0 also skips the ratio. */
    w = window(1000, 0, 900000, 1000, 0, 0);
    assert_int_equal(fx_mig_judge(&m, &w, why, sizeof(why)), FX_MIG_ADVANCE);
    assert_non_null(strstr(why, "(ratio not checked)"));
}

static void test_mig_judge_why_truncates_safely(void **state)
{
    (void)state;
    struct fx_conf_migrate m = guard_defaults();
    struct fx_mig_window w = window(1000, 102, 12000, 5000, 0, 10000);
    char why[16];
    memset(why, 'x', sizeof(why));
    assert_int_equal(fx_mig_judge(&m, &w, why, 10), FX_MIG_ROLLBACK);
    assert_int_equal(strlen(why), 9);
    assert_int_equal(why[10], 'x');
}

/* ---- status names ------------------------------------------------------- */

static void test_mig_status_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = { "steady", "ramping", "paused", "rolled_back", "promoted" };
    for (int s = FX_MIG_STEADY; s <= FX_MIG_PROMOTED; s++) {
        const char *n = fx_mig_status_name((enum fx_mig_status)s);
        assert_string_equal(n, names[s]);
        enum fx_mig_status back = FX_MIG_STEADY;
        assert_int_equal(fx_mig_status_parse(n, &back), 0);
        assert_int_equal(back, s);
    }
    assert_string_equal(fx_mig_status_name((enum fx_mig_status)99), "unknown");
}

static void test_mig_status_parse_rejects(void **state)
{
    (void)state;
    enum fx_mig_status s = FX_MIG_PAUSED;
    assert_int_equal(fx_mig_status_parse("", &s), FX_EINVAL);
    assert_int_equal(fx_mig_status_parse("Steady", &s), FX_EINVAL);
    assert_int_equal(fx_mig_status_parse("rolled-back", &s), FX_EINVAL);
    assert_int_equal(fx_mig_status_parse("unknown", &s), FX_EINVAL);
    assert_int_equal(fx_mig_status_parse(NULL, &s), FX_EINVAL);
    assert_int_equal(s, FX_MIG_PAUSED);
}

/* ---- weights ------------------------------------------------------------ */

static void test_mig_fmt_weight(void **state)
{
    (void)state;
    char out[8];
    fx_mig_fmt_weight(500, out, sizeof(out));
    assert_string_equal(out, "5.00%");
    fx_mig_fmt_weight(1, out, sizeof(out));
    assert_string_equal(out, "0.01%");
    fx_mig_fmt_weight(10000, out, sizeof(out));
    assert_string_equal(out, "100.00%");
    fx_mig_fmt_weight(0, out, sizeof(out));
    assert_string_equal(out, "0.00%");
    fx_mig_fmt_weight(1250, out, sizeof(out));
    assert_string_equal(out, "12.50%");
}

static void test_mig_parse_weight_accepts(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint32_t bp;
    } ok[] = {
        { "25%", 2500 }, { "0.01%", 1 }, { "100%", 10000 },    { "5", 500 },    { "12.5%", 1250 },
        { "0", 0 },      { "0%", 0 },    { "100.00%", 10000 }, { "007%", 700 }, { "99.99", 9999 },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint32_t bp = 12345;
        if (fx_mig_parse_weight(ok[i].s, &bp) != 0)
            fail_msg("\"%s\" rejected", ok[i].s);
        assert_int_equal(bp, ok[i].bp);
    }
}

static void test_mig_parse_weight_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = { "101%",          "-1%",     "1.234%", "",     "abc",
                                       "5%%",           "100.01%", "5.",     ".5%",  "+5%",
                                       " 5%",           "5% ",     "5 %",    "1e2%", "%",
                                       "999999999999%", "5.0.0" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t bp = 4242;
        if (fx_mig_parse_weight(bad[i], &bp) != FX_EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(bp, 4242);
    }
    uint32_t bp = 0;
    assert_int_equal(fx_mig_parse_weight(NULL, &bp), FX_EINVAL);
}

static void test_mig_weight_round_trip(void **state)
{
    (void)state;
    char out[8];
    for (uint32_t bp = 0; bp <= FX_MIG_BUCKETS; bp++) {
        fx_mig_fmt_weight(bp, out, sizeof(out));
        uint32_t back = UINT32_MAX;
        assert_int_equal(fx_mig_parse_weight(out, &back), 0);
        assert_int_equal(back, bp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mig_bucket_known_vectors),
        cmocka_unit_test(test_mig_bucket_matches_reference),
        cmocka_unit_test(test_mig_bucket_uses_len_not_nul),
        cmocka_unit_test(test_mig_bucket_share_within_half_point),
        cmocka_unit_test(test_mig_bucket_sticky),
        cmocka_unit_test(test_mig_is_new_monotonic),
        cmocka_unit_test(test_mig_lat_bucket_edges),
        cmocka_unit_test(test_mig_lat_bucket_round_trip_and_resolution),
        cmocka_unit_test(test_mig_quantile_empty_is_zero),
        cmocka_unit_test(test_mig_quantile_single_bucket),
        cmocka_unit_test(test_mig_quantile_tail),
        cmocka_unit_test(test_mig_quantile_uniform),
        cmocka_unit_test(test_mig_quantile_clamps_q),
        cmocka_unit_test(test_mig_judge_advance),
        cmocka_unit_test(test_mig_judge_p99_below_floor_is_noise),
        cmocka_unit_test(test_mig_judge_hold_too_few_requests),
        cmocka_unit_test(test_mig_judge_hold_error_slightly_over),
        cmocka_unit_test(test_mig_judge_hold_p99_slightly_over),
        cmocka_unit_test(test_mig_judge_exact_limits_advance),
        cmocka_unit_test(test_mig_judge_rollback_on_errors),
        cmocka_unit_test(test_mig_judge_rollback_on_p99),
        cmocka_unit_test(test_mig_judge_new_better_than_legacy_advances),
        cmocka_unit_test(test_mig_judge_legacy_without_traffic),
        cmocka_unit_test(test_mig_judge_why_truncates_safely),
        cmocka_unit_test(test_mig_status_round_trip),
        cmocka_unit_test(test_mig_status_parse_rejects),
        cmocka_unit_test(test_mig_fmt_weight),
        cmocka_unit_test(test_mig_parse_weight_accepts),
        cmocka_unit_test(test_mig_parse_weight_rejects),
        cmocka_unit_test(test_mig_weight_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
