/* Import and export of debt items: JSON (the export record shape) and CSV
 * (RFC 4180). Round trip is exact: export, import into an empty store and
 * export again give the same bytes, because export writes only stored
 * fields, times with milliseconds and numbers in their shortest form. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../store/store.h"
#include "registry.h"
#include "registry_int.h"

/* Export columns, in record order. */
static const char *const columns[] = { "id",        "title",     "description", "kind",
                                       "routes",    "component", "owner",       "status",
                                       "stability", "velocity",  "effort_days", "notes",
                                       "created",   "updated" };
#define NCOLUMNS (sizeof(columns) / sizeof(columns[0]))

int fx_reg_debt_export(struct fx_store *st, json_t **out, struct fx_err *err)
{
    int rc = fx_reg__schema(st, err);
    if (rc != 0)
        return rc;
    return fx_reg__load(st, 0, out, err);
}

/* ---- import --------------------------------------------------------------------- */

static int import_time(json_t *rec, const json_t *row, const char *key, uint64_t dflt,
                       const char *where, struct fx_err *err)
{
    const json_t *v = json_object_get(row, key);
    uint64_t ms = dflt;
    if (v != NULL && (!json_is_string(v) || fx_reg__parse_time(json_string_value(v), &ms) != 0))
        return FX_ERR_SET(err, FX_EINVAL,
                          "debt: %sfield \"%s\": %.60s is not an RFC 3339 time"
                          " (like 2026-01-31T09:30:00.000Z)",
                          where, key, json_is_string(v) ? json_string_value(v) : "value");
    char when[40];
    fx_store_fmt_time(ms, when, sizeof(when));
    if (json_object_set_new(rec, key, json_string(when)) != 0)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    return 0;
}

/* The number of the row's item: its "id" when it has one (which must be
 * free), else the next one. */
static int import_num(struct fx_store *st, const json_t *row, const char *where, int64_t *num,
                      struct fx_err *err)
{
    const json_t *id = json_object_get(row, "id");
    if (id == NULL || (json_is_string(id) && json_string_length(id) == 0))
        return fx_reg__next_num(st, num, err);
    if (!json_is_string(id) || fx_reg__parse_id(json_string_value(id), num) != 0)
        return FX_ERR_SET(err, FX_EINVAL, "debt: %sfield \"id\": %.60s is not an id like DEBT-12",
                          where, json_is_string(id) ? json_string_value(id) : "value");
    json_t *found = NULL;
    struct fx_err ignored = { 0 };
    int rc = fx_reg__load(st, *num, &found, &ignored);
    json_decref(found);
    if (rc == 0)
        return FX_ERR_SET(err, FX_EINVAL, "debt: %sDEBT-%" PRId64 " already exists", where, *num);
    if (rc != FX_ENOTFOUND)
        return fx_reg__db_error(st, "cannot read debt items", err);
    return 0;
}

static int import_row(struct fx_store *st, const json_t *row, const char *where, const char *actor,
                      uint64_t now, struct fx_err *err)
{
    json_t *rec = fx_reg__record_new();
    if (rec == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: out of memory");
    int64_t num = 0;
    int rc = fx_reg__apply(rec, row, FX_REG_APPLY_IMPORT, where, err);
    if (rc == 0)
        rc = import_time(rec, row, "created", now, where, err);
    uint64_t created = now;
    (void)fx_reg__parse_time(json_string_value(json_object_get(rec, "created")), &created);
    if (rc == 0)
        rc = import_time(rec, row, "updated", created, where, err);
    if (rc == 0)
        rc = import_num(st, row, where, &num, err);
    if (rc == 0)
        rc = fx_reg__store(st, num, rec, err);
    if (rc == 0)
        rc = fx_reg__history(st, num, now, actor, "item", NULL, "imported", err);
    json_decref(rec);
    return rc;
}

int fx_reg__import(struct fx_store *st, const json_t *rows, const size_t *lines, const char *actor,
                   size_t *count, struct fx_err *err)
{
    if (!json_is_array(rows))
        return FX_ERR_SET(err, FX_EINVAL, "debt: import: expected a JSON array of items");
    int rc = fx_reg__schema(st, err);
    if (rc != 0 || (rc = fx_reg__begin(st, err)) != 0)
        return rc;
    uint64_t now = fx_reg__now_ms();
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        char where[64];
        if (lines != NULL)
            (void)snprintf(where, sizeof(where), "import row %zu (line %zu): ", i + 1, lines[i]);
        else
            (void)snprintf(where, sizeof(where), "import row %zu: ", i + 1);
        if ((rc = import_row(st, row, where, actor, now, err)) != 0) {
            fx_reg__rollback(st);
            return rc;
        }
    }
    if ((rc = fx_reg__commit(st, err)) != 0)
        return rc;
    if (count != NULL)
        *count = json_array_size(rows);
    return 0;
}

int fx_reg_debt_import(struct fx_store *st, const json_t *rows, const char *actor, size_t *count,
                       struct fx_err *err)
{
    return fx_reg__import(st, rows, NULL, actor, count, err);
}

/* ---- CSV out ------------------------------------------------------------------ */

