/* Configuration loading and validation (YAML via libyaml). */
#ifndef FX_CONF_H
#define FX_CONF_H

#include <stdint.h>
#include <stdio.h>

#include "../core/err_types.h"
#include "conf_types.h"

/* Load and validate the YAML file at `path`. On success returns 0 and a new
 * snapshot in *out (refcnt 1, caller owns one reference). On failure returns
 * FX_ECONF (or FX_ENOMEM) and fills `err` with "PATH:LINE:COL: cause", for
 * example `ficus.yaml:12:9: route "orders": upstream "ordrs" is not defined`.
 * Rejects unknown keys, wrong types, undefined upstreams, duplicate route or
 * upstream names, unparsable addresses, durations and sizes. */
int fx_conf_load(const char *path, struct fx_conf **out, struct fx_err *err);

/* Same as fx_conf_load() but from an in-memory document; `name` is used in
 * error messages in place of the path. */
int fx_conf_load_string(const char *name, const char *text, size_t len, struct fx_conf **out,
                        struct fx_err *err);

/* Same as fx_conf_load(), but every error of the document (up to 100) is
 * written to `diag`, one "PATH:LINE:COL: key.path: cause" line each, and
 * `err` (may be NULL) gets the first. Parsing goes on after an error where
 * the rest still makes sense: the key in error is skipped. For `ficus check`. */
int fx_conf_check(const char *path, FILE *diag, struct fx_conf **out, struct fx_err *err);

/* Take one more reference (any thread). */
void fx_conf_ref(struct fx_conf *c);

/* Drop one reference; the last one frees the snapshot (any thread). NULL is ignored. */
void fx_conf_unref(struct fx_conf *c);

/* Parse a duration "250ms", "10s", "5m", "1h" (a non-negative integer and a
 * unit; a bare "0" is allowed). Returns 0 and milliseconds in *ms, or FX_EINVAL. */
int fx_conf_parse_duration(const char *s, uint64_t *ms);

/* Parse a size "16384", "16KiB", "64KB", "1MiB", "1m", "1g" (binary multiples).
 * Returns 0 and bytes in *bytes, or FX_EINVAL. */
int fx_conf_parse_size(const char *s, uint64_t *bytes);

/* Write the snapshot as a JSON object (for GET /api/v1/config) to `f`.
 * Returns 0 or FX_EIO. */
int fx_conf_dump_json(const struct fx_conf *c, FILE *f);

/* The name of access log field `f` ("time", "user_agent", ...); "" when out of range. */
const char *fx_conf_log_field_name(enum fx_conf_log_field f);

/* The access log field called `name` (exact, lower case). Returns its enum
 * value (>= 0), or -1 with the closest known name in *suggest (NULL when
 * nothing is close; NULL too on success). `name` is borrowed; *suggest is a
 * static string. */
int fx_conf_log_field_find(const char *name, const char **suggest);

#endif
