/* Reports: the diffs JSON (built from the store, so the engine and `ficus
 * report` give the same document), Prometheus metrics, and the text view of
 * `ficus ctl diffs`. */
#include <inttypes.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "../store/store.h"
#include "shadow.h"
#include "shadow_int.h"

/* ---- JSON from the store ------------------------------------------------------ */

static json_t *col_text(sqlite3_stmt *q, int i)
{
    const char *s = (const char *)sqlite3_column_text(q, i);
    return s != NULL ? json_string(s) : json_null();
}

static json_t *col_json(sqlite3_stmt *q, int i)
{
    const char *s = (const char *)sqlite3_column_text(q, i);
    json_t *v = s != NULL ? json_loads(s, 0, NULL) : NULL;
    return v != NULL ? v : json_object();
}

static double rate(json_int_t part, json_int_t whole)
{
    return whole > 0 ? (double)part / (double)whole : 0.0;
}

static json_t *route_counts(sqlite3_stmt *q, json_int_t compared, json_int_t mismatched);

/* "off" without a secondary; "paused" while its last copy failed (no
 * noise is learned then); "active" otherwise. */
static const char *noise_learning(sqlite3_stmt *q)
{
    if (sqlite3_column_type(q, 2) == SQLITE_NULL)
        return "off";
    return sqlite3_column_int64(q, 13) > sqlite3_column_int64(q, 12) ? "paused" : "active";
}

