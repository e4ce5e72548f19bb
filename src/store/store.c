/* Migration state and audit log in SQLite (WAL journal, one handle per
 * thread at a time). Schema in docs/migration.md. */
#include "store.h"

#include <inttypes.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/err.h"
#include "../migrate/migrate.h"

#define SCHEMA_VERSION 1

struct fx_store {
    sqlite3 *db;             /* owned */
    char *path;              /* owned: for messages */
    sqlite3_stmt *get;       /* owned: prepared once, reset after each use */
    sqlite3_stmt *put;       /* owned */
    sqlite3_stmt *add_event; /* owned */
    sqlite3_stmt *ev_all;    /* owned: last N events, all routes */
    sqlite3_stmt *ev_route;  /* owned: last N events of one route */
};

/* Version 1. The triggers make the audit log append-only at the database
 * level too, so a stray UPDATE cannot rewrite history. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS route_state("
    " route TEXT PRIMARY KEY,"
    " weight_bp INTEGER NOT NULL,"
    " step INTEGER NOT NULL,"
    " status TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " step_started_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time_ms INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " route TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " old_value TEXT NOT NULL,"
    " new_value TEXT NOT NULL,"
    " reason TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_route_id ON events(route, id);"
    "CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events"
    " BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events"
    " BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
    "PRAGMA user_version = 1;";

static const char get_sql[] = "SELECT weight_bp, step, status, fingerprint, updated_ms,"
                              " step_started_ms FROM route_state WHERE route = ?1";

static const char put_sql[] = "INSERT OR REPLACE INTO route_state(route, weight_bp, step, status,"
                              " fingerprint, updated_ms, step_started_ms)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

static const char add_event_sql[] = "INSERT INTO events(time_ms, actor, route, kind, old_value,"
                                    " new_value, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/* The newest `limit` rows, returned oldest first. LIMIT -1 means no limit. */
#define EV_COLS "id, time_ms, actor, route, kind, old_value, new_value, reason"
static const char ev_all_sql[] = "SELECT " EV_COLS " FROM (SELECT " EV_COLS
                                 " FROM events ORDER BY id DESC LIMIT ?1) ORDER BY id";
static const char ev_route_sql[] = "SELECT " EV_COLS " FROM (SELECT " EV_COLS
                                   " FROM events WHERE route = ?2 ORDER BY id DESC LIMIT ?1)"
                                   " ORDER BY id";

/* ---- open / close ------------------------------------------------------- */

static int db_error(struct fx_err *err, const struct fx_store *s, const char *what)
{
    return FX_ERR_SET(err, FX_EIO, "store: %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* WAL lets readers run beside the writer, and with synchronous=NORMAL a
 * commit is in the WAL file (the OS page cache) when it returns: it
 * survives the process being killed, though not a power cut. */
static int set_pragmas(struct fx_store *s, struct fx_err *err)
{
    /* Before any statement that may wait on another process's lock. */
    if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK)
        return db_error(err, s, "cannot set busy timeout");

    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK)
        return db_error(err, s, "cannot set WAL journal mode");
    int rc = sqlite3_step(st);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    /* An in-memory database (tests) reports "memory" and cannot use a WAL. */
    bool ok = mode != NULL && (strcmp(mode, "wal") == 0 ||
                               (strcmp(mode, "memory") == 0 && strcmp(s->path, ":memory:") == 0));
    int code = 0;
    if (rc != SQLITE_ROW)
        code = db_error(err, s, "cannot set WAL journal mode");
    else if (!ok)
        code = FX_ERR_SET(err, FX_EIO, "store: %s: journal mode is \"%s\", not \"wal\"", s->path,
                          mode != NULL ? mode : "");
    (void)sqlite3_finalize(st);
    if (code != 0)
        return code;

    if (sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(err, s, "cannot set synchronous=NORMAL");
    return 0;
}

static int read_user_version(struct fx_store *s, int *version, struct fx_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_error(err, s, "cannot read schema version");
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int code = db_error(err, s, "cannot read schema version");
        (void)sqlite3_finalize(st);
        return code;
    }
    *version = sqlite3_column_int(st, 0);
    (void)sqlite3_finalize(st);
    return 0;
}