int fx_reg__csv_field(FILE *f, const char *s)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (!quote)
        return fputs(s, f) < 0 ? -1 : 0;
    if (fputc('"', f) == EOF)
        return -1;
    for (; *s != '\0'; s++) {
        if ((*s == '"' && fputc('"', f) == EOF) || fputc(*s, f) == EOF)
            return -1;
    }
    return fputc('"', f) == EOF ? -1 : 0;
}

/* The CSV text of a record value (malloc'd). */
static char *cell_text(const json_t *v)
{
    char num[64];
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_array(v))
        return fx_reg__routes_join(v);
    if (json_is_integer(v))
        (void)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        (void)snprintf(num, sizeof(num), "%.10g", json_real_value(v));
    else
        num[0] = '\0';
    return strdup(num);
}

int fx_reg__csv_write(const json_t *records, FILE *f)
{
    int bad = 0;
    for (size_t c = 0; c < NCOLUMNS; c++)
        bad |= fprintf(f, "%s%s", c ? "," : "", columns[c]) < 0;
    bad |= fputs("\r\n", f) < 0;
    size_t i;
    const json_t *rec;
    json_array_foreach(records, i, rec)
    {
        for (size_t c = 0; c < NCOLUMNS && bad == 0; c++) {
            char *cell = cell_text(json_object_get(rec, columns[c]));
            bad |=
                cell == NULL || (c > 0 && fputc(',', f) == EOF) || fx_reg__csv_field(f, cell) != 0;
            free(cell);
        }
        bad |= fputs("\r\n", f) < 0;
    }
    return bad != 0 ? FX_EIO : 0;
}

/* ---- CSV in ------------------------------------------------------------------- */

struct csv {
    const char *p; /* borrowed: the text being read */
    const char *end;
    size_t line; /* line of *p */
    char *field; /* owned: the field being read */
    size_t flen;
    size_t fcap;
};

static bool field_put(struct csv *c, char ch)
{
    if (c->flen + 1 >= c->fcap) {
        size_t cap = c->fcap ? c->fcap * 2 : 128;
        char *bigger = realloc(c->field, cap);
        if (bigger == NULL)
            return false;
        c->field = bigger;
        c->fcap = cap;
    }
    c->field[c->flen++] = ch;
    return true;
}

/* Read a quoted field after its opening quote. */
static int read_quoted(struct csv *c, size_t start_line, struct fx_err *err)
{
    for (;;) {
        if (c->p == c->end)
            return FX_ERR_SET(err, FX_EINVAL, "debt: import: line %zu: unterminated quoted field",
                              start_line);
        char ch = *c->p++;
        if (ch == '"') {
            if (c->p == c->end || *c->p != '"')
                break;
            c->p++;
        }
        c->line += ch == '\n';
        if (!field_put(c, ch))
            return FX_ERR_SET(err, FX_ENOMEM, "debt: import: out of memory");
    }
    if (c->p != c->end && *c->p != ',' && *c->p != '\r' && *c->p != '\n')
        return FX_ERR_SET(err, FX_EINVAL,
                          "debt: import: line %zu: unexpected '%c' after a closing quote", c->line,
                          *c->p);
    return 0;
}

static int read_plain(struct csv *c, struct fx_err *err)
{
    while (c->p != c->end && *c->p != ',' && *c->p != '\r' && *c->p != '\n') {
        if (*c->p == '"')
            return FX_ERR_SET(err, FX_EINVAL,
                              "debt: import: line %zu: quote inside an unquoted field (quote the"
                              " whole field and double the quote)",
                              c->line);
        if (!field_put(c, *c->p++))
            return FX_ERR_SET(err, FX_ENOMEM, "debt: import: out of memory");
    }
    return 0;
}

/* Read one record into *out (array of strings). At the end of the text,
 * *out stays NULL. */
