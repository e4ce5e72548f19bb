/* Migration logic without I/O: sticky bucket assignment, latency histograms
 * and their quantiles, guard verdicts, status names and weight strings. */
#include "migrate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../conf/schema.h"
#include "../core/err_types.h"

/* ---- sticky assignment -------------------------------------------------- */

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME  0x100000001b3ULL

/* MurmurHash3's 64-bit finaliser. In FNV-1a a multiply only carries upward,
 * so the last bytes of a key barely reach the low bits that decide the
 * modulo, and keys like "user-1".."user-9" differ only there; fmix64 spreads
 * every bit over the whole word first. */
static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

uint32_t fx_mig_bucket(const char *key, size_t len)
{
    uint64_t h = FNV64_OFFSET;
    const unsigned char *p = (const unsigned char *)key;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV64_PRIME;
    }
    /* The modulo bias of 2^64 % 10000 is below 1e-15 per bucket. */
    return (uint32_t)(fmix64(h) % FX_MIG_BUCKETS);
}

/* ---- latency histogram -------------------------------------------------- */

/* Upper bounds in microseconds of buckets 0..46; bucket 47 is open-ended.
 * Bucket b holds latencies in (upper[b-1], upper[b]] (bucket 0 from 0).
 *
 * The scheme: 50, 100, 200 and 500 us below one millisecond, then the
 * Renard R10 series (1, 1.25, 1.6, 2, 2.5, 3.15, 4, 5, 6.3, 8: ratio
 * 10^0.1, about 26% per bucket, 28% at most) for four decades from 1 ms to
 * 8 s, then 15 s, 30 s and 60 s, and above 60 s the open bucket (reported
 * as 120 s). With only 48 buckets, 26% steps everywhere would stop near
 * 3 s; the guard compares upstream latencies, which live between a
 * millisecond and a few seconds, so that is where the resolution goes, while
 * the coarse ends still tell a 30 s timeout from a 60 s one. The decimal
 * bounds also print as round numbers ("12.5 ms"). One decade per line. */
/* clang-format off */
static const uint64_t lat_upper_us[FX_MIG_LAT_BUCKETS - 1] = {
    50, 100, 200, 500,
    1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000,
    10000, 12500, 16000, 20000, 25000, 31500, 40000, 50000, 63000, 80000,
    100000, 125000, 160000, 200000, 250000, 315000, 400000, 500000, 630000, 800000,
    1000000, 1250000, 1600000, 2000000, 2500000, 3150000, 4000000, 5000000, 6300000, 8000000,
    15000000, 30000000, 60000000,
};
/* clang-format on */

_Static_assert(sizeof(lat_upper_us) / sizeof(lat_upper_us[0]) == FX_MIG_LAT_BUCKETS - 1,
               "one upper bound per bounded latency bucket");

size_t fx_mig_lat_bucket(uint64_t us)
{
    /* Binary search for the first bound >= us: this runs once per response. */
    size_t lo = 0;
    size_t hi = FX_MIG_LAT_BUCKETS - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lat_upper_us[mid] < us)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t fx_mig_lat_upper_us(size_t b)
{
    /* Out-of-range indexes are treated as the open-ended last bucket. */
    if (b >= FX_MIG_LAT_BUCKETS - 1)
        return lat_upper_us[FX_MIG_LAT_BUCKETS - 2] * 2;
    return lat_upper_us[b];
}

uint64_t fx_mig_quantile_us(const uint64_t *counts, double q)
{
    if (counts == NULL)
        return 0;
    uint64_t total = 0;
    for (size_t b = 0; b < FX_MIG_LAT_BUCKETS; b++)
        total = counts[b] > UINT64_MAX - total ? UINT64_MAX : total + counts[b];
    if (total == 0)
        return 0;

    /* Nearest-rank: the smallest rank with rank >= q * total. The tolerance
     * keeps 0.99 * 1000 (989.9999...) from rounding to rank 991 or 989.
     * A q outside (0, 1], NaN included, is clamped into it. */
    uint64_t rank = 1;
    if (q >= 1.0) {
        rank = total;
    } else if (q > 0.0) {
        double r = q * (double)total;
        rank = (uint64_t)r;
        if (r - (double)rank > 1e-6)
            rank++;
        if (rank == 0)
            rank = 1;
        if (rank > total)
            rank = total;
    }

    uint64_t seen = 0;
    for (size_t b = 0; b < FX_MIG_LAT_BUCKETS; b++) {
        seen += counts[b];
        if (seen >= rank)
            return fx_mig_lat_upper_us(b);
    }
    return fx_mig_lat_upper_us(FX_MIG_LAT_BUCKETS - 1);
}

/* ---- guard -------------------------------------------------------------- */

/* The figures a verdict is taken on, derived once from the window. */

/* Latencies under 5 ms are compared as 5 ms: a ratio of two sub-millisecond
 * p99s (a cold connection, one GC pause) is noise, not a regression. */
