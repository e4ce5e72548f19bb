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

/* Stop: the queued jobs are discarded and counted (FX_SHADOW_DROP_SHUTDOWN),
 * the job being compared may finish, then the thread flushes to the store and
 * exits. Waits at most `wait_ms` and at most the config's limits.drain_timeout
 * for that (main passes what is left of the drain, so that the whole stop
 * stays within drain_timeout; UINT64_MAX: the config's); when the
 * thread is not done by then, returns leaving it running and its state
 * allocated (a later call waits again and releases). Writes one
 * "event=shadow_stop" line on stderr. Safe on a zeroed, never started engine
 * and when called twice. Main thread, after the workers have joined. */
void fx_shadow_stop(struct fx_shadow *s, uint64_t wait_ms);

/* Hand a completed job to the comparison thread (ownership passes in every
 * case). Its buffers are first trimmed to their lengths. When the queue holds
 * FX_SHADOW_QUEUE_MAX jobs, when adding fx_shadow_job_bytes(job) would exceed
 * the config's limits.shadow_queue_bytes, or when the engine is stopped, the job is
 * freed and counted as FX_SHADOW_DROP_QUEUE; returns false then. The bytes are
 * released once the comparison thread is done with the job. Any thread; never
 * blocks beyond the queue lock. */
bool fx_shadow_submit(struct fx_shadow *s, struct fx_shadow_job *job);

/* Bytes a job holds (struct, request head, the three heads and bodies, plus
 * FX_SHADOW_ALLOC_OVERHEAD per buffer): what the queue budget counts. */
size_t fx_shadow_job_bytes(const struct fx_shadow_job *job);

/* Charge `n` bytes of a copy in flight against the config's
 * limits.shadow_inflight_bytes (`budget`). Returns false, charging nothing, when the
 * budget would be exceeded. Any thread (one atomic add). */
bool fx_shadow_inflight_charge(struct fx_shadow *s, size_t n, uint64_t budget);

/* Give back bytes charged by fx_shadow_inflight_charge(). Any thread. */
void fx_shadow_inflight_release(struct fx_shadow *s, size_t n);

/* Count a copy in flight that a stopping worker abandons (as
 * FX_SHADOW_DROP_SHUTDOWN, and in the event=shadow_stop line). Any thread. */
void fx_shadow_count_discard(struct fx_shadow *s, unsigned int route_id);

/* Fill *out with the queue's current figures (read under the queue lock).
 * Any thread. */
void fx_shadow_queue_stats(struct fx_shadow *s, struct fx_shadow_queue_stats *out);

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
 * "primary_incomplete", "nomem", "shutdown"). */
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

/* ---- pure comparison helpers (no engine needed; used by the engine, the unit
 * tests and fuzz/fuzz_json_diff.c) ---------------------------------------- */

#define FX_SHADOW_MAX_DIFFS   64         /* default differences listed per comparison */
#define FX_SHADOW_DIFFS_LIMIT 4096       /* highest configurable compare.max_differences */
#define FX_SHADOW_PATH_MAX    256        /* bytes of a difference path, NUL included */
#define FX_SHADOW_DECODED_MAX (4u << 20) /* gzip-decoded body cap */

/* What differs at a path. */
enum fx_shadow_kind {
    FX_SHADOW_K_VALUE = 0, /* same type, other value (status, header value, body bytes) */
    FX_SHADOW_K_TYPE,      /* JSON types differ ("1" against 1) */
    FX_SHADOW_K_MISSING,   /* present in the primary only (key, header) */
    FX_SHADOW_K_ADDED,     /* present in the other response only */
    FX_SHADOW_K_LENGTH,    /* arrays of different lengths, at the array's own path */
    FX_SHADOW_K__N,
};

/* Static name of a kind ("value", "type", "missing", "added", "length"). */
const char *fx_shadow_kind_name(enum fx_shadow_kind k);

/* The kind named `name`, or FX_SHADOW_K__N. */
enum fx_shadow_kind fx_shadow_kind_parse(const char *name);

/* One difference. Paths: "status", "header:<lower-case name>", "body" (byte
 * comparison) or a JSON path "$.items[3].price" / "$['a b']". A path longer
 * than FX_SHADOW_PATH_MAX - 1 is cut and ends in "...". */
