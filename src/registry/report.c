/* `ficus report`: migration progress, the ranked debt list, recent migration
 * events and shadow diff summaries in one document, as JSON, Markdown or a
 * single self-contained HTML file (inline CSS and SVG, no scripts, no external
 * resources). The data comes from the store named by the config, with no
 * server running, or from a running server's admin API with --admin. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "../ctl/ctl.h"
#include "../shadow/shadow.h"
#include "../store/store.h"
#include "registry.h"
#include "registry_int.h"

#define EVENTS_MAX    50 /* recent migration events in a report */
#define ENDPOINTS_MAX 10 /* endpoints listed per shadowed route */
#define PATHS_MAX     3  /* differing JSON paths listed per endpoint */
#define EXIT_FAIL     1
#define EXIT_USAGE    2
#define CHART_W       1000.0 /* trend chart viewBox */
#define CHART_H       240.0
#define CHART_PAD_L   44.0
#define CHART_PAD_R   12.0
#define CHART_PAD_T   12.0
#define CHART_PAD_B   28.0
#define SPARK_W       120.0
#define SPARK_H       24.0

static const char usage_report[] =
    "usage: ficus report (-c FILE | --admin URL [--token-file PATH]) [--format html|md|json]\n"
    "                    [-o FILE]\n"
    "\n"
    "Migration progress (per route and overall, with the trend), the ranked debt\n"
    "list with live figures, the last 50 migration events and the shadow diff\n"
    "summaries, in one document.\n"
    "\n"
    "  -c, --config FILE   read the store named by this configuration (no server needed)\n"
    "  --admin URL         read a running server's admin API instead (http://HOST:PORT)\n"
    "  --token-file PATH   admin token file (first token), else FICUS_ADMIN_TOKEN\n"
    "  --format FMT        html (default), md or json\n"
    "  -o, --output FILE   write to FILE (replaced whole) instead of standard output\n";

struct report_args {
    const char *conf;       /* borrowed: argv */
    const char *admin;      /* borrowed: argv */
    const char *token_file; /* borrowed: argv */
    const char *out_path;   /* borrowed: argv */
    enum fx_reg_format format;
    bool help;
};

/* Everything a report shows; the renderers only read it. */
struct report {
    char generated[32]; /* RFC 3339 UTC, when the data was read */
    const char *source; /* borrowed: config path or admin URL */
    json_t *progress;   /* owned: fx_reg_progress document */
    json_t *debt;       /* owned: array of items, ranked */
    json_t *events;     /* owned: array, oldest first */
    json_t *diffs;      /* owned: array of shadow diff reports */
};

static void pr(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pr(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    (void)vfprintf(f, fmt, ap);
    va_end(ap);
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)fputs("ficus report: ", stderr);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    (void)vfprintf(stderr, fmt, ap);
    (void)fputc('\n', stderr);
    if (code == EXIT_USAGE)
        (void)fputs("(ficus report --help for usage)\n", stderr);
    va_end(ap);
    return code;
}

/* ---- command line ------------------------------------------------------------ */

/* The value of option argv[*i] ("--opt VALUE" or "--opt=VALUE"), or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (argv[*i] == NULL || strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return NULL;
    (*i)++;
    return argv[*i];
}

static int parse_format(const char *v, enum fx_reg_format *out)
{
    if (strcmp(v, "html") == 0)
        *out = FX_REG_HTML;
    else if (strcmp(v, "md") == 0 || strcmp(v, "markdown") == 0)
        *out = FX_REG_MD;
    else if (strcmp(v, "json") == 0)
        *out = FX_REG_JSON;
    else
        return fail(EXIT_USAGE, "--format %s: expected html, md or json", v);
    return 0;
}

static int take_option(struct report_args *a, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *v = NULL;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
        a->help = true;
    else if ((v = opt_value(argc, argv, i, "--config")) != NULL ||
             (v = opt_value(argc, argv, i, "-c")) != NULL)
        a->conf = v;
    else if ((v = opt_value(argc, argv, i, "--admin")) != NULL)
        a->admin = v;
    else if ((v = opt_value(argc, argv, i, "--token-file")) != NULL)
        a->token_file = v;
    else if ((v = opt_value(argc, argv, i, "--output")) != NULL ||
             (v = opt_value(argc, argv, i, "-o")) != NULL)
        a->out_path = v;
    else if ((v = opt_value(argc, argv, i, "--format")) != NULL)
        return parse_format(v, &a->format);
    else
        return fail(EXIT_USAGE, "unknown option or missing value: %s", arg);
    return 0;
}

static int parse_args(struct report_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof(*a));
    a->format = FX_REG_HTML;
    for (int i = 2; i < argc; i++) {
        if (argv[i][0] != '-' || argv[i][1] == '\0')
            return fail(EXIT_USAGE, "unexpected argument: %s", argv[i]);
        int rc = take_option(a, argc, argv, &i);
        if (rc != 0)
            return rc;
    }
    if (!a->help && a->conf == NULL && a->admin == NULL)
        return fail(EXIT_USAGE, "no data source: pass -c FILE or --admin URL");
    return 0;
}

/* ---- data --------------------------------------------------------------------- */

static void rfc3339(time_t t, char *out, size_t cap)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        (void)snprintf(out, cap, "%s", "1970-01-01T00:00:00Z");
}

static void report_free(struct report *r)
{
    json_decref(r->progress);
    json_decref(r->debt);
    json_decref(r->events);
    json_decref(r->diffs);
    r->progress = r->debt = r->events = r->diffs = NULL;
}

typedef int json_writer_fn(struct fx_store *st, FILE *f);

/* Run `fn` into memory and parse what it wrote. Returns the document (new
 * reference) or NULL; *rc is fn's result (FX_EIO when the output is not
 * JSON). */
