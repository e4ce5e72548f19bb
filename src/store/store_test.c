/* Unit tests for store: route state, the audit log and its JSON, reopening,
 * and persistence across a process killed without closing the store. */
#include <sys/types.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
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
#include <sqlite3.h>

#include "../core/err.h"
#include "store.h"

/* ---- fixture: one temporary directory per test -------------------------- */

struct fixture {
    char dir[64];
    char path[128]; /* dir/ficus.db */
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/ficus-store-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    (void)snprintf(fx->path, sizeof(fx->path), "%s/ficus.db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    static const char *const suffix[] = { "", "-wal", "-shm" };
    char p[160];
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        (void)snprintf(p, sizeof(p), "%s%s", fx->path, suffix[i]);
        (void)unlink(p);
    }
    (void)rmdir(fx->dir);
    free(fx);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static struct fx_store *open_ok(const char *path)
{
    struct fx_store *s = NULL;
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    int rc = fx_store_open(path, &s, &err);
    if (rc != 0)
        fail_msg("fx_store_open: %d %s", rc, err.msg);
    assert_non_null(s);
    return s;
}

static struct fx_mig_state make_state(const char *route, uint32_t weight, int step,
                                      enum fx_mig_status status)
{
    struct fx_mig_state st;
    memset(&st, 0, sizeof(st));
    (void)snprintf(st.route, sizeof(st.route), "%s", route);
    st.weight_bp = weight;
    st.step = step;
    st.status = status;
    (void)snprintf(st.fingerprint, sizeof(st.fingerprint), "%064d", step + 7);
    st.updated_ms = 1795715033123ULL;
    st.step_started_ms = 1795715000000ULL;
    return st;
}

static void assert_state_equal(const struct fx_mig_state *a, const struct fx_mig_state *b)
{
    assert_string_equal(a->route, b->route);
    assert_int_equal(a->weight_bp, b->weight_bp);
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->status, b->status);
    assert_string_equal(a->fingerprint, b->fingerprint);
    assert_int_equal(a->updated_ms, b->updated_ms);
    assert_int_equal(a->step_started_ms, b->step_started_ms);
}

static void add_event(struct fx_store *s, uint64_t time_ms, const char *route, const char *kind,
                      const char *reason)
{
    struct fx_mig_event e;
    memset(&e, 0, sizeof(e));
    e.id = -5;
    e.time_ms = time_ms;
    (void)snprintf(e.actor, sizeof(e.actor), "%s", "ramp");
    (void)snprintf(e.route, sizeof(e.route), "%s", route);
    (void)snprintf(e.kind, sizeof(e.kind), "%s", kind);
    (void)snprintf(e.old_value, sizeof(e.old_value), "%s", "5.00% ramping");
    (void)snprintf(e.new_value, sizeof(e.new_value), "%s", "10.00% ramping");
    (void)snprintf(e.reason, sizeof(e.reason), "%s", reason);
    assert_int_equal(fx_store_add_event(s, &e), 0);
    assert_true(e.id > 0);
}

/* Run fx_store_events_json and parse its output back. */
static json_t *events_json(struct fx_store *s, const char *route, size_t limit)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fx_store_events_json(s, route, limit, f), 0);
    assert_int_equal(fclose(f), 0);
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, 0, &jerr);
    if (j == NULL)
        fail_msg("bad JSON (%s): %.*s", jerr.text, (int)len, buf);
    free(buf);
    assert_true(json_is_array(j));
    return j;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (v == NULL)
        fail_msg("missing string \"%s\"", key);
    return v;
}

static json_int_t jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("missing integer \"%s\"", key);
    return json_integer_value(v);
}

/* One-row, one-column query through a raw SQLite handle (not the store). */
static void raw_query_text(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    (void)snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return rc;
}

/* ---- open --------------------------------------------------------------- */

static void test_store_open_creates_schema(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    char v[64];
    /* Checked while the store is open: WAL stays set on the file. */
    raw_query_text(fx->path, "PRAGMA user_version", v, sizeof(v));
    assert_string_equal(v, "1");
    raw_query_text(fx->path, "PRAGMA journal_mode", v, sizeof(v));
    assert_string_equal(v, "wal");
    raw_query_text(fx->path,
                   "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
                   " WHERE type = 'table' AND name IN ('route_state', 'events') ORDER BY name)",
                   v, sizeof(v));
    assert_string_equal(v, "events,route_state");
    fx_store_close(s);
    fx_store_close(NULL);
}

