/* The registry's part of the admin API: /api/v1/debt... and /api/v1/progress
 * (docs/registry.md, "Admin API"). The admin thread frames the HTTP exchange
 * and authenticates; this file maps a request to a registry call and its
 * answer to a status and a JSON body. */
#include <ctype.h>
#include <string.h>

#include "../core/err.h"
#include "registry.h"
#include "registry_int.h"

#define DEBT_PREFIX "/api/v1/debt"
#define QUERY_MAX   64

/* An answer under construction. */
struct answer {
    int status;
    json_t *body; /* owned */
};

static void answer_error(struct answer *a, int status, const char *msg)
{
    json_decref(a->body);
    a->status = status;
    a->body = json_pack("{s:s}", "error", msg);
}

static void answer_err(struct answer *a, int code, const struct fx_err *err)
{
    int status = 500;
    if (code == FX_EINVAL)
        status = 400;
    else if (code == FX_ENOTFOUND)
        status = 404;
    answer_error(a, status, err->msg[0] != '\0' ? err->msg : fx_strerror(code));
}

static void answer_ok(struct answer *a, int status, json_t *body)
{
    json_decref(a->body);
    a->status = status;
    a->body = body;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode `in[0..len)` ('+' is a space) into out; false when it
 * does not fit. */
static bool url_decode(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)in[i];
        if (c == '%' && i + 2 < len && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
            c = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

/* The value of `key` in a query string, percent-decoded into out; false
 * when absent or too long. */
static bool query_get(const char *query, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = query; p != NULL && *p != '\0';) {
        const char *amp = strchr(p, '&');
        size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
            return url_decode(p + klen + 1, len - klen - 1, out, cap);
        p = amp != NULL ? amp + 1 : NULL;
    }
    return false;
}

/* The request body as a JSON object (or array when `array`); false with the
 * 400 answer set. */
static bool body_json(struct answer *a, const char *body, size_t blen, bool array, json_t **out)
{
    json_error_t jerr;
    json_t *j = blen > 0 ? json_loadb(body, blen, 0, &jerr) : NULL;
    if (blen > 0 && j == NULL) {
        char msg[300];
        (void)snprintf(msg, sizeof(msg), "request body: line %d: %s", jerr.line, jerr.text);
        answer_error(a, 400, msg);
        return false;
    }
    if (j == NULL && !array)
        j = json_object();
    if (array ? !json_is_array(j) : !json_is_object(j)) {
        json_decref(j);
        answer_error(a, 400,
                     array ? "request body: expected a JSON array of items"
                           : "request body: expected a JSON object");
        return false;
    }
    *out = j;
    return true;
}

/* GET or POST /api/v1/debt. */
static void on_collection(struct fx_store *st, const char *method, const char *query,
                          const char *body, size_t blen, const char *actor, struct answer *a)
{
    struct fx_err err = { 0 };
    json_t *out = NULL;
    if (strcmp(method, "GET") == 0) {
        char sort[QUERY_MAX];
        char status[QUERY_MAX];
        bool has_sort = query_get(query, "sort", sort, sizeof(sort));
        bool has_status = query_get(query, "status", status, sizeof(status));
        int rc =
            fx_reg_debt_list(st, has_sort ? sort : NULL, has_status ? status : NULL, &out, &err);
        if (rc != 0)
            answer_err(a, rc, &err);
        else
            answer_ok(a, 200, json_pack("{s:o}", "items", out));
        return;
    }
    json_t *fields = NULL;
    if (!body_json(a, body, blen, false, &fields))
        return;
    int rc = fx_reg_debt_add(st, fields, actor, &out, &err);
    json_decref(fields);
    if (rc != 0)
        answer_err(a, rc, &err);
    else
        answer_ok(a, 201, out);
}

/* POST /api/v1/debt/import and GET /api/v1/debt/export (used by ficus debt
 * import/export --admin). */
static void on_transfer(struct fx_store *st, bool import, const char *body, size_t blen,
                        const char *actor, struct answer *a)
{
    struct fx_err err = { 0 };
    json_t *out = NULL;
    if (!import) {
        int rc = fx_reg_debt_export(st, &out, &err);
        if (rc != 0)
            answer_err(a, rc, &err);
        else
            answer_ok(a, 200, out);
        return;
    }
    json_t *rows = NULL;
    if (!body_json(a, body, blen, true, &rows))
        return;
    size_t n = 0;
    int rc = fx_reg_debt_import(st, rows, actor, &n, &err);
    json_decref(rows);
    if (rc != 0)
        answer_err(a, rc, &err);
    else
        answer_ok(a, 200, json_pack("{s:I}", "imported", (json_int_t)n));
}

/* GET, PATCH or POST /api/v1/debt/ID, POST /api/v1/debt/ID/close. */
static void on_item(struct fx_store *st, const char *method, const char *id, bool close,
                    const char *body, size_t blen, const char *actor, struct answer *a)
{
    struct fx_err err = { 0 };
    json_t *out = NULL;
    int rc;
    if (strcmp(method, "GET") == 0) {
        rc = fx_reg_debt_get(st, id, &out, &err);
    } else {
        json_t *fields = NULL;
        if (!body_json(a, body, blen, false, &fields))
            return;
        if (close) {
            const char *as = json_string_value(json_object_get(fields, "as"));
            rc = fx_reg_debt_close(st, id, as, actor, &out, &err);
        } else {
            rc = fx_reg_debt_update(st, id, fields, actor, &out, &err);
        }
        json_decref(fields);
    }
    if (rc != 0)
        answer_err(a, rc, &err);
    else
        answer_ok(a, 200, out);
}

static void on_progress(struct fx_store *st, struct answer *a)
{
    struct fx_err err = { 0 };
    json_t *out = NULL;
    int rc = fx_reg_progress(st, &out, &err);
    if (rc != 0)
        answer_err(a, rc, &err);
    else
        answer_ok(a, 200, out);
}

/* Which methods a registry path takes ("GET", "GET, POST", ...). */
enum target {
    T_COLLECTION,
    T_IMPORT,
    T_EXPORT,
    T_ITEM,
    T_CLOSE,
    T_PROGRESS,
};

static bool method_allowed(enum target t, const char *m)
{
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    bool post = strcmp(m, "POST") == 0;
    switch (t) {
    case T_COLLECTION:
        return get || post;
    case T_ITEM:
        return get || post || strcmp(m, "PATCH") == 0;
    case T_IMPORT:
    case T_CLOSE:
        return post;
    case T_EXPORT:
    case T_PROGRESS:
        return get;
    }
    return false;
}

/* Split a registry path into its target and the item id (into id). Returns
 * false for paths outside the registry. */
static bool parse_target(const char *path, enum target *t, char *id, size_t cap, bool *bad)
{
    *bad = false;
    if (strcmp(path, "/api/v1/progress") == 0) {
        *t = T_PROGRESS;
        return true;
    }
    if (strncmp(path, DEBT_PREFIX, strlen(DEBT_PREFIX)) != 0)
        return false;
    const char *rest = path + strlen(DEBT_PREFIX);
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        *t = T_COLLECTION;
        return true;
    }
    if (*rest != '/')
        return false;
    rest++;
    if (strcmp(rest, "import") == 0 || strcmp(rest, "export") == 0) {
        *t = strcmp(rest, "import") == 0 ? T_IMPORT : T_EXPORT;
        return true;
    }
    const char *slash = strchr(rest, '/');
    size_t len = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
    *t = T_ITEM;
    if (slash != NULL && strcmp(slash, "/close") == 0)
        *t = T_CLOSE;
    else if (slash != NULL)
        *bad = true;
    if (len == 0 || len >= cap)
        *bad = true;
    else
        (void)snprintf(id, cap, "%.*s", (int)len, rest);
    return true;
}

