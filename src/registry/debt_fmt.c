/* Text output of `ficus debt`: the ranked list as an aligned table, CSV or
 * Markdown, and one item with its live figures, score terms and history. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry_int.h"

#define CELL      128
#define TITLE_MAX 48 /* display columns of a title in the list table */

/* ---- aligned tables ---------------------------------------------------------- */

/* Rows of cells printed with aligned columns; `align` holds one 'l' or 'r'
 * per column. */
struct table {
    size_t ncols;
    const char *align; /* borrowed: static */
    size_t nrows;
    char **cells; /* owned: nrows * ncols owned strings */
    bool oom;
};

static void table_add(struct table *t, const char *const *row)
{
    char **bigger = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*bigger));
    if (bigger == NULL) {
        t->oom = true;
        return;
    }
    t->cells = bigger;
    for (size_t i = 0; i < t->ncols; i++) {
        char *s = strdup(row[i] != NULL && row[i][0] != '\0' ? row[i] : "-");
        t->oom |= s == NULL;
        t->cells[t->nrows * t->ncols + i] = s;
    }
    t->nrows++;
}

/* Display width of UTF-8 text: one column per code point. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; s != NULL && *s != '\0'; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void table_print(const struct table *t, const char *indent, FILE *f)
{
    size_t *width = calloc(t->ncols, sizeof(*width));
    if (width == NULL)
        return;
    for (size_t k = 0; k < t->nrows * t->ncols; k++) {
        size_t w = text_width(t->cells[k]);
        width[k % t->ncols] = w > width[k % t->ncols] ? w : width[k % t->ncols];
    }
    for (size_t r = 0; r < t->nrows; r++) {
        (void)fputs(indent, f);
        for (size_t i = 0; i < t->ncols; i++) {
            const char *cell = t->cells[r * t->ncols + i] != NULL ? t->cells[r * t->ncols + i] : "";
            int pad = (int)(width[i] - text_width(cell));
            bool last = i + 1 == t->ncols;
            if (t->align[i] == 'r')
                (void)fprintf(f, "%*s%s", pad, "", cell);
            else
                (void)fprintf(f, "%s%*s", cell, last ? 0 : pad, "");
            (void)fputs(last ? "\n" : "  ", f);
        }
    }
    free(width);
}

static void table_free(struct table *t)
{
    for (size_t k = 0; k < t->nrows * t->ncols; k++)
        free(t->cells[k]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
}

/* ---- cells ------------------------------------------------------------------- */

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static bool num_of(const json_t *o, const char *key, double *v)
{
    const json_t *j = json_object_get(o, key);
    *v = json_number_value(j);
    return json_is_number(j);
}

/* `s` cut to `max` display columns (>= 4), "..." marking the cut, line
 * breaks and tabs shown as spaces. Never cuts inside a UTF-8 sequence. */
static void clip(const char *s, size_t max, char *out, size_t cap)
{
    size_t keep = text_width(s) <= max ? SIZE_MAX : max - 3;
    size_t w = 0;
    size_t i = 0;
    for (; s[i] != '\0'; i++) {
        bool lead = ((unsigned char)s[i] & 0xC0) != 0x80;
        if (lead && (w++ == keep || i + 8 > cap))
            break;
        bool space = s[i] == '\n' || s[i] == '\r' || s[i] == '\t';
        out[i] = s[i];
        if (space)
            out[i] = ' ';
    }
    out[i] = '\0';
    if (s[i] != '\0')
        (void)snprintf(out + i, cap - i, "...");
}

/* 950, 12.3k, 4.5M */
static void fmt_count(double v, char *out, size_t cap)
{
    if (v < 1000.0)
        (void)snprintf(out, cap, "%.0f", v);
    else if (v < 1e6)
        (void)snprintf(out, cap, "%.1fk", v / 1e3);
    else
        (void)snprintf(out, cap, "%.1fM", v / 1e6);
}