static json_t *route_head(sqlite3_stmt *q)
{
    json_int_t compared = sqlite3_column_int64(q, 3);
    json_int_t mismatched = sqlite3_column_int64(q, 5);
    json_t *o = route_counts(q, compared, mismatched);
    if (o != NULL &&
        (json_object_set_new(o, "secondary_errors", col_json(q, 11)) != 0 ||
         json_object_set_new(o, "noise_learning", json_string(noise_learning(q))) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *route_counts(sqlite3_stmt *q, json_int_t compared, json_int_t mismatched)
{
    return json_pack("{s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:f, s:o, s:o, s:I, s:I}", "route",
                     col_text(q, 0), "candidate", col_text(q, 1), "secondary", col_text(q, 2),
                     "compared", compared, "matched", sqlite3_column_int64(q, 4), "mismatched",
                     mismatched, "errored", sqlite3_column_int64(q, 6), "mismatch_rate",
                     rate(mismatched, compared), "dropped", col_json(q, 8), "errors",
                     col_json(q, 9), "noise_excluded", sqlite3_column_int64(q, 7), "updated_ms",
                     sqlite3_column_int64(q, 10));
}

/* Run `sql` bound to (route, n) and append one value per row built by `row`. */
typedef json_t *row_fn(sqlite3_stmt *q);

static int rows(sqlite3 *db, const char *sql, const char *route, sqlite3_int64 n, row_fn *row,
                json_t *arr)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return FX_EIO;
    (void)sqlite3_bind_text(q, 1, route, -1, SQLITE_TRANSIENT);
    (void)sqlite3_bind_int64(q, 2, n);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *v = row(q);
        if (v == NULL || json_array_append_new(arr, v) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    (void)sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : FX_EIO;
}

static json_t *endpoint_row(sqlite3_stmt *q)
{
    return json_pack("{s:o, s:I, s:I, s:[]}", "endpoint", col_text(q, 0), "compared",
                     sqlite3_column_int64(q, 1), "mismatched", sqlite3_column_int64(q, 2), "paths");
}

static json_t *path_row(sqlite3_stmt *q)
{
    return json_pack("{s:o, s:o, s:I}", "endpoint", col_text(q, 0), "path", col_text(q, 1), "count",
                     sqlite3_column_int64(q, 2));
}

static json_t *noise_row(sqlite3_stmt *q)
{
    return json_pack("{s:o, s:o, s:I}", "endpoint", col_text(q, 0), "path", col_text(q, 1), "seen",
                     sqlite3_column_int64(q, 2));
}

static json_t *sample_row(sqlite3_stmt *q)
{
    json_t *doc = col_json(q, 1);
    char t[48];
    fx_store_fmt_time((uint64_t)sqlite3_column_int64(q, 2), t, sizeof(t));
    if (json_object_set_new(doc, "id", json_integer(sqlite3_column_int64(q, 0))) != 0 ||
        json_object_set_new(doc, "time", json_string(t)) != 0) {
        json_decref(doc);
        return NULL;
    }
    (void)json_object_del(doc, "route");
    return doc;
}

/* Attach each path row to its endpoint object (rows are sorted JSON paths
 * first, then body, status and headers, each by count). */
static void nest_paths(json_t *eps, json_t *paths)
{
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        const char *name = json_string_value(json_object_get(p, "endpoint"));
        size_t k;
        json_t *ep;
        json_array_foreach(eps, k, ep)
        {
            const char *en = json_string_value(json_object_get(ep, "endpoint"));
            if (name != NULL && en != NULL && strcmp(name, en) == 0) {
                json_t *o = json_pack("{s:O, s:O}", "path", json_object_get(p, "path"), "count",
                                      json_object_get(p, "count"));
                (void)json_array_append_new(json_object_get(ep, "paths"), o);
                break;
            }
        }
    }
}

static int route_parts(sqlite3 *db, const char *route, size_t samples, json_t *doc)
{
    json_t *eps = json_array();
    json_t *paths = json_array();
    json_t *noise = json_array();
    json_t *smp = json_array();
    sqlite3_int64 ns = samples > 10000 ? 10000 : (sqlite3_int64)samples;
    int rc = rows(db,
                  "SELECT endpoint, compared, mismatched FROM shadow_endpoints WHERE route = ?1"
                  " AND ?2 = ?2 ORDER BY mismatched DESC, compared DESC, endpoint",
                  route, 0, endpoint_row, eps);
    if (rc == 0)
        rc = rows(db,
                  "SELECT endpoint, path, count FROM shadow_paths WHERE route = ?1 AND ?2 = ?2"
                  " ORDER BY CASE WHEN path LIKE '$%' THEN 0 WHEN path = 'body' THEN 1"
                  " WHEN path = 'status' THEN 2 ELSE 3 END, count DESC, path",
                  route, 0, path_row, paths);
    if (rc == 0)
        rc = rows(db,
                  "SELECT endpoint, path, seen FROM shadow_noise WHERE route = ?1 AND ?2 = ?2"
                  " ORDER BY seen DESC, endpoint, path",
                  route, 0, noise_row, noise);
    if (rc == 0)
        rc = rows(db,
                  "SELECT id, doc, time_ms FROM shadow_samples WHERE route = ?1"
                  " ORDER BY id DESC LIMIT ?2",
                  route, ns, sample_row, smp);
    nest_paths(eps, paths);
    json_decref(paths);
    if (json_object_set_new(doc, "endpoints", eps) != 0 ||
        json_object_set_new(doc, "noise", noise) != 0 ||
        json_object_set_new(doc, "samples", smp) != 0)
        rc = FX_ENOMEM;
    return rc;
}

/* Reports of `route` (or every route when NULL) appended to `out`. */
static int collect(sqlite3 *db, const char *route, size_t samples, json_t *out)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT route, candidate, secondary, compared, matched, mismatched,"
                           " errored, noise_excluded, dropped, errors, updated_ms,"
                           " secondary_errors, secondary_ok_ms, secondary_err_ms"
                           " FROM shadow_routes WHERE ?1 IS NULL OR route = ?1 ORDER BY route",
                           -1, &q, NULL) != SQLITE_OK)
        return FX_EIO;
    if (route != NULL)
        (void)sqlite3_bind_text(q, 1, route, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *doc = route_head(q);
        if (doc == NULL || json_array_append_new(out, doc) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    (void)sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return FX_EIO;
    size_t i;
    json_t *doc;
    json_array_foreach(out, i, doc)
    {
        int r = route_parts(db, json_string_value(json_object_get(doc, "route")), samples, doc);
        if (r != 0)
            return r;
    }
    return 0;
}

int fx_shadow__report_json(struct fx_store *st, const char *route, size_t samples, FILE *f)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return FX_ENOMEM;
    int rc = collect(fx_store_db(st), route, samples, arr);
    if (rc == 0 && route != NULL && json_array_size(arr) == 0)
        rc = FX_ENOTFOUND;
    if (rc == 0) {
        json_t *doc =
            route != NULL ? json_incref(json_array_get(arr, 0)) : json_pack("{s:O}", "routes", arr);
        rc = doc != NULL && json_dumpf(doc, f, JSON_COMPACT) == 0 ? 0 : FX_EIO;
        json_decref(doc);
    }
    json_decref(arr);
    return rc;
}

int fx_shadow_store_json(struct fx_store *st, const char *route, size_t samples, FILE *f)
{
    if (st == NULL || f == NULL)
        return FX_EIO;
    /* A store that never ran the engine has no shadow tables yet. */
    if (fx_shadow__db_init(st) != 0)
        return FX_EIO;
    return fx_shadow__report_json(st, route, samples, f);
}

