/* Progressive migration: assignment, guard windows and route state. */
#ifndef FX_MIGRATE_TYPES_H
#define FX_MIGRATE_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#define FX_MIG_BUCKETS     10000 /* a weight in basis points selects buckets [0, weight) */
#define FX_MIG_LAT_BUCKETS 48    /* latency histogram buckets for guard percentiles */

enum fx_mig_side {
    FX_SIDE_LEGACY = 0,
    FX_SIDE_NEW = 1,
};

enum fx_mig_status {
    FX_MIG_STEADY = 0,  /* fixed weight, no ramp running */
    FX_MIG_RAMPING,     /* ramp advancing at each interval while the guard allows */
    FX_MIG_PAUSED,      /* operator paused: weight held, ramp stopped */
    FX_MIG_ROLLED_BACK, /* guard or operator rolled back to 0% until resumed */
    FX_MIG_PROMOTED,    /* 100% on the new side, done */
};

/* Figures for one guard decision over a window (side 0 legacy, 1 new). */
struct fx_mig_window {
    uint64_t req[2];    /* requests answered */
    uint64_t err[2];    /* 5xx answers plus connect failures and timeouts */
    uint64_t p99_us[2]; /* p99 latency; meaningful only when req[side] > 0 */
};

enum fx_mig_verdict {
    FX_MIG_HOLD = 0, /* not enough requests, or a limit slightly broken */
    FX_MIG_ADVANCE,  /* both limits hold with enough requests */
    FX_MIG_ROLLBACK, /* a limit broken by a clear margin with enough requests */
};

/* Persisted state of one migrating route. */
struct fx_mig_state {
    char route[65];
    uint32_t weight_bp;
    int step; /* index into steps_bp of the current weight, -1 before the first */
    enum fx_mig_status status;
    char fingerprint[65];     /* config fingerprint this state was derived from */
    uint64_t updated_ms;      /* wall clock, ms since the epoch */
    uint64_t step_started_ms; /* wall clock when the current step began (ramp interval base) */
};

/* What a start or a reload does with the state of a migrating route
 * (fx_mig_carry()). */
enum fx_mig_carry {
    FX_MIG_CARRY_KEEP = 0, /* the running state is kept: the migrate section is unchanged */
    FX_MIG_CARRY_RESTORE,  /* the persisted state is restored: saved for this very section */
    FX_MIG_CARRY_RESET,    /* the section changed: state re-initialised from the config */
    FX_MIG_CARRY_INIT,     /* no state for the route yet: initialised from the config */
};

/* One audit record. */
struct fx_mig_event {
    int64_t id;       /* assigned by the store */
    uint64_t time_ms; /* wall clock, ms since the epoch */
    char actor[64];   /* admin token name, "ramp", "guard" or "config" */
    char route[65];
    char kind[24];      /* "weight", "status", "advance", "hold", "rollback", "config", ... */
    char old_value[64]; /* e.g. "5.00% ramping" */
    char new_value[64];
    char reason[512]; /* why, with the figures the decision was taken on */
};

#endif