static void fmt_routes(const json_t *item, char *out, size_t cap)
{
    char *joined = fx_reg__routes_join(json_object_get(item, "routes"));
    (void)snprintf(out, cap, "%s", joined != NULL ? joined : "");
    for (char *p = strchr(out, ';'); p != NULL; p = strchr(p, ';'))
        *p = ',';
    free(joined);
}

/* Cells of the live figures: requests/day, migrated share, 5xx rate, p99,
 * shadow mismatch rate ("-" for items without routes or samples). */
static void live_cells(const json_t *item, char cells[5][CELL])
{
    const json_t *live = json_object_get(item, "live");
    double v = 0.0;
    for (size_t i = 0; i < 5; i++)
        (void)snprintf(cells[i], CELL, "-");
    if (json_array_size(json_object_get(item, "routes")) == 0 ||
        (num_of(live, "samples", &v) && v == 0.0))
        return;
    if (num_of(live, "requests_per_day", &v))
        fmt_count(v, cells[0], CELL);
    if (num_of(live, "migrated_share", &v))
        (void)snprintf(cells[1], CELL, "%.0f%%", v * 100.0);
    double legacy = 0.0;
    /* Without legacy requests there is no legacy error rate or latency. */
    if (num_of(live, "requests_per_day", &legacy) && legacy > 0.0) {
        if (num_of(live, "legacy_error_rate", &v))
            (void)snprintf(cells[2], CELL, "%.2f%%", v * 100.0);
        if (num_of(live, "legacy_p99_ms", &v))
            (void)snprintf(cells[3], CELL, "%.0fms", v);
    }
    if (num_of(live, "shadow_mismatch_rate", &v))
        (void)snprintf(cells[4], CELL, "%.1f%%", v * 100.0);
}

/* ---- list ---------------------------------------------------------------------- */

#define LIST_COLS 12
static const char *const list_head[LIST_COLS] = { "ID",    "PRIO",   "STATUS",  "KIND",
                                                  "TITLE", "ROUTES", "REQ/DAY", "MIGR",
                                                  "5XX",   "P99",    "SHADOW",  "OWNER" };

static void list_row(const json_t *item, char cells[LIST_COLS][CELL])
{
    double prio = 0.0;
    (void)num_of(item, "priority", &prio);
    (void)snprintf(cells[0], CELL, "%s", str_of(item, "id"));
    (void)snprintf(cells[1], CELL, "%.1f", prio);
    (void)snprintf(cells[2], CELL, "%s", str_of(item, "status"));
    (void)snprintf(cells[3], CELL, "%s", str_of(item, "kind"));
    clip(str_of(item, "title"), TITLE_MAX, cells[4], CELL);
    fmt_routes(item, cells[5], CELL);
    char live[5][CELL];
    live_cells(item, live);
    for (size_t i = 0; i < 5; i++)
        memcpy(cells[6 + i], live[i], CELL);
    (void)snprintf(cells[11], CELL, "%s", str_of(item, "owner"));
}

static int print_table(const json_t *items, FILE *f)
{
    struct table t = { LIST_COLS, "lrllllrrrrrl", 0, NULL, false };
    table_add(&t, list_head);
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        char cells[LIST_COLS][CELL];
        const char *row[LIST_COLS];
        list_row(item, cells);
        for (size_t c = 0; c < LIST_COLS; c++)
            row[c] = cells[c];
        table_add(&t, row);
    }
    if (json_array_size(items) == 0)
        (void)fputs("no debt items\n", f);
    else
        table_print(&t, "", f);
    bool oom = t.oom;
    table_free(&t);
    return oom ? -1 : 0;
}

