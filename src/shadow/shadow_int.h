/* Shared by the shadow module's .c files only. */
#ifndef FX_SHADOW_INT_H
#define FX_SHADOW_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/err_types.h"
#include "shadow_types.h"

#define FX_SHADOW_MAX_ENDPOINTS 200  /* per route, "(other)" included */
#define FX_SHADOW_MAX_PATHS     200  /* per endpoint, "(other)" included */
#define FX_SHADOW_MAX_NOISE     1000 /* learned noise entries per route */
#define FX_SHADOW_SAMPLE_PATHS  20   /* exact paths kept in a sample */
#define FX_SHADOW_SAMPLES_KEEP  100  /* per (route, endpoint, generalised path) */
#define FX_SHADOW_EXCERPT       2048 /* decoded body bytes in a sample */
#define FX_SHADOW_SAMPLE_RATE   50   /* samples written per second at most */
#define FX_SHADOW_OTHER         "(other)"

struct fx_store;
struct fx_conf_shadow;
struct fx_shadow_diffs;

/* A growable NUL-terminated path being built. */
struct fx_shadow__pbuf {
    char *ptr; /* owned */
    size_t len;
    size_t cap;
};

int fx_shadow__pbuf_reserve(struct fx_shadow__pbuf *b, size_t more);

/* Append ".key" (identifiers) or "['key']" (others, with \\ \' \xHH escapes). */
int fx_shadow__path_key(struct fx_shadow__pbuf *b, const char *key, size_t len);

/* Append "[idx]". */
int fx_shadow__path_index(struct fx_shadow__pbuf *b, size_t idx);

/* Append one difference at `path` (exact) to `out` unless its generalised
 * path is already listed; noise (rules->noise) is marked and not counted.
 * When the limit of counted entries is reached (or memory runs out), sets
 * out->overflow and returns false (walks then stop). */
bool fx_shadow__diff_add(struct fx_shadow_diffs *out, const struct fx_shadow_rules *rules,
                         const char *path, enum fx_shadow_kind kind);

/* ---- aggregates (comparison thread; guarded by fx_shadow_state.lock) ---- */

struct fx_shadow__path {
    char *path; /* owned: generalised path or "(other)" */
    uint64_t count;
};

struct fx_shadow__ep {
    char *name; /* owned: "GET /orders/{id}" or "(other)" */
    uint64_t compared;
    uint64_t mismatched;
    struct fx_shadow__path *paths; /* owned array */
    size_t npaths;
    size_t cap;
    bool dirty; /* changed since the last flush */
};

struct fx_shadow__noise {
    char *endpoint; /* owned */
    char *path;     /* owned: generalised path */
    uint64_t seen;
    bool dirty;
};

struct fx_shadow__route {
    char name[65];
    unsigned int id;
    struct fx_shadow__ep *eps; /* owned array */
    size_t neps;
    size_t eps_cap;
    struct fx_shadow__noise *noise; /* owned array */
    size_t nnoise;
    size_t noise_cap;
    uint64_t errors[8];     /* errored copies by reason (index of err_names[] in engine.c) */
    uint64_t sec_errors[8]; /* copies whose secondary gave no answer, by reason: no noise
                               learned from them */
    uint64_t sec_ok_ms;     /* wall time of the last secondary answer (0: none yet) */
    uint64_t sec_err_ms;    /* wall time of the last secondary failure */
    uint64_t flushed_sum;   /* sum of the live counters at the last flush */
    bool dirty;
};

/* Opaque to the rest of Ficus (shadow_types.h). Lock order: fx_shadow.lock
 * is never held while taking this one. */
struct fx_shadow_state {
    pthread_mutex_t lock;            /* guards everything below, including the store */
    struct fx_store *store;          /* owned */
    struct fx_shadow__route *routes; /* owned array */
    size_t nroutes;
    bool seeded[FX_SHADOW_MAX_ROUTES]; /* counters of this id seeded from the store */
    uint64_t last_flush_ms;            /* monotonic */
    uint64_t sample_sec;               /* wall second of the sample budget */
    unsigned int sample_used;
    uint64_t sample_seq; /* picks which differing path a sample is filed under */
};

/* Find or add an endpoint / a path / a noise entry. Beyond the bounds, the
 * "(other)" entry is returned (noise: NULL). NULL on allocation failure. */
struct fx_shadow__ep *fx_shadow__ep_get(struct fx_shadow__route *r, const char *name);
struct fx_shadow__path *fx_shadow__path_get(struct fx_shadow__ep *ep, const char *path);
struct fx_shadow__noise *fx_shadow__noise_get(struct fx_shadow__route *r, const char *endpoint,
                                              const char *path, bool create);

/* True when learned noise of `endpoint` covers generalised path `gpath`. */
bool fx_shadow__is_noise(const struct fx_shadow__route *r, const char *endpoint, const char *gpath);

/* Free a route's aggregates (not the route itself). */
void fx_shadow__route_fini(struct fx_shadow__route *r);

/* A sample document (JSON text, owned by the caller) for a mismatched job:
 * request and both responses with secret header values masked, body
 * excerpts, and the exact paths kept[0..nkept) of `d`. NULL on ENOMEM. */
char *fx_shadow__sample_doc(const struct fx_shadow_job *job, const struct fx_conf_shadow *cfg,
                            const char *endpoint, const struct fx_shadow_diffs *d,
                            const size_t *kept, size_t nkept);

/* Static names of errored-copy reasons, index = slot in route->errors. */
const char *fx_shadow__error_name(size_t i);
size_t fx_shadow__error_slot(const char *reason);

/* ---- persistence (persist.c; caller holds state.lock) ------------------- */

int fx_shadow__db_init(struct fx_store *st);

/* Load a route's aggregates and noise, and (seed == true) add its persisted
 * counters to ctr. Returns 0 or FX_EIO. */
int fx_shadow__db_load_route(struct fx_store *st, struct fx_shadow__route *r,
                             struct fx_shadow_counters *ctr, bool seed);

/* Write a route's counters and dirty aggregates (one transaction). */
int fx_shadow__db_flush_route(struct fx_store *st, struct fx_shadow__route *r,
                              const struct fx_shadow_counters *ctr, const char *candidate,
                              const char *secondary);

/* Insert a sample document (a JSON object) and keep the newest
 * FX_SHADOW_SAMPLES_KEEP of (route, key); key is "<endpoint> <path>". */
int fx_shadow__db_add_sample(struct fx_store *st, const char *route, uint64_t time_ms,
                             const char *endpoint, const char *key, const char *doc);

/* ---- report ---------------------------------------------------------------- */

/* Write the report of one route (name known to the store) or all routes. */
int fx_shadow__report_json(struct fx_store *st, const char *route, size_t samples, FILE *f);

uint64_t fx_shadow__wall_ms(void);
uint64_t fx_shadow__mono_ms(void);

#endif
