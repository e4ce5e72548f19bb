/* Registry internals shared by the registry's .c files (never included from
 * outside src/registry/). */
#ifndef FX_REGISTRY_INT_H
#define FX_REGISTRY_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/err_types.h"
#include "registry_types.h"

struct fx_store;
struct sqlite3;

#define FX_REG_DAY_MS  86400000ull
#define FX_REG_HOUR_MS 3600000ull

/* jansson flags for every JSON the registry prints: 10 significant digits
 * keep 0.1 printed as 0.1 (the default 17 digits would not). */
#define FX_REG_JSON_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(10))

/* ---- registry.c: schema, time, SQLite helpers ------------------------------ */

/* Create the registry tables when missing. Returns 0 or FX_EIO (err names the
 * store path and SQLite's message). */
int fx_reg__schema(struct fx_store *st, struct fx_err *err);

/* Fill err with FX_EIO "registry: PATH: WHAT: sqlite message"; returns FX_EIO. */
int fx_reg__db_error(struct fx_store *st, const char *what, struct fx_err *err);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK on the store. begin and commit return 0
 * or FX_EIO with err set; rollback ignores failures (it runs on error paths). */
int fx_reg__begin(struct fx_store *st, struct fx_err *err);
int fx_reg__commit(struct fx_store *st, struct fx_err *err);
void fx_reg__rollback(struct fx_store *st);

/* Wall clock in milliseconds since the epoch. */
uint64_t fx_reg__now_ms(void);

/* Parse "YYYY-MM-DDTHH:MM:SS[.fff]Z" (or a "+HH:MM"/"-HH:MM" offset; extra
 * fraction digits beyond milliseconds are truncated). Returns 0 and *ms, or
 * FX_EINVAL. */
int fx_reg__parse_time(const char *s, uint64_t *ms);

/* `v` rounded half away from zero to `digits` decimals (v unchanged when
 * too large to round). */
double fx_reg__round(double v, int digits);

/* True when `v` is a whole number of magnitude below 9e15. */
bool fx_reg__integral(double v);

/* log10(x) for x > 0 (0 otherwise), to about 15 digits. */
double fx_reg__log10(double x);

/* A JSON number: an integer when `v` is integral and small, else a real. */
json_t *fx_reg__json_num(double v);

/* ---- score.c: the priority formula (pure) ----------------------------------- */

/* Live figures of one item, from the progress samples of its routes. */
struct fx_reg_live {
    bool has_routes;             /* the item links at least one route */
    uint64_t samples;            /* samples found in the window */
    double hours;                /* hours of samples behind the figures (<= 24) */
    double requests_per_day;     /* legacy side, extrapolated to 24 h */
    double migrated_share;       /* 0..1 */
    double legacy_error_rate;    /* 0..1 */
    double legacy_p99_ms;        /* request-weighted mean of interval p99s */
    bool has_shadow;             /* false when nothing was compared */
    double shadow_mismatch_rate; /* 0..1, valid when has_shadow */
};

/* Declared figures of one item. */
struct fx_reg_declared {
    int stability;      /* 1..5 */
    int velocity;       /* 1..5 */
    double effort_days; /* >= 0; 0 = not estimated */
    const char *status; /* borrowed: open, in_progress, paid, accepted */
};

#define FX_REG_TERMS_MAX 9

struct fx_reg_term {
    const char *name; /* static */
    double value;     /* the input figure (raw: requests per day, rate, ...) */
    double weight;    /* points at the term's full strength */
    double contribution;
    char why[200];
};

struct fx_reg_score {
    struct fx_reg_term terms[FX_REG_TERMS_MAX];
    size_t nterms;
    double total; /* sum of the contributions, 0..100 */
};

/* Compute the priority score of an item (formula in docs/registry.md). Pure:
 * no I/O, no clock. */
void fx_reg__score(const struct fx_reg_declared *d, const struct fx_reg_live *live,
                   struct fx_reg_score *out);

/* {"terms": [...], "total"} of a score. New reference or NULL. */
json_t *fx_reg__score_json(const struct fx_reg_score *s);

/* ---- progress.c: samples, live figures, completion estimate ----------------- */

enum fx_reg_est_status {
    FX_REG_EST_NO_DATA = 0,
    FX_REG_EST_NO_PROGRESS,
    FX_REG_EST_ON_TRACK,
    FX_REG_EST_DONE,
};

struct fx_reg_estimate {
    enum fx_reg_est_status status;
    double slope_per_day;   /* least-squares slope of the share, per day */
    uint64_t completion_ms; /* when on_track: the trend reaches share 1 */
};

/* Estimate the completion of a migration from `n` points (time in ms, share
 * 0..1, oldest first). Done when the last share is >= 0.999; no_data with
 * fewer than 2 points or points spanning less than one hour; no_progress
 * when the slope is below 0.0001 per day or the date is over 10 years away;
 * else on_track with the date the fitted line reaches 1 (never before the
 * last point). Pure. */
void fx_reg__estimate(const uint64_t *time_ms, const double *share, size_t n,
                      struct fx_reg_estimate *out);

