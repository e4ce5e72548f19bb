/* Progress samples: storage, live figures of debt items, the migration
 * progress document and its completion estimate (docs/registry.md). */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../store/store.h"
#include "registry.h"
#include "registry_int.h"

#define KEEP_MS         (400ull * FX_REG_DAY_MS)
#define SERIES_MS       (30ull * FX_REG_DAY_MS) /* series cover the last 30 days */
#define TREND_MS        (7ull * FX_REG_DAY_MS)  /* the estimate fits the last 7 days */
#define DONE_SHARE      0.999
#define MIN_SLOPE       0.0001 /* share per day: below this the trend is flat */
#define MAX_HORIZON_DAY 3650.0

static const char add_sql[] =
    "INSERT INTO progress_samples(route, time_ms, interval_ms, migrating, weight_bp, req_legacy,"
    " req_new, err_legacy, err_new, p99_legacy, p99_new, shadow_compared, shadow_mismatched)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

static sqlite3_int64 i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

static bool bind_sample(sqlite3_stmt *q, const struct fx_reg_sample *r)
{
    size_t rlen = strnlen(r->route, sizeof(r->route) - 1);
    return sqlite3_bind_text(q, 1, r->route, (int)rlen, SQLITE_TRANSIENT) == SQLITE_OK &&
           sqlite3_bind_int64(q, 2, i64(r->time_ms)) == SQLITE_OK &&
           sqlite3_bind_int64(q, 3, i64(r->interval_ms)) == SQLITE_OK &&
           sqlite3_bind_int(q, 4, r->migrating ? 1 : 0) == SQLITE_OK &&
           sqlite3_bind_int64(q, 5, r->migrating ? r->weight_bp : 0) == SQLITE_OK &&
           sqlite3_bind_int64(q, 6, i64(r->req[0])) == SQLITE_OK &&
           sqlite3_bind_int64(q, 7, i64(r->req[1])) == SQLITE_OK &&
           sqlite3_bind_int64(q, 8, i64(r->err[0])) == SQLITE_OK &&
           sqlite3_bind_int64(q, 9, i64(r->err[1])) == SQLITE_OK &&
           sqlite3_bind_double(q, 10, isfinite(r->p99_ms[0]) ? r->p99_ms[0] : 0.0) == SQLITE_OK &&
           sqlite3_bind_double(q, 11, isfinite(r->p99_ms[1]) ? r->p99_ms[1] : 0.0) == SQLITE_OK &&
           sqlite3_bind_int64(q, 12, i64(r->shadow_compared)) == SQLITE_OK &&
           sqlite3_bind_int64(q, 13, i64(r->shadow_mismatched)) == SQLITE_OK;
}

static int prune_samples(struct fx_store *st, uint64_t now_ms, struct fx_err *err)
{
    if (now_ms <= KEEP_MS)
        return 0;
    sqlite3_stmt *q = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(fx_store_db(st), "DELETE FROM progress_samples WHERE time_ms < ?1", -1,
                           &q, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(q, 1, i64(now_ms - KEEP_MS)) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_DONE)
        rc = fx_reg__db_error(st, "cannot prune progress samples", err);
    (void)sqlite3_finalize(q);
    return rc;
}

int fx_reg_progress_add(struct fx_store *st, const struct fx_reg_sample *rows, size_t n,
                        struct fx_err *err)
{
    if (st == NULL || (rows == NULL && n > 0))
        return FX_ERR_SET(err, FX_EINVAL, "registry: progress: no store or no samples");
    int rc = fx_reg__schema(st, err);
    if (rc != 0 || n == 0)
        return rc;
    if ((rc = fx_reg__begin(st, err)) != 0)
        return rc;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(fx_store_db(st), add_sql, -1, &q, NULL) != SQLITE_OK) {
        rc = fx_reg__db_error(st, "cannot prepare the sample insert", err);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (!bind_sample(q, &rows[i]) || sqlite3_step(q) != SQLITE_DONE) {
            rc = fx_reg__db_error(st, "cannot insert a progress sample", err);
            goto fail;
        }
        (void)sqlite3_reset(q);
    }
    (void)sqlite3_finalize(q);
    q = NULL;
    if ((rc = prune_samples(st, fx_reg__now_ms(), err)) != 0)
        goto fail;
    return fx_reg__commit(st, err);
