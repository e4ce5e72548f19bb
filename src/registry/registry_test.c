/* Unit tests for the registry: the priority formula, the completion
 * estimate, validation, history, import/export (one transaction, byte-exact
 * round trips), live figures and progress from samples, and the admin API
 * handler. Real SQLite in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>
#include <jansson.h>

#include "../core/err.h"
#include "../store/store.h"
#include "registry.h"
#include "registry_int.h"

#define HOUR FX_REG_HOUR_MS
#define DAY  FX_REG_DAY_MS

/* ---- fixture: one temporary directory and open store per test ------------ */

struct fixture {
    char dir[64];
    char path[2][128]; /* two stores: for round trips */
    struct fx_store *st[2];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/ficus-reg-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        struct fx_err err = { 0 };
        (void)snprintf(fx->path[i], sizeof(fx->path[i]), "%s/s%d.db", fx->dir, i);
        if (fx_store_open(fx->path[i], &fx->st[i], &err) != 0)
            return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    static const char *const suffix[] = { "", "-wal", "-shm" };
    char p[160];
    for (int i = 0; i < 2; i++) {
        fx_store_close(fx->st[i]);
        for (size_t k = 0; k < 3; k++) {
            (void)snprintf(p, sizeof(p), "%s%s", fx->path[i], suffix[k]);
            (void)unlink(p);
        }
    }
    (void)rmdir(fx->dir);
    free(fx);
    return 0;
}

static struct fx_store *store(void **state, int i)
{
    return ((struct fixture *)*state)->st[i];
}

/* ---- helpers -------------------------------------------------------------- */

static const struct fx_reg_term *term(const struct fx_reg_score *s, const char *name)
{
    for (size_t i = 0; i < s->nterms; i++) {
        if (strcmp(s->terms[i].name, name) == 0)
            return &s->terms[i];
    }
    static const struct fx_reg_term none = { 0 };
    fail_msg("no term %s", name);
    return &none;
}

static struct fx_reg_live busy_live(double rpd, double migrated)
{
    struct fx_reg_live l = { 0 };
    l.has_routes = true;
    l.samples = 100;
    l.hours = 24;
    l.requests_per_day = rpd;
    l.migrated_share = migrated;
    l.legacy_error_rate = 0.01;
    l.legacy_p99_ms = 400;
    return l;
}

static json_t *add_item(struct fx_store *st, const char *fields_json)
{
    json_error_t jerr;
    json_t *fields = json_loads(fields_json, 0, &jerr);
    assert_non_null(fields);
    struct fx_err err = { 0 };
    json_t *out = NULL;
    int rc = fx_reg_debt_add(st, fields, "tester", &out, &err);
    json_decref(fields);
    if (rc != 0)
        fail_msg("add: %s", err.msg);
    return out;
}

/* fx_reg_debt_add's error for `fields_json`. */
static int add_error(struct fx_store *st, const char *fields_json, struct fx_err *err)
{
    json_t *fields = json_loads(fields_json, 0, NULL);
    assert_non_null(fields);
    json_t *out = NULL;
    int rc = fx_reg_debt_add(st, fields, "tester", &out, err);
    json_decref(fields);
    assert_null(out);
    return rc;
}

static size_t item_count(struct fx_store *st)
{
    json_t *all = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_reg_debt_export(st, &all, &err), 0);
    size_t n = json_array_size(all);
    json_decref(all);
    return n;
}

static struct fx_reg_sample sample(const char *route, uint64_t t, uint64_t legacy, uint64_t fresh,
                                   uint32_t weight_bp)
{
    struct fx_reg_sample s = { 0 };
    (void)snprintf(s.route, sizeof(s.route), "%s", route);
    s.time_ms = t;
    s.interval_ms = 5 * 60 * 1000;
    s.migrating = weight_bp > 0 || fresh > 0;
    s.weight_bp = weight_bp;
    s.req[0] = legacy;
    s.req[1] = fresh;
    return s;
}

/* ---- priority formula -------------------------------------------------------- */