static json_t *capture_json(struct fx_store *st, json_writer_fn *fn, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m == NULL) {
        *rc = FX_ENOMEM;
        return NULL;
    }
    *rc = fn(st, m);
    json_t *doc = NULL;
    if (fclose(m) == 0 && *rc == 0) {
        json_error_t jerr;
        doc = json_loadb(buf, len, 0, &jerr);
        *rc = doc == NULL ? FX_EIO : 0;
    }
    free(buf);
    return doc;
}

static int write_events(struct fx_store *st, FILE *f)
{
    return fx_store_events_json(st, NULL, EVENTS_MAX, f);
}

static int write_diffs(struct fx_store *st, FILE *f)
{
    return fx_shadow_store_json(st, NULL, 0, f);
}

/* The array under `key` of `doc` (new reference), `doc` itself when it is an
 * array, or an empty array. Steals `doc`. */
static json_t *take_array(json_t *doc, const char *key)
{
    json_t *arr = json_is_array(doc) ? json_incref(doc) : json_incref(json_object_get(doc, key));
    json_decref(doc);
    if (!json_is_array(arr)) {
        json_decref(arr);
        arr = json_array();
    }
    return arr;
}

static int load_from_store(struct report *r, const char *conf_path)
{
    struct fx_conf *conf = NULL;
    struct fx_store *st = NULL;
    struct fx_err err = { 0 };
    int rc = EXIT_FAIL;
    if (fx_conf_load(conf_path, &conf, &err) != 0) {
        (void)fail(EXIT_FAIL, "%s", err.msg);
        goto out;
    }
    if (fx_store_open(conf->store_path, &st, &err) != 0 ||
        fx_reg_progress(st, &r->progress, &err) != 0 ||
        fx_reg_debt_list(st, "priority", NULL, &r->debt, &err) != 0) {
        (void)fail(EXIT_FAIL, "%s", err.msg);
        goto out;
    }
    int wrc = 0;
    r->events = take_array(capture_json(st, write_events, &wrc), "events");
    if (wrc != 0) {
        (void)fail(EXIT_FAIL, "%s: cannot read the migration events (%s)", conf->store_path,
                   fx_strerror(wrc));
        goto out;
    }
    /* No shadowed route at all is an empty list, not a failure. */
    r->diffs = take_array(capture_json(st, write_diffs, &wrc), "routes");
    if (wrc != 0 && wrc != FX_ENOTFOUND) {
        (void)fail(EXIT_FAIL, "%s: cannot read the shadow diff reports (%s)", conf->store_path,
                   fx_strerror(wrc));
        goto out;
    }
    rc = 0;
out:
    fx_store_close(st);
    fx_conf_unref(conf);
    return rc;
}

/* GET `path` from the admin API. Returns the parsed answer (new reference)
 * when the status is 200, else NULL after a message (404 is silent when
 * `quiet_404`). */
static json_t *admin_get(const struct report_args *a, const char *path, bool quiet_404)
{
    int status = 0;
    char *resp = NULL;
    size_t len = 0;
    if (fx_ctl_request(a->admin, a->token_file, "GET", path, NULL, &status, &resp, &len) != 0)
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loadb(resp, len, 0, &jerr);
    if (status != 200 || doc == NULL) {
        const char *msg = json_string_value(json_object_get(doc, "error"));
        if (!(quiet_404 && status == 404))
            (void)fail(EXIT_FAIL, "%s: GET %s: %d: %s", a->admin, path, status,
                       msg != NULL ? msg : "unexpected answer");
        json_decref(doc);
        doc = NULL;
    }
    free(resp);
    return doc;
}

