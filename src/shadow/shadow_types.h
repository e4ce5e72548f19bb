/* Shadow traffic: mirrored requests, captured answers, comparison results. */
#ifndef FX_SHADOW_TYPES_H
#define FX_SHADOW_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FX_SHADOW_MAX_ROUTES 1024       /* route ids (same as the proxy's FX_MAX_IDS) */
#define FX_SHADOW_MAX_RESP   (1u << 20) /* captured body bytes per response */
#define FX_SHADOW_QUEUE_MAX  4096       /* jobs waiting for the comparison thread */

/* Bytes the queue budget counts per allocation besides its size. */
#define FX_SHADOW_ALLOC_OVERHEAD 32u

/* Why a copy was not compared (counted per route). */
enum fx_shadow_drop {
    FX_SHADOW_DROP_BODY = 0, /* request body above max_body */
    FX_SHADOW_DROP_INFLIGHT, /* max_inflight copies already in flight on the worker */
    FX_SHADOW_DROP_QUEUE,    /* comparison queue full (jobs or limits.shadow_queue_bytes) */
    FX_SHADOW_DROP_PRIMARY,  /* the primary exchange did not complete (client gone, 5xx local) */
    FX_SHADOW_DROP_NOMEM,
    FX_SHADOW_DROP_SHUTDOWN, /* queued or in flight when the process stopped: discarded */
    FX_SHADOW_DROP_UPGRADE,  /* an upgrade request (WebSocket): never copied */
    FX_SHADOW_DROP__N,
};

/* One captured response (primary, candidate or secondary). */
struct fx_shadow_resp {
    int status;        /* 0 when no response was obtained */
    const char *error; /* static reason when status == 0 ("connect_failed", "timeout",
                          "bad_response", "reset"), else NULL */
    char *head;        /* owned: the header lines as received, "Name: value\r\n" each,
                          without status line or final CRLF; may be NULL when status == 0 */
    size_t head_len;
    char *body; /* owned: de-chunked body, still content-encoded (gzip is decoded by
                   the comparison); at most FX_SHADOW_MAX_RESP bytes */
    size_t body_len;
    bool truncated; /* the body was longer than FX_SHADOW_MAX_RESP */
};

/* A mirrored request and its answers, built by a worker and handed over to
 * the comparison thread, which owns it from fx_shadow_submit() on. */
struct fx_shadow_job {
    struct fx_shadow_job *next; /* queue link (engine) */
    unsigned int route_id;      /* < FX_SHADOW_MAX_ROUTES */
    char route[65];             /* route name */
    uint64_t time_ms;           /* wall clock when the primary request arrived */
    char *req_head;             /* owned: "METHOD target HTTP/1.1\r\n" + header lines + "\r\n"
                                   as sent to the candidate (secrets unmasked: mask before storing) */
    size_t req_head_len;
    size_t method_len; /* the method is req_head[0..method_len) */
    size_t target_off; /* the request target is req_head[target_off..+target_len) */
    size_t target_len;
    uint64_t req_body_len;
    struct fx_shadow_resp primary;   /* what the client got */
    struct fx_shadow_resp candidate; /* shadow.to */
    struct fx_shadow_resp secondary; /* shadow.secondary (status 0, error NULL when none) */
    bool has_secondary;
    size_t bytes; /* engine: bytes counted against the queue budget while queued */
};

/* Live counters of one route: written by workers (drops) and the comparison
 * thread (the rest), read by anyone. Cumulative since the process started. */
struct fx_shadow_counters {
    atomic_uint_fast64_t compared; /* candidate answered and was compared */
    atomic_uint_fast64_t matched;
    atomic_uint_fast64_t mismatched;
    atomic_uint_fast64_t errored; /* candidate failed (connect, timeout, bad response) */
    atomic_uint_fast64_t dropped[FX_SHADOW_DROP__N];
    atomic_uint_fast64_t noise;     /* differences excluded as learned noise */
    atomic_uint_fast64_t truncated; /* comparisons that reached the difference limit */
};

/* Queue figures for metrics (fx_shadow_queue_stats()). */
struct fx_shadow_queue_stats {
    size_t jobs;
    size_t bytes;
    uint64_t budget; /* limits.shadow_queue_bytes of the current config */
    size_t inflight_bytes;
    uint64_t inflight_budget; /* limits.shadow_inflight_bytes */
};

struct fx_shadow_state; /* comparison state: aggregates, noise, store (shadow module only) */
struct fx_conf;
struct fx_store;

/* The shadow engine: a queue and one comparison thread. Embedded in the
 * process-wide shared state. */
struct fx_shadow {
    pthread_mutex_t lock; /* guards the queue, conf and st */
    pthread_cond_t wake;  /* the thread waits for jobs; fx_shadow_stop for its exit */
    pthread_t thread;
    bool running;
    bool stop;
    bool exited;                       /* the comparison thread has finished (lock) */
    struct fx_shadow_job *head, *tail; /* owned queue */
    size_t queued;

    /* fx_shadow_job_bytes() of the queued jobs and of the one being compared,
     * at most limits.shadow_queue_bytes (guarded by lock). */
    size_t queued_bytes;
    /* Captures of copies in flight, charged and released by the workers, at
     * most limits.shadow_inflight_bytes. */
    atomic_size_t inflight_bytes;
    atomic_uint_fast64_t discarded; /* shutdown drops of this process (queued + in flight) */

    struct fx_conf *conf;                                /* owned reference: the current config */
    struct fx_shadow_state *st;                          /* owned */
    struct fx_shadow_counters ctr[FX_SHADOW_MAX_ROUTES]; /* by route id */
};

#endif