/* Markdown: the same columns, '|' escaped and newlines flattened. */
static void md_cell(FILE *f, const char *s)
{
    (void)fputs(" ", f);
    for (; *s != '\0'; s++) {
        if (*s == '|')
            (void)fputs("\\|", f);
        else
            (void)fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
    (void)fputs(" |", f);
}

static int print_md(const json_t *items, FILE *f)
{
    (void)fputs("|", f);
    for (size_t c = 0; c < LIST_COLS; c++)
        md_cell(f, list_head[c]);
    (void)fputs("\n|", f);
    for (size_t c = 0; c < LIST_COLS; c++)
        (void)fputs(c == 1 || (c >= 6 && c <= 10) ? " ---: |" : " --- |", f);
    (void)fputs("\n", f);
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        char cells[LIST_COLS][CELL];
        list_row(item, cells);
        (void)fputs("|", f);
        for (size_t c = 0; c < LIST_COLS; c++)
            md_cell(f, cells[c]);
        (void)fputs("\n", f);
    }
    return ferror(f) ? -1 : 0;
}

/* CSV of the ranked list: raw figures for spreadsheets (the export format
 * is `ficus debt export --format csv`). */
static int print_csv(const json_t *items, FILE *f)
{
    static const char *const live_keys[] = { "requests_per_day", "migrated_share",
                                             "legacy_error_rate", "legacy_p99_ms",
                                             "shadow_mismatch_rate" };
    (void)fputs("id,priority,status,kind,title,routes,owner,requests_per_day,migrated_share,"
                "legacy_error_rate,legacy_p99_ms,shadow_mismatch_rate\r\n",
                f);
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        double prio = 0.0;
        (void)num_of(item, "priority", &prio);
        char *routes = fx_reg__routes_join(json_object_get(item, "routes"));
        (void)fx_reg__csv_field(f, str_of(item, "id"));
        (void)fprintf(f, ",%.10g,%s,%s,", prio, str_of(item, "status"), str_of(item, "kind"));
        (void)fx_reg__csv_field(f, str_of(item, "title"));
        (void)fputc(',', f);
        (void)fx_reg__csv_field(f, routes != NULL ? routes : "");
        (void)fputc(',', f);
        (void)fx_reg__csv_field(f, str_of(item, "owner"));
        free(routes);
        const json_t *live = json_object_get(item, "live");
        for (size_t k = 0; k < 5; k++) {
            double v = 0.0;
            if (num_of(live, live_keys[k], &v))
                (void)fprintf(f, ",%.10g", v);
            else
                (void)fputs(",", f);
        }
        (void)fputs("\r\n", f);
    }
    return ferror(f) ? -1 : 0;
}

int fx_reg__print_list(const json_t *items, enum fx_reg_format fmt, FILE *f)
{
    switch (fmt) {
    case FX_REG_TABLE:
        return print_table(items, f);
    case FX_REG_MD:
        return print_md(items, f);
    case FX_REG_CSV:
        return print_csv(items, f);
    case FX_REG_JSON:
    case FX_REG_HTML:
        break;
    }
    if (json_dumpf(items, f, FX_REG_JSON_FLAGS) != 0 || fputc('\n', f) == EOF)
        return -1;
    return 0;
}

/* ---- show ---------------------------------------------------------------------- */

/* Free text under a heading, each line indented. */
static void print_text(FILE *f, const char *label, const char *text)
{
    if (*text == '\0')
        return;
    (void)fprintf(f, "%s:\n  ", label);
    for (; *text != '\0'; text++) {
        if (*text == '\r')
            continue;
        (void)fputc(*text, f);
        if (*text == '\n')
            (void)fputs("  ", f);
    }
    (void)fputc('\n', f);
}