static void test_store_open_missing_dir_fails(void **state)
{
    struct fixture *fx = *state;
    char path[192];
    (void)snprintf(path, sizeof(path), "%s/no/such/dir/ficus.db", fx->dir);
    struct fx_store *s = (struct fx_store *)&path; /* must be reset to NULL */
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(fx_store_open(path, &s, &err), FX_EIO);
    assert_null(s);
    assert_int_equal(err.code, FX_EIO);
    if (strstr(err.msg, path) == NULL || strstr(err.msg, "unable to open") == NULL)
        fail_msg("message does not name the path and cause: %s", err.msg);
}

static void test_store_open_not_a_database_fails(void **state)
{
    struct fixture *fx = *state;
    FILE *f = fopen(fx->path, "w");
    assert_non_null(f);
    for (int i = 0; i < 64; i++)
        assert_true(fputs("this is not an SQLite database\n", f) >= 0);
    assert_int_equal(fclose(f), 0);
    struct fx_store *s = NULL;
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(fx_store_open(fx->path, &s, &err), FX_EIO);
    assert_null(s);
    if (strstr(err.msg, fx->path) == NULL || strstr(err.msg, "not a database") == NULL)
        fail_msg("message does not name the path and cause: %s", err.msg);
}

static void test_store_open_newer_schema_fails(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(raw_exec(fx->path, "PRAGMA user_version = 2"), SQLITE_OK);
    struct fx_store *s = NULL;
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(fx_store_open(fx->path, &s, &err), FX_EIO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "schema version 2"));
    assert_non_null(strstr(err.msg, fx->path));
}

static void test_store_open_rejects_empty_path(void **state)
{
    (void)state;
    struct fx_store *s = NULL;
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(fx_store_open("", &s, &err), FX_EINVAL);
    assert_null(s);
}

/* ---- route state -------------------------------------------------------- */

static void test_store_state_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    struct fx_mig_state in = make_state("billing", 500, 1, FX_MIG_RAMPING);
    assert_int_equal(fx_store_put_state(s, &in), 0);
    struct fx_mig_state out;
    memset(&out, 0xAB, sizeof(out));
    assert_int_equal(fx_store_get_state(s, "billing", &out), 0);
    assert_state_equal(&out, &in);

    struct fx_mig_state before = make_state("orders", 0, -1, FX_MIG_STEADY);
    assert_int_equal(fx_store_put_state(s, &before), 0);
    assert_int_equal(fx_store_get_state(s, "orders", &out), 0);
    assert_state_equal(&out, &before);
    fx_store_close(s);
}

static void test_store_state_replace(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    struct fx_mig_state a = make_state("billing", 500, 1, FX_MIG_RAMPING);
    assert_int_equal(fx_store_put_state(s, &a), 0);
    struct fx_mig_state b = make_state("billing", 0, 1, FX_MIG_ROLLED_BACK);
    b.updated_ms += 60000;
    assert_int_equal(fx_store_put_state(s, &b), 0);
    struct fx_mig_state out;
    assert_int_equal(fx_store_get_state(s, "billing", &out), 0);
    assert_state_equal(&out, &b);
    char n[16];
    raw_query_text(fx->path, "SELECT count(*) FROM route_state", n, sizeof(n));
    assert_string_equal(n, "1");
    fx_store_close(s);
}

static void test_store_state_not_found(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    struct fx_mig_state out;
    assert_int_equal(fx_store_get_state(s, "nope", &out), FX_ENOTFOUND);
    struct fx_mig_state a = make_state("billing", 10000, 4, FX_MIG_PROMOTED);
    assert_int_equal(fx_store_put_state(s, &a), 0);
    assert_int_equal(fx_store_get_state(s, "billin", &out), FX_ENOTFOUND);
    assert_int_equal(fx_store_get_state(s, "billing", &out), 0);
    fx_store_close(s);
}

static void test_store_state_full_width_fields(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    /* 64-character route and fingerprint: the largest the arrays hold. */
    struct fx_mig_state in = make_state("", 1, 0, FX_MIG_PAUSED);
    memset(in.route, 'r', 64);
    in.route[64] = '\0';
    assert_int_equal(fx_store_put_state(s, &in), 0);
    struct fx_mig_state out;
    assert_int_equal(fx_store_get_state(s, in.route, &out), 0);
    assert_state_equal(&out, &in);
    fx_store_close(s);
}