/* Append "%XX"-encoded `s` to out[cap] (route names in paths). */
static void encode_segment(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    for (; *s != '\0' && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
}

/* The diff reports of every route the running config shadows. */
static json_t *admin_diffs(const struct report_args *a)
{
    json_t *conf = admin_get(a, "/api/v1/config", false);
    json_t *diffs = json_array();
    json_t *route;
    for (size_t i = 0; (route = json_array_get(json_object_get(conf, "routes"), i)) != NULL; i++) {
        const char *name = json_string_value(json_object_get(route, "name"));
        json_t *shadow = json_object_get(route, "shadow");
        if (name == NULL || shadow == NULL || json_is_null(shadow))
            continue;
        char enc[400] = "";
        encode_segment(name, enc, sizeof(enc));
        char path[512];
        (void)snprintf(path, sizeof(path), "/api/v1/routes/%s/diffs?samples=0", enc);
        json_t *d = admin_get(a, path, true);
        if (d != NULL && json_array_append_new(diffs, d) != 0)
            break;
    }
    json_decref(conf);
    return diffs;
}

static int load_from_admin(struct report *r, const struct report_args *a)
{
    r->progress = admin_get(a, "/api/v1/progress", false);
    if (r->progress == NULL)
        return EXIT_FAIL;
    json_t *debt = admin_get(a, "/api/v1/debt", false);
    if (debt == NULL)
        return EXIT_FAIL;
    r->debt = take_array(debt, json_is_array(json_object_get(debt, "items")) ? "items" : "debt");
    char path[64];
    (void)snprintf(path, sizeof(path), "/api/v1/events?limit=%d", EVENTS_MAX);
    json_t *events = admin_get(a, path, false);
    if (events == NULL)
        return EXIT_FAIL;
    r->events = take_array(events, "events");
    r->diffs = admin_diffs(a);
    return 0;
}

/* ---- shared formatting --------------------------------------------------------- */

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static bool num_of(const json_t *o, const char *key, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return isfinite(*out) != 0;
}

/* Share (0..1) as a percentage, or "-" when absent. */
static const char *fmt_pct(const json_t *o, const char *key, int decimals, char *buf, size_t cap)
{
    double v;
    if (!num_of(o, key, &v))
        return "-";
    (void)snprintf(buf, cap, "%.*f%%", decimals, v * 100.0);
    return buf;
}

static const char *fmt_num(const json_t *o, const char *key, int decimals, char *buf, size_t cap)
{
    double v;
    if (!num_of(o, key, &v))
        return "-";
    (void)snprintf(buf, cap, "%.*f", decimals, v);
    return buf;
}

static double share_clamped(const json_t *o, const char *key)
{
    double v = 0;
    if (!num_of(o, key, &v) || v < 0)
        return 0;
    return v > 1 ? 1 : v;
}

/* The value of the `n` digits at s[*pos] (advanced past them and one
 * separator), or -1. */
static int take_digits(const char *s, size_t *pos, size_t n)
{
    int v = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[*pos + k];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *pos += n + (s[*pos + n] != '\0');
    return v;
}

/* Seconds since the epoch of an RFC 3339 UTC time ("YYYY-MM-DDTHH:MM:SS",
 * fraction and zone ignored: the API writes UTC), or -1. */
static double parse_time(const char *s)
{
    static const size_t widths[6] = { 4, 2, 2, 2, 2, 2 };
    int v[6];
    size_t pos = 0;
    if (strlen(s) < 19)
        return -1;
    for (size_t k = 0; k < 6; k++) {
        v[k] = take_digits(s, &pos, widths[k]);
        if (v[k] < 0)
            return -1;
    }
    struct tm tm = { .tm_year = v[0] - 1900,
                     .tm_mon = v[1] - 1,
                     .tm_mday = v[2],
                     .tm_hour = v[3],
                     .tm_min = v[4],
                     .tm_sec = v[5] };
    return (double)timegm(&tm);
}

/* "2024-05-02 09:14" from an RFC 3339 time (or the text as given). */
static const char *short_time(const char *t, char *buf, size_t cap)
{
    if (strlen(t) < 16 || t[10] != 'T')
        return t;
    (void)snprintf(buf, cap, "%.10s %.5s", t, t + 11);
    return buf;
}

/* The estimate object as words: "done", "on track: 2024-06-01", ... */
static const char *fmt_estimate(const json_t *est, char *buf, size_t cap)
{
    const char *status = str_of(est, "status");
    const char *when = str_of(est, "completion");
    if (strcmp(status, "done") == 0)
        return "done";
    if (strcmp(status, "on_track") == 0 && strlen(when) >= 10) {
        (void)snprintf(buf, cap, "on track, done by %.10s", when);
        return buf;
    }
    if (strcmp(status, "no_progress") == 0)
        return "no progress";
    return "no data yet";
}

/* "a, b, c" from an array of strings, or `none`. */
static const char *join_strings(const json_t *arr, const char *none, char *buf, size_t cap)
{
    size_t i;
    const json_t *v;
    buf[0] = '\0';
    for (i = 0; (v = json_array_get(arr, i)) != NULL; i++) {
        const char *s = json_string_value(v);
        size_t n = strlen(buf);
        if (s != NULL && n + 1 < cap)
            (void)snprintf(buf + n, cap - n, "%s%s", n > 0 ? ", " : "", s);
    }
    return buf[0] != '\0' ? buf : none;
}

static size_t count_status(const json_t *debt, const char *status)
{
    size_t i;
    size_t n = 0;
    const json_t *item;
    for (i = 0; (item = json_array_get(debt, i)) != NULL; i++)
        n += strcmp(str_of(item, "status"), status) == 0;
    return n;
}

/* ---- JSON ------------------------------------------------------------------------ */

static int render_json(const struct report *r, FILE *f)
{
    json_t *doc = json_pack("{s:s,s:O,s:O,s:O,s:O}", "generated", r->generated, "progress",
                            r->progress, "debt", r->debt, "events", r->events, "diffs", r->diffs);
    if (doc == NULL)
        return FX_ENOMEM;
    /* The API's own flags, so that the parts are byte-for-byte what it serves. */
    int rc = json_dumpf(doc, f, FX_REG_JSON_FLAGS) == 0 ? 0 : FX_EIO;
    (void)fputc('\n', f);
    json_decref(doc);
    return rc;
}

/* ---- Markdown --------------------------------------------------------------------- */

/* Text safe inside a Markdown table cell: no line breaks, pipes, markup or
 * raw HTML. */
static void md_text(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '\n':
        case '\r':
        case '\t':
            (void)fputc(' ', f);
            break;
        case '<':
            (void)fputs("&lt;", f);
            break;
        case '>':
            (void)fputs("&gt;", f);
            break;
        case '&':
            (void)fputs("&amp;", f);
            break;
        case '|':
        case '\\':
        case '`':
        case '*':
        case '_':
        case '[':
        case ']':
        case '#':
            (void)fputc('\\', f);
            (void)fputc(*s, f);
            break;
        default:
            (void)fputc(*s, f);
        }
    }
}

/* A 20-cell text bar for a share (0..1). */
static void md_bar(FILE *f, double share)
{
    int full = (int)(share * 20.0 + 0.5);
    for (int i = 0; i < 20; i++)
        (void)fputs(i < full ? "\u2588" : "\u2591", f);
}