fail:
    (void)sqlite3_finalize(q);
    fx_reg__rollback(st);
    return rc;
}

/* ---- completion estimate (pure) ----------------------------------------------- */

void fx_reg__estimate(const uint64_t *time_ms, const double *share, size_t n,
                      struct fx_reg_estimate *out)
{
    memset(out, 0, sizeof(*out));
    out->status = FX_REG_EST_NO_DATA;
    if (n == 0)
        return;
    if (share[n - 1] >= DONE_SHARE) {
        out->status = FX_REG_EST_DONE;
        return;
    }
    if (n < 2 || time_ms[n - 1] < time_ms[0] + FX_REG_HOUR_MS)
        return;
    /* Least squares of share over days since the first point. */
    double mx = 0.0;
    double my = 0.0;
    for (size_t i = 0; i < n; i++) {
        mx += (double)(time_ms[i] - time_ms[0]) / (double)FX_REG_DAY_MS;
        my += share[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0.0;
    double sxx = 0.0;
    for (size_t i = 0; i < n; i++) {
        double dx = (double)(time_ms[i] - time_ms[0]) / (double)FX_REG_DAY_MS - mx;
        sxy += dx * (share[i] - my);
        sxx += dx * dx;
    }
    double slope = sxx > 0.0 ? sxy / sxx : 0.0;
    out->slope_per_day = fx_reg__round(slope, 6);
    out->status = FX_REG_EST_NO_PROGRESS;
    if (!(slope >= MIN_SLOPE))
        return;
    double last = (double)(time_ms[n - 1] - time_ms[0]) / (double)FX_REG_DAY_MS;
    double done = mx + (1.0 - my) / slope; /* where the fitted line reaches 1 */
    if (done < last)
        done = last;
    if (done - last > MAX_HORIZON_DAY)
        return;
    out->status = FX_REG_EST_ON_TRACK;
    out->completion_ms = time_ms[0] + (uint64_t)(done * (double)FX_REG_DAY_MS);
}

json_t *fx_reg__estimate_json(const struct fx_reg_estimate *e)
{
    static const char *const names[] = { "no_data", "no_progress", "on_track", "done" };
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    char when[40];
    json_t *completion = json_null();
    if (e->status == FX_REG_EST_ON_TRACK) {
        fx_store_fmt_time(e->completion_ms, when, sizeof(when));
        completion = json_string(when);
    }
    int bad = json_object_set_new(o, "status", json_string(names[e->status]));
    bad |= json_object_set_new(o, "completion", completion);
    bad |= json_object_set_new(o, "slope_per_day", fx_reg__json_num(e->slope_per_day));
    if (bad != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- live figures of an item ------------------------------------------------- */

/* Sums over the samples of one route in a window. */
struct sums {
    uint64_t samples;
    double covered_ms; /* sum of the intervals */
    double req[2];
    double err0;
    double p99w0; /* sum of p99 * requests, legacy side */
    double compared;
    double mismatched;
};

static const char window_sql[] =
    "SELECT COUNT(*), TOTAL(interval_ms), TOTAL(req_legacy), TOTAL(req_new), TOTAL(err_legacy),"
    " TOTAL(p99_legacy * req_legacy), TOTAL(shadow_compared), TOTAL(shadow_mismatched)"
    " FROM progress_samples WHERE route = ?1 AND time_ms > ?2 AND time_ms <= ?3";

static int route_sums(struct fx_store *st, const char *route, uint64_t from_ms, uint64_t to_ms,
                      struct sums *s, struct fx_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = 0;
    memset(s, 0, sizeof(*s));
    if (sqlite3_prepare_v2(fx_store_db(st), window_sql, -1, &q, NULL) != SQLITE_OK ||
        sqlite3_bind_text(q, 1, route, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(q, 2, i64(from_ms)) != SQLITE_OK ||
        sqlite3_bind_int64(q, 3, i64(to_ms)) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW) {
        rc = fx_reg__db_error(st, "cannot read progress samples", err);
        goto out;
    }
    s->samples = (uint64_t)sqlite3_column_int64(q, 0);
    s->covered_ms = sqlite3_column_double(q, 1);
    s->req[0] = sqlite3_column_double(q, 2);
    s->req[1] = sqlite3_column_double(q, 3);
    s->err0 = sqlite3_column_double(q, 4);
    s->p99w0 = sqlite3_column_double(q, 5);
    s->compared = sqlite3_column_double(q, 6);
    s->mismatched = sqlite3_column_double(q, 7);
out:
    (void)sqlite3_finalize(q);
    return rc;
}

/* The new side's configured share (0..1) in the newest sample of `route`
 * up to to_ms; 0 when the route is not migrating or has no sample. */
static int last_weight(struct fx_store *st, const char *route, uint64_t to_ms, double *share,
                       bool *found, struct fx_err *err)
{
    sqlite3_stmt *q = NULL;
    *share = 0.0;
    *found = false;
    if (sqlite3_prepare_v2(fx_store_db(st),
                           "SELECT migrating, weight_bp FROM progress_samples"
                           " WHERE route = ?1 AND time_ms <= ?2 ORDER BY time_ms DESC LIMIT 1",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_bind_text(q, 1, route, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(q, 2, i64(to_ms)) != SQLITE_OK) {
        (void)sqlite3_finalize(q);
        return fx_reg__db_error(st, "cannot read progress samples", err);
    }
    int step = sqlite3_step(q);
    if (step == SQLITE_ROW) {
        *found = true;
        if (sqlite3_column_int(q, 0) != 0)
            *share = (double)sqlite3_column_int64(q, 1) / 10000.0;
    }
    (void)sqlite3_finalize(q);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return fx_reg__db_error(st, "cannot read progress samples", err);
    return 0;
}

/* Requests per day from `req` requests seen over covered_ms of samples:
 * less than a day of samples is extrapolated linearly to 24 h. */
static double per_day(double req, double covered_ms)
{
    if (!(covered_ms > 0.0))
        return 0.0;
    double day = (double)FX_REG_DAY_MS;
    return req * day / (covered_ms < day ? covered_ms : day);
}

int fx_reg__live(struct fx_store *st, const char *const *routes, size_t n, uint64_t now_ms,
                 struct fx_reg_live *out, struct fx_err *err)
{
    memset(out, 0, sizeof(*out));
    out->has_routes = n > 0;
    uint64_t from = now_ms > FX_REG_DAY_MS ? now_ms - FX_REG_DAY_MS : 0;
    struct sums all = { 0 };
    double weights = 0.0;
    size_t nweights = 0;
    for (size_t i = 0; i < n; i++) {
        struct sums s;
        int rc = route_sums(st, routes[i], from, now_ms, &s, err);
        if (rc != 0)
            return rc;
        out->requests_per_day += per_day(s.req[0], s.covered_ms);
        double h = (s.covered_ms < (double)FX_REG_DAY_MS ? s.covered_ms : (double)FX_REG_DAY_MS) /
                   (double)FX_REG_HOUR_MS;
        out->hours = h > out->hours ? h : out->hours;
        all.samples += s.samples;
        all.req[0] += s.req[0];
        all.req[1] += s.req[1];
        all.err0 += s.err0;
        all.p99w0 += s.p99w0;
        all.compared += s.compared;
        all.mismatched += s.mismatched;
        double w = 0.0;
        bool found = false;
        if ((rc = last_weight(st, routes[i], now_ms, &w, &found, err)) != 0)
            return rc;
        weights += w;
        nweights += found ? 1 : 0;
    }
    out->samples = all.samples;
    double total = all.req[0] + all.req[1];
    if (total > 0.0)
        out->migrated_share = all.req[1] / total;
    else
        out->migrated_share = nweights > 0 ? weights / (double)nweights : 0.0;
    if (all.req[0] > 0.0) {
        out->legacy_error_rate = all.err0 / all.req[0];
        out->legacy_p99_ms = all.p99w0 / all.req[0];
    }
    out->has_shadow = all.compared > 0.0;
    out->shadow_mismatch_rate = out->has_shadow ? all.mismatched / all.compared : 0.0;
    return 0;
}

/* ---- the progress document -------------------------------------------------- */

/* Hourly points of one route (or of every route when route is NULL): share
 * of requests on the new side, or the mean configured weight of the hour
 * when it carried no traffic. Routes not migrating count as share 0. */
static const char series_route_sql[] =
    "SELECT time_ms / 3600000, TOTAL(req_legacy), TOTAL(req_new),"
    " AVG(CASE WHEN migrating THEN weight_bp ELSE 0 END)"
    " FROM progress_samples WHERE route = ?1 AND time_ms > ?2 AND time_ms <= ?3"
    " GROUP BY 1 ORDER BY 1";
static const char series_all_sql[] =
    "SELECT time_ms / 3600000, TOTAL(req_legacy), TOTAL(req_new),"
    " AVG(CASE WHEN migrating THEN weight_bp ELSE 0 END)"
    " FROM progress_samples WHERE ?1 IS NULL AND time_ms > ?2 AND time_ms <= ?3"
    " GROUP BY 1 ORDER BY 1";

/* A series read for the estimate as well as for the document. */
struct series {
    json_t *points; /* owned: [{time, share_new, requests}] */
    uint64_t *time_ms;
    double *share;
    size_t n;
};

static void series_fini(struct series *s)
{
    json_decref(s->points);
    s->points = NULL;
    FX_FREE(s->time_ms);
    FX_FREE(s->share);
    s->n = 0;
}

static int series_push(struct series *s, uint64_t hour, double req_legacy, double req_new,
                       double weight_bp)
{
    uint64_t *t = realloc(s->time_ms, (s->n + 1) * sizeof(*t));
    if (t == NULL)
        return FX_ENOMEM;
    s->time_ms = t;
    double *sh = realloc(s->share, (s->n + 1) * sizeof(*sh));
    if (sh == NULL)
        return FX_ENOMEM;
    s->share = sh;
    double total = req_legacy + req_new;
    double share = total > 0.0 ? req_new / total : weight_bp / 10000.0;
    s->time_ms[s->n] = hour * FX_REG_HOUR_MS;
    s->share[s->n] = share;
    s->n++;
    char when[40];
    fx_store_fmt_time(hour * FX_REG_HOUR_MS, when, sizeof(when));
    json_t *p = json_object();
    if (p == NULL || json_array_append_new(s->points, p) != 0)
        return FX_ENOMEM;
    int bad = json_object_set_new(p, "time", json_string(when));
    bad |= json_object_set_new(p, "share_new", fx_reg__json_num(fx_reg__round(share, 4)));
    bad |= json_object_set_new(p, "requests", fx_reg__json_num(total));
    return bad != 0 ? FX_ENOMEM : 0;
}

static int read_series(struct fx_store *st, const char *route, uint64_t now_ms, struct series *s,
                       struct fx_err *err)
{
    memset(s, 0, sizeof(*s));
    s->points = json_array();
    if (s->points == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "registry: progress: out of memory");
    sqlite3_stmt *q = NULL;
    int rc = 0;
    uint64_t from = now_ms > SERIES_MS ? now_ms - SERIES_MS : 0;
    if (sqlite3_prepare_v2(fx_store_db(st), route != NULL ? series_route_sql : series_all_sql, -1,
                           &q, NULL) != SQLITE_OK ||
        sqlite3_bind_text(q, 1, route, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(q, 2, i64(from)) != SQLITE_OK ||
        sqlite3_bind_int64(q, 3, i64(now_ms)) != SQLITE_OK) {
        rc = fx_reg__db_error(st, "cannot read progress samples", err);
        goto out;
    }
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        rc = series_push(s, (uint64_t)sqlite3_column_int64(q, 0), sqlite3_column_double(q, 1),
                         sqlite3_column_double(q, 2), sqlite3_column_double(q, 3));
        if (rc != 0) {
            rc = FX_ERR_SET(err, rc, "registry: progress: out of memory");
            goto out;
        }
    }
    if (step != SQLITE_DONE)
        rc = fx_reg__db_error(st, "cannot read progress samples", err);
out:
    (void)sqlite3_finalize(q);
    if (rc != 0)
        series_fini(s);
    return rc;
}

/* The estimate over the points of the last TREND_MS of a series. */
static json_t *series_estimate(const struct series *s, uint64_t now_ms)
{
    size_t first = 0;
    while (first < s->n && s->time_ms[first] + TREND_MS < now_ms)
        first++;
    struct fx_reg_estimate e;
    if (s->n == 0)
        fx_reg__estimate(NULL, NULL, 0, &e);
    else
        fx_reg__estimate(s->time_ms + first, s->share + first, s->n - first, &e);
    return fx_reg__estimate_json(&e);
}

/* The routes of the running config: those whose newest sample is no older
 * than two of its intervals (plus a second) before the newest sample of all. */
struct route_now {
    char *name; /* owned */
    bool migrating;
    uint32_t weight_bp;
};

static const char routes_sql[] =
    "SELECT route, MAX(time_ms), interval_ms, migrating, weight_bp FROM progress_samples"
    " WHERE time_ms <= ?1 GROUP BY route ORDER BY route";

static int current_routes(struct fx_store *st, uint64_t now_ms, struct route_now **out, size_t *n,
                          struct fx_err *err)
{
    sqlite3_stmt *q = NULL;
    struct route_now *r = NULL;
    uint64_t *last = NULL;
    size_t cnt = 0;
    uint64_t newest = 0;
    int rc = 0;
    int step = SQLITE_ERROR;
    if (sqlite3_prepare_v2(fx_store_db(st), routes_sql, -1, &q, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(q, 1, i64(now_ms)) != SQLITE_OK)
        goto db_fail;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        struct route_now *bigger = realloc(r, (cnt + 1) * sizeof(*r));
        uint64_t *lbig = bigger != NULL ? realloc(last, (cnt + 1) * sizeof(*last)) : NULL;
        if (bigger != NULL)
            r = bigger;
        if (lbig != NULL)
            last = lbig;
        const char *txt = (const char *)sqlite3_column_text(q, 0);
        char *name = lbig != NULL && txt != NULL ? strdup(txt) : NULL;
        if (name == NULL) {
            rc = FX_ERR_SET(err, FX_ENOMEM, "registry: progress: out of memory");
            goto out;
        }
        uint64_t t = (uint64_t)sqlite3_column_int64(q, 1);
        uint64_t interval = (uint64_t)sqlite3_column_int64(q, 2);
        r[cnt] = (struct route_now){ name, sqlite3_column_int(q, 3) != 0,
                                     (uint32_t)sqlite3_column_int64(q, 4) };
        last[cnt] = t + 2 * interval + 1000;
        newest = t > newest ? t : newest;
        cnt++;
    }
    if (step != SQLITE_DONE)
        goto db_fail;
    size_t keep = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (last[i] >= newest)
            r[keep++] = r[i];
        else
            free(r[i].name);
    }
    *out = r;
    *n = keep;
    r = NULL;
    cnt = 0;
    goto out;
db_fail:
    rc = fx_reg__db_error(st, "cannot read progress samples", err);
out:
    for (size_t i = 0; i < cnt; i++)
        free(r[i].name);
    free(r);
    free(last);
    (void)sqlite3_finalize(q);
    return rc;
}

/* Figures of one route summed into the overall ones. */
struct overall {
    double req[2];
    double shares; /* sum of route shares, for the no-traffic fallback */
    size_t routes;
    size_t migrated;
};

static int route_doc(struct fx_store *st, const struct route_now *r, uint64_t now_ms,
                     struct overall *all, json_t **out, struct fx_err *err)
{
    struct sums s;
    uint64_t from = now_ms > FX_REG_DAY_MS ? now_ms - FX_REG_DAY_MS : 0;
    int rc = route_sums(st, r->name, from, now_ms, &s, err);
    if (rc != 0)
        return rc;
    struct series ser;
    if ((rc = read_series(st, r->name, now_ms, &ser, err)) != 0)
        return rc;
    double total = s.req[0] + s.req[1];
    double share = 0.0;
    if (r->migrating)
        share = total > 0.0 ? s.req[1] / total : r->weight_bp / 10000.0;
    all->req[0] += s.req[0];
    all->req[1] += r->migrating ? s.req[1] : 0.0;
    all->shares += share;
    all->routes++;
    all->migrated += share >= DONE_SHARE ? 1 : 0;
    json_t *o = json_object();
    if (o == NULL) {
        series_fini(&ser);
        return FX_ERR_SET(err, FX_ENOMEM, "registry: progress: out of memory");
    }
    int bad = json_object_set_new(o, "route", json_string(r->name));
    bad |= json_object_set_new(o, "migrating", json_boolean(r->migrating));
    bad |= json_object_set_new(o, "weight_bp", json_integer(r->weight_bp));
    bad |= json_object_set_new(o, "share_new", fx_reg__json_num(fx_reg__round(share, 4)));
    bad |= json_object_set_new(o, "requests_per_day",
                               fx_reg__json_num(fx_reg__round(per_day(total, s.covered_ms), 0)));
    bad |= json_object_set_new(o, "estimate", series_estimate(&ser, now_ms));
    bad |= json_object_set_new(o, "series", ser.points);
    ser.points = NULL;
    series_fini(&ser);
    if (bad != 0) {
        json_decref(o);
        return FX_ERR_SET(err, FX_ENOMEM, "registry: progress: out of memory");
    }
    *out = o;
    return 0;
}

static json_t *overall_doc(const struct overall *all, const struct series *ser, uint64_t now_ms)
{
    double total = all->req[0] + all->req[1];
    double share = 0.0;
    if (total > 0.0)
        share = all->req[1] / total;
    else if (all->routes > 0)
        share = all->shares / (double)all->routes;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "share_new", fx_reg__json_num(fx_reg__round(share, 4)));
    bad |= json_object_set_new(o, "routes", json_integer((json_int_t)all->routes));
    bad |= json_object_set_new(o, "migrated_routes", json_integer((json_int_t)all->migrated));
    bad |= json_object_set_new(o, "estimate", series_estimate(ser, now_ms));
    if (bad != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int fx_reg__progress_at(struct fx_store *st, uint64_t now_ms, json_t **out, struct fx_err *err)
{
    struct route_now *routes = NULL;
    size_t n = 0;
    struct series ser = { 0 };
    json_t *doc = json_object();
    json_t *list = json_array();
    int rc = fx_reg__schema(st, err);
    if (rc != 0)
        goto out;
    if (doc == NULL || list == NULL) {
        rc = FX_ERR_SET(err, FX_ENOMEM, "registry: progress: out of memory");
        goto out;
    }
    if ((rc = current_routes(st, now_ms, &routes, &n, err)) != 0)
        goto out;
    struct overall all = { 0 };
    for (size_t i = 0; i < n; i++) {
        json_t *r = NULL;
        if ((rc = route_doc(st, &routes[i], now_ms, &all, &r, err)) != 0)
            goto out;
        if (json_array_append_new(list, r) != 0) {
            rc = FX_ERR_SET(err, FX_ENOMEM, "registry: progress: out of memory");
            goto out;
        }
    }
    if ((rc = read_series(st, NULL, now_ms, &ser, err)) != 0)
        goto out;
    int bad = json_object_set_new(doc, "overall", overall_doc(&all, &ser, now_ms));
    bad |= json_object_set_new(doc, "routes", list);
    list = NULL;
    bad |= json_object_set_new(doc, "series", ser.points);
    ser.points = NULL;
    if (bad != 0) {
        rc = FX_ERR_SET(err, FX_ENOMEM, "registry: progress: out of memory");
        goto out;
    }
    *out = doc;
    doc = NULL;
out:
    for (size_t i = 0; i < n; i++)
        free(routes[i].name);
    free(routes);
    series_fini(&ser);
    json_decref(list);
    json_decref(doc);
    return rc;
}

int fx_reg_progress(struct fx_store *st, json_t **out, struct fx_err *err)
{
    if (st == NULL || out == NULL)
        return FX_ERR_SET(err, FX_EINVAL, "registry: progress: no store");
    return fx_reg__progress_at(st, fx_reg__now_ms(), out, err);
}