/* ---- engine views ----------------------------------------------------------------- */

/* A reference to the current configuration and the route's section. */
static struct fx_conf *conf_get(struct fx_shadow *s)
{
    (void)pthread_mutex_lock(&s->lock);
    struct fx_conf *c = s->conf;
    if (c != NULL)
        fx_conf_ref(c);
    (void)pthread_mutex_unlock(&s->lock);
    return c;
}

int fx_shadow_diffs_json(struct fx_shadow *s, const char *route, size_t samples, FILE *f)
{
    if (route == NULL || f == NULL)
        return FX_ENOTFOUND;
    struct fx_conf *c = conf_get(s);
    const struct fx_conf_route *cr = NULL;
    for (size_t i = 0; c != NULL && i < c->nroutes; i++) {
        if (c->routes[i].shadow != NULL && strcmp(c->routes[i].name, route) == 0)
            cr = &c->routes[i];
    }
    int rc = cr != NULL ? 0 : FX_ENOTFOUND;
    (void)pthread_mutex_lock(&s->lock);
    struct fx_shadow_state *st = s->running ? s->st : NULL;
    (void)pthread_mutex_unlock(&s->lock);
    if (rc == 0 && st == NULL)
        rc = FX_EIO;
    if (rc == 0) {
        /* Flush this route first so the document shows the live figures. */
        (void)pthread_mutex_lock(&st->lock);
        struct fx_shadow__route *r = NULL;
        for (size_t i = 0; i < st->nroutes && r == NULL; i++)
            r = strcmp(st->routes[i].name, route) == 0 ? &st->routes[i] : NULL;
        if (r != NULL && cr->id < FX_SHADOW_MAX_ROUTES)
            (void)fx_shadow__db_flush_route(st->store, r, &s->ctr[cr->id], cr->shadow->to_name,
                                            cr->shadow->secondary_name);
        rc = fx_shadow__report_json(st->store, route, samples, f);
        (void)pthread_mutex_unlock(&st->lock);
    }
    fx_conf_unref(c);
    return rc;
}

/* ---- metrics -------------------------------------------------------------------- */

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *v)
{
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"')
            (void)fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            (void)fputs("\\n", f);
        else
            (void)fputc(*p, f);
    }
}

static void help(FILE *f, const char *name, const char *type, const char *text)
{
    (void)fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void metric_route(FILE *f, const char *name, const char *route)
{
    (void)fprintf(f, "%s{route=\"", name);
    put_label(f, route);
    (void)fputc('"', f);
}

static void render_copies(struct fx_shadow *s, const struct fx_conf *c, FILE *f)
{
    help(f, "ficus_shadow_copies_total", "counter", "Shadow copies by comparison result.");
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct fx_conf_route *r = &c->routes[i];
        if (r->shadow == NULL || r->id >= FX_SHADOW_MAX_ROUTES)
            continue;
        const struct fx_shadow_counters *k = &s->ctr[r->id];
        const char *res[] = { "matched", "mismatched", "errored" };
        uint64_t v[] = { atomic_load(&k->matched), atomic_load(&k->mismatched),
                         atomic_load(&k->errored) };
        for (size_t j = 0; j < 3; j++) {
            metric_route(f, "ficus_shadow_copies_total", r->name);
            (void)fprintf(f, ",result=\"%s\"} %" PRIu64 "\n", res[j], v[j]);
        }
    }
    help(f, "ficus_shadow_dropped_total", "counter", "Shadow copies not made or not compared.");
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct fx_conf_route *r = &c->routes[i];
        if (r->shadow == NULL || r->id >= FX_SHADOW_MAX_ROUTES)
            continue;
        for (size_t j = 0; j < FX_SHADOW_DROP__N; j++) {
            metric_route(f, "ficus_shadow_dropped_total", r->name);
            (void)fprintf(f, ",reason=\"%s\"} %" PRIu64 "\n",
                          fx_shadow_drop_name((enum fx_shadow_drop)j),
                          (uint64_t)atomic_load(&s->ctr[r->id].dropped[j]));
        }
    }
}