/* Create the schema on a new database inside one IMMEDIATE transaction, so
 * two processes opening the same new file cannot both create it. */
static int ensure_schema(struct fx_store *s, struct fx_err *err)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(err, s, "cannot begin schema transaction");
    int version = 0;
    int rc = read_user_version(s, &version, err);
    if (rc != 0)
        goto rollback;
    if (version > SCHEMA_VERSION) {
        rc = FX_ERR_SET(err, FX_EIO,
                        "store: %s: schema version %d is newer than this build supports (%d)",
                        s->path, version, SCHEMA_VERSION);
        goto rollback;
    }
    if (version < SCHEMA_VERSION &&
        sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(err, s, "cannot create tables");
        goto rollback;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(err, s, "cannot commit schema");
        goto rollback;
    }
    return 0;

rollback:
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int prepare_all(struct fx_store *s, struct fx_err *err)
{
    const struct {
        const char *sql;
        sqlite3_stmt **st;
    } list[] = {
        { get_sql, &s->get },
        { put_sql, &s->put },
        { add_event_sql, &s->add_event },
        { ev_all_sql, &s->ev_all },
        { ev_route_sql, &s->ev_route },
    };
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
        if (sqlite3_prepare_v3(s->db, list[i].sql, -1, SQLITE_PREPARE_PERSISTENT, list[i].st,
                               NULL) != SQLITE_OK)
            return db_error(err, s, "cannot prepare statement");
    }
    return 0;
}

int fx_store_open(const char *path, struct fx_store **out, struct fx_err *err)
{
    if (path == NULL || path[0] == '\0' || out == NULL)
        return FX_ERR_SET(err, FX_EINVAL, "store: empty database path");
    *out = NULL;
    struct fx_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "store: %s: out of memory", path);
    s->path = strdup(path);
    if (s->path == NULL) {
        FX_FREE(s);
        return FX_ERR_SET(err, FX_ENOMEM, "store: %s: out of memory", path);
    }

    int rc;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        /* s->db may be NULL when SQLite itself ran out of memory. */
        rc = s->db != NULL ? db_error(err, s, "cannot open database")
                           : FX_ERR_SET(err, FX_ENOMEM, "store: %s: out of memory", path);
        goto fail;
    }
    (void)sqlite3_extended_result_codes(s->db, 1);
    rc = set_pragmas(s, err);
    if (rc != 0)
        goto fail;
    rc = ensure_schema(s, err);
    if (rc != 0)
        goto fail;
    rc = prepare_all(s, err);
    if (rc != 0)
        goto fail;
    *out = s;
    return 0;

fail:
    fx_store_close(s);
    return rc;
}

struct sqlite3 *fx_store_db(struct fx_store *s)
{
    return s->db;
}

const char *fx_store_path(const struct fx_store *s)
{
    return s->path;
}

void fx_store_close(struct fx_store *s)
{
    if (s == NULL)
        return;
    (void)sqlite3_finalize(s->ev_route);
    (void)sqlite3_finalize(s->ev_all);
    (void)sqlite3_finalize(s->add_event);
    (void)sqlite3_finalize(s->put);
    (void)sqlite3_finalize(s->get);
    /* Every statement is finalised, so this close cannot be deferred; the
     * last connection to close also checkpoints and removes the WAL. */
    (void)sqlite3_close(s->db);
    FX_FREE(s->path);
    free(s);
}

/* ---- route state -------------------------------------------------------- */

/* Bind a fixed-size char array that may lack its NUL terminator. The text
 * is not copied: every caller resets the statement before returning. */
