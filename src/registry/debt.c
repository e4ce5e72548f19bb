/* Debt items: validation, storage, history, live figures and ranking. An
 * item travels as its "record" (the JSON object of stored fields, the shape
 * of an export row); get/list add "live", "priority", "score" and "history".
 * Data model in docs/registry.md. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../store/store.h"
#include "registry.h"
#include "registry_int.h"

#define TEXT_SHORT  200
#define TEXT_LONG   20000
#define ROUTES_MAX  64
#define EFFORT_MAX  10000.0
#define ROUTE_CHARS "letters, digits, '.', '_', '-'"

enum ftype {
    F_LINE, /* one line of text */
    F_TEXT, /* free text, newlines allowed */
    F_KIND,
    F_STATUS,
    F_ROUTES,
    F_IMPACT,
    F_EFFORT,
};

struct field {
    const char *name;
    enum ftype type;
    size_t max; /* bytes, for text */
};

/* Editable fields, in record order. */
static const struct field fields[] = {
    { "title", F_LINE, TEXT_SHORT },
    { "description", F_TEXT, TEXT_LONG },
    { "kind", F_KIND, 0 },
    { "routes", F_ROUTES, 0 },
    { "component", F_LINE, TEXT_SHORT },
    { "owner", F_LINE, TEXT_SHORT },
    { "status", F_STATUS, 0 },
    { "stability", F_IMPACT, 0 },
    { "velocity", F_IMPACT, 0 },
    { "effort_days", F_EFFORT, 0 },
    { "notes", F_TEXT, TEXT_LONG },
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *const kinds[] = { "architecture", "code",    "data",      "infrastructure",
                                     "security",     "testing", "dependency" };
static const char *const statuses[] = { "open", "in_progress", "paid", "accepted" };
#define NKINDS    (sizeof(kinds) / sizeof(kinds[0]))
#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, list[i]) == 0)
            return true;
    }
    return false;
}

bool fx_reg__status_valid(const char *s)
{
    return s != NULL && in_list(s, statuses, NSTATUSES);
}

/* ---- validation ------------------------------------------------------------------- */

/* A short rendering of a JSON value for messages: 7, "foo", true, [...]. */
static void show_value(const json_t *v, char *out, size_t cap)
{
    if (json_is_string(v))
        (void)snprintf(out, cap, "\"%.60s\"", json_string_value(v));
    else if (json_is_integer(v))
        (void)snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        (void)snprintf(out, cap, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        (void)snprintf(out, cap, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_null(v))
        (void)snprintf(out, cap, "null");
    else
        (void)snprintf(out, cap, "%s", json_is_array(v) ? "an array" : "an object");
}

static int bad_field(struct fx_err *err, const char *where, const char *name, const json_t *v,
                     const char *why)
{
    char shown[80];
    show_value(v, shown, sizeof(shown));
    return FX_ERR_SET(err, FX_EINVAL, "debt: %sfield \"%s\": %s %s", where, name, shown, why);
}

static int check_text(const struct field *f, const json_t *v, const char *where, struct fx_err *err)
{
    if (!json_is_string(v))
        return bad_field(err, where, f->name, v, "is not a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len > f->max)
        return FX_ERR_SET(err, FX_EINVAL,
                          "debt: %sfield \"%s\": %zu bytes is over the limit of %zu", where,
                          f->name, len, f->max);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ctl = c < 0x20 && !(f->type == F_TEXT && (c == '\n' || c == '\r' || c == '\t'));
        if (ctl || c == 0x7f)
            return FX_ERR_SET(err, FX_EINVAL,
                              "debt: %sfield \"%s\": control character 0x%02x at byte %zu", where,
                              f->name, c, i);
    }
    if (strcmp(f->name, "title") == 0 && len == 0)
        return FX_ERR_SET(err, FX_EINVAL, "debt: %sfield \"title\" must not be empty", where);
    return 0;
}

static int check_choice(const struct field *f, const json_t *v, const char *where,
                        struct fx_err *err)
{
    bool kind = f->type == F_KIND;
    const char *const *list = kind ? kinds : statuses;
    size_t n = kind ? NKINDS : NSTATUSES;
    if (json_is_string(v) && in_list(json_string_value(v), list, n))
        return 0;
    char expected[160] = "";
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof(expected); i++)
        o += (size_t)snprintf(expected + o, sizeof(expected) - o, "%s%s", i ? ", " : "", list[i]);
    char shown[80];
    show_value(v, shown, sizeof(shown));
    return FX_ERR_SET(err, FX_EINVAL, "debt: %sunknown %s %s (expected %s)", where, f->name, shown,
                      expected);
}

bool fx_reg__route_name_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return false;
    }
    return true;
}