static void test_score_traffic_raises_priority(void **state)
{
    (void)state;
    struct fx_reg_declared d = { 3, 3, 5, "open" };
    struct fx_reg_live quiet = busy_live(100, 0);
    struct fx_reg_live busy = busy_live(1000000, 0);
    struct fx_reg_score a;
    struct fx_reg_score b;
    fx_reg__score(&d, &quiet, &a);
    fx_reg__score(&d, &busy, &b);
    assert_true(b.total > a.total);
    assert_true(term(&b, "traffic")->contribution > term(&a, "traffic")->contribution);
    assert_true(term(&b, "traffic")->contribution == 20.0); /* full strength at 1M/day */
    /* Errors, latency and shadow mismatches raise it too. */
    struct fx_reg_live failing = busy_live(100, 0);
    failing.legacy_error_rate = 0.05;
    failing.legacy_p99_ms = 3000;
    failing.has_shadow = true;
    failing.shadow_mismatch_rate = 0.2;
    struct fx_reg_score c;
    fx_reg__score(&d, &failing, &c);
    assert_true(c.total >= a.total + 29.99);
    assert_true(term(&c, "errors")->contribution == 15.0);
    assert_true(term(&c, "latency")->contribution == 10.0);
    assert_true(term(&c, "shadow")->contribution == 10.0);
}

static void test_score_full_migration_sinks(void **state)
{
    (void)state;
    struct fx_reg_declared severe = { 5, 5, 1, "open" };
    struct fx_reg_declared mild = { 1, 1, 20, "open" };
    struct fx_reg_live migrated = busy_live(500000, 1.0);
    struct fx_reg_live live = busy_live(50, 0.0);
    struct fx_reg_score a;
    struct fx_reg_score b;
    fx_reg__score(&severe, &migrated, &a);
    fx_reg__score(&mild, &live, &b);
    assert_true(a.total < b.total);
    const struct fx_reg_term *m = term(&a, "migrated");
    assert_true(m->value == 1.0);
    assert_true(m->contribution < 0);
    /* Half migrated: the discount is half as large. */
    struct fx_reg_live half = busy_live(500000, 0.5);
    struct fx_reg_score c;
    fx_reg__score(&severe, &half, &c);
    assert_true(c.total > a.total);
    assert_true(c.total < c.total - term(&c, "migrated")->contribution);
}

static void test_score_paid_and_accepted_are_zero(void **state)
{
    (void)state;
    struct fx_reg_live live = busy_live(100000, 0.2);
    const char *closed[] = { "paid", "accepted" };
    for (size_t i = 0; i < 2; i++) {
        struct fx_reg_declared d = { 5, 5, 1, closed[i] };
        struct fx_reg_score s;
        fx_reg__score(&d, &live, &s);
        assert_true(s.total == 0.0);
        assert_true(term(&s, "closed")->contribution < 0);
    }
    struct fx_reg_declared open = { 5, 5, 1, "in_progress" };
    struct fx_reg_score s;
    fx_reg__score(&open, &live, &s);
    assert_true(s.total > 0.0);
}

static void test_score_without_routes_uses_declared_figures(void **state)
{
    (void)state;
    struct fx_reg_live none = { 0 };
    struct fx_reg_declared d = { 4, 2, 5, "open" };
    struct fx_reg_score s;
    fx_reg__score(&d, &none, &s);
    assert_true(term(&s, "stability")->contribution == 16.0);
    assert_true(term(&s, "velocity")->contribution == 6.0);
    assert_true(term(&s, "effort")->contribution == 5.0);
    assert_true(term(&s, "traffic")->contribution == 0.0);
    assert_non_null(strstr(term(&s, "traffic")->why, "no linked routes"));
    assert_true(s.total == 27.0);
    /* Every term is reported and the total is their sum. */
    double sum = 0;
    for (size_t i = 0; i < s.nterms; i++)
        sum += s.terms[i].contribution;
    assert_true(fx_reg__round(sum, 2) == s.total);
    json_t *j = fx_reg__score_json(&s);
    assert_int_equal(json_array_size(json_object_get(j, "terms")), 8);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "terms"), 0), "name")),
        "stability");
    json_decref(j);
}

/* ---- completion estimate -------------------------------------------------------- */