static void test_store_state_rejects_invalid_rows(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    assert_int_equal(raw_exec(fx->path, "INSERT INTO route_state VALUES"
                                        " ('x', 500, 0, 'flying', '', 0, 0),"
                                        " ('y', 20000, 0, 'steady', '', 0, 0)"),
                     SQLITE_OK);
    struct fx_mig_state out;
    assert_int_equal(fx_store_get_state(s, "x", &out), FX_EIO);
    assert_int_equal(fx_store_get_state(s, "y", &out), FX_EIO);
    /* and such rows are not written in the first place. */
    struct fx_mig_state bad = make_state("z", 10001, 0, FX_MIG_STEADY);
    assert_int_equal(fx_store_put_state(s, &bad), FX_EINVAL);
    bad = make_state("z", 100, 0, (enum fx_mig_status)42);
    assert_int_equal(fx_store_put_state(s, &bad), FX_EINVAL);
    assert_int_equal(fx_store_get_state(s, "z", &out), FX_ENOTFOUND);
    fx_store_close(s);
}

/* ---- events ------------------------------------------------------------- */

static void test_store_events_json_fields(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    add_event(s, 1795715033123ULL, "billing", "advance", "within limits: \"quoted\"");
    json_t *j = events_json(s, NULL, 100);
    assert_int_equal(json_array_size(j), 1);
    const json_t *o = json_array_get(j, 0);
    assert_int_equal(jint(o, "id"), 1);
    assert_string_equal(jstr(o, "time"), "2026-11-26T17:43:53.123Z");
    assert_int_equal(jint(o, "time_ms"), 1795715033123LL);
    assert_string_equal(jstr(o, "actor"), "ramp");
    assert_string_equal(jstr(o, "route"), "billing");
    assert_string_equal(jstr(o, "kind"), "advance");
    assert_string_equal(jstr(o, "old"), "5.00% ramping");
    assert_string_equal(jstr(o, "new"), "10.00% ramping");
    assert_string_equal(jstr(o, "reason"), "within limits: \"quoted\"");
    assert_int_equal(json_object_size(o), 9);
    json_decref(j);
    fx_store_close(s);
}

