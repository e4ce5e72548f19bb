/* Migration logic without I/O: sticky bucket assignment, percentiles from
 * histograms, guard verdicts. Pure functions, any thread. */
#ifndef FX_MIGRATE_H
#define FX_MIGRATE_H

#include <stddef.h>

#include "../conf/conf_types.h"
#include "migrate_types.h"

/* Bucket 0..9999 of a sticky key: 64-bit FNV-1a over the bytes, then the
 * MurmurHash3 fmix64 finaliser, modulo 10000. Stable across processes,
 * machines and versions (documented in docs/migration.md). */
uint32_t fx_mig_bucket(const char *key, size_t len);

/* True when `bucket` goes to the new side at `weight_bp`: bucket < weight.
 * Raising the weight only ever moves buckets from legacy to new. */
static inline bool fx_mig_is_new(uint32_t bucket, uint32_t weight_bp)
{
    return bucket < weight_bp;
}

/* Histogram bucket for a latency in microseconds (log-spaced, 0..FX_MIG_LAT_BUCKETS-1). */
size_t fx_mig_lat_bucket(uint64_t us);

/* Upper bound in microseconds of histogram bucket `b` (the last is open-ended:
 * returns its lower bound times 2). */
uint64_t fx_mig_lat_upper_us(size_t b);

/* Quantile q (0 < q <= 1) of a latency histogram of FX_MIG_LAT_BUCKETS counts,
 * as the upper bound of the bucket holding it; 0 when the histogram is empty. */
uint64_t fx_mig_quantile_us(const uint64_t *counts, double q);

/* Judge window `w` against m's guard. Writes a one-line explanation with the
 * figures (error rates in %, p99s in ms, the ratio, request counts) to
 * why[cap]. Rules: fewer than guard_min_requests on the new side -> HOLD;
 * error increase (new rate - legacy rate) > limit * rollback_factor, or p99
 * ratio (new / legacy, only when legacy has requests and p99 > 0) > limit *
 * rollback_factor -> ROLLBACK; either limit exceeded -> HOLD; else ADVANCE. */
enum fx_mig_verdict fx_mig_judge(const struct fx_conf_migrate *m, const struct fx_mig_window *w,
                                 char *why, size_t cap);

/* "steady", "ramping", "paused", "rolled_back", "promoted". */
const char *fx_mig_status_name(enum fx_mig_status s);

/* Parse a status name; returns 0 or FX_EINVAL. */
int fx_mig_status_parse(const char *name, enum fx_mig_status *out);

/* Format basis points as "5.00%" into out[cap >= 8]. */
void fx_mig_fmt_weight(uint32_t bp, char *out, size_t cap);

/* Parse "25%", "0.01%", "100%", "5" (percent) into basis points 0..10000,
 * with the configuration's grammar (fx_conf_parse_percent()).
 * Returns 0 or FX_EINVAL (out of range, more than 2 decimals, junk). */
int fx_mig_parse_weight(const char *s, uint32_t *bp);

/* The state a route starts in from its migrate section `m` alone: m's
 * weight, the last step at or below it, ramping (steady without steps,
 * promoted at 100%), m's fingerprint, step_started_ms = now_wall_ms.
 * st->route is left as it was. */
void fx_mig_state_initial(const struct fx_conf_migrate *m, uint64_t now_wall_ms,
                          struct fx_mig_state *st);

/* Decide what a start or a reload does with a migrating route whose new
 * migrate section has fingerprint `fp`: `live` is the route's state in the
 * running control plane (NULL when it does not migrate there), `saved` its
 * persisted state (NULL when none). KEEP when live was derived from the same
 * section, else RESTORE when saved was, else RESET when either exists, else
 * INIT. The control plane's reload and `ficus plan` both call this, so the
 * plan cannot predict anything else than what the reload does. */
enum fx_mig_carry fx_mig_carry(const struct fx_mig_state *live, const struct fx_mig_state *saved,
                               const char *fp);

/* "kept", "restored", "reset", "initialised". */
const char *fx_mig_carry_name(enum fx_mig_carry a);

/* The reason a reload gives for `a` (the audit record's reason for RESET). */
const char *fx_mig_carry_reason(enum fx_mig_carry a);

#endif