static void md_progress(const struct report *r, FILE *f)
{
    const json_t *overall = json_object_get(r->progress, "overall");
    const json_t *routes = json_object_get(r->progress, "routes");
    char b[4][32];
    pr(f, "## Migration progress\n\n");
    pr(f, "Overall: **%s** of requests served by new services; ",
       fmt_pct(overall, "share_new", 1, b[0], sizeof(b[0])));
    pr(f, "%s of %s routes migrated; estimate: %s.\n\n",
       fmt_num(overall, "migrated_routes", 0, b[1], sizeof(b[1])),
       fmt_num(overall, "routes", 0, b[2], sizeof(b[2])),
       fmt_estimate(json_object_get(overall, "estimate"), b[3], sizeof(b[3])));
    pr(f, "| Route | Migrating | Weight | Served by new | Requests/day | Estimate |\n");
    pr(f, "|---|---|---:|---|---:|---|\n");
    const json_t *rt;
    for (size_t i = 0; (rt = json_array_get(routes, i)) != NULL; i++) {
        double bp = 0;
        char w[32] = "-";
        bool migrating = json_is_true(json_object_get(rt, "migrating"));
        if (migrating && num_of(rt, "weight_bp", &bp))
            (void)snprintf(w, sizeof(w), "%.2f%%", bp / 100.0);
        pr(f, "| ");
        md_text(f, str_of(rt, "route"));
        pr(f, " | %s | %s | `", migrating ? "yes" : "no", w);
        md_bar(f, share_clamped(rt, "share_new"));
        pr(f, "` %s | %s | %s |\n", fmt_pct(rt, "share_new", 1, b[0], sizeof(b[0])),
           fmt_num(rt, "requests_per_day", 0, b[1], sizeof(b[1])),
           fmt_estimate(json_object_get(rt, "estimate"), b[3], sizeof(b[3])));
    }
    if (json_array_size(routes) == 0)
        pr(f, "| (no routes) | | | | | |\n");
    pr(f, "\n");
}

static void md_debt_row(FILE *f, size_t rank, const json_t *it)
{
    const json_t *live = json_object_get(it, "live");
    char b[8][32];
    char routes[256];
    pr(f, "| %zu | ", rank);
    md_text(f, str_of(it, "id"));
    pr(f, " | ");
    md_text(f, str_of(it, "title"));
    pr(f, " | ");
    md_text(f, str_of(it, "kind"));
    pr(f, " | ");
    md_text(f, str_of(it, "status"));
    pr(f, " | ");
    md_text(f, str_of(it, "owner"));
    pr(f, " | ");
    md_text(f, join_strings(json_object_get(it, "routes"), str_of(it, "component"), routes,
                            sizeof(routes)));
    pr(f, " | %s | %s | %s | %s | %s | %s/%s | %s |\n",
       fmt_num(live, "requests_per_day", 0, b[0], 32), fmt_pct(live, "migrated_share", 1, b[1], 32),
       fmt_pct(live, "legacy_error_rate", 2, b[2], 32), fmt_num(live, "legacy_p99_ms", 1, b[3], 32),
       fmt_pct(live, "shadow_mismatch_rate", 2, b[4], 32), fmt_num(it, "stability", 0, b[5], 32),
       fmt_num(it, "velocity", 0, b[6], 32), fmt_num(it, "priority", 2, b[7], 32));
}

static void md_debt(const struct report *r, FILE *f)
{
    pr(f, "## Technical debt, ranked\n\n");
    pr(f, "%zu items: %zu open, %zu in progress, %zu paid, %zu accepted.\n\n",
       json_array_size(r->debt), count_status(r->debt, "open"),
       count_status(r->debt, "in_progress"), count_status(r->debt, "paid"),
       count_status(r->debt, "accepted"));
    pr(f, "| # | ID | Title | Kind | Status | Owner | Routes | Legacy req/day | Migrated | "
          "Legacy 5xx | Legacy p99 ms | Shadow mismatch | Stab./Vel. | Priority |\n");
    pr(f, "|---:|---|---|---|---|---|---|---:|---:|---:|---:|---:|---|---:|\n");
    const json_t *it;
    for (size_t i = 0; (it = json_array_get(r->debt, i)) != NULL; i++)
        md_debt_row(f, i + 1, it);
    if (json_array_size(r->debt) == 0)
        pr(f, "| | (no debt items) | | | | | | | | | | | | |\n");
    pr(f, "\n");
}

static void md_events(const struct report *r, FILE *f)
{
    pr(f, "## Recent migration events\n\n");
    pr(f, "| Time | Route | Actor | Kind | Change | Reason |\n|---|---|---|---|---|---|\n");
    /* Newest first; the store gives them oldest first. */
    for (size_t i = json_array_size(r->events); i-- > 0;) {
        const json_t *e = json_array_get(r->events, i);
        const char *fields[] = { "time", "route", "actor", "kind" };
        pr(f, "|");
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
            pr(f, " ");
            md_text(f, str_of(e, fields[k]));
            pr(f, " |");
        }
        pr(f, " ");
        md_text(f, str_of(e, "old"));
        pr(f, " \u2192 ");
        md_text(f, str_of(e, "new"));
        pr(f, " | ");
        md_text(f, str_of(e, "reason"));
        pr(f, " |\n");
    }
    if (json_array_size(r->events) == 0)
        pr(f, "| (no events) | | | | | |\n");
    pr(f, "\n");
}