/* Routes: an array of route names or one name as a string; duplicates are
 * dropped, order kept. *norm is a new array. */
static int check_routes(const json_t *v, const char *where, json_t **norm, struct fx_err *err)
{
    json_t *one = json_is_string(v) ? json_pack("[O]", v) : NULL;
    const json_t *arr = one != NULL ? one : v;
    if (!json_is_array(arr) || json_array_size(arr) > ROUTES_MAX) {
        json_decref(one);
        return bad_field(err, where, "routes", v, "is not an array of at most 64 route names");
    }
    json_t *out = json_array();
    size_t i;
    const json_t *r;
    int rc = 0;
    json_array_foreach(arr, i, r)
    {
        if (!json_is_string(r) || !fx_reg__route_name_valid(json_string_value(r))) {
            rc = bad_field(err, where, "routes", r, "is not a route name (" ROUTE_CHARS ")");
            break;
        }
        bool dup = false;
        for (size_t k = 0; k < json_array_size(out) && !dup; k++)
            dup = json_equal(json_array_get(out, k), r);
        if (!dup && json_array_append(out, (json_t *)(uintptr_t)r) != 0)
            rc = FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    }
    json_decref(one);
    if (rc != 0 || out == NULL) {
        json_decref(out);
        return rc != 0 ? rc : FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    }
    *norm = out;
    return 0;
}

static int check_number(const struct field *f, const json_t *v, const char *where, json_t **norm,
                        struct fx_err *err)
{
    if (!json_is_number(v))
        return bad_field(err, where, f->name, v,
                         f->type == F_IMPACT ? "is not an integer 1..5" : "is not a number");
    double d = json_number_value(v);
    if (f->type == F_IMPACT) {
        if (!fx_reg__integral(d))
            return bad_field(err, where, f->name, v, "is not an integer 1..5");
        if (d < 1 || d > 5)
            return bad_field(err, where, f->name, v, "is outside 1..5");
        *norm = json_integer((json_int_t)d);
        return 0;
    }
    if (!isfinite(d) || d < 0 || d > EFFORT_MAX)
        return bad_field(err, where, f->name, v, "is outside 0..10000");
    *norm = fx_reg__json_num(d);
    return 0;
}

/* Validate `v` for field `f`; *norm is the value to store (new reference). */
static int check_value(const struct field *f, const json_t *v, const char *where, json_t **norm,
                       struct fx_err *err)
{
    int rc = 0;
    switch (f->type) {
    case F_LINE:
    case F_TEXT:
        rc = check_text(f, v, where, err);
        break;
    case F_KIND:
    case F_STATUS:
        rc = check_choice(f, v, where, err);
        break;
    case F_ROUTES:
        return check_routes(v, where, norm, err);
    case F_IMPACT:
    case F_EFFORT:
        return check_number(f, v, where, norm, err);
    }
    if (rc == 0)
        *norm = json_deep_copy(v);
    return rc;
}

static const struct field *find_field(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++) {
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    }
    return NULL;
}

/* Keys an import row may carry besides the fields: the identity it had, and
 * the read-only parts of a `list --format json` item, which are ignored. */
static bool import_key(const char *k)
{
    return strcmp(k, "id") == 0 || strcmp(k, "created") == 0 || strcmp(k, "updated") == 0;
}

static bool ignored_key(const char *k)
{
    return strcmp(k, "live") == 0 || strcmp(k, "priority") == 0 || strcmp(k, "score") == 0 ||
           strcmp(k, "history") == 0;
}

int fx_reg__apply(json_t *rec, const json_t *in, unsigned int flags, const char *where,
                  struct fx_err *err)
{
    if (!json_is_object(in))
        return FX_ERR_SET(err, FX_EINVAL, "debt: %sexpected a JSON object of fields", where);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)(uintptr_t)in, k, v)
    {
        if ((flags & FX_REG_APPLY_IMPORT) && (import_key(k) || ignored_key(k)))
            continue;
        const struct field *f = find_field(k);
        if (f == NULL && (import_key(k) || strcmp(k, "history") == 0))
            return FX_ERR_SET(err, FX_EINVAL, "debt: %sfield \"%s\" cannot be set", where, k);
        if (f == NULL)
            return FX_ERR_SET(err, FX_EINVAL, "debt: %sunknown field \"%.60s\"", where, k);
        json_t *norm = NULL;
        int rc = check_value(f, v, where, &norm, err);
        if (rc != 0)
            return rc;
        if (norm == NULL || json_object_set_new(rec, k, norm) != 0)
            return FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    }
    if (json_string_length(json_object_get(rec, "title")) == 0)
        return FX_ERR_SET(err, FX_EINVAL, "debt: %sfield \"title\" is required", where);
    return 0;
}