static void test_store_events_order_limit_filter(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    static const char *const routes[] = { "a", "b", "a", "a", "b", "a" };
    for (int i = 0; i < 6; i++)
        add_event(s, 1700000000000ULL + (uint64_t)i * 1000, routes[i], "hold", "r");

    json_t *j = events_json(s, NULL, 100);
    assert_int_equal(json_array_size(j), 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(jint(json_array_get(j, i), "id"), (json_int_t)i + 1);
    assert_string_equal(jstr(json_array_get(j, 0), "time"), "2023-11-14T22:13:20.000Z");
    json_decref(j);

    /* The last two, still oldest first. */
    j = events_json(s, NULL, 2);
    assert_int_equal(json_array_size(j), 2);
    assert_int_equal(jint(json_array_get(j, 0), "id"), 5);
    assert_int_equal(jint(json_array_get(j, 1), "id"), 6);
    json_decref(j);

    /* Route "a": ids 1, 3, 4, 6; the last three are 3, 4, 6. */
    j = events_json(s, "a", 3);
    assert_int_equal(json_array_size(j), 3);
    assert_int_equal(jint(json_array_get(j, 0), "id"), 3);
    assert_int_equal(jint(json_array_get(j, 1), "id"), 4);
    assert_int_equal(jint(json_array_get(j, 2), "id"), 6);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(jstr(json_array_get(j, i), "route"), "a");
    json_decref(j);

    j = events_json(s, "b", SIZE_MAX);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    j = events_json(s, "zzz", 10);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    j = events_json(s, NULL, 0);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    fx_store_close(s);
}

static void test_store_events_are_append_only(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    add_event(s, 1, "a", "hold", "r");
    assert_int_not_equal(raw_exec(fx->path, "UPDATE events SET reason = 'x'"), SQLITE_OK);
    assert_int_not_equal(raw_exec(fx->path, "DELETE FROM events"), SQLITE_OK);
    json_t *j = events_json(s, NULL, 10);
    assert_int_equal(json_array_size(j), 1);
    assert_string_equal(jstr(json_array_get(j, 0), "reason"), "r");
    json_decref(j);
    fx_store_close(s);
}

static void test_store_events_json_invalid_utf8(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    add_event(s, 1, "a", "weight", "bad \xff byte, good \xc3\xa9");
    json_t *j = events_json(s, NULL, 10);
    assert_string_equal(jstr(json_array_get(j, 0), "reason"), "bad ? byte, good ??");
    json_decref(j);
    fx_store_close(s);
}

/* ---- persistence -------------------------------------------------------- */

static void test_store_reopen_keeps_everything(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *s = open_ok(fx->path);
    struct fx_mig_state a = make_state("billing", 2500, 2, FX_MIG_RAMPING);
    struct fx_mig_state b = make_state("orders", 10000, 5, FX_MIG_PROMOTED);
    assert_int_equal(fx_store_put_state(s, &a), 0);
    assert_int_equal(fx_store_put_state(s, &b), 0);
    add_event(s, 10, "billing", "advance", "one");
    add_event(s, 20, "orders", "status", "two");
    fx_store_close(s);

    s = open_ok(fx->path);
    struct fx_mig_state out;
    assert_int_equal(fx_store_get_state(s, "billing", &out), 0);
    assert_state_equal(&out, &a);
    assert_int_equal(fx_store_get_state(s, "orders", &out), 0);
    assert_state_equal(&out, &b);
    /* Ids keep growing after a reopen. */
    add_event(s, 30, "billing", "hold", "three");
    json_t *j = events_json(s, NULL, 10);
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(jstr(json_array_get(j, 0), "reason"), "one");
    assert_int_equal(jint(json_array_get(j, 2), "id"), 3);
    json_decref(j);
    fx_store_close(s);
}

static void test_store_two_handles_see_each_other(void **state)
{
    struct fixture *fx = *state;
    struct fx_store *w = open_ok(fx->path);
    struct fx_store *r = open_ok(fx->path);
    struct fx_mig_state a = make_state("billing", 100, 0, FX_MIG_RAMPING);
    assert_int_equal(fx_store_put_state(w, &a), 0);
    struct fx_mig_state out;
    assert_int_equal(fx_store_get_state(r, "billing", &out), 0);
    assert_state_equal(&out, &a);
    fx_store_close(w);
    fx_store_close(r);
}

/* In a child: open, write one state, then leave without fx_store_close.
 * With fd >= 0, report over `fd` and wait to be killed. */
static void child_put_and_die(const char *path, int fd)
{
    struct fx_store *s = NULL;
    if (fx_store_open(path, &s, NULL) != 0)
        _exit(2);
    struct fx_mig_state st = make_state("billing", 700, 3, FX_MIG_RAMPING);
    if (fx_store_put_state(s, &st) != 0)
        _exit(3);
    if (fd < 0)
        _exit(0);
    if (write(fd, "k", 1) != 1)
        _exit(4);
    for (;;)
        (void)pause();
}

static void assert_child_state_persisted(const char *path)
{
    struct fx_store *s = open_ok(path);
    struct fx_mig_state out;
    assert_int_equal(fx_store_get_state(s, "billing", &out), 0);
    struct fx_mig_state want = make_state("billing", 700, 3, FX_MIG_RAMPING);
    assert_state_equal(&out, &want);
    fx_store_close(s);
}

static void test_store_survives_exit_without_close(void **state)
{
    struct fixture *fx = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_put_and_die(fx->path, -1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_child_state_persisted(fx->path);
}

static void test_store_survives_sigkill_after_put(void **state)
{
    struct fixture *fx = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        (void)close(fds[0]);
        child_put_and_die(fx->path, fds[1]);
    }
    (void)close(fds[1]);
    char c = 0;
    assert_int_equal(read(fds[0], &c, 1), 1);
    (void)close(fds[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    /* The WAL is still there: the killed process never checkpointed. */
    char wal[160];
    (void)snprintf(wal, sizeof(wal), "%s-wal", fx->path);
    assert_int_equal(access(wal, F_OK), 0);
    assert_child_state_persisted(fx->path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_open_creates_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_missing_dir_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_not_a_database_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_newer_schema_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_rejects_empty_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_state_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_state_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_state_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_state_full_width_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_state_rejects_invalid_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_events_json_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_events_order_limit_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_events_are_append_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_events_json_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reopen_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_two_handles_see_each_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_survives_exit_without_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_survives_sigkill_after_put, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