static void md_diffs(const struct report *r, FILE *f)
{
    char b[5][32];
    pr(f, "## Shadow diff summaries\n\n");
    pr(f, "| Route | Candidate | Compared | Matched | Mismatched | Errored | Mismatch rate |\n");
    pr(f, "|---|---|---:|---:|---:|---:|---:|\n");
    const json_t *d;
    for (size_t i = 0; (d = json_array_get(r->diffs, i)) != NULL; i++) {
        pr(f, "| ");
        md_text(f, str_of(d, "route"));
        pr(f, " | ");
        md_text(f, str_of(d, "candidate"));
        pr(f, " | %s | %s | %s | %s | %s |\n", fmt_num(d, "compared", 0, b[0], 32),
           fmt_num(d, "matched", 0, b[1], 32), fmt_num(d, "mismatched", 0, b[2], 32),
           fmt_num(d, "errored", 0, b[3], 32), fmt_pct(d, "mismatch_rate", 2, b[4], 32));
    }
    if (json_array_size(r->diffs) == 0)
        pr(f, "| (no shadowed routes) | | | | | | |\n");
    pr(f, "\n");
    for (size_t i = 0; (d = json_array_get(r->diffs, i)) != NULL; i++) {
        const json_t *eps = json_object_get(d, "endpoints");
        if (json_array_size(eps) == 0)
            continue;
        pr(f, "### ");
        md_text(f, str_of(d, "route"));
        pr(f, ": endpoints\n\n| Endpoint | Compared | Mismatched | Differing paths |\n");
        pr(f, "|---|---:|---:|---|\n");
        const json_t *ep;
        for (size_t j = 0; (ep = json_array_get(eps, j)) != NULL; j++) {
            if (j == ENDPOINTS_MAX)
                break;
            pr(f, "| ");
            md_text(f, str_of(ep, "endpoint"));
            pr(f, " | %s | %s | ", fmt_num(ep, "compared", 0, b[0], 32),
               fmt_num(ep, "mismatched", 0, b[1], 32));
            const json_t *p;
            for (size_t k = 0; (p = json_array_get(json_object_get(ep, "paths"), k)) != NULL; k++) {
                if (k == PATHS_MAX)
                    break;
                pr(f, "%s", k > 0 ? ", " : "");
                md_text(f, str_of(p, "path"));
                pr(f, " (%s)", fmt_num(p, "count", 0, b[2], 32));
            }
            pr(f, " |\n");
        }
        pr(f, "\n");
    }
}

static int render_md(const struct report *r, FILE *f)
{
    pr(f, "# Ficus migration report\n\nGenerated %s from `", r->generated);
    md_text(f, r->source);
    pr(f, "`.\n\n");
    md_progress(r, f);
    md_debt(r, f);
    md_events(r, f);
    md_diffs(r, f);
    return 0;
}

/* ---- HTML ----------------------------------------------------------------------- */

/* Text safe in HTML element content and in double- or single-quoted
 * attribute values. */
static void html_text(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<':
            (void)fputs("&lt;", f);
            break;
        case '>':
            (void)fputs("&gt;", f);
            break;
        case '&':
            (void)fputs("&amp;", f);
            break;
        case '"':
            (void)fputs("&quot;", f);
            break;
        case '\'':
            (void)fputs("&#39;", f);
            break;
        default:
            (void)fputc(*s, f);
        }
    }
}

static void html_cell(FILE *f, const char *cls, const char *text)
{
    pr(f, "<td%s%s%s>", cls != NULL ? " class=\"" : "", cls != NULL ? cls : "",
       cls != NULL ? "\"" : "");
    html_text(f, text);
    pr(f, "</td>");
}

static const char html_css[] =
    ":root{--fg:#1d2433;--muted:#5b6578;--line:#d9dee7;--bg:#f6f7fa;--card:#fff;"
    "--new:#2f7d4f;--legacy:#c9ced8;--warn:#b3541e;--accent:#2456a6}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:var(--fg);background:var(--bg)}"
    "main{max-width:1200px;margin:0 auto;padding:16px}"
    "h1{font-size:1.5rem;margin:.2em 0}h2{font-size:1.2rem;margin:1.6em 0 .5em}"
    "h3{font-size:1rem;margin:1em 0 .4em}"
    ".meta{color:var(--muted);font-size:.9rem}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px;"
    "margin:12px 0}"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}"
    ".card b{display:block;font-size:1.4rem}.card span{color:var(--muted);font-size:.85rem}"
    ".panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}"
    ".scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}"
    "table{border-collapse:collapse;width:100%;background:var(--card);font-size:.9rem}"
    "th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);"
    "vertical-align:top}"
    "th{font-weight:600;color:var(--muted);white-space:nowrap}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.t{min-width:14em}td.w{word-break:break-word;min-width:12em}td.id{white-space:nowrap}"
    ".sub{display:block;color:var(--muted);font-size:.8rem}"
    "svg.bar{width:100%;min-width:90px;height:12px;display:block}"
    "svg.spark{width:120px;height:24px;display:block}"
    "svg.chart{width:100%;height:auto;display:block}"
    ".chart text{font-size:11px;fill:var(--muted)}"
    ".empty{color:var(--muted);font-style:italic}"
    ".tag{display:inline-block;padding:0 6px;border-radius:4px;background:#eef1f6;font-size:.8rem}"
    "@media (max-width:600px){body{font-size:14px}main{padding:10px}"
    "th,td{padding:5px 6px}td.t{min-width:10em}}"
    "@media print{body{background:#fff;font-size:10pt}main{max-width:none;padding:0}"
    ".card,.panel{border-color:#999}.scroll{overflow:visible}"
    "table{font-size:8.5pt}tr,.card,svg{break-inside:avoid;page-break-inside:avoid}"
    "h2{break-after:avoid;page-break-after:avoid}"
    "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

/* A horizontal bar: `share` (0..1) in the new colour over the legacy colour,
 * with a tick at the configured weight when `weight` >= 0. */
static void svg_bar(FILE *f, double share, double weight)
{
    pr(f,
       "<svg class=\"bar\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" role=\"img\" "
       "aria-label=\"%.1f%% served by new\">"
       "<rect width=\"100\" height=\"10\" fill=\"#c9ced8\"/>"
       "<rect width=\"%.2f\" height=\"10\" fill=\"#2f7d4f\"/>",
       share * 100.0, share * 100.0);
    if (weight >= 0)
        pr(f, "<rect x=\"%.2f\" width=\"0.8\" height=\"10\" fill=\"#1d2433\"/>",
           weight > 99.2 ? 99.2 : weight);
    pr(f, "</svg>");
}

