/* Shadow tables in the store: per-route counters, per-endpoint/path counts,
 * learned noise and samples. Caller holds fx_shadow_state.lock. */
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../store/store.h"
#include "shadow.h"
#include "shadow_int.h"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS shadow_routes("
    " route TEXT PRIMARY KEY, candidate TEXT, secondary TEXT,"
    " compared INTEGER NOT NULL, matched INTEGER NOT NULL, mismatched INTEGER NOT NULL,"
    " errored INTEGER NOT NULL, noise_excluded INTEGER NOT NULL,"
    " dropped TEXT NOT NULL, errors TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS shadow_endpoints("
    " route TEXT NOT NULL, endpoint TEXT NOT NULL,"
    " compared INTEGER NOT NULL, mismatched INTEGER NOT NULL,"
    " PRIMARY KEY(route, endpoint));"
    "CREATE TABLE IF NOT EXISTS shadow_paths("
    " route TEXT NOT NULL, endpoint TEXT NOT NULL, path TEXT NOT NULL, count INTEGER NOT NULL,"
    " PRIMARY KEY(route, endpoint, path));"
    "CREATE TABLE IF NOT EXISTS shadow_noise("
    " route TEXT NOT NULL, endpoint TEXT NOT NULL, path TEXT NOT NULL, seen INTEGER NOT NULL,"
    " PRIMARY KEY(route, endpoint, path));"
    "CREATE TABLE IF NOT EXISTS shadow_samples("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, route TEXT NOT NULL, time_ms INTEGER NOT NULL,"
    " endpoint TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS shadow_samples_key ON shadow_samples(route, key, id);";

/* Columns added after the first release: ALTER fails harmlessly when the
 * column is already there. */
static const char *const added_columns[] = {
    "ALTER TABLE shadow_routes ADD COLUMN secondary_errors TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE shadow_routes ADD COLUMN secondary_ok_ms INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE shadow_routes ADD COLUMN secondary_err_ms INTEGER NOT NULL DEFAULT 0",
};

int fx_shadow__db_init(struct fx_store *st)
{
    sqlite3 *db = fx_store_db(st);
    if (sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        return FX_EIO;
    for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++)
        (void)sqlite3_exec(db, added_columns[i], NULL, NULL, NULL);
    return 0;
}

/* Bind text or NULL at position i. */
static int bind_text(sqlite3_stmt *q, int i, const char *s)
{
    return s != NULL ? sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(q, i);
}

/* Prepare, bind up to four text parameters (NULL ends the list), and step to
 * completion. Returns 0 or FX_EIO. */
static int exec4(sqlite3 *db, const char *sql, const char *p1, const char *p2, const char *p3,
                 sqlite3_int64 n4)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return FX_EIO;
    (void)bind_text(q, 1, p1);
    (void)bind_text(q, 2, p2);
    (void)bind_text(q, 3, p3);
    (void)sqlite3_bind_int64(q, 4, n4);
    int rc = sqlite3_step(q);
    (void)sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : FX_EIO;
}

/* ---- load ------------------------------------------------------------------------ */

static void seed(struct fx_shadow__route *r, struct fx_shadow_counters *ctr, sqlite3_stmt *q)
{
    atomic_fetch_add(&ctr->compared, (uint64_t)sqlite3_column_int64(q, 0));
    atomic_fetch_add(&ctr->matched, (uint64_t)sqlite3_column_int64(q, 1));
    atomic_fetch_add(&ctr->mismatched, (uint64_t)sqlite3_column_int64(q, 2));
    atomic_fetch_add(&ctr->errored, (uint64_t)sqlite3_column_int64(q, 3));
    atomic_fetch_add(&ctr->noise, (uint64_t)sqlite3_column_int64(q, 4));
    const char *dropped = (const char *)sqlite3_column_text(q, 5);
    const char *errors = (const char *)sqlite3_column_text(q, 6);
    json_t *d = dropped != NULL ? json_loads(dropped, 0, NULL) : NULL;
    json_t *e = errors != NULL ? json_loads(errors, 0, NULL) : NULL;
    for (size_t i = 0; i < FX_SHADOW_DROP__N; i++) {
        json_t *v = json_object_get(d, fx_shadow_drop_name((enum fx_shadow_drop)i));
        if (json_is_integer(v) && json_integer_value(v) > 0)
            atomic_fetch_add(&ctr->dropped[i], (uint64_t)json_integer_value(v));
    }
    for (size_t i = 0; fx_shadow__error_name(i) != NULL && i < 8; i++) {
        json_t *v = json_object_get(e, fx_shadow__error_name(i));
        if (json_is_integer(v) && json_integer_value(v) > 0)
            r->errors[i] += (uint64_t)json_integer_value(v);
    }
    json_decref(d);
    json_decref(e);
    const char *sec = (const char *)sqlite3_column_text(q, 7);
    json_t *se = sec != NULL ? json_loads(sec, 0, NULL) : NULL;
    for (size_t i = 0; fx_shadow__error_name(i) != NULL && i < 8; i++) {
        json_t *v = json_object_get(se, fx_shadow__error_name(i));
        if (json_is_integer(v) && json_integer_value(v) > 0)
            r->sec_errors[i] += (uint64_t)json_integer_value(v);
    }
    json_decref(se);
}