static void render_rates(struct fx_shadow *s, const struct fx_conf *c, FILE *f)
{
    help(f, "ficus_shadow_noise_excluded_total", "counter",
         "Differences excluded as learned noise.");
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct fx_conf_route *r = &c->routes[i];
        if (r->shadow == NULL || r->id >= FX_SHADOW_MAX_ROUTES)
            continue;
        metric_route(f, "ficus_shadow_noise_excluded_total", r->name);
        (void)fprintf(f, "} %" PRIu64 "\n", (uint64_t)atomic_load(&s->ctr[r->id].noise));
    }
    help(f, "ficus_shadow_truncated_total", "counter",
         "Comparisons that reached the difference limit (compare.max_differences).");
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct fx_conf_route *r = &c->routes[i];
        if (r->shadow == NULL || r->id >= FX_SHADOW_MAX_ROUTES)
            continue;
        metric_route(f, "ficus_shadow_truncated_total", r->name);
        (void)fprintf(f, "} %" PRIu64 "\n", (uint64_t)atomic_load(&s->ctr[r->id].truncated));
    }
    help(f, "ficus_shadow_mismatch_rate", "gauge", "Mismatched over compared copies, all time.");
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct fx_conf_route *r = &c->routes[i];
        if (r->shadow == NULL || r->id >= FX_SHADOW_MAX_ROUTES)
            continue;
        uint64_t n = atomic_load(&s->ctr[r->id].compared);
        uint64_t m = atomic_load(&s->ctr[r->id].mismatched);
        metric_route(f, "ficus_shadow_mismatch_rate", r->name);
        (void)fprintf(f, "} %.6f\n", n > 0 ? (double)m / (double)n : 0.0);
    }
}

static void render_paths(struct fx_shadow *s, const struct fx_conf *c, FILE *f)
{
    help(f, "ficus_shadow_path_mismatches_total", "counter",
         "Mismatched copies by endpoint and generalised difference path.");
    (void)pthread_mutex_lock(&s->lock);
    struct fx_shadow_state *st = s->running ? s->st : NULL;
    (void)pthread_mutex_unlock(&s->lock);
    if (st == NULL)
        return;
    (void)pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->nroutes; i++) {
        const struct fx_shadow__route *r = &st->routes[i];
        bool live = false;
        for (size_t k = 0; k < c->nroutes && !live; k++)
            live = c->routes[k].shadow != NULL && strcmp(c->routes[k].name, r->name) == 0;
        for (size_t e = 0; live && e < r->neps; e++) {
            for (size_t p = 0; p < r->eps[e].npaths; p++) {
                metric_route(f, "ficus_shadow_path_mismatches_total", r->name);
                (void)fputs(",endpoint=\"", f);
                put_label(f, r->eps[e].name);
                (void)fputs("\",path=\"", f);
                put_label(f, r->eps[e].paths[p].path);
                (void)fprintf(f, "\"} %" PRIu64 "\n", r->eps[e].paths[p].count);
            }
        }
    }
    (void)pthread_mutex_unlock(&st->lock);
}

/* Process-wide gauges of the queue and of the copies in flight. */
static void render_queue(struct fx_shadow *s, FILE *f)
{
    struct fx_shadow_queue_stats q;
    fx_shadow_queue_stats(s, &q);
    help(f, "ficus_shadow_queue_jobs", "gauge", "Shadow jobs waiting for comparison.");
    (void)fprintf(f, "ficus_shadow_queue_jobs %zu\n", q.jobs);
    help(f, "ficus_shadow_queue_bytes", "gauge", "Bytes of queued jobs and the one compared.");
    (void)fprintf(f, "ficus_shadow_queue_bytes %zu\n", q.bytes);
    help(f, "ficus_shadow_queue_budget_bytes", "gauge", "limits.shadow_queue_bytes.");
    (void)fprintf(f, "ficus_shadow_queue_budget_bytes %" PRIu64 "\n", q.budget);
    help(f, "ficus_shadow_inflight_bytes", "gauge", "Bytes captured by shadow copies in flight.");
    (void)fprintf(f, "ficus_shadow_inflight_bytes %zu\n", q.inflight_bytes);
    help(f, "ficus_shadow_inflight_budget_bytes", "gauge", "limits.shadow_inflight_bytes.");
    (void)fprintf(f, "ficus_shadow_inflight_budget_bytes %" PRIu64 "\n", q.inflight_budget);
}

void fx_shadow_render_metrics(struct fx_shadow *s, FILE *f)
{
    struct fx_conf *c = conf_get(s);
    if (c == NULL)
        return;
    render_copies(s, c, f);
    render_rates(s, c, f);
    render_paths(s, c, f);
    render_queue(s, f);
    fx_conf_unref(c);
}