/* Points of a share_new series scaled into the box (x0, y0, w, h); returns
 * how many were written. Time runs left to right. */
static size_t svg_points(FILE *f, const json_t *series, double x0, double y0, double w, double h)
{
    double t0 = 0;
    double t1 = 0;
    size_t n = json_array_size(series);
    if (n > 0) {
        t0 = parse_time(str_of(json_array_get(series, 0), "time"));
        t1 = parse_time(str_of(json_array_get(series, n - 1), "time"));
    }
    double span = t1 > t0 ? t1 - t0 : 1;
    size_t i;
    size_t written = 0;
    const json_t *p;
    for (i = 0; (p = json_array_get(series, i)) != NULL; i++) {
        double t = parse_time(str_of(p, "time"));
        double x = n > 1 && t1 > t0 && t >= t0 ? x0 + w * (t - t0) / span
                                               : x0 + w * (double)i / (double)(n > 1 ? n - 1 : 1);
        double y = y0 + h * (1.0 - share_clamped(p, "share_new"));
        pr(f, "%s%.1f,%.1f", written > 0 ? " " : "", x, y);
        written++;
    }
    return written;
}

static void svg_spark(FILE *f, const json_t *series)
{
    if (json_array_size(series) < 2) {
        pr(f, "<span class=\"empty\">-</span>");
        return;
    }
    pr(f,
       "<svg class=\"spark\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"trend\">"
       "<polyline fill=\"none\" stroke=\"#2f7d4f\" stroke-width=\"1.5\" points=\"",
       SPARK_W, SPARK_H);
    (void)svg_points(f, series, 1, 2, SPARK_W - 2, SPARK_H - 4);
    pr(f, "\"/></svg>");
}

