/* Shared by the files of src/conf/ only: helpers of the schema engine. */
#ifndef FX_CONF_INT_H
#define FX_CONF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "schema.h"

/* Parsers of the top-level and `log` keys (conf.c), named by top_conf.c. */
fx_conf_parse_fn fx_conf__top_listen;
fx_conf_parse_fn fx_conf__top_admin;
fx_conf_parse_fn fx_conf__top_workers;
fx_conf_parse_fn fx_conf__top_log;
fx_conf_parse_fn fx_conf__top_limits;
fx_conf_parse_fn fx_conf__top_timeouts;
fx_conf_parse_fn fx_conf__top_upgrade;
fx_conf_parse_fn fx_conf__top_store;
fx_conf_parse_fn fx_conf__top_upstreams;
fx_conf_parse_fn fx_conf__top_routes;
fx_conf_parse_fn fx_conf__top_paths;
fx_conf_parse_fn fx_conf__top_process;
fx_conf_parse_fn fx_conf__log_access;
fx_conf_parse_fn fx_conf__log_format;
fx_conf_parse_fn fx_conf__log_fields;

/* Process-wide sections, walked by conf.c itself. */
extern const struct fx_conf_section fx_conf_limits_section;
extern const struct fx_conf_section fx_conf_paths_section;
extern const struct fx_conf_section fx_conf_top_section;
extern const struct fx_conf_section fx_conf_log_section;

/* The section registered under `path`; never NULL (a section missing from
 * sections.c is a build bug and aborts). */
const struct fx_conf_section *fx_conf__section(const char *path);

/* Format milliseconds with the largest exact unit: "24h", "1ms", "0". */
const char *fx_conf__format_ms(char *buf, size_t cap, uint64_t ms);

/* Format bytes with the largest exact binary unit: "16KiB", "64MiB", "1000". */
const char *fx_conf__format_size(char *buf, size_t cap, uint64_t bytes);

/* Format `v` thousandths (decimals = 3) or hundredths (decimals = 2)
 * without trailing zeros: 1500 -> "1.5", 2000 -> "2". */
const char *fx_conf__format_fixed(char *buf, size_t cap, uint64_t v, unsigned int decimals);

#endif