static void test_estimate_rising_trend_gives_date(void **state)
{
    (void)state;
    uint64_t t[49];
    double share[49];
    uint64_t t0 = 1767225600000ull; /* 2026-01-01T00:00:00Z */
    for (size_t i = 0; i < 49; i++) {
        t[i] = t0 + i * HOUR;
        share[i] = 0.1 + 0.1 * (double)i / 24.0; /* +10 points a day */
    }
    struct fx_reg_estimate e;
    fx_reg__estimate(t, share, 49, &e);
    assert_int_equal(e.status, FX_REG_EST_ON_TRACK);
    assert_true(e.slope_per_day > 0.0999 && e.slope_per_day < 0.1001);
    /* 0.1 at t0, 1.0 nine days later. */
    uint64_t want = t0 + 9 * DAY;
    assert_true(e.completion_ms > want - 60000 && e.completion_ms < want + 60000);
    json_t *j = fx_reg__estimate_json(&e);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "on_track");
    assert_string_equal(json_string_value(json_object_get(j, "completion")),
                        "2026-01-10T00:00:00.000Z");
    json_decref(j);
}

static void test_estimate_flat_or_falling_is_no_progress(void **state)
{
    (void)state;
    uint64_t t[10];
    double flat[10];
    double falling[10];
    for (size_t i = 0; i < 10; i++) {
        t[i] = 1767225600000ull + i * HOUR;
        flat[i] = 0.25;
        falling[i] = 0.5 - 0.01 * (double)i;
    }
    struct fx_reg_estimate e;
    fx_reg__estimate(t, flat, 10, &e);
    assert_int_equal(e.status, FX_REG_EST_NO_PROGRESS);
    fx_reg__estimate(t, falling, 10, &e);
    assert_int_equal(e.status, FX_REG_EST_NO_PROGRESS);
    assert_true(e.slope_per_day < 0);
    json_t *j = fx_reg__estimate_json(&e);
    assert_true(json_is_null(json_object_get(j, "completion")));
    json_decref(j);
}

static void test_estimate_done_and_no_data(void **state)
{
    (void)state;
    uint64_t t[3] = { 1767225600000ull, 1767225600000ull + HOUR, 1767225600000ull + 2 * HOUR };
    double done[3] = { 0.5, 0.9, 1.0 };
    struct fx_reg_estimate e;
    fx_reg__estimate(t, done, 3, &e);
    assert_int_equal(e.status, FX_REG_EST_DONE);
    fx_reg__estimate(t, done, 1, &e); /* one point */
    assert_int_equal(e.status, FX_REG_EST_NO_DATA);
    fx_reg__estimate(t, done, 0, &e);
    assert_int_equal(e.status, FX_REG_EST_NO_DATA);
    uint64_t close_t[2] = { 1767225600000ull, 1767225600000ull + 60000 };
    fx_reg__estimate(close_t, done, 2, &e); /* spans a minute */
    assert_int_equal(e.status, FX_REG_EST_NO_DATA);
}

/* ---- validation and history ------------------------------------------------------ */