static int load_counters(sqlite3 *db, struct fx_shadow__route *r, struct fx_shadow_counters *ctr)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT compared, matched, mismatched, errored, noise_excluded, dropped,"
                           " errors, secondary_errors FROM shadow_routes WHERE route = ?1",
                           -1, &q, NULL) != SQLITE_OK)
        return FX_EIO;
    (void)sqlite3_bind_text(q, 1, r->name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        seed(r, ctr, q);
    (void)sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : FX_EIO;
}

/* kind 0: endpoints, 1: paths, 2: noise. */
static int load_rows(sqlite3 *db, struct fx_shadow__route *r, int kind)
{
    static const char *const sql[] = {
        "SELECT endpoint, NULL, compared, mismatched FROM shadow_endpoints WHERE route = ?1",
        "SELECT endpoint, path, count, 0 FROM shadow_paths WHERE route = ?1",
        "SELECT endpoint, path, seen, 0 FROM shadow_noise WHERE route = ?1",
    };
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql[kind], -1, &q, NULL) != SQLITE_OK)
        return FX_EIO;
    (void)sqlite3_bind_text(q, 1, r->name, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *ep = (const char *)sqlite3_column_text(q, 0);
        const char *path = (const char *)sqlite3_column_text(q, 1);
        uint64_t a = (uint64_t)sqlite3_column_int64(q, 2);
        uint64_t b = (uint64_t)sqlite3_column_int64(q, 3);
        if (ep == NULL || (kind > 0 && path == NULL))
            continue;
        if (kind == 2) {
            struct fx_shadow__noise *n = fx_shadow__noise_get(r, ep, path, true);
            if (n != NULL)
                n->seen = a;
            continue;
        }
        struct fx_shadow__ep *e = fx_shadow__ep_get(r, ep);
        struct fx_shadow__path *p = e != NULL && kind == 1 ? fx_shadow__path_get(e, path) : NULL;
        if (kind == 0 && e != NULL) {
            e->compared = a;
            e->mismatched = b;
        } else if (p != NULL) {
            p->count = a;
        }
    }
    (void)sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : FX_EIO;
}

int fx_shadow__db_load_route(struct fx_store *st, struct fx_shadow__route *r,
                             struct fx_shadow_counters *ctr, bool seed_ctr)
{
    sqlite3 *db = fx_store_db(st);
    int rc = seed_ctr ? load_counters(db, r, ctr) : 0;
    for (int kind = 0; rc == 0 && kind < 3; kind++)
        rc = load_rows(db, r, kind);
    return rc;
}

/* ---- flush ---------------------------------------------------------------------- */

/* kind 0: drops, 1: candidate errors, 2: secondary errors. */
static char *counts_json(const struct fx_shadow__route *r, const struct fx_shadow_counters *ctr,
                         int kind)
{
    bool errors = kind != 0;
    const uint64_t *ev = kind == 2 ? r->sec_errors : r->errors;
    json_t *o = json_object();
    for (size_t i = 0; !errors && i < FX_SHADOW_DROP__N; i++) {
        uint64_t v = atomic_load(&ctr->dropped[i]);
        (void)json_object_set_new(o, fx_shadow_drop_name((enum fx_shadow_drop)i),
                                  json_integer((json_int_t)v));
    }
    for (size_t i = 0; errors && fx_shadow__error_name(i) != NULL && i < 8; i++)
        (void)json_object_set_new(o, fx_shadow__error_name(i), json_integer((json_int_t)ev[i]));
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static int put_route(sqlite3 *db, const struct fx_shadow__route *r,
                     const struct fx_shadow_counters *ctr, const char *candidate,
                     const char *secondary)
{
    char *dropped = counts_json(r, ctr, 0);
    char *errors = counts_json(r, ctr, 1);
    char *sec = counts_json(r, ctr, 2);
    sqlite3_stmt *q = NULL;
    int rc = dropped != NULL && errors != NULL && sec != NULL ? 0 : FX_ENOMEM;
    if (rc == 0 &&
        sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO shadow_routes(route, candidate, secondary,"
                           " compared, matched, mismatched, errored, noise_excluded, dropped,"
                           " errors, updated_ms, secondary_errors, secondary_ok_ms,"
                           " secondary_err_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                           " ?11, ?12, ?13, ?14)",
                           -1, &q, NULL) != SQLITE_OK)
        rc = FX_EIO;
    if (rc == 0) {
        (void)bind_text(q, 1, r->name);
        (void)bind_text(q, 2, candidate);
        (void)bind_text(q, 3, secondary);
        (void)sqlite3_bind_int64(q, 4, (sqlite3_int64)atomic_load(&ctr->compared));
        (void)sqlite3_bind_int64(q, 5, (sqlite3_int64)atomic_load(&ctr->matched));
        (void)sqlite3_bind_int64(q, 6, (sqlite3_int64)atomic_load(&ctr->mismatched));
        (void)sqlite3_bind_int64(q, 7, (sqlite3_int64)atomic_load(&ctr->errored));
        (void)sqlite3_bind_int64(q, 8, (sqlite3_int64)atomic_load(&ctr->noise));
        (void)bind_text(q, 9, dropped);
        (void)bind_text(q, 10, errors);
        (void)sqlite3_bind_int64(q, 11, (sqlite3_int64)fx_shadow__wall_ms());
        (void)bind_text(q, 12, sec);
        (void)sqlite3_bind_int64(q, 13, (sqlite3_int64)r->sec_ok_ms);
        (void)sqlite3_bind_int64(q, 14, (sqlite3_int64)r->sec_err_ms);
        rc = sqlite3_step(q) == SQLITE_DONE ? 0 : FX_EIO;
    }
    (void)sqlite3_finalize(q);
    free(dropped);
    free(errors);
    free(sec);
    return rc;
}

