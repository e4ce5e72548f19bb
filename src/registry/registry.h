/* Registry contract. Every function works on an open store (fx_store_open on
 * the config's store path) and is called by one thread at a time per store
 * handle (the CLI, the admin thread, or the control thread: each opens its
 * own handle). Tables are prefixed "debt_" and "progress_" and created on
 * first use.
 *
 * JSON shapes (documented in docs/registry.md, shared by the CLI, the admin
 * API /api/v1/debt and /api/v1/progress, `ficus report` and /dashboard):
 *
 * item: {"id": "DEBT-1", "title", "description", "kind", "routes": [..],
 *   "component", "owner", "status", "stability": 1..5, "velocity": 1..5,
 *   "effort_days": number, "notes", "created": RFC 3339, "updated": RFC 3339,
 *   "live": {"requests_per_day", "migrated_share" (0..1), "legacy_error_rate"
 *   (0..1), "legacy_p99_ms", "shadow_mismatch_rate" (0..1 or null)},
 *   "priority": number, "score": {"terms": [{"name", "value", "weight",
 *   "contribution", "why"}], "total"}}
 * item with history (show): the above plus "history": [{"time", "actor",
 *   "field", "old", "new"}]
 * progress: {"overall": {"share_new" (0..1), "routes", "migrated_routes",
 *   "estimate": {"status": "done|on_track|no_progress|no_data",
 *   "completion": RFC 3339 or null, "slope_per_day"}},
 *   "routes": [{"route", "migrating", "weight_bp", "share_new",
 *   "requests_per_day", "estimate": {...}, "series": [{"time", "share_new",
 *   "requests"}]}],
 *   "series": [{"time", "share_new", "requests"}]}   (overall, hourly points) */
#ifndef FX_REGISTRY_H
#define FX_REGISTRY_H

#include <jansson.h>
#include <stdio.h>

#include "../core/err_types.h"
#include "registry_types.h"

struct fx_store;

/* Append progress samples in one transaction (samples older than 400 days are
 * pruned). Returns 0 or FX_EIO with err set. Control thread of a server. */
int fx_reg_progress_add(struct fx_store *st, const struct fx_reg_sample *rows, size_t n,
                        struct fx_err *err);

/* Create an item from a JSON object of fields (title required; kind, routes,
 * component, owner, status, stability, velocity, effort_days, description,
 * notes optional). Validates every field (unknown field, invalid kind, impact
 * outside 1..5 are FX_EINVAL with err naming the field). On success *out is
 * the new item (new reference) and the creation is in its history with
 * `actor`. Returns 0, FX_EINVAL or FX_EIO. */
int fx_reg_debt_add(struct fx_store *st, const json_t *fields, const char *actor, json_t **out,
                    struct fx_err *err);

/* Change the given fields of item `id` (same validation; "id", "created" are
 * refused). Each changed field is recorded in the history. Returns 0,
 * FX_ENOTFOUND (err names the id), FX_EINVAL or FX_EIO. */
int fx_reg_debt_update(struct fx_store *st, const char *id, const json_t *fields, const char *actor,
                       json_t **out, struct fx_err *err);

/* Close item `id` as `as` ("paid" or "accepted"; anything else is FX_EINVAL):
 * an update of its status, recorded in the history. Returns like
 * fx_reg_debt_update(). */
int fx_reg_debt_close(struct fx_store *st, const char *id, const char *as, const char *actor,
                      json_t **out, struct fx_err *err);

/* Every item's stored fields (array ordered by id, *out new reference): the
 * item shape without "live", "priority", "score" and "history". This is the
 * export format; import takes it back. Returns 0 or FX_EIO. */
int fx_reg_debt_export(struct fx_store *st, json_t **out, struct fx_err *err);

/* Import `rows` (array of objects of the export shape; "id", "created",
 * "updated" optional, "live", "priority", "score", "history" ignored) in one
 * transaction: any invalid row, or an id that already exists, imports
 * nothing and returns FX_EINVAL with err naming the row ("debt: import row
 * 3: field \"stability\": 9 is outside 1..5"). Rows without an id get the next
 * free ones. *count (may be NULL) is the number imported. Returns 0,
 * FX_EINVAL or FX_EIO. */
int fx_reg_debt_import(struct fx_store *st, const json_t *rows, const char *actor, size_t *count,
                       struct fx_err *err);

/* Item `id` with live figures, score terms and history (*out new reference).
 * Returns 0, FX_ENOTFOUND or FX_EIO. */
int fx_reg_debt_get(struct fx_store *st, const char *id, json_t **out, struct fx_err *err);

/* Items (array, *out new reference) with live figures and priority, sorted by
 * `sort` ("priority" descending, default, or "created"), keeping only
 * `status` when not NULL. Returns 0, FX_EINVAL (bad sort/status) or FX_EIO. */
int fx_reg_debt_list(struct fx_store *st, const char *sort, const char *status, json_t **out,
                     struct fx_err *err);

/* Progress document (shape above) from the stored samples and the routes of
 * the config the samples came from. Returns 0 or FX_EIO. */
int fx_reg_progress(struct fx_store *st, json_t **out, struct fx_err *err);

/* `ficus debt ...` (argv[1] == "debt"). Exit status 0, 1 (failure), 2 (usage). */
int fx_reg_debt_main(int argc, char **argv);

/* `ficus report ...` (argv[1] == "report"). Exit status 0, 1, 2. */
int fx_reg_report_main(int argc, char **argv);

/* Serve /api/v1/debt[/ID[/close]] and /api/v1/progress for the admin thread:
 * `method`, `path` (no query), `query` (may be NULL), `body`/`blen` (may be
 * empty), `actor` (the admin token's name, NULL when the request carried no
 * valid token: then only GET is allowed, and writes are 401). Writes the JSON
 * answer body to `out` and sets *status (200, 201, 400, 401, 404, 405, 500).
 * Returns 0, or FX_ENOTFOUND when `path` is not a registry path. */
int fx_reg_http(struct fx_store *st, const char *method, const char *path, const char *query,
                const char *body, size_t blen, const char *actor, int *status, FILE *out);

/* The dashboard page (self-contained HTML+JS that reads the JSON API). Static
 * storage; length in *len. */
const char *fx_reg_dashboard_html(size_t *len);

#endif