static void test_debt_add_rejects_bad_fields(void **state)
{
    struct fx_store *st = store(state, 0);
    struct fx_err err = { 0 };
    assert_int_equal(add_error(st, "{\"title\": \"t\", \"stability\": 7}", &err), FX_EINVAL);
    assert_string_equal(err.msg, "debt: field \"stability\": 7 is outside 1..5");
    assert_int_equal(add_error(st, "{\"title\": \"t\", \"kind\": \"foo\"}", &err), FX_EINVAL);
    assert_string_equal(err.msg, "debt: unknown kind \"foo\" (expected architecture, code, data,"
                                 " infrastructure, security, testing, dependency)");
    assert_int_equal(add_error(st, "{\"title\": \"t\", \"velocity\": \"high\"}", &err), FX_EINVAL);
    assert_string_equal(err.msg, "debt: field \"velocity\": \"high\" is not an integer 1..5");
    assert_int_equal(add_error(st, "{\"title\": \"t\", \"colour\": 1}", &err), FX_EINVAL);
    assert_string_equal(err.msg, "debt: unknown field \"colour\"");
    assert_int_equal(add_error(st, "{\"owner\": \"me\"}", &err), FX_EINVAL);
    assert_string_equal(err.msg, "debt: field \"title\" is required");
    assert_int_equal(add_error(st, "{\"title\": \"t\", \"routes\": [\"a b\"]}", &err), FX_EINVAL);
    assert_non_null(strstr(err.msg, "field \"routes\": \"a b\" is not a route name"));
    assert_int_equal(add_error(st, "{\"title\": \"t\", \"effort_days\": -1}", &err), FX_EINVAL);
    assert_string_equal(err.msg, "debt: field \"effort_days\": -1 is outside 0..10000");
    assert_int_equal(add_error(st, "{\"title\": \"t\", \"id\": \"DEBT-4\"}", &err), FX_EINVAL);
    assert_string_equal(err.msg, "debt: field \"id\" cannot be set");
    assert_int_equal(add_error(st, "{\"title\": \"a\\nb\"}", &err), FX_EINVAL);
    assert_int_equal(item_count(st), 0);

    json_t *out = NULL;
    json_t *fields = json_pack("{s:i}", "stability", 2);
    assert_int_equal(fx_reg_debt_update(st, "DEBT-99", fields, "t", &out, &err), FX_ENOTFOUND);
    assert_string_equal(err.msg, "debt: DEBT-99: no such item");
    assert_int_equal(fx_reg_debt_get(st, "nonsense", &out, &err), FX_ENOTFOUND);
    json_decref(fields);
    json_t *list = NULL;
    assert_int_equal(fx_reg_debt_list(st, "size", NULL, &list, &err), FX_EINVAL);
    assert_int_equal(fx_reg_debt_list(st, NULL, "closed", &list, &err), FX_EINVAL);
    assert_int_equal(fx_reg_debt_close(st, "DEBT-1", "open", "t", &out, &err), FX_EINVAL);
}

static void test_debt_ids_are_sequential_and_defaults_apply(void **state)
{
    struct fx_store *st = store(state, 0);
    json_t *a = add_item(st, "{\"title\": \"first\"}");
    json_t *b = add_item(st, "{\"title\": \"second\", \"routes\": \"orders\"}");
    assert_string_equal(json_string_value(json_object_get(a, "id")), "DEBT-1");
    assert_string_equal(json_string_value(json_object_get(b, "id")), "DEBT-2");
    assert_string_equal(json_string_value(json_object_get(a, "kind")), "code");
    assert_string_equal(json_string_value(json_object_get(a, "status")), "open");
    assert_int_equal(json_integer_value(json_object_get(a, "stability")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(b, "routes"), 0)),
                        "orders");
    assert_true(json_is_null(json_object_get(json_object_get(b, "live"), "shadow_mismatch_rate")));
    assert_true(json_is_number(json_object_get(a, "priority")));
    json_decref(a);
    json_decref(b);
}

static void test_debt_update_records_history(void **state)
{
    struct fx_store *st = store(state, 0);
    json_decref(add_item(st, "{\"title\": \"t\", \"owner\": \"ann\", \"stability\": 2}"));
    struct fx_err err = { 0 };
    json_t *fields = json_pack("{s:s, s:i, s:s, s:[s,s]}", "owner", "bob", "stability", 4, "title",
                               "t", "routes", "a", "b");
    json_t *out = NULL;
    assert_int_equal(fx_reg_debt_update(st, "debt-1", fields, "carol", &out, &err), 0);
    json_decref(fields);
    json_decref(out);
    assert_int_equal(fx_reg_debt_close(st, "DEBT-1", "paid", "dave", &out, &err), 0);
    assert_true(json_number_value(json_object_get(out, "priority")) == 0.0);
    json_decref(out);
    assert_int_equal(fx_reg_debt_get(st, "DEBT-1", &out, &err), 0);
    const json_t *h = json_object_get(out, "history");
    /* created, owner, routes, stability (title unchanged), status */
    assert_int_equal(json_array_size(h), 5);
    const char *want[][4] = {
        { "tester", "item", "", "created" },  { "carol", "routes", "", "a;b" },
        { "carol", "owner", "ann", "bob" },   { "carol", "stability", "2", "4" },
        { "dave", "status", "open", "paid" },
    };
    for (size_t i = 0; i < 5; i++) {
        const json_t *e = json_array_get(h, i);
        const char *field = json_string_value(json_object_get(e, "field"));
        size_t k = 0;
        while (k < 5 && strcmp(want[k][1], field) != 0)
            k++;
        assert_true(k < 5);
        assert_string_equal(json_string_value(json_object_get(e, "actor")), want[k][0]);
        const char *old = json_string_value(json_object_get(e, "old"));
        assert_string_equal(old != NULL ? old : "", want[k][2]);
        assert_string_equal(json_string_value(json_object_get(e, "new")), want[k][3]);
        assert_non_null(json_string_value(json_object_get(e, "time")));
    }
    json_decref(out);
}