static int put_endpoint(sqlite3 *db, const char *route, struct fx_shadow__ep *ep)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO shadow_endpoints(route, endpoint, compared,"
                           " mismatched) VALUES (?1, ?2, ?3, ?4)",
                           -1, &q, NULL) != SQLITE_OK)
        return FX_EIO;
    (void)bind_text(q, 1, route);
    (void)bind_text(q, 2, ep->name);
    (void)sqlite3_bind_int64(q, 3, (sqlite3_int64)ep->compared);
    (void)sqlite3_bind_int64(q, 4, (sqlite3_int64)ep->mismatched);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : FX_EIO;
    (void)sqlite3_finalize(q);
    for (size_t i = 0; rc == 0 && i < ep->npaths; i++)
        rc = exec4(db,
                   "INSERT OR REPLACE INTO shadow_paths(route, endpoint, path, count)"
                   " VALUES (?1, ?2, ?3, ?4)",
                   route, ep->name, ep->paths[i].path, (sqlite3_int64)ep->paths[i].count);
    if (rc == 0)
        ep->dirty = false;
    return rc;
}

int fx_shadow__db_flush_route(struct fx_store *st, struct fx_shadow__route *r,
                              const struct fx_shadow_counters *ctr, const char *candidate,
                              const char *secondary)
{
    sqlite3 *db = fx_store_db(st);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return FX_EIO;
    int rc = put_route(db, r, ctr, candidate, secondary);
    for (size_t i = 0; rc == 0 && i < r->neps; i++) {
        if (r->eps[i].dirty)
            rc = put_endpoint(db, r->name, &r->eps[i]);
    }
    for (size_t i = 0; rc == 0 && i < r->nnoise; i++) {
        struct fx_shadow__noise *n = &r->noise[i];
        if (!n->dirty)
            continue;
        rc = exec4(db,
                   "INSERT OR REPLACE INTO shadow_noise(route, endpoint, path, seen)"
                   " VALUES (?1, ?2, ?3, ?4)",
                   r->name, n->endpoint, n->path, (sqlite3_int64)n->seen);
        n->dirty = rc != 0;
    }
    if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        r->dirty = false;
        return 0;
    }
    (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return FX_EIO;
}

/* ---- samples ---------------------------------------------------------------------- */

int fx_shadow__db_add_sample(struct fx_store *st, const char *route, uint64_t time_ms,
                             const char *endpoint, const char *key, const char *doc)
{
    sqlite3 *db = fx_store_db(st);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO shadow_samples(route, time_ms, endpoint, key, doc)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &q, NULL) != SQLITE_OK)
        return FX_EIO;
    (void)bind_text(q, 1, route);
    (void)sqlite3_bind_int64(q, 2, (sqlite3_int64)time_ms);
    (void)bind_text(q, 3, endpoint);
    (void)bind_text(q, 4, key);
    (void)bind_text(q, 5, doc);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : FX_EIO;
    (void)sqlite3_finalize(q);
    if (rc != 0)
        return rc;
    return exec4(db,
                 "DELETE FROM shadow_samples WHERE route = ?1 AND key = ?2 AND id <= ("
                 " SELECT id FROM shadow_samples WHERE route = ?1 AND key = ?2"
                 " ORDER BY id DESC LIMIT 1 OFFSET ?4)",
                 route, key, NULL, FX_SHADOW_SAMPLES_KEEP);
}