static int read_record(struct csv *c, json_t **out, struct fx_err *err)
{
    *out = NULL;
    if (c->p == c->end)
        return 0;
    json_t *rec = json_array();
    if (rec == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: import: out of memory");
    size_t start = c->line;
    for (;;) {
        c->flen = 0;
        int rc = 0;
        if (c->p != c->end && *c->p == '"') {
            c->p++;
            rc = read_quoted(c, start, err);
        } else {
            rc = read_plain(c, err);
        }
        if (rc == 0 && json_array_append_new(rec, fx_store_json_text(c->field, c->flen)) != 0)
            rc = FX_ERR_SET(err, FX_ENOMEM, "debt: import: out of memory");
        if (rc != 0) {
            json_decref(rec);
            return rc;
        }
        if (c->p == c->end || *c->p != ',')
            break;
        c->p++;
    }
    /* The record ends at CRLF, LF, a lone CR or the end of the text. */
    if (c->p != c->end && *c->p == '\r')
        c->p++;
    if (c->p != c->end && *c->p == '\n')
        c->p++;
    c->line++;
    *out = rec;
    return 0;
}

static int column_index(const char *name)
{
    for (size_t i = 0; i < NCOLUMNS; i++) {
        if (strcmp(columns[i], name) == 0)
            return (int)i;
    }
    return -1;
}

static int check_header(const json_t *head, struct fx_err *err)
{
    bool seen[NCOLUMNS] = { false };
    size_t i;
    const json_t *v;
    json_array_foreach(head, i, v)
    {
        int k = column_index(json_string_value(v));
        if (k < 0)
            return FX_ERR_SET(err, FX_EINVAL,
                              "debt: import: line 1: unknown column \"%.60s\" (expected id, title,"
                              " description, kind, routes, component, owner, status, stability,"
                              " velocity, effort_days, notes, created, updated)",
                              json_string_value(v));
        if (seen[k])
            return FX_ERR_SET(err, FX_EINVAL, "debt: import: line 1: column \"%s\" appears twice",
                              columns[k]);
        seen[k] = true;
    }
    if (!seen[1])
        return FX_ERR_SET(err, FX_EINVAL, "debt: import: line 1: no \"title\" column");
    return 0;
}

/* A CSV cell as the JSON value of its column: integers for the impacts and
 * a number for the effort when the text is one (else the text, which the
 * validation then names), routes split on ';'. NULL for an empty number or
 * id: the field is left out. */
static json_t *typed_cell(const char *col, const char *s)
{
    bool impact = strcmp(col, "stability") == 0 || strcmp(col, "velocity") == 0;
    bool effort = strcmp(col, "effort_days") == 0;
    if (strcmp(col, "routes") == 0)
        return fx_reg__routes_split(s);
    if ((impact || effort || strcmp(col, "id") == 0) && *s == '\0')
        return NULL;
    if (!impact && !effort)
        return json_string(s);
    char *end = NULL;
    double d = strtod(s, &end);
    bool number = end != s && *end == '\0' && !isspace((unsigned char)*s) && isfinite(d);
    if (!number || (impact && !fx_reg__integral(d)))
        return json_string(s);
    return fx_reg__json_num(d);
}

static int record_object(const json_t *head, const json_t *rec, size_t line, json_t **out,
                         struct fx_err *err)
{
    if (json_array_size(rec) != json_array_size(head))
        return FX_ERR_SET(err, FX_EINVAL, "debt: import: line %zu: %zu fields, the header has %zu",
                          line, json_array_size(rec), json_array_size(head));
    json_t *o = json_object();
    if (o == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: import: out of memory");
    size_t i;
    const json_t *name;
    json_array_foreach(head, i, name)
    {
        const char *col = json_string_value(name);
        json_t *v = typed_cell(col, json_string_value(json_array_get(rec, i)));
        if (v != NULL && json_object_set_new(o, col, v) != 0) {
            json_decref(o);
            return FX_ERR_SET(err, FX_ENOMEM, "debt: import: out of memory");
        }
    }
    *out = o;
    return 0;
}

static bool blank_record(const json_t *rec)
{
    return json_array_size(rec) == 1 && json_string_length(json_array_get(rec, 0)) == 0;
}

/* Append row object `o` (reference taken) and its line. */
static int push_row(json_t *rows, json_t *o, size_t **lines, size_t line, struct fx_err *err)
{
    size_t n = json_array_size(rows);
    size_t *bigger = realloc(*lines, (n + 1) * sizeof(**lines));
    if (bigger == NULL) {
        json_decref(o);
        return FX_ERR_SET(err, FX_ENOMEM, "debt: import: out of memory");
    }
    *lines = bigger;
    bigger[n] = line;
    if (json_array_append_new(rows, o) != 0)
        return FX_ERR_SET(err, FX_ENOMEM, "debt: import: out of memory");
    return 0;
}

static int csv_rows(struct csv *c, json_t *rows, size_t **lines, struct fx_err *err)
{
    json_t *head = NULL;
    json_t *rec = NULL;
    int rc = read_record(c, &head, err);
    if (rc == 0 && head == NULL)
        rc = FX_ERR_SET(err, FX_EINVAL, "debt: import: empty CSV (expected a header line)");
    if (rc == 0)
        rc = check_header(head, err);
    while (rc == 0) {
        size_t line = c->line;
        if ((rc = read_record(c, &rec, err)) != 0 || rec == NULL)
            break;
        json_t *o = NULL;
        if (!blank_record(rec) && (rc = record_object(head, rec, line, &o, err)) == 0) {
            rc = push_row(rows, o, lines, line, err);
        }
        json_decref(rec);
        rec = NULL;
    }
    json_decref(head);
    return rc;
}

int fx_reg__csv_read(const char *text, size_t len, json_t **rows, size_t **lines,
                     struct fx_err *err)
{
    struct csv c = { text, text + len, 1, NULL, 0, 0 };
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        c.p += 3; /* a byte order mark from a spreadsheet */
    json_t *out = json_array();
    *lines = NULL;
    int rc = out == NULL ? FX_ERR_SET(err, FX_ENOMEM, "debt: import: out of memory")
                         : csv_rows(&c, out, lines, err);
    free(c.field);
    if (rc != 0) {
        json_decref(out);
        FX_FREE(*lines);
        return rc;
    }
    *rows = out;
    return 0;
}