json_t *fx_reg__record_new(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:[], s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:s, s:s}",
                     "id", "", "title", "", "description", "", "kind", "code", "routes",
                     "component", "", "owner", "", "status", "open", "stability", 3, "velocity", 3,
                     "effort_days", 0, "notes", "", "created", "", "updated", "");
}

/* ---- ids ---------------------------------------------------------------------- */

int fx_reg__parse_id(const char *id, int64_t *num)
{
    if (id == NULL)
        return FX_EINVAL;
    const char *p = id;
    if (strncasecmp(p, "DEBT-", 5) == 0)
        p += 5;
    if (*p < '1' || *p > '9' || strlen(p) > 15)
        return FX_EINVAL;
    int64_t n = 0;
    for (; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p))
            return FX_EINVAL;
        n = n * 10 + (*p - '0');
    }
    *num = n;
    return 0;
}

static void set_id(json_t *rec, int64_t num)
{
    char id[32];
    (void)snprintf(id, sizeof(id), "DEBT-%" PRId64, num);
    (void)json_object_set_new(rec, "id", json_string(id));
}

/* ---- storage ---------------------------------------------------------------- */

#define ITEM_COLS                                                                           \
    "num, title, description, kind, routes, component, owner, status, stability, velocity," \
    " effort_days, notes, created_ms, updated_ms"

static const char *rec_str(const json_t *rec, const char *key)
{
    const char *s = json_string_value(json_object_get(rec, key));
    return s != NULL ? s : "";
}

/* Routes joined with ';' (malloc'd; "" for none). */
char *fx_reg__routes_join(const json_t *routes)
{
    size_t len = 1;
    size_t i;
    const json_t *r;
    json_array_foreach(routes, i, r) len += json_string_length(r) + 1;
    char *out = malloc(len);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    json_array_foreach(routes, i, r)
    {
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ";" : "", json_string_value(r));
    }
    out[o] = '\0';
    return out;
}

json_t *fx_reg__routes_split(const char *s)
{
    json_t *arr = json_array();
    if (arr == NULL || s == NULL)
        return arr;
    while (*s != '\0') {
        const char *end = strchr(s, ';');
        size_t n = end != NULL ? (size_t)(end - s) : strlen(s);
        if (n > 0 && json_array_append_new(arr, fx_store_json_text(s, n)) != 0) {
            json_decref(arr);
            return NULL;
        }
        s += n;
        if (*s == ';')
            s++;
    }
    return arr;
}

static json_t *col_str(sqlite3_stmt *q, int col)
{
    return fx_store_json_text((const char *)sqlite3_column_text(q, col),
                              (size_t)sqlite3_column_bytes(q, col));
}

static json_t *col_time(sqlite3_stmt *q, int col)
{
    char when[40];
    fx_store_fmt_time((uint64_t)sqlite3_column_int64(q, col), when, sizeof(when));
    return json_string(when);
}

