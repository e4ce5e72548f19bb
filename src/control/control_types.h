/* The migration control plane: one thread that samples per-side counters,
 * runs ramps and the guard, persists state and audits every change. */
#ifndef FX_CONTROL_TYPES_H
#define FX_CONTROL_TYPES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../migrate/migrate_types.h"

struct fx_shared;
struct fx_worker;
struct fx_store;
struct fx_conf;
struct fx_conf_migrate;

/* Cumulative per-side figures of one route at one instant. */
struct fx_ctl_sample {
    uint64_t at_ms; /* monotonic */
    uint64_t req[2];
    uint64_t err[2];
    uint64_t lat[2][FX_MIG_LAT_BUCKETS];
    uint64_t sh_cmp; /* shadow copies compared (cumulative) */
    uint64_t sh_mis; /* of which mismatched */
};

/* Cumulative figures of one route for the progress recorder. */
struct fx_ctl_prog {
    uint64_t req[2];
    uint64_t err[2];
    uint64_t lat[2][FX_MIG_LAT_BUCKETS];
    uint64_t sh_cmp; /* shadow copies compared */
    uint64_t sh_mis; /* of which mismatched */
};

#define FX_CTL_MAX_IDS 1024 /* route ids (the proxy's FX_MAX_IDS) */

struct fx_ctl_route {
    char name[65];
    char legacy[65];                 /* the route's own upstream */
    unsigned int id;                 /* route id (fx_shared interning) */
    const struct fx_conf_migrate *m; /* borrowed from fx_control.conf */
    const struct fx_conf_shadow *sh; /* borrowed from fx_control.conf, NULL without shadow */
    struct fx_mig_state st;
    uint64_t rollbacks;         /* guard rollbacks since start */
    struct fx_ctl_sample *ring; /* owned: one sample per tick */
    size_t ring_cap;
    size_t ring_len;
    size_t ring_head; /* index of the oldest sample */
    bool live;        /* present in the current config */
};

struct fx_control {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    pthread_t thread;
    bool running;
    bool stop;
    struct fx_shared *sh; /* borrowed */
    struct fx_worker *ws; /* borrowed array */
    size_t nw;
    struct fx_store *store;      /* owned */
    struct fx_conf *conf;        /* owned reference to the config the routes come from */
    struct fx_ctl_route *routes; /* owned array */
    size_t nroutes;
    uint64_t tick_ms; /* sampling period (1000 ms; tests may lower via FICUS_CONTROL_TICK_MS) */
    struct fx_ctl_prog *prog;  /* owned: last recorded figures by route id (FX_CTL_MAX_IDS) */
    uint64_t progress_ms;      /* progress sample period (5 min; FICUS_PROGRESS_MS) */
    uint64_t next_progress;    /* monotonic ms of the next progress sample */
    uint64_t progress_at_wall; /* wall ms of the previous progress sample */
};

/* Operator commands (admin API and `ficus ctl`). */
enum fx_ctl_cmd {
    FX_CTL_WEIGHT = 0,
    FX_CTL_PAUSE,
    FX_CTL_RESUME,
    FX_CTL_PROMOTE,
    FX_CTL_ROLLBACK,
};

#endif