static int bind_field(sqlite3_stmt *st, int idx, const char *field, size_t cap)
{
    return sqlite3_bind_text(st, idx, field, (int)strnlen(field, cap), SQLITE_STATIC);
}

/* Copy column `col` into dst[cap], truncated and NUL-terminated; NULL
 * columns read as "". */
static void copy_column(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *txt = sqlite3_column_text(st, col);
    size_t n = txt != NULL ? (size_t)sqlite3_column_bytes(st, col) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n > 0)
        memcpy(dst, txt, n);
    dst[n] = '\0';
}

static int finish(sqlite3_stmt *st, int code)
{
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    return code;
}

int fx_store_get_state(struct fx_store *s, const char *route, struct fx_mig_state *out)
{
    if (s == NULL || route == NULL || out == NULL)
        return FX_EINVAL;
    sqlite3_stmt *st = s->get;
    if (sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC) != SQLITE_OK)
        return finish(st, FX_EIO);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return finish(st, FX_ENOTFOUND);
    if (rc != SQLITE_ROW)
        return finish(st, FX_EIO);

    /* A row this module did not write (bad weight or status) is an I/O
     * error rather than a state the ramp would act on. */
    int64_t weight = sqlite3_column_int64(st, 0);
    char status[24];
    copy_column(st, 2, status, sizeof(status));
    enum fx_mig_status parsed;
    if (weight < 0 || weight > FX_MIG_BUCKETS || fx_mig_status_parse(status, &parsed) != 0)
        return finish(st, FX_EIO);

    memset(out, 0, sizeof(*out));
    (void)snprintf(out->route, sizeof(out->route), "%s", route);
    out->weight_bp = (uint32_t)weight;
    out->step = sqlite3_column_int(st, 1);
    out->status = parsed;
    copy_column(st, 3, out->fingerprint, sizeof(out->fingerprint));
    out->updated_ms = (uint64_t)sqlite3_column_int64(st, 4);
    out->step_started_ms = (uint64_t)sqlite3_column_int64(st, 5);
    return finish(st, 0);
}

int fx_store_put_state(struct fx_store *s, const struct fx_mig_state *st)
{
    if (s == NULL || st == NULL)
        return FX_EINVAL;
    /* Refuse what fx_store_get_state would later reject as corrupt. */
    if (st->weight_bp > FX_MIG_BUCKETS || (unsigned int)st->status > FX_MIG_PROMOTED)
        return FX_EINVAL;
    sqlite3_stmt *q = s->put;
    const char *status = fx_mig_status_name(st->status);
    bool ok = bind_field(q, 1, st->route, sizeof(st->route)) == SQLITE_OK &&
              sqlite3_bind_int64(q, 2, st->weight_bp) == SQLITE_OK &&
              sqlite3_bind_int(q, 3, st->step) == SQLITE_OK &&
              sqlite3_bind_text(q, 4, status, -1, SQLITE_STATIC) == SQLITE_OK &&
              bind_field(q, 5, st->fingerprint, sizeof(st->fingerprint)) == SQLITE_OK &&
              sqlite3_bind_int64(q, 6, (sqlite3_int64)st->updated_ms) == SQLITE_OK &&
              sqlite3_bind_int64(q, 7, (sqlite3_int64)st->step_started_ms) == SQLITE_OK;
    if (!ok || sqlite3_step(q) != SQLITE_DONE)
        return finish(q, FX_EIO);
    return finish(q, 0);
}

/* ---- events ------------------------------------------------------------- */