/* ---- import / export -------------------------------------------------------------- */

static void test_import_is_one_transaction(void **state)
{
    struct fx_store *st = store(state, 0);
    json_t *rows = json_loads("[{\"title\": \"one\"}, {\"title\": \"two\", \"kind\": \"data\"},"
                              " {\"title\": \"three\", \"stability\": 9}, {\"title\": \"four\"}]",
                              0, NULL);
    assert_non_null(rows);
    struct fx_err err = { 0 };
    size_t n = 99;
    assert_int_equal(fx_reg_debt_import(st, rows, "t", &n, &err), FX_EINVAL);
    assert_string_equal(err.msg, "debt: import row 3: field \"stability\": 9 is outside 1..5");
    assert_int_equal(item_count(st), 0);
    json_decref(rows);

    /* CSV: the message names the line too (row 3 is on line 5: a quoted
     * field of row 2 spans two lines). */
    const char csv[] = "title,kind,description\r\none,code,x\r\ntwo,data,\"two\nlines\"\r\n"
                       "three,nope,z\r\n";
    json_t *parsed = NULL;
    size_t *lines = NULL;
    assert_int_equal(fx_reg__csv_read(csv, strlen(csv), &parsed, &lines, &err), 0);
    assert_int_equal(json_array_size(parsed), 3);
    assert_int_equal(lines[2], 5);
    assert_int_equal(fx_reg__import(st, parsed, lines, "t", &n, &err), FX_EINVAL);
    if (strstr(err.msg, "import row 3 (line 5): unknown kind \"nope\"") == NULL)
        fail_msg("got %s", err.msg);
    assert_int_equal(item_count(st), 0);
    json_decref(parsed);
    free(lines);

    /* An id that already exists refuses the whole file. */
    json_decref(add_item(st, "{\"title\": \"kept\"}"));
    rows = json_loads("[{\"title\": \"x\", \"id\": \"DEBT-7\"}, {\"title\": \"y\", \"id\": "
                      "\"DEBT-1\"}]",
                      0, NULL);
    assert_int_equal(fx_reg_debt_import(st, rows, "t", &n, &err), FX_EINVAL);
    assert_string_equal(err.msg, "debt: import row 2: DEBT-1 already exists");
    assert_int_equal(item_count(st), 1);
    json_decref(rows);
}

static void test_csv_reader_rejects_malformed_text(void **state)
{
    (void)state;
    struct fx_err err = { 0 };
    json_t *rows = NULL;
    size_t *lines = NULL;
    const char *bad[][2] = {
        { "title\r\n\"open", "line 2: unterminated quoted field" },
        { "title,kind\r\na,b,c\r\n", "line 2: 3 fields, the header has 2" },
        { "title,size\r\n", "line 1: unknown column \"size\"" },
        { "kind\r\ncode\r\n", "line 1: no \"title\" column" },
        { "title\r\nab\"c\r\n", "line 2: quote inside an unquoted field" },
        { "title\r\n\"a\"b\r\n", "line 2: unexpected 'b' after a closing quote" },
        { "", "empty CSV" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(fx_reg__csv_read(bad[i][0], strlen(bad[i][0]), &rows, &lines, &err),
                         FX_EINVAL);
        if (strstr(err.msg, bad[i][1]) == NULL)
            fail_msg("csv %zu: got \"%s\", want \"%s\"", i, err.msg, bad[i][1]);
    }
}

/* Items whose text needs every kind of quoting. */
static void fill_awkward(struct fx_store *st)
{
    json_decref(add_item(st, "{\"title\": \"Quotes \\\"here\\\", commas, and ünïcödé\","
                             " \"description\": \"two\\nlines\\r\\nCRLF, and \\\"quotes\\\"\","
                             " \"routes\": [\"orders\", \"billing.v2\"], \"kind\": \"security\","
                             " \"stability\": 5, \"velocity\": 1, \"effort_days\": 0.1,"
                             " \"owner\": \"team, ops\", \"notes\": \"\"}"));
    json_decref(add_item(st, "{\"title\": \"plain\", \"effort_days\": 12}"));
    json_decref(add_item(st, "{\"title\": \" leading space\", \"notes\": \"tab\\there\"}"));
    json_t *out = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_reg_debt_close(st, "DEBT-2", "accepted", "t", &out, &err), 0);
    json_decref(out);
}