static void svg_trend(FILE *f, const json_t *series)
{
    size_t n = json_array_size(series);
    if (n < 2) {
        pr(f, "<p class=\"empty\">Not enough progress samples for a trend yet "
              "(one is taken every few minutes by a running server).</p>");
        return;
    }
    double w = CHART_W - CHART_PAD_L - CHART_PAD_R;
    double h = CHART_H - CHART_PAD_T - CHART_PAD_B;
    pr(f,
       "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
       "aria-label=\"share of requests served by new services over time\">",
       CHART_W, CHART_H);
    for (int g = 0; g <= 4; g++) {
        double y = CHART_PAD_T + h * (1.0 - g / 4.0);
        pr(f,
           "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#d9dee7\"/>"
           "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>",
           CHART_PAD_L, CHART_PAD_L + w, y, y, CHART_PAD_L - 6, y + 4, g * 25);
    }
    pr(f, "<polygon fill=\"#2f7d4f\" fill-opacity=\"0.12\" points=\"%.1f,%.1f ", CHART_PAD_L,
       CHART_PAD_T + h);
    (void)svg_points(f, series, CHART_PAD_L, CHART_PAD_T, w, h);
    pr(f, " %.1f,%.1f\"/>", CHART_PAD_L + w, CHART_PAD_T + h);
    pr(f, "<polyline fill=\"none\" stroke=\"#2f7d4f\" stroke-width=\"2\" points=\"");
    (void)svg_points(f, series, CHART_PAD_L, CHART_PAD_T, w, h);
    pr(f, "\"/>");
    const char *first = str_of(json_array_get(series, 0), "time");
    const char *last = str_of(json_array_get(series, n - 1), "time");
    char label[20];
    pr(f, "<text x=\"%.0f\" y=\"%.0f\">", CHART_PAD_L, CHART_H - 8);
    html_text(f, short_time(first, label, sizeof(label)));
    pr(f, "</text><text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">", CHART_PAD_L + w, CHART_H - 8);
    html_text(f, short_time(last, label, sizeof(label)));
    pr(f, "</text></svg>");
}

static void html_card(FILE *f, const char *value, const char *label)
{
    pr(f, "<div class=\"card\"><b>");
    html_text(f, value);
    pr(f, "</b><span>");
    html_text(f, label);
    pr(f, "</span></div>");
}

static void html_summary(const struct report *r, FILE *f)
{
    const json_t *overall = json_object_get(r->progress, "overall");
    char b[6][64];
    (void)snprintf(b[1], sizeof(b[1]), "%s / %s",
                   fmt_num(overall, "migrated_routes", 0, b[4], sizeof(b[4])),
                   fmt_num(overall, "routes", 0, b[5], sizeof(b[5])));
    (void)snprintf(b[3], sizeof(b[3]), "%zu",
                   count_status(r->debt, "open") + count_status(r->debt, "in_progress"));
    pr(f, "<div class=\"cards\">");
    html_card(f, fmt_pct(overall, "share_new", 1, b[0], sizeof(b[0])),
              "of requests served by new services");
    html_card(f, b[1], "routes fully migrated");
    html_card(f, fmt_estimate(json_object_get(overall, "estimate"), b[2], sizeof(b[2])),
              "completion estimate");
    html_card(f, b[3], "debt items open or in progress");
    pr(f, "</div>");
}

static void html_route_row(FILE *f, const json_t *rt)
{
    char b[3][64];
    double bp = -1;
    bool migrating = json_is_true(json_object_get(rt, "migrating"));
    if (!migrating || !num_of(rt, "weight_bp", &bp))
        bp = -1;
    pr(f, "<tr>");
    html_cell(f, NULL, str_of(rt, "route"));
    pr(f, "<td>%s</td>", migrating ? "migrating" : "legacy only");
    if (bp >= 0)
        pr(f, "<td class=\"n\">%.2f%%</td>", bp / 100.0);
    else
        pr(f, "<td class=\"n\">-</td>");
    pr(f, "<td class=\"t\">");
    svg_bar(f, share_clamped(rt, "share_new"), bp >= 0 ? bp / 100.0 : -1);
    pr(f, "<span class=\"sub\">%s served by new</span></td>",
       fmt_pct(rt, "share_new", 1, b[0], sizeof(b[0])));
    pr(f, "<td class=\"n\">%s</td><td>", fmt_num(rt, "requests_per_day", 0, b[1], sizeof(b[1])));
    svg_spark(f, json_object_get(rt, "series"));
    pr(f, "</td>");
    html_cell(f, NULL, fmt_estimate(json_object_get(rt, "estimate"), b[2], sizeof(b[2])));
    pr(f, "</tr>");
}

static void html_progress(const struct report *r, FILE *f)
{
    const json_t *routes = json_object_get(r->progress, "routes");
    pr(f, "<section id=\"progress\"><h2>Migration progress</h2>");
    html_summary(r, f);
    pr(f, "<div class=\"panel\"><h3>Share served by new services, all routes</h3>");
    svg_trend(f, json_object_get(r->progress, "series"));
    pr(f, "</div><h3>Per route</h3><div class=\"scroll\"><table><thead><tr><th>Route</th>"
          "<th>State</th><th class=\"n\">Weight</th><th>Served by new</th>"
          "<th class=\"n\">Requests/day</th><th>Trend</th><th>Estimate</th></tr></thead><tbody>");
    const json_t *rt;
    for (size_t i = 0; (rt = json_array_get(routes, i)) != NULL; i++)
        html_route_row(f, rt);
    if (json_array_size(routes) == 0)
        pr(f, "<tr><td colspan=\"7\" class=\"empty\">No routes.</td></tr>");
    pr(f, "</tbody></table></div></section>");
}

static void html_debt_row(FILE *f, size_t rank, const json_t *it)
{
    const json_t *live = json_object_get(it, "live");
    char b[9][32];
    char routes[256];
    pr(f, "<tr><td class=\"n\">%zu</td>", rank);
    html_cell(f, "id", str_of(it, "id"));
    pr(f, "<td class=\"w\">");
    html_text(f, str_of(it, "title"));
    pr(f, "<span class=\"sub\"><span class=\"tag\">");
    html_text(f, str_of(it, "kind"));
    pr(f, "</span> <span class=\"tag\">");
    html_text(f, str_of(it, "status"));
    pr(f, "</span> ");
    html_text(f, str_of(it, "owner"));
    double effort;
    if (num_of(it, "effort_days", &effort) && effort > 0)
        pr(f, " &middot; %.1f d effort", effort);
    pr(f, "</span></td>");
    html_cell(f, NULL,
              join_strings(json_object_get(it, "routes"), str_of(it, "component"), routes,
                           sizeof(routes)));
    pr(f,
       "<td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
       "<td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s/%s</td>"
       "<td class=\"n\"><b>%s</b></td></tr>",
       fmt_num(live, "requests_per_day", 0, b[0], 32), fmt_pct(live, "migrated_share", 1, b[1], 32),
       fmt_pct(live, "legacy_error_rate", 2, b[2], 32), fmt_num(live, "legacy_p99_ms", 1, b[3], 32),
       fmt_pct(live, "shadow_mismatch_rate", 2, b[4], 32), fmt_num(it, "stability", 0, b[5], 32),
       fmt_num(it, "velocity", 0, b[6], 32), fmt_num(it, "priority", 2, b[8], 32));
}

static void html_debt(const struct report *r, FILE *f)
{
    pr(f,
       "<section id=\"debt\"><h2>Technical debt, ranked by priority</h2>"
       "<p class=\"meta\">%zu items: %zu open, %zu in progress, %zu paid, %zu accepted. "
       "Live figures are the linked routes' legacy traffic.</p>",
       json_array_size(r->debt), count_status(r->debt, "open"),
       count_status(r->debt, "in_progress"), count_status(r->debt, "paid"),
       count_status(r->debt, "accepted"));
    pr(f, "<div class=\"scroll\"><table><thead><tr><th class=\"n\">#</th><th>ID</th>"
          "<th>Title</th><th>Routes</th><th class=\"n\">Legacy req/day</th>"
          "<th class=\"n\">Migrated</th><th class=\"n\">Legacy 5xx</th>"
          "<th class=\"n\">Legacy p99 ms</th><th class=\"n\">Shadow mismatch</th>"
          "<th class=\"n\">Stab./Vel.</th>"
          "<th class=\"n\">Priority</th></tr></thead><tbody>");
    const json_t *it;
    for (size_t i = 0; (it = json_array_get(r->debt, i)) != NULL; i++)
        html_debt_row(f, i + 1, it);
    if (json_array_size(r->debt) == 0)
        pr(f, "<tr><td colspan=\"11\" class=\"empty\">No debt items.</td></tr>");
    pr(f, "</tbody></table></div></section>");
}

static void html_events(const struct report *r, FILE *f)
{
    pr(f, "<section id=\"events\"><h2>Recent migration events</h2><div class=\"scroll\">"
          "<table><thead><tr><th>Time</th><th>Route</th><th>Actor</th><th>Kind</th>"
          "<th>Change</th><th>Reason</th></tr></thead><tbody>");
    for (size_t i = json_array_size(r->events); i-- > 0;) {
        const json_t *e = json_array_get(r->events, i);
        pr(f, "<tr>");
        html_cell(f, NULL, str_of(e, "time"));
        html_cell(f, NULL, str_of(e, "route"));
        html_cell(f, NULL, str_of(e, "actor"));
        html_cell(f, NULL, str_of(e, "kind"));
        pr(f, "<td>");
        html_text(f, str_of(e, "old"));
        pr(f, " &rarr; ");
        html_text(f, str_of(e, "new"));
        pr(f, "</td>");
        html_cell(f, "w", str_of(e, "reason"));
        pr(f, "</tr>");
    }
    if (json_array_size(r->events) == 0)
        pr(f, "<tr><td colspan=\"6\" class=\"empty\">No migration events.</td></tr>");
    pr(f, "</tbody></table></div></section>");
}

static void html_endpoints(FILE *f, const json_t *eps)
{
    char b[3][32];
    pr(f, "<div class=\"scroll\"><table><thead><tr><th>Endpoint</th><th class=\"n\">Compared</th>"
          "<th class=\"n\">Mismatched</th><th>Differing paths</th></tr></thead><tbody>");
    const json_t *ep;
    for (size_t j = 0; (ep = json_array_get(eps, j)) != NULL; j++) {
        if (j == ENDPOINTS_MAX)
            break;
        pr(f, "<tr>");
        html_cell(f, NULL, str_of(ep, "endpoint"));
        pr(f, "<td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"w\">",
           fmt_num(ep, "compared", 0, b[0], 32), fmt_num(ep, "mismatched", 0, b[1], 32));
        const json_t *p;
        for (size_t k = 0; (p = json_array_get(json_object_get(ep, "paths"), k)) != NULL; k++) {
            if (k == PATHS_MAX)
                break;
            pr(f, "%s<code>", k > 0 ? ", " : "");
            html_text(f, str_of(p, "path"));
            pr(f, "</code> (%s)", fmt_num(p, "count", 0, b[2], 32));
        }
        pr(f, "</td></tr>");
    }
    pr(f, "</tbody></table></div>");
}

static void html_diffs(const struct report *r, FILE *f)
{
    char b[6][32];
    pr(f, "<section id=\"diffs\"><h2>Shadow diff summaries</h2>");
    if (json_array_size(r->diffs) == 0)
        pr(f, "<p class=\"empty\">No shadowed routes.</p>");
    const json_t *d;
    for (size_t i = 0; (d = json_array_get(r->diffs, i)) != NULL; i++) {
        pr(f, "<div class=\"panel\" style=\"margin-bottom:10px\"><h3>");
        html_text(f, str_of(d, "route"));
        pr(f, " <span class=\"sub\">candidate ");
        html_text(f, str_of(d, "candidate"));
        pr(f,
           "</span></h3><p class=\"meta\">%s compared, %s matched, %s mismatched, %s errored: "
           "<b>%s</b> mismatch rate.</p>",
           fmt_num(d, "compared", 0, b[0], 32), fmt_num(d, "matched", 0, b[1], 32),
           fmt_num(d, "mismatched", 0, b[2], 32), fmt_num(d, "errored", 0, b[3], 32),
           fmt_pct(d, "mismatch_rate", 2, b[4], 32));
        const json_t *eps = json_object_get(d, "endpoints");
        if (json_array_size(eps) > 0)
            html_endpoints(f, eps);
        pr(f, "</div>");
    }
    pr(f, "</section>");
}

static int render_html(const struct report *r, FILE *f)
{
    pr(f,
       "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
       "<title>Ficus migration report %s</title><style>%s</style></head><body><main>"
       "<h1>Ficus migration report</h1><p class=\"meta\">Generated %s from ",
       r->generated, html_css, r->generated);
    html_text(f, r->source);
    pr(f, "</p>");
    html_progress(r, f);
    html_debt(r, f);
    html_events(r, f);
    html_diffs(r, f);
    pr(f, "</main></body></html>\n");
    return 0;
}

/* ---- output -------------------------------------------------------------------- */

static int write_out(const char *path, const char *buf, size_t len)
{
    if (path == NULL || strcmp(path, "-") == 0) {
        if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
            return fail(EXIT_FAIL, "writing the report to standard output failed");
        return 0;
    }
    /* Written beside the target and renamed, so a reader never sees half a
     * report. */
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return fail(EXIT_USAGE, "-o %s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        char eb[128];
        return fail(EXIT_FAIL, "-o %s: cannot create %s: %s", path, tmp,
                    strerror_r(errno, eb, sizeof(eb)));
    }
    bool ok = fwrite(buf, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        char eb[128];
        (void)remove(tmp);
        return fail(EXIT_FAIL, "-o %s: write failed: %s", path, strerror_r(e, eb, sizeof(eb)));
    }
    return 0;
}

static int render(const struct report *r, enum fx_reg_format format, const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m == NULL)
        return fail(EXIT_FAIL, "out of memory");
    int rc = format == FX_REG_JSON ? render_json(r, m)
             : format == FX_REG_MD ? render_md(r, m)
                                   : render_html(r, m);
    bool ok = ferror(m) == 0;
    ok = (fclose(m) == 0) && ok;
    if (rc != 0 || !ok)
        rc = fail(EXIT_FAIL, "rendering the report failed (out of memory)");
    else
        rc = write_out(path, buf, len);
    free(buf);
    return rc;
}

int fx_reg_report_main(int argc, char **argv)
{
    struct report_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc != 0)
        return rc;
    if (a.help) {
        (void)fputs(usage_report, stdout);
        return 0;
    }
    struct report r = { .source = a.admin != NULL ? a.admin : a.conf };
    rfc3339(time(NULL), r.generated, sizeof(r.generated));
    rc = a.admin != NULL ? load_from_admin(&r, &a) : load_from_store(&r, a.conf);
    if (rc == 0)
        rc = render(&r, a.format, a.out_path);
    report_free(&r);
    return rc;
}