#define FX_MIG_P99_FLOOR_US 5000u

static uint64_t p99_floor(uint64_t us)
{
    return us < FX_MIG_P99_FLOOR_US ? FX_MIG_P99_FLOOR_US : us;
}

struct judge_figs {
    double rate[2];        /* error rate per side, 0..1 (0 without requests) */
    double inc;            /* rate[new] - rate[legacy] */
    double inc_limit;      /* guard_max_err_increase_bp as a fraction */
    double inc_rollback;   /* inc_limit * rollback_factor */
    bool ratio_checked;    /* both sides had requests and legacy p99 > 0 */
    double ratio;          /* p99 new / p99 legacy when ratio_checked */
    double ratio_limit;    /* guard_max_p99_ratio */
    double ratio_rollback; /* ratio_limit * rollback_factor */
};

/* `v` exceeds `limit` by more than floating-point noise: an increase of
 * exactly the limit (2% - 1% against 1%) must not count as a breach. */
static bool above(double v, double limit)
{
    double mag = limit < 0 ? -limit : limit;
    return v > limit + 1e-12 * (mag > 1.0 ? mag : 1.0);
}

static void compute_figs(const struct fx_conf_migrate *m, const struct fx_mig_window *w,
                         struct judge_figs *f)
{
    for (int s = 0; s < 2; s++)
        f->rate[s] = w->req[s] > 0 ? (double)w->err[s] / (double)w->req[s] : 0.0;
    f->inc = f->rate[FX_SIDE_NEW] - f->rate[FX_SIDE_LEGACY];
    f->inc_limit = (double)m->guard_max_err_increase_bp / 10000.0;
    f->inc_rollback = f->inc_limit * m->guard_rollback_factor;
    f->ratio_checked =
        w->req[FX_SIDE_LEGACY] > 0 && w->req[FX_SIDE_NEW] > 0 && w->p99_us[FX_SIDE_LEGACY] > 0;
    f->ratio = f->ratio_checked ? (double)p99_floor(w->p99_us[FX_SIDE_NEW]) /
                                      (double)p99_floor(w->p99_us[FX_SIDE_LEGACY])
                                : 0.0;
    f->ratio_limit = m->guard_max_p99_ratio;
    f->ratio_rollback = f->ratio_limit * m->guard_rollback_factor;
}

/* Milliseconds with two decimals below 10 ms ("1.25 ms", "0.05 ms"), one
 * above ("12.5 ms"), or "n/a" for a side without requests. */
static void fmt_ms(uint64_t us, bool have, char *out, size_t cap)
{
    if (!have)
        (void)snprintf(out, cap, "n/a");
    else if (us < 10000)
        (void)snprintf(out, cap, "%.2f ms", (double)us / 1000.0);
    else
        (void)snprintf(out, cap, "%.1f ms", (double)us / 1000.0);
}

static void fmt_why(const struct fx_mig_window *w, const struct judge_figs *f, const char *reason,
                    char *why, size_t cap)
{
    char pn[32];
    char pl[32];
    fmt_ms(w->p99_us[FX_SIDE_NEW], w->req[FX_SIDE_NEW] > 0, pn, sizeof(pn));
    fmt_ms(w->p99_us[FX_SIDE_LEGACY], w->req[FX_SIDE_LEGACY] > 0, pl, sizeof(pl));
    char cmp[96];
    if (f->ratio_checked)
        (void)snprintf(cmp, sizeof(cmp), "x%.2f, limit x%.2f, rollback above x%.2f", f->ratio,
                       f->ratio_limit, f->ratio_rollback);
    else
        (void)snprintf(cmp, sizeof(cmp), "ratio not checked");
    (void)snprintf(why, cap,
                   "%s: new %.2f%% errors vs legacy %.2f%% (%+.2f%%, limit +%.2f%%, rollback "
                   "above +%.2f%%); p99 new %s vs legacy %s (%s); %" PRIu64 " new / %" PRIu64
                   " legacy requests",
                   reason, f->rate[FX_SIDE_NEW] * 100.0, f->rate[FX_SIDE_LEGACY] * 100.0,
                   f->inc * 100.0, f->inc_limit * 100.0, f->inc_rollback * 100.0, pn, pl, cmp,
                   w->req[FX_SIDE_NEW], w->req[FX_SIDE_LEGACY]);
}

