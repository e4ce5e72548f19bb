/* Shadow contract: the comparison engine (one thread) and the pure helpers it
 * is built from. Workers only call fx_shadow_submit(), fx_shadow_count_drop()
 * and fx_shadow_job_free(). */
#ifndef FX_SHADOW_H
#define FX_SHADOW_H

#include <stdio.h>

#include "../core/err_types.h"
#include "shadow_types.h"

/* Open the store at conf->store_path (own connection; tables created if
 * missing), remember `conf` (a reference is taken) and start the comparison
 * thread. `s` must be zeroed storage. Returns 0 or FX_EIO/FX_ESYS with err
 * set. Main thread. */
int fx_shadow_start(struct fx_shadow *s, struct fx_conf *conf, struct fx_err *err);

/* Switch to a reloaded config (reference taken, old one released): routes
 * that lost their shadow section stop being compared; learned noise and
 * counts of routes that keep theirs are kept. Main thread. */
void fx_shadow_reload(struct fx_shadow *s, struct fx_conf *conf);

/* Compare what is queued, flush to the store, stop the thread, release all.
 * Safe on a zeroed, never started engine. Main thread. */
void fx_shadow_stop(struct fx_shadow *s);

/* Hand a completed job to the comparison thread (ownership passes in every
 * case). When the queue is full or the engine stopped, the job is freed and
 * counted as FX_SHADOW_DROP_QUEUE; returns false then. Any thread; never
 * blocks beyond the queue lock. */
bool fx_shadow_submit(struct fx_shadow *s, struct fx_shadow_job *job);

/* Count a copy that was not made or not compared. Any thread. */
static inline void fx_shadow_count_drop(struct fx_shadow *s, unsigned int route_id,
                                        enum fx_shadow_drop why)
{
    if (route_id < FX_SHADOW_MAX_ROUTES)
        atomic_fetch_add_explicit(&s->ctr[route_id].dropped[why], 1, memory_order_relaxed);
}

/* Free a job and everything it owns; NULL is ignored. Any thread. */
void fx_shadow_job_free(struct fx_shadow_job *job);

/* Static name of a drop reason ("body_too_large", "inflight", "queue_full",
 * "primary_incomplete", "nomem"). */
const char *fx_shadow_drop_name(enum fx_shadow_drop why);

/* Write the diff report of `route` as JSON (shape in docs/shadow.md):
 * {route, candidate, secondary, compared, matched, mismatched, errored,
 *  mismatch_rate, dropped: {reason: n}, noise_excluded,
 *  endpoints: [{endpoint, compared, mismatched, paths: [{path, count}]}],
 *  noise: [{endpoint, path, seen}], samples: [{id, time, endpoint, request:
 *  {method, target, headers}, paths: [...], primary: {status, headers, body},
 *  candidate: {...}}]} with at most `samples` samples, newest first.
 * Returns 0, FX_ENOTFOUND (no route of that name has a shadow section) or
 * FX_EIO. Any thread (takes the lock). */
int fx_shadow_diffs_json(struct fx_shadow *s, const char *route, size_t samples, FILE *f);

/* The same report read from the store alone (no running engine needed: used
 * by `ficus report` and the debt registry). The engine persists its counts at
 * least once a second and samples as it takes them. With route == NULL,
 * writes {"routes": [report, ...]} for every route the store knows. Returns
 * 0, FX_ENOTFOUND or FX_EIO. Caller serialises use of `st`. */
int fx_shadow_store_json(struct fx_store *st, const char *route, size_t samples, FILE *f);

/* Write the ficus_shadow_* metric families for every shadowed route
 * (Prometheus text format). Admin thread. */
void fx_shadow_render_metrics(struct fx_shadow *s, FILE *f);

/* Print a diff report (the JSON above, parsed) as text for `ficus ctl diffs`:
 * a summary table by endpoint and path, then the samples. Returns 0 or
 * FX_EINVAL when the document does not have the expected shape. */
int fx_shadow_print_report(const char *json, size_t len, FILE *out);

/* Normalise a request into its endpoint: "METHOD /path" with the query
 * dropped and every all-digit or UUID path segment replaced by "{id}".
 * Writes at most cap-1 bytes plus NUL (truncating). Returns the length. */
size_t fx_shadow_endpoint(const char *method, size_t mlen, const char *target, size_t tlen,
                          char *out, size_t cap);

#endif
