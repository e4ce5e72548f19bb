/* Shared by the files of src/conf/ only: helpers of the schema engine. */
#ifndef FX_CONF_INT_H
#define FX_CONF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "schema.h"

/* Process-wide sections, walked by conf.c itself. */
extern const struct fx_conf_section fx_conf_limits_section;
extern const struct fx_conf_section fx_conf_paths_section;

/* Format milliseconds with the largest exact unit: "24h", "1ms", "0". */
const char *fx_conf__format_ms(char *buf, size_t cap, uint64_t ms);

/* Format bytes with the largest exact binary unit: "16KiB", "64MiB", "1000". */
const char *fx_conf__format_size(char *buf, size_t cap, uint64_t bytes);

/* Format `v` thousandths (decimals = 3) or hundredths (decimals = 2)
 * without trailing zeros: 1500 -> "1.5", 2000 -> "2". */
const char *fx_conf__format_fixed(char *buf, size_t cap, uint64_t v, unsigned int decimals);

#endif