static void print_fields(const json_t *item, FILE *f)
{
    char routes[CELL];
    double effort = 0.0;
    char effort_s[32];
    fmt_routes(item, routes, sizeof(routes));
    (void)num_of(item, "effort_days", &effort);
    (void)snprintf(effort_s, sizeof(effort_s), effort > 0 ? "%.10g days" : "not estimated", effort);
    (void)fprintf(f, "%s  %s\n\n", str_of(item, "id"), str_of(item, "title"));
    struct table t = { 4, "llll", 0, NULL, false };
    const char *rows[][4] = {
        { "status", str_of(item, "status"), "kind", str_of(item, "kind") },
        { "owner", str_of(item, "owner"), "component", str_of(item, "component") },
        { "routes", routes, "effort", effort_s },
        { "created", str_of(item, "created"), "updated", str_of(item, "updated") },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        table_add(&t, rows[i]);
    table_print(&t, "  ", f);
    table_free(&t);
    (void)fprintf(f, "  declared: stability %d/5, velocity %d/5\n\n",
                  (int)json_integer_value(json_object_get(item, "stability")),
                  (int)json_integer_value(json_object_get(item, "velocity")));
    print_text(f, "description", str_of(item, "description"));
    print_text(f, "notes", str_of(item, "notes"));
}

static void print_live(const json_t *item, FILE *f)
{
    const json_t *live = json_object_get(item, "live");
    if (json_array_size(json_object_get(item, "routes")) == 0) {
        (void)fputs("live figures: none (no linked routes)\n\n", f);
        return;
    }
    double hours = 0.0;
    double samples = 0.0;
    (void)num_of(live, "hours", &hours);
    if (num_of(live, "samples", &samples) && samples == 0.0) {
        (void)fputs("live figures: no traffic samples in the last 24 h\n\n", f);
        return;
    }
    char cells[5][CELL];
    live_cells(item, cells);
    (void)fprintf(f, "live figures (last 24 h, from %.1f h of samples):\n", hours);
    struct table t = { 2, "lr", 0, NULL, false };
    const char *rows[][2] = {
        { "legacy requests/day", cells[0] }, { "migrated share", cells[1] },
        { "legacy 5xx rate", cells[2] },     { "legacy p99", cells[3] },
        { "shadow mismatches", cells[4] },
    };
    for (size_t i = 0; i < 5; i++)
        table_add(&t, rows[i]);
    table_print(&t, "  ", f);
    table_free(&t);
    (void)fputc('\n', f);
}

static void print_score(const json_t *item, FILE *f)
{
    double total = 0.0;
    (void)num_of(item, "priority", &total);
    (void)fprintf(f, "priority %.2f = sum of the terms:\n", total);
    struct table t = { 5, "lrrrl", 0, NULL, false };
    static const char *const head[] = { "TERM", "VALUE", "WEIGHT", "POINTS", "WHY" };
    table_add(&t, head);
    size_t i;
    const json_t *term;
    json_array_foreach(json_object_get(json_object_get(item, "score"), "terms"), i, term)
    {
        char v[3][32];
        static const char *const keys[] = { "value", "weight", "contribution" };
        for (size_t k = 0; k < 3; k++) {
            double x = 0.0;
            (void)num_of(term, keys[k], &x);
            (void)snprintf(v[k], sizeof(v[k]), k == 0 ? "%.6g" : "%+.2f", x);
        }
        const char *row[] = { str_of(term, "name"), v[0], v[1], v[2], str_of(term, "why") };
        table_add(&t, row);
    }
    table_print(&t, "  ", f);
    table_free(&t);
    (void)fputc('\n', f);
}

static void print_history(const json_t *item, FILE *f)
{
    const json_t *hist = json_object_get(item, "history");
    (void)fputs("history:\n", f);
    struct table t = { 5, "lllll", 0, NULL, false };
    static const char *const head[] = { "TIME", "ACTOR", "FIELD", "OLD", "NEW" };
    table_add(&t, head);
    size_t i;
    const json_t *h;
    json_array_foreach(hist, i, h)
    {
        char old[CELL];
        char new_value[CELL];
        clip(str_of(h, "old"), 40, old, sizeof(old));
        clip(str_of(h, "new"), 40, new_value, sizeof(new_value));
        const char *row[] = { str_of(h, "time"), str_of(h, "actor"), str_of(h, "field"), old,
                              new_value };
        table_add(&t, row);
    }
    table_print(&t, "  ", f);
    table_free(&t);
}

int fx_reg__print_item(const json_t *item, FILE *f)
{
    print_fields(item, f);
    print_live(item, f);
    print_score(item, f);
    print_history(item, f);
    return ferror(f) ? -1 : 0;
}