int fx_store_add_event(struct fx_store *s, struct fx_mig_event *e)
{
    if (s == NULL || e == NULL)
        return FX_EINVAL;
    sqlite3_stmt *q = s->add_event;
    bool ok = sqlite3_bind_int64(q, 1, (sqlite3_int64)e->time_ms) == SQLITE_OK &&
              bind_field(q, 2, e->actor, sizeof(e->actor)) == SQLITE_OK &&
              bind_field(q, 3, e->route, sizeof(e->route)) == SQLITE_OK &&
              bind_field(q, 4, e->kind, sizeof(e->kind)) == SQLITE_OK &&
              bind_field(q, 5, e->old_value, sizeof(e->old_value)) == SQLITE_OK &&
              bind_field(q, 6, e->new_value, sizeof(e->new_value)) == SQLITE_OK &&
              bind_field(q, 7, e->reason, sizeof(e->reason)) == SQLITE_OK;
    if (!ok || sqlite3_step(q) != SQLITE_DONE)
        return finish(q, FX_EIO);
    /* Safe: the handle is used by one thread at a time (see store.h). */
    e->id = sqlite3_last_insert_rowid(s->db);
    return finish(q, 0);
}

void fx_store_fmt_time(uint64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char day[32];
    if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        (void)snprintf(out, cap, "%s", "");
        return;
    }
    (void)snprintf(out, cap, "%s.%03uZ", day, (unsigned)(ms % 1000));
}

json_t *fx_store_json_text(const char *txt, size_t n)
{
    if (txt == NULL)
        return json_string("");
    json_t *j = json_stringn(txt, n);
    if (j != NULL)
        return j;
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        copy[i] = txt[i];
        if ((unsigned char)txt[i] >= 0x80)
            copy[i] = '?';
    }
    copy[n] = '\0';
    j = json_stringn(copy, n);
    free(copy);
    return j;
}

/* A JSON string from a text column. */
static json_t *json_text(sqlite3_stmt *st, int col)
{
    const char *txt = (const char *)sqlite3_column_text(st, col);
    size_t n = txt != NULL ? (size_t)sqlite3_column_bytes(st, col) : 0;
    return fx_store_json_text(txt, n);
}

static json_t *event_row_json(sqlite3_stmt *st)
{
    char when[40];
    uint64_t time_ms = (uint64_t)sqlite3_column_int64(st, 1);
    fx_store_fmt_time(time_ms, when, sizeof(when));
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    /* json_object_set_new takes ownership of a NULL value too (and fails). */
    int bad = json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
    bad |= json_object_set_new(o, "time", json_string(when));
    bad |= json_object_set_new(o, "time_ms", json_integer((json_int_t)time_ms));
    bad |= json_object_set_new(o, "actor", json_text(st, 2));
    bad |= json_object_set_new(o, "route", json_text(st, 3));
    bad |= json_object_set_new(o, "kind", json_text(st, 4));
    bad |= json_object_set_new(o, "old", json_text(st, 5));
    bad |= json_object_set_new(o, "new", json_text(st, 6));
    bad |= json_object_set_new(o, "reason", json_text(st, 7));
    if (bad != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int fx_store_events_json(struct fx_store *s, const char *route, size_t limit, FILE *f)
{
    if (s == NULL || f == NULL)
        return FX_EINVAL;
    sqlite3_stmt *q = route != NULL ? s->ev_route : s->ev_all;
    /* SQLite reads a negative LIMIT as "no limit". */
    sqlite3_int64 lim = limit > (size_t)INT64_MAX ? -1 : (sqlite3_int64)limit;
    if (sqlite3_bind_int64(q, 1, lim) != SQLITE_OK ||
        (route != NULL && sqlite3_bind_text(q, 2, route, -1, SQLITE_STATIC) != SQLITE_OK))
        return finish(q, FX_EIO);

    json_t *arr = json_array();
    if (arr == NULL)
        return finish(q, FX_ENOMEM);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *o = event_row_json(q);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return finish(q, FX_ENOMEM);
        }
    }
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return finish(q, FX_EIO);
    }
    (void)finish(q, 0);
    int out = json_dumpf(arr, f, JSON_COMPACT) == 0 ? 0 : FX_EIO;
    json_decref(arr);
    return out;
}