enum fx_mig_verdict fx_mig_judge(const struct fx_conf_migrate *m, const struct fx_mig_window *w,
                                 char *why, size_t cap)
{
    struct judge_figs f;
    compute_figs(m, w, &f);

    enum fx_mig_verdict v;
    const char *reason;
    char few[96];
    if (w->req[FX_SIDE_NEW] < m->guard_min_requests) {
        (void)snprintf(few, sizeof(few), "too few new requests (%" PRIu64 " < %" PRIu64 ")",
                       w->req[FX_SIDE_NEW], m->guard_min_requests);
        v = FX_MIG_HOLD;
        reason = few;
    } else if (above(f.inc, f.inc_rollback)) {
        v = FX_MIG_ROLLBACK;
        reason = "error rate increase above the rollback limit";
    } else if (f.ratio_checked && above(f.ratio, f.ratio_rollback)) {
        v = FX_MIG_ROLLBACK;
        reason = "p99 ratio above the rollback limit";
    } else if (above(f.inc, f.inc_limit)) {
        v = FX_MIG_HOLD;
        reason = "error rate increase above the limit";
    } else if (f.ratio_checked && above(f.ratio, f.ratio_limit)) {
        v = FX_MIG_HOLD;
        reason = "p99 ratio above the limit";
    } else {
        v = FX_MIG_ADVANCE;
        reason = "within limits";
    }
    if (why != NULL && cap > 0)
        fmt_why(w, &f, reason, why, cap);
    return v;
}

/* ---- status names ------------------------------------------------------- */

static const char *const status_names[] = {
    [FX_MIG_STEADY] = "steady",     [FX_MIG_RAMPING] = "ramping",
    [FX_MIG_PAUSED] = "paused",     [FX_MIG_ROLLED_BACK] = "rolled_back",
    [FX_MIG_PROMOTED] = "promoted",
};

#define NSTATUS (sizeof(status_names) / sizeof(status_names[0]))

const char *fx_mig_status_name(enum fx_mig_status s)
{
    if ((size_t)s >= NSTATUS)
        return "unknown";
    return status_names[s];
}

int fx_mig_status_parse(const char *name, enum fx_mig_status *out)
{
    if (name == NULL || out == NULL)
        return FX_EINVAL;
    for (size_t i = 0; i < NSTATUS; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (enum fx_mig_status)i;
            return 0;
        }
    }
    return FX_EINVAL;
}

/* ---- weights ------------------------------------------------------------ */

void fx_mig_fmt_weight(uint32_t bp, char *out, size_t cap)
{
    if (out == NULL || cap == 0)
        return;
    (void)snprintf(out, cap, "%" PRIu32 ".%02" PRIu32 "%%", bp / 100, bp % 100);
}

/* The configuration's percentage grammar (fx_conf_parse_percent()): the
 * same forms are accepted in the file, by `ficus ctl weight` and by the admin
 * API. Every refusal is FX_EINVAL here. */
int fx_mig_parse_weight(const char *s, uint32_t *bp)
{
    uint32_t v = 0;
    if (fx_conf_parse_percent(s, &v) != 0 || bp == NULL)
        return FX_EINVAL;
    *bp = v;
    return 0;
}

void fx_mig_state_initial(const struct fx_conf_migrate *m, uint64_t now_wall_ms,
                          struct fx_mig_state *st)
{
    st->weight_bp = m->weight_bp;
    st->step = -1;
    for (size_t i = 0; i < m->nsteps; i++) {
        if (m->steps_bp[i] <= m->weight_bp)
            st->step = (int)i;
    }
    st->status = m->nsteps > 0 ? FX_MIG_RAMPING : FX_MIG_STEADY;
    if (m->weight_bp >= FX_MIG_BUCKETS)
        st->status = FX_MIG_PROMOTED;
    (void)snprintf(st->fingerprint, sizeof(st->fingerprint), "%s", m->fingerprint);
    st->step_started_ms = now_wall_ms;
}

enum fx_mig_carry fx_mig_carry(const struct fx_mig_state *live, const struct fx_mig_state *saved,
                               const char *fp)
{
    if (live != NULL && strcmp(live->fingerprint, fp) == 0)
        return FX_MIG_CARRY_KEEP;
    if (saved != NULL && strcmp(saved->fingerprint, fp) == 0)
        return FX_MIG_CARRY_RESTORE;
    return live != NULL || saved != NULL ? FX_MIG_CARRY_RESET : FX_MIG_CARRY_INIT;
}

const char *fx_mig_carry_name(enum fx_mig_carry a)
{
    switch (a) {
    case FX_MIG_CARRY_KEEP:
        return "kept";
    case FX_MIG_CARRY_RESTORE:
        return "restored";
    case FX_MIG_CARRY_RESET:
        return "reset";
    case FX_MIG_CARRY_INIT:
    default:
        return "initialised";
    }
}

const char *fx_mig_carry_reason(enum fx_mig_carry a)
{
    switch (a) {
    case FX_MIG_CARRY_KEEP:
        return "the route's migrate section is unchanged";
    case FX_MIG_CARRY_RESTORE:
        return "the state saved for this migrate section is restored";
    case FX_MIG_CARRY_RESET:
        return "the route's migrate section changed in the configuration";
    case FX_MIG_CARRY_INIT:
    default:
        return "route added to the configuration";
    }
}