static void dispatch(struct fx_store *st, const char *method, const char *query, const char *body,
                     size_t blen, const char *actor, struct answer *a, enum target t,
                     const char *id)
{
    switch (t) {
    case T_COLLECTION:
        on_collection(st, method, query, body, blen, actor, a);
        break;
    case T_IMPORT:
    case T_EXPORT:
        on_transfer(st, t == T_IMPORT, body, blen, actor, a);
        break;
    case T_ITEM:
    case T_CLOSE:
        on_item(st, method, id, t == T_CLOSE, body, blen, actor, a);
        break;
    case T_PROGRESS:
        on_progress(st, a);
        break;
    }
}

int fx_reg_http(struct fx_store *st, const char *method, const char *path, const char *query,
                const char *body, size_t blen, const char *actor, int *status, FILE *out)
{
    enum target t = T_PROGRESS;
    char id[QUERY_MAX] = "";
    bool bad = false;
    if (method == NULL || path == NULL || !parse_target(path, &t, id, sizeof(id), &bad))
        return FX_ENOTFOUND;
    struct answer a = { 500, NULL };
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (bad)
        answer_error(&a, 404, "no such registry path");
    else if (!method_allowed(t, method))
        answer_error(&a, 405, "method not allowed");
    else if (!get && actor == NULL)
        answer_error(&a, 401, "a valid admin token is required to change the registry");
    else if (st == NULL)
        answer_error(&a, 500, "registry: no store");
    else
        dispatch(st, get ? "GET" : method, query, body != NULL ? body : "", blen, actor, &a, t, id);
    if (a.body == NULL)
        answer_error(&a, 500, "registry: out of memory");
    *status = a.body != NULL ? a.status : 500;
    if (a.body == NULL || json_dumpf(a.body, out, FX_REG_JSON_FLAGS) != 0 ||
        fputc('\n', out) == EOF)
        *status = 500;
    json_decref(a.body);
    return 0;
}
