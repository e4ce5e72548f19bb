/* Debt item operations of the contract: add, update, close, get, list. Each
 * write is one IMMEDIATE transaction holding the item and its history. */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../store/store.h"
#include "registry.h"
#include "registry_int.h"

/* ---- live figures, score and history of a record ------------------------------- */

static json_t *live_json(const struct fx_reg_live *l)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "requests_per_day",
                                  fx_reg__json_num(fx_reg__round(l->requests_per_day, 0)));
    bad |= json_object_set_new(o, "migrated_share",
                               fx_reg__json_num(fx_reg__round(l->migrated_share, 4)));
    bad |= json_object_set_new(o, "legacy_error_rate",
                               fx_reg__json_num(fx_reg__round(l->legacy_error_rate, 4)));
    bad |= json_object_set_new(o, "legacy_p99_ms",
                               fx_reg__json_num(fx_reg__round(l->legacy_p99_ms, 1)));
    bad |= json_object_set_new(
        o, "shadow_mismatch_rate",
        l->has_shadow ? fx_reg__json_num(fx_reg__round(l->shadow_mismatch_rate, 4)) : json_null());
    bad |= json_object_set_new(o, "samples", json_integer((json_int_t)l->samples));
    bad |= json_object_set_new(o, "hours", fx_reg__json_num(fx_reg__round(l->hours, 2)));
    if (bad != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Add "live", "priority" and "score" to a record. */
static int decorate(struct fx_store *st, json_t *rec, uint64_t now_ms, struct fx_err *err)
{
    const json_t *routes = json_object_get(rec, "routes");
    size_t n = json_array_size(routes);
    const char **names = calloc(n + 1, sizeof(*names));
    if (names == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    for (size_t i = 0; i < n; i++)
        names[i] = json_string_value(json_array_get(routes, i));
    struct fx_reg_live live;
    int rc = fx_reg__live(st, names, n, now_ms, &live, err);
    free(names);
    if (rc != 0)
        return rc;
    struct fx_reg_declared d = {
        .stability = (int)json_integer_value(json_object_get(rec, "stability")),
        .velocity = (int)json_integer_value(json_object_get(rec, "velocity")),
        .effort_days = json_number_value(json_object_get(rec, "effort_days")),
        .status = json_string_value(json_object_get(rec, "status")),
    };
    struct fx_reg_score score;
    fx_reg__score(&d, &live, &score);
    int bad = json_object_set_new(rec, "live", live_json(&live));
    bad |= json_object_set_new(rec, "priority", fx_reg__json_num(score.total));
    bad |= json_object_set_new(rec, "score", fx_reg__score_json(&score));
    return bad != 0 ? FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory") : 0;
}

static json_t *col_json(sqlite3_stmt *q, int col)
{
    if (sqlite3_column_type(q, col) == SQLITE_NULL)
        return json_null();
    return fx_store_json_text((const char *)sqlite3_column_text(q, col),
                              (size_t)sqlite3_column_bytes(q, col));
}

static json_t *history_row(sqlite3_stmt *q)
{
    char when[40];
    fx_store_fmt_time((uint64_t)sqlite3_column_int64(q, 0), when, sizeof(when));
    json_t *h = json_object();
    if (h == NULL)
        return NULL;
    int bad = json_object_set_new(h, "time", json_string(when));
    bad |= json_object_set_new(h, "actor", col_json(q, 1));
    bad |= json_object_set_new(h, "field", col_json(q, 2));
    bad |= json_object_set_new(h, "old", col_json(q, 3));
    bad |= json_object_set_new(h, "new", col_json(q, 4));
    if (bad != 0) {
        json_decref(h);
        return NULL;
    }
    return h;
}

static int add_history(struct fx_store *st, int64_t num, json_t *rec, struct fx_err *err)
{
    sqlite3_stmt *q = NULL;
    json_t *arr = json_array();
    int rc = 0;
    if (arr == NULL || json_object_set_new(rec, "history", arr) != 0)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    if (sqlite3_prepare_v2(fx_store_db(st),
                           "SELECT time_ms, actor, field, old_value, new_value FROM debt_history"
                           " WHERE num = ?1 ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(q, 1, num) != SQLITE_OK) {
        rc = fx_reg__db_error(st, "cannot read debt history", err);
        goto out;
    }
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        if (json_array_append_new(arr, history_row(q)) != 0) {
            rc = FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
            goto out;
        }
    }
    if (step != SQLITE_DONE)
        rc = fx_reg__db_error(st, "cannot read debt history", err);
out:
    (void)sqlite3_finalize(q);
    return rc;
}

/* The full item `num` (record, live figures, score, history). */
static int item_at(struct fx_store *st, int64_t num, uint64_t now_ms, json_t **out,
                   struct fx_err *err)
{
    json_t *arr = NULL;
    int rc = fx_reg__load(st, num, &arr, err);
    if (rc != 0)
        return rc;
    json_t *rec = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    if ((rc = decorate(st, rec, now_ms, err)) != 0 || (rc = add_history(st, num, rec, err)) != 0) {
        json_decref(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

static int lookup_id(const char *id, int64_t *num, struct fx_err *err)
{
    if (fx_reg__parse_id(id, num) != 0)
        return FX_ERR_SET(err, FX_ENOTFOUND, "debt: %.60s: no such item (ids look like DEBT-12)",
                          id != NULL ? id : "(null)");
    return 0;
}

int fx_reg_debt_get(struct fx_store *st, const char *id, json_t **out, struct fx_err *err)
{
    int64_t num = 0;
    int rc = lookup_id(id, &num, err);
    if (rc != 0)
        return rc;
    if ((rc = fx_reg__schema(st, err)) != 0)
        return rc;
    return item_at(st, num, fx_reg__now_ms(), out, err);
}

/* ---- writes ---------------------------------------------------------------------- */

static void set_time(json_t *rec, const char *key, uint64_t ms)
{
    char when[40];
    fx_store_fmt_time(ms, when, sizeof(when));
    (void)json_object_set_new(rec, key, json_string(when));
}

int fx_reg_debt_add(struct fx_store *st, const json_t *fields, const char *actor, json_t **out,
                    struct fx_err *err)
{
    json_t *rec = fx_reg__record_new();
    if (rec == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    int64_t num = 0;
    int rc = fx_reg__apply(rec, fields, 0, "", err);
    if (rc != 0 || (rc = fx_reg__schema(st, err)) != 0 || (rc = fx_reg__begin(st, err)) != 0)
        goto out;
    uint64_t now = fx_reg__now_ms();
    set_time(rec, "created", now);
    set_time(rec, "updated", now);
    if ((rc = fx_reg__next_num(st, &num, err)) != 0 ||
        (rc = fx_reg__store(st, num, rec, err)) != 0 ||
        (rc = fx_reg__history(st, num, now, actor, "item", NULL, "created", err)) != 0) {
        fx_reg__rollback(st);
        goto out;
    }
    if ((rc = fx_reg__commit(st, err)) != 0)
        goto out;
    if (out != NULL)
        rc = item_at(st, num, now, out, err);
out:
    json_decref(rec);
    return rc;
}

/* A field's value as history text: strings as they are, routes joined with
 * ';', numbers as written in JSON. malloc'd (NULL when out of memory). */
static char *value_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_array(v))
        return fx_reg__routes_join(v);
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
    return s;
}

/* Record every field that differs between `old` and `next`; *changed tells
 * whether any did. */
static int record_changes(struct fx_store *st, int64_t num, const json_t *old, const json_t *next,
                          uint64_t now, const char *actor, bool *changed, struct fx_err *err)
{
    const char *k;
    const json_t *v;
    *changed = false;
    json_object_foreach((json_t *)(uintptr_t)next, k, v)
    {
        const json_t *was = json_object_get(old, k);
        if (json_equal(was, v))
            continue;
        char *a = value_text(was);
        char *b = value_text(v);
        int rc = a == NULL || b == NULL ? FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory")
                                        : fx_reg__history(st, num, now, actor, k, a, b, err);
        free(a);
        free(b);
        if (rc != 0)
            return rc;
        *changed = true;
    }
    return 0;
}

static int update_locked(struct fx_store *st, int64_t num, const json_t *fields, const char *actor,
                         struct fx_err *err)
{
    json_t *arr = NULL;
    int rc = fx_reg__load(st, num, &arr, err);
    if (rc != 0)
        return rc;
    const json_t *old = json_array_get(arr, 0);
    json_t *next = json_deep_copy(old);
    char where[48];
    (void)snprintf(where, sizeof(where), "DEBT-%" PRId64 ": ", num);
    bool changed = false;
    uint64_t now = fx_reg__now_ms();
    if (next == NULL)
        rc = FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    else if ((rc = fx_reg__apply(next, fields, 0, where, err)) == 0)
        rc = record_changes(st, num, old, next, now, actor, &changed, err);
    if (rc == 0 && changed) {
        set_time(next, "updated", now);
        rc = fx_reg__store(st, num, next, err);
    }
    json_decref(next);
    json_decref(arr);
    return rc;
}

int fx_reg_debt_update(struct fx_store *st, const char *id, const json_t *fields, const char *actor,
                       json_t **out, struct fx_err *err)
{
    int64_t num = 0;
    int rc = lookup_id(id, &num, err);
    if (rc != 0 || (rc = fx_reg__schema(st, err)) != 0 || (rc = fx_reg__begin(st, err)) != 0)
        return rc;
    if ((rc = update_locked(st, num, fields, actor, err)) != 0) {
        fx_reg__rollback(st);
        return rc;
    }
    if ((rc = fx_reg__commit(st, err)) != 0)
        return rc;
    return out != NULL ? item_at(st, num, fx_reg__now_ms(), out, err) : 0;
}

int fx_reg_debt_close(struct fx_store *st, const char *id, const char *as, const char *actor,
                      json_t **out, struct fx_err *err)
{
    if (as == NULL || (strcmp(as, "paid") != 0 && strcmp(as, "accepted") != 0))
        return FX_ERR_SET(err, FX_EINVAL,
                          "debt: %.60s: cannot close as \"%.40s\" (expected paid or accepted)",
                          id != NULL ? id : "(null)", as != NULL ? as : "");
    json_t *fields = json_pack("{s:s}", "status", as);
    if (fields == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    int rc = fx_reg_debt_update(st, id, fields, actor, out, err);
    json_decref(fields);
    return rc;
}

/* ---- list ---------------------------------------------------------------------- */

struct ranked {
    json_t *item; /* borrowed: element of the list being sorted */
    double priority;
    int64_t num;
};

static int64_t item_num(const json_t *item)
{
    int64_t num = 0;
    (void)fx_reg__parse_id(json_string_value(json_object_get(item, "id")), &num);
    return num;
}

static int by_priority(const void *a, const void *b)
{
    const struct ranked *x = a;
    const struct ranked *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return (x->num > y->num) - (x->num < y->num);
}

/* Items are numbered in creation order, but an import keeps its own numbers
 * and times: sort on the creation time, then the number. */
static int by_created(const void *a, const void *b)
{
    const struct ranked *x = a;
    const struct ranked *y = b;
    int c = strcmp(json_string_value(json_object_get(x->item, "created")),
                   json_string_value(json_object_get(y->item, "created")));
    if (c != 0)
        return c;
    return (x->num > y->num) - (x->num < y->num);
}

static int sort_items(json_t *items, bool priority, json_t **out, struct fx_err *err)
{
    size_t n = json_array_size(items);
    struct ranked *r = calloc(n + 1, sizeof(*r));
    json_t *sorted = json_array();
    int rc = 0;
    if (r == NULL || sorted == NULL) {
        rc = FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        r[i] =
            (struct ranked){ it, json_number_value(json_object_get(it, "priority")), item_num(it) };
    }
    qsort(r, n, sizeof(*r), priority ? by_priority : by_created);
    for (size_t i = 0; i < n; i++) {
        if (json_array_append(sorted, r[i].item) != 0) {
            rc = FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
            goto out;
        }
    }
    *out = sorted;
    sorted = NULL;
out:
    free(r);
    json_decref(sorted);
    return rc;
}

int fx_reg__list_at(struct fx_store *st, const char *sort, const char *status, uint64_t now_ms,
                    json_t **out, struct fx_err *err)
{
    bool priority = sort == NULL || strcmp(sort, "priority") == 0;
    if (!priority && strcmp(sort, "created") != 0)
        return FX_ERR_SET(err, FX_EINVAL,
                          "debt: unknown sort \"%.40s\" (expected priority, created)", sort);
    if (status != NULL && !fx_reg__status_valid(status))
        return FX_ERR_SET(
            err, FX_EINVAL,
            "debt: unknown status \"%.40s\" (expected open, in_progress, paid, accepted)", status);
    json_t *all = NULL;
    json_t *kept = json_array();
    int rc = kept == NULL ? FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory") : 0;
    if (rc != 0 || (rc = fx_reg__schema(st, err)) != 0 ||
        (rc = fx_reg__load(st, 0, &all, err)) != 0)
        goto out;
    size_t i;
    json_t *rec;
    json_array_foreach(all, i, rec)
    {
        if (status != NULL &&
            strcmp(json_string_value(json_object_get(rec, "status")), status) != 0)
            continue;
        if ((rc = decorate(st, rec, now_ms, err)) != 0)
            goto out;
        if (json_array_append(kept, rec) != 0) {
            rc = FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
            goto out;
        }
    }
    rc = sort_items(kept, priority, out, err);
out:
    json_decref(all);
    json_decref(kept);
    return rc;
}

int fx_reg_debt_list(struct fx_store *st, const char *sort, const char *status, json_t **out,
                     struct fx_err *err)
{
    return fx_reg__list_at(st, sort, status, fx_reg__now_ms(), out, err);
}