static char *export_text(struct fx_store *st, bool csv)
{
    json_t *all = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_reg_debt_export(st, &all, &err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    if (csv)
        assert_int_equal(fx_reg__csv_write(all, f), 0);
    else
        assert_int_equal(json_dumpf(all, f, FX_REG_JSON_FLAGS), 0);
    assert_int_equal(fclose(f), 0);
    json_decref(all);
    return buf;
}

static void test_export_import_round_trip_json(void **state)
{
    fill_awkward(store(state, 0));
    char *first = export_text(store(state, 0), false);
    json_t *rows = json_loads(first, 0, NULL);
    assert_non_null(rows);
    struct fx_err err = { 0 };
    size_t n = 0;
    assert_int_equal(fx_reg_debt_import(store(state, 1), rows, "t", &n, &err), 0);
    assert_int_equal(n, 3);
    json_decref(rows);
    char *second = export_text(store(state, 1), false);
    assert_string_equal(first, second);
    assert_non_null(strstr(first, "\"effort_days\": 0.1,"));
    free(first);
    free(second);
}

static void test_export_import_round_trip_csv(void **state)
{
    fill_awkward(store(state, 0));
    char *first = export_text(store(state, 0), true);
    assert_non_null(strstr(first, "\"two\nlines\r\nCRLF, and \"\"quotes\"\"\""));
    assert_non_null(strstr(first, ",orders;billing.v2,"));
    json_t *rows = NULL;
    size_t *lines = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_reg__csv_read(first, strlen(first), &rows, &lines, &err), 0);
    size_t n = 0;
    assert_int_equal(fx_reg__import(store(state, 1), rows, lines, "t", &n, &err), 0);
    assert_int_equal(n, 3);
    json_decref(rows);
    free(lines);
    char *second = export_text(store(state, 1), true);
    assert_string_equal(first, second);
    /* The JSON of both stores agrees too. */
    char *j0 = export_text(store(state, 0), false);
    char *j1 = export_text(store(state, 1), false);
    assert_string_equal(j0, j1);
    free(first);
    free(second);
    free(j0);
    free(j1);
}

static void test_time_format_round_trip(void **state)
{
    (void)state;
    char buf[40];
    uint64_t ms = 0;
    fx_store_fmt_time(1767225600123ull, buf, sizeof(buf));
    assert_string_equal(buf, "2026-01-01T00:00:00.123Z");
    assert_int_equal(fx_reg__parse_time(buf, &ms), 0);
    assert_int_equal(ms, 1767225600123ull);
    assert_int_equal(fx_reg__parse_time("2026-01-01T02:00:00+02:00", &ms), 0);
    assert_int_equal(ms, 1767225600000ull);
    assert_int_equal(fx_reg__parse_time("2026-01-01", &ms), FX_EINVAL);
    assert_int_equal(fx_reg__parse_time("2026-13-01T00:00:00Z", &ms), FX_EINVAL);
}

/* ---- live figures and progress from samples ------------------------------------- */

/* "orders" migrating at 25 % (12 samples over the last hour), "old" not
 * migrating, "gone" last seen two days ago. */
static uint64_t insert_samples(struct fx_store *st)
{
    uint64_t now = fx_reg__now_ms();
    struct fx_reg_sample rows[25];
    for (size_t i = 0; i < 12; i++) {
        uint64_t t = now - (11 - i) * 5 * 60 * 1000;
        struct fx_reg_sample *s = &rows[i];
        *s = sample("orders", t, i < 6 ? 50 : 100, 25, 2500);
        s->err[0] = 3;
        s->p99_ms[0] = i < 6 ? 100 : 300;
        s->shadow_compared = 10;
        s->shadow_mismatched = 1;
        rows[12 + i] = sample("old", t, 100, 0, 0);
    }
    rows[24] = sample("gone", now - 2 * DAY, 1000, 0, 0);
    struct fx_err err = { 0 };
    assert_int_equal(fx_reg_progress_add(st, rows, 25, &err), 0);
    return now;
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    return json_number_value(v);
}