/* The record of the current row of an ITEM_COLS query (new reference). */
static json_t *row_record(sqlite3_stmt *q)
{
    json_t *rec = json_object();
    if (rec == NULL)
        return NULL;
    set_id(rec, sqlite3_column_int64(q, 0));
    int bad = json_object_set_new(rec, "title", col_str(q, 1));
    bad |= json_object_set_new(rec, "description", col_str(q, 2));
    bad |= json_object_set_new(rec, "kind", col_str(q, 3));
    bad |= json_object_set_new(rec, "routes",
                               fx_reg__routes_split((const char *)sqlite3_column_text(q, 4)));
    bad |= json_object_set_new(rec, "component", col_str(q, 5));
    bad |= json_object_set_new(rec, "owner", col_str(q, 6));
    bad |= json_object_set_new(rec, "status", col_str(q, 7));
    bad |= json_object_set_new(rec, "stability", json_integer(sqlite3_column_int(q, 8)));
    bad |= json_object_set_new(rec, "velocity", json_integer(sqlite3_column_int(q, 9)));
    bad |= json_object_set_new(rec, "effort_days", fx_reg__json_num(sqlite3_column_double(q, 10)));
    bad |= json_object_set_new(rec, "notes", col_str(q, 11));
    bad |= json_object_set_new(rec, "created", col_time(q, 12));
    bad |= json_object_set_new(rec, "updated", col_time(q, 13));
    if (bad != 0 || json_object_get(rec, "id") == NULL) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

/* Records of every item (num 0) or of one, ordered by number. Returns 0,
 * FX_ENOTFOUND (one item, missing), FX_ENOMEM or FX_EIO. */
int fx_reg__load(struct fx_store *st, int64_t num, json_t **out, struct fx_err *err)
{
    sqlite3_stmt *q = NULL;
    json_t *arr = json_array();
    int rc = 0;
    const char *sql = num > 0 ? "SELECT " ITEM_COLS " FROM debt_items WHERE num = ?1"
                              : "SELECT " ITEM_COLS " FROM debt_items ORDER BY num";
    if (arr == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    if (sqlite3_prepare_v2(fx_store_db(st), sql, -1, &q, NULL) != SQLITE_OK ||
        (num > 0 && sqlite3_bind_int64(q, 1, num) != SQLITE_OK)) {
        rc = fx_reg__db_error(st, "cannot read debt items", err);
        goto out;
    }
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        if (json_array_append_new(arr, row_record(q)) != 0) {
            rc = FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
            goto out;
        }
    }
    if (step != SQLITE_DONE)
        rc = fx_reg__db_error(st, "cannot read debt items", err);
    else if (num > 0 && json_array_size(arr) == 0)
        rc = FX_ERR_SET(err, FX_ENOTFOUND, "debt: DEBT-%" PRId64 ": no such item", num);
out:
    (void)sqlite3_finalize(q);
    if (rc == 0) {
        *out = arr;
        arr = NULL;
    }
    json_decref(arr);
    return rc;
}

static int bind_record(sqlite3_stmt *q, const json_t *rec, int64_t num, const char *routes)
{
    static const char *const text_cols[] = { "title",     "description", "kind",
                                             "component", "owner",       "status" };
    static const int text_pos[] = { 2, 3, 4, 6, 7, 8 };
    uint64_t created = 0;
    uint64_t updated = 0;
    (void)fx_reg__parse_time(rec_str(rec, "created"), &created);
    (void)fx_reg__parse_time(rec_str(rec, "updated"), &updated);
    int rc = sqlite3_bind_int64(q, 1, num);
    for (size_t i = 0; i < 6; i++)
        rc |= sqlite3_bind_text(q, text_pos[i], rec_str(rec, text_cols[i]), -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(q, 5, routes, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_int64(q, 9, json_integer_value(json_object_get(rec, "stability")));
    rc |= sqlite3_bind_int64(q, 10, json_integer_value(json_object_get(rec, "velocity")));
    rc |= sqlite3_bind_double(q, 11, json_number_value(json_object_get(rec, "effort_days")));
    rc |= sqlite3_bind_text(q, 12, rec_str(rec, "notes"), -1, SQLITE_STATIC);
    rc |= sqlite3_bind_int64(q, 13, (sqlite3_int64)created);
    rc |= sqlite3_bind_int64(q, 14, (sqlite3_int64)updated);
    /* SQLITE_OK is 0: any failure leaves a bit set. */
    return rc == SQLITE_OK ? 0 : -1;
}

int fx_reg__store(struct fx_store *st, int64_t num, const json_t *rec, struct fx_err *err)
{
    char *routes = fx_reg__routes_join(json_object_get(rec, "routes"));
    if (routes == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    sqlite3_stmt *q = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(fx_store_db(st),
                           "INSERT OR REPLACE INTO debt_items(" ITEM_COLS ") VALUES"
                           " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                           -1, &q, NULL) != SQLITE_OK ||
        bind_record(q, rec, num, routes) != 0 || sqlite3_step(q) != SQLITE_DONE)
        rc = fx_reg__db_error(st, "cannot write a debt item", err);
    (void)sqlite3_finalize(q);
    free(routes);
    return rc;
}

int fx_reg__next_num(struct fx_store *st, int64_t *num, struct fx_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(fx_store_db(st), "SELECT COALESCE(MAX(num), 0) + 1 FROM debt_items", -1,
                           &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW)
        rc = fx_reg__db_error(st, "cannot number a new debt item", err);
    else
        *num = sqlite3_column_int64(q, 0);
    (void)sqlite3_finalize(q);
    return rc;
}

int fx_reg__history(struct fx_store *st, int64_t num, uint64_t time_ms, const char *actor,
                    const char *field, const char *old_value, const char *new_value,
                    struct fx_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(fx_store_db(st),
                           "INSERT INTO debt_history(num, time_ms, actor, field, old_value,"
                           " new_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(q, 1, num) != SQLITE_OK ||
        sqlite3_bind_int64(q, 2, (sqlite3_int64)time_ms) != SQLITE_OK ||
        sqlite3_bind_text(q, 3, actor != NULL ? actor : "unknown", -1, SQLITE_STATIC) !=
            SQLITE_OK ||
        sqlite3_bind_text(q, 4, field, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 5, old_value, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 6, new_value, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_DONE)
        rc = fx_reg__db_error(st, "cannot record debt history", err);
    (void)sqlite3_finalize(q);
    return rc;
}
