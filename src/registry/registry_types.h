/* Technical debt registry: items, live figures, migration progress. */
#ifndef FX_REGISTRY_TYPES_H
#define FX_REGISTRY_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One route's figures over one sampling interval, written by the control
 * plane of a running server (every FICUS_PROGRESS_MS, default 5 minutes) and
 * read by the registry, reports and the dashboard. Side index 0 is legacy
 * (the route's `to`), 1 the new service (`migrate.to`). */
struct fx_reg_sample {
    char route[65];
    uint64_t time_ms;           /* wall clock (ms since the epoch) at the end of the interval */
    uint64_t interval_ms;       /* length of the interval */
    bool migrating;             /* the route has a migrate section */
    uint32_t weight_bp;         /* new side's share at the end, basis points (0 if not migrating) */
    uint64_t req[2];            /* requests served in the interval, by side */
    uint64_t err[2];            /* of which 5xx or upstream failures */
    double p99_ms[2];           /* p99 latency in the interval; 0 without requests */
    uint64_t shadow_compared;   /* shadow copies compared in the interval */
    uint64_t shadow_mismatched; /* of which mismatched */
};

/* Output formats of list/export/report. */
enum fx_reg_format {
    FX_REG_TABLE = 0,
    FX_REG_JSON,
    FX_REG_CSV,
    FX_REG_MD,
    FX_REG_HTML,
};

#endif