static void test_live_figures_from_samples(void **state)
{
    struct fx_store *st = store(state, 0);
    insert_samples(st);
    json_t *item = add_item(st, "{\"title\": \"orders\", \"routes\": [\"orders\"],"
                                " \"stability\": 4}");
    const json_t *live = json_object_get(item, "live");
    /* 900 legacy requests in one hour of samples: 21600 a day. */
    assert_true(num(live, "requests_per_day") == 21600);
    assert_true(num(live, "migrated_share") == 0.25);
    assert_true(num(live, "legacy_error_rate") == 0.04);
    assert_true(num(live, "legacy_p99_ms") == 233.3);
    assert_true(num(live, "shadow_mismatch_rate") == 0.1);
    assert_true(num(live, "hours") == 1);
    json_t *plain = add_item(st, "{\"title\": \"no routes\", \"stability\": 4}");
    assert_true(num(item, "priority") > num(plain, "priority"));
    json_t *old = add_item(st, "{\"title\": \"legacy only\", \"routes\": [\"old\"]}");
    assert_true(num(json_object_get(old, "live"), "migrated_share") == 0);
    assert_true(
        json_is_null(json_object_get(json_object_get(old, "live"), "shadow_mismatch_rate")));
    /* The list ranks by priority. */
    json_t *list = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(fx_reg_debt_list(st, NULL, "open", &list, &err), 0);
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")),
                        "DEBT-1");
    for (size_t i = 1; i < 3; i++)
        assert_true(num(json_array_get(list, i - 1), "priority") >=
                    num(json_array_get(list, i), "priority"));
    json_decref(list);
    json_decref(item);
    json_decref(plain);
    json_decref(old);
}

static const json_t *route_of(const json_t *doc, const char *name)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(doc, "routes"), i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "route")), name) == 0)
            return r;
    }
    return NULL;
}

static void test_progress_from_samples(void **state)
{
    struct fx_store *st = store(state, 0);
    struct fx_err err = { 0 };
    json_t *doc = NULL;
    assert_int_equal(fx_reg_progress(st, &doc, &err), 0);
    const json_t *overall = json_object_get(doc, "overall");
    assert_int_equal(json_integer_value(json_object_get(overall, "routes")), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(overall, "estimate"), "status")),
        "no_data");
    json_decref(doc);

    insert_samples(st);
    assert_int_equal(fx_reg_progress(st, &doc, &err), 0);
    overall = json_object_get(doc, "overall");
    assert_int_equal(json_integer_value(json_object_get(overall, "routes")), 2); /* not "gone" */
    assert_int_equal(json_integer_value(json_object_get(overall, "migrated_routes")), 0);
    assert_true(num(overall, "share_new") == 0.125); /* 300 of 2400 requests */
    const json_t *orders = route_of(doc, "orders");
    const json_t *old = route_of(doc, "old");
    assert_non_null(orders);
    assert_non_null(old);
    assert_null(route_of(doc, "gone"));
    assert_true(json_is_true(json_object_get(orders, "migrating")));
    assert_int_equal(json_integer_value(json_object_get(orders, "weight_bp")), 2500);
    assert_true(num(orders, "share_new") == 0.25);
    assert_true(num(orders, "requests_per_day") == 28800);
    assert_true(json_is_false(json_object_get(old, "migrating")));
    assert_true(num(old, "share_new") == 0);
    /* Hourly points: one or two hours, 2400 requests in all (plus the
     * "gone" route two days ago). */
    double total = 0;
    size_t i;
    const json_t *p;
    json_array_foreach(json_object_get(doc, "series"), i, p) total += num(p, "requests");
    assert_true(total == 3400);
    assert_true(json_array_size(json_object_get(orders, "series")) >= 1);
    json_decref(doc);
}

/* ---- admin API handler ---------------------------------------------------------- */

