/* Route matching: per-worker scratch for regular-expression matching. */
#ifndef FX_ROUTE_TYPES_H
#define FX_ROUTE_TYPES_H

struct pcre2_real_match_data_8;    /* pcre2.h's pcre2_match_data (8-bit) */
struct pcre2_real_match_context_8; /* pcre2.h's pcre2_match_context (8-bit) */

/* Limits of one match.path_regex evaluation, against catastrophic
 * backtracking ("^(a+)+$" on "aaaa...b"). Reaching one answers 500
 * (route_match_limit): the routing decision cannot be made. */
#define FX_ROUTE_MATCH_LIMIT 100000u /* pcre2_set_match_limit (JIT and interpreter) */
#define FX_ROUTE_DEPTH_LIMIT 10000u  /* pcre2_set_depth_limit (interpreter only) */
#define FX_ROUTE_HEAP_KIB    4096u   /* pcre2_set_heap_limit (interpreter only) */

/* One per worker (or per thread calling fx_route_pick): the match data and
 * limits are reused by every match, so routing allocates nothing and shares
 * nothing writable between threads. */
struct fx_route_scratch {
    struct pcre2_real_match_data_8 *md;      /* owned: one ovector pair (match or not) */
    struct pcre2_real_match_context_8 *mctx; /* owned: FX_ROUTE_* limits */
    int error; /* PCRE2 error code of the last fx_route_pick (< 0), 0 when none */
};

#endif