/* {"status", "completion", "slope_per_day"}. New reference or NULL. */
json_t *fx_reg__estimate_json(const struct fx_reg_estimate *e);

/* Live figures of the routes `routes[0..n)` over the 24 h before now_ms.
 * Returns 0 or FX_EIO. */
int fx_reg__live(struct fx_store *st, const char *const *routes, size_t n, uint64_t now_ms,
                 struct fx_reg_live *out, struct fx_err *err);

/* The progress document as of now_ms (see registry.h). Returns 0, FX_ENOMEM or
 * FX_EIO. */
int fx_reg__progress_at(struct fx_store *st, uint64_t now_ms, json_t **out, struct fx_err *err);

/* ---- debt.c: validation and storage of items ------------------------------- */

/* fx_reg__apply() flag: the fields come from an import row, which may also
 * carry "id", "created", "updated" (handled by the caller) and the read-only
 * "live", "priority", "score", "history" of a listed item (ignored). */
#define FX_REG_APPLY_IMPORT 1u

/* True for open, in_progress, paid, accepted. */
bool fx_reg__status_valid(const char *s);

/* True for 1..64 bytes of letters, digits, '.', '_', '-'. */
bool fx_reg__route_name_valid(const char *s);

/* A record with the defaults (kind code, status open, stability and velocity
 * 3, effort 0, empty texts and routes). New reference or NULL. */
json_t *fx_reg__record_new(void);

/* Validate the fields of `in` and set them, normalised, into `rec`; a title
 * must be present afterwards. `where` prefixes the field in messages ("",
 * "DEBT-3: ", "import row 2: "). Returns 0, FX_EINVAL or FX_ENOMEM; on error
 * `rec` may be partly changed. */
int fx_reg__apply(json_t *rec, const json_t *in, unsigned int flags, const char *where,
                  struct fx_err *err);

/* "DEBT-12", "debt-12" or "12" to 12. Returns 0 or FX_EINVAL. */
int fx_reg__parse_id(const char *id, int64_t *num);

/* Routes array joined with ';' (malloc'd, "" for none; NULL when out of
 * memory), and the reverse (new reference; empty names dropped). */
char *fx_reg__routes_join(const json_t *routes);
json_t *fx_reg__routes_split(const char *s);

/* Records of every item (num 0, ordered by number) or of item `num` (an
 * array of one) into *out (new reference). Returns 0, FX_ENOTFOUND, FX_ENOMEM
 * or FX_EIO. */
int fx_reg__load(struct fx_store *st, int64_t num, json_t **out, struct fx_err *err);

/* Insert or replace the row of item `num` from `rec`. Returns 0, FX_ENOMEM or
 * FX_EIO. */
int fx_reg__store(struct fx_store *st, int64_t num, const json_t *rec, struct fx_err *err);

/* The number of the next new item (max + 1). Returns 0 or FX_EIO. */
int fx_reg__next_num(struct fx_store *st, int64_t *num, struct fx_err *err);

/* Append one history entry (old/new may be NULL). Returns 0 or FX_EIO. */
int fx_reg__history(struct fx_store *st, int64_t num, uint64_t time_ms, const char *actor,
                    const char *field, const char *old_value, const char *new_value,
                    struct fx_err *err);

/* ---- debt_ops.c, debt_io.c, debt_csv.c ------------------------------------- */

/* Import like fx_reg_debt_import(); `lines` (may be NULL) gives the source
 * line of each row for messages ("row 3 (line 4)"). */
int fx_reg__import(struct fx_store *st, const json_t *rows, const size_t *lines, const char *actor,
                   size_t *count, struct fx_err *err);

/* Items of fx_reg_debt_list() as of now_ms. */
int fx_reg__list_at(struct fx_store *st, const char *sort, const char *status, uint64_t now_ms,
                    json_t **out, struct fx_err *err);

/* Write export records (array of objects, fx_reg_debt_export()) as CSV (RFC
 * 4180: CRLF line ends, fields quoted when they hold a comma, quote, CR or LF;
 * routes joined with ';'). Returns 0 or FX_EIO. */
int fx_reg__csv_write(const json_t *records, FILE *f);

/* Write one CSV field, quoted per RFC 4180 when needed. Returns 0 or -1. */
int fx_reg__csv_field(FILE *f, const char *s);

/* Parse CSV text (header line of column names, then one record per row) into
 * an array of objects typed like the JSON export (stability, velocity as
 * integers and effort_days as a number when they parse, routes split on ';').
 * *lines (owned by the caller, free()) gets the first line of each row.
 * Returns 0, FX_EINVAL (err names the line) or FX_ENOMEM. */
int fx_reg__csv_read(const char *text, size_t len, json_t **rows, size_t **lines,
                     struct fx_err *err);

/* ---- debt_fmt.c: text output of the CLI ---------------------------------- */

/* Items of a list as a table (aligned), Markdown, CSV (ranked figures) or
 * JSON. Returns 0 or -1 on a write error. */
int fx_reg__print_list(const json_t *items, enum fx_reg_format fmt, FILE *f);

/* One item (fields, live figures, every score term, history) for people.
 * Returns 0 or -1. */
int fx_reg__print_item(const json_t *item, FILE *f);

#endif