static int http(struct fx_store *st, const char *method, const char *path, const char *query,
                const char *body, const char *actor, json_t **out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    int status = 0;
    int rc = fx_reg_http(st, method, path, query, body, body != NULL ? strlen(body) : 0, actor,
                         &status, f);
    assert_int_equal(fclose(f), 0);
    *out = rc == 0 ? json_loads(buf, 0, NULL) : NULL;
    if (rc == 0 && *out == NULL)
        fail_msg("not JSON: %s", buf);
    free(buf);
    return rc == 0 ? status : rc;
}

static void test_http_debt_api(void **state)
{
    struct fx_store *st = store(state, 0);
    json_t *o = NULL;
    const char *create = "{\"title\": \"api item\", \"routes\": [\"orders\"]}";
    assert_int_equal(http(st, "POST", "/api/v1/debt", NULL, create, NULL, &o), 401);
    assert_non_null(json_string_value(json_object_get(o, "error")));
    json_decref(o);
    assert_int_equal(http(st, "POST", "/api/v1/debt", NULL, create, "ops", &o), 201);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "DEBT-1");
    json_decref(o);
    assert_int_equal(http(st, "POST", "/api/v1/debt", NULL, "{\"title\":", "ops", &o), 400);
    json_decref(o);
    assert_int_equal(http(st, "GET", "/api/v1/debt", "sort=created&status=open", NULL, NULL, &o),
                     200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
    json_decref(o);
    assert_int_equal(http(st, "GET", "/api/v1/debt", "status=bogus", NULL, NULL, &o), 400);
    json_decref(o);
    assert_int_equal(http(st, "GET", "/api/v1/debt/DEBT-9", NULL, NULL, NULL, &o), 404);
    assert_string_equal(json_string_value(json_object_get(o, "error")),
                        "debt: DEBT-9: no such item");
    json_decref(o);
    assert_int_equal(
        http(st, "PATCH", "/api/v1/debt/DEBT-1", NULL, "{\"kind\": \"foo\"}", "ops", &o), 400);
    json_decref(o);
    assert_int_equal(
        http(st, "PATCH", "/api/v1/debt/DEBT-1", NULL, "{\"owner\": \"o\"}", "ops", &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "owner")), "o");
    json_decref(o);
    assert_int_equal(
        http(st, "POST", "/api/v1/debt/DEBT-1/close", NULL, "{\"as\": \"paid\"}", "ops", &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "paid");
    json_decref(o);
    assert_int_equal(http(st, "DELETE", "/api/v1/debt/DEBT-1", NULL, NULL, "ops", &o), 405);
    json_decref(o);
    assert_int_equal(http(st, "GET", "/api/v1/debt/export", NULL, NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(o), 1);
    json_decref(o);
    assert_int_equal(
        http(st, "POST", "/api/v1/debt/import", NULL, "[{\"title\": \"i\"}]", "ops", &o), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "imported")), 1);
    json_decref(o);
    assert_int_equal(http(st, "GET", "/api/v1/progress", NULL, NULL, NULL, &o), 200);
    assert_non_null(json_object_get(o, "overall"));
    json_decref(o);
    assert_int_equal(http(st, "GET", "/api/v1/routes", NULL, NULL, NULL, &o), FX_ENOTFOUND);
    assert_int_equal(http(st, "GET", "/api/v1/debtx", NULL, NULL, NULL, &o), FX_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_traffic_raises_priority),
        cmocka_unit_test(test_score_full_migration_sinks),
        cmocka_unit_test(test_score_paid_and_accepted_are_zero),
        cmocka_unit_test(test_score_without_routes_uses_declared_figures),
        cmocka_unit_test(test_estimate_rising_trend_gives_date),
        cmocka_unit_test(test_estimate_flat_or_falling_is_no_progress),
        cmocka_unit_test(test_estimate_done_and_no_data),
        cmocka_unit_test(test_csv_reader_rejects_malformed_text),
        cmocka_unit_test(test_time_format_round_trip),
        cmocka_unit_test_setup_teardown(test_debt_add_rejects_bad_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_debt_ids_are_sequential_and_defaults_apply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_debt_update_records_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_is_one_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_import_round_trip_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_import_round_trip_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_figures_from_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_from_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_debt_api, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