struct fx_shadow_diff {
    char path[FX_SHADOW_PATH_MAX];  /* exact: the first one seen of its generalised path */
    char gpath[FX_SHADOW_PATH_MAX]; /* generalised: every array index is [*] */
    enum fx_shadow_kind kind;
    bool noise; /* covered by learned noise: listed, but not counted against the limit */
};

/* The differences of one comparison, one entry per generalised path, in
 * order: status, body (JSON paths in document order), headers (by name).
 * Release with fx_shadow_diffs_fini(). */
struct fx_shadow_diffs {
    struct fx_shadow_diff *d; /* owned: grown as needed */
    size_t n;
    size_t cap;
    size_t counted; /* entries with noise == false (at most the rules' max_diffs) */
    bool overflow;  /* a further difference did not fit the limit: the comparison is truncated */
    bool json;      /* both bodies parsed as JSON and were compared structurally */
    bool truncated; /* a body was truncated (capture or decode cap): compared as bytes */
};

/* Release what a diff list owns and zero it. NULL is ignored. */
void fx_shadow_diffs_fini(struct fx_shadow_diffs *d);

/* Tells whether generalised path `gpath` is learned noise (engine callback). */
typedef bool fx_shadow_noise_fn(void *arg, const char *gpath);

/* Rules of one comparison (borrowed views of the route's shadow section). */
struct fx_shadow_rules {
    char *const *ignore_headers; /* borrowed: names never compared (case-insensitive) */
    size_t nignore_headers;
    char *const *ignore_json; /* borrowed: JSON path patterns never compared */
    size_t nignore_json;
    size_t max_diffs;          /* distinct generalised non-noise paths; 0: FX_SHADOW_MAX_DIFFS */
    fx_shadow_noise_fn *noise; /* NULL: nothing is noise */
    void *noise_arg;           /* borrowed: passed to noise */
};

/* Compare response `b` (candidate or secondary) with `a` (primary): status,
 * headers (minus rules->ignore_headers and the framing/hop-by-hop ones), then
 * bodies after gzip decoding, structurally when both parse as JSON. `rules`
 * may be NULL (nothing ignored). Each generalised path is listed once; paths
 * the rules' noise callback names are marked noise and not counted against
 * the limit; the walk stops once max_diffs counted paths are listed and
 * another one is found (out->overflow). Fills *out (its previous entries are
 * released first; a zeroed list is fine). Returns 0 or FX_ENOMEM (*out then
 * holds what was found so far). Any thread; pure apart from the callback. */
int fx_shadow_compare(const struct fx_shadow_resp *a, const struct fx_shadow_resp *b,
                      const struct fx_shadow_rules *rules, struct fx_shadow_diffs *out);

/* Compare two (already decoded) bodies and append the differences to *out
 * (same listing rules as fx_shadow_compare()):
 * structurally when both parse as JSON (sets out->json) and `truncated` is
 * false, else byte for byte (one "body" difference). Patterns in
 * rules->ignore_json are honoured; `rules` may be NULL. Iterative (no
 * recursion), bounded by the input's nesting depth. Returns 0 or FX_ENOMEM. */
int fx_shadow_diff_body(const char *a, size_t alen, const char *b, size_t blen, bool truncated,
                        const struct fx_shadow_rules *rules, struct fx_shadow_diffs *out);

/* Decode a response body: gunzip it when the head carries Content-Encoding:
 * gzip (or x-gzip), at most FX_SHADOW_DECODED_MAX bytes. On success *out is
 * a new buffer (caller frees) and *truncated tells whether the decoded body or
 * the capture was cut. Returns 1 when decoded, 0 when the body is not gzip
 * encoded or does not decode (*out NULL: use the raw body), FX_ENOMEM. */
int fx_shadow_decode_body(const struct fx_shadow_resp *r, char **out, size_t *len, bool *truncated);

/* True when JSON path pattern `pattern` ("$.a", "$.items[*].etag", "$.*.id",
 * "$['a b']") covers `path` (exact or generalised): "[*]" matches any index,
 * ".*" any key, and a pattern covers everything below the node it names.
 * Paths that are not JSON paths ("status", "header:x", "body") match only an
 * identical pattern. */
bool fx_shadow_path_match(const char *pattern, const char *path);

/* Write `path` with every array index replaced by "[*]" into out (at most
 * cap-1 bytes plus NUL). Returns the length written. */
size_t fx_shadow_path_generalise(const char *path, char *out, size_t cap);

#endif
