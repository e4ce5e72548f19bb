/* Migration control plane: samples the workers' per-side counters once per
 * tick, runs ramps and the guard, persists every change and audits it. */
#include "control.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "../core/log.h"
#include "../migrate/migrate.h"
#include "../proxy/proxy.h"
#include "../registry/registry.h"
#include "../shadow/shadow.h"
#include "../store/store.h"

_Static_assert(FX_CTL_MAX_IDS == FX_MAX_IDS, "route id spaces differ");
_Static_assert(FX_SHADOW_MAX_ROUTES == FX_MAX_IDS, "route id spaces differ");

#define PROGRESS_DEFAULT_MS ((uint64_t)300000) /* 5 minutes */

static uint64_t wall_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fmt_state(const struct fx_mig_state *st, char *out, size_t cap)
{
    char w[16];
    fx_mig_fmt_weight(st->weight_bp, w, sizeof(w));
    (void)snprintf(out, cap, "%s %s", w, fx_mig_status_name(st->status));
}

/* Publish to the workers, persist, and audit one change. Caller holds the lock. */
static void commit_change(struct fx_control *c, struct fx_ctl_route *r,
                          const struct fx_mig_state *old, const char *actor, const char *kind,
                          const char *reason)
{
    r->st.updated_ms = wall_ms();
    atomic_store_explicit(&c->sh->mig[r->id].weight_bp, r->st.weight_bp, memory_order_relaxed);
    atomic_store_explicit(&c->sh->mig[r->id].status, (unsigned int)r->st.status,
                          memory_order_relaxed);
    if (fx_store_put_state(c->store, &r->st) != 0)
        fx_log(&c->sh->log, FX_LOG_ERROR, "event=store_failed route=%s op=put_state", r->name);
    struct fx_mig_event e = { 0 };
    e.time_ms = r->st.updated_ms;
    (void)snprintf(e.actor, sizeof(e.actor), "%s", actor);
    (void)snprintf(e.route, sizeof(e.route), "%s", r->name);
    (void)snprintf(e.kind, sizeof(e.kind), "%s", kind);
    fmt_state(old, e.old_value, sizeof(e.old_value));
    fmt_state(&r->st, e.new_value, sizeof(e.new_value));
    (void)snprintf(e.reason, sizeof(e.reason), "%s", reason);
    if (fx_store_add_event(c->store, &e) != 0)
        fx_log(&c->sh->log, FX_LOG_ERROR, "event=store_failed route=%s op=add_event", r->name);
    char q[600];
    fx_log(&c->sh->log, FX_LOG_INFO,
           "event=migration route=%s actor=%s kind=%s old=\"%s\" new=\"%s\" reason=\"%s\"", r->name,
           actor, kind, e.old_value, e.new_value, fx_log_quote(q, sizeof(q), reason));
}

static size_t ring_size(const struct fx_conf_migrate *m, uint64_t tick_ms)
{
    uint64_t n = m->guard_window_ms / (tick_ms ? tick_ms : 1000) + 2;
    return n > 4000 ? 4000 : (size_t)n;
}

/* Load or initialise route `r` (fresh entry) for migrate section r->m;
 * `live` is its state in the running control plane (NULL when it did not
 * migrate there). The decision is fx_mig_carry()'s, as `ficus plan`'s. */
static void route_setup(struct fx_control *c, struct fx_ctl_route *r,
                        const struct fx_mig_state *live, const char *why_new)
{
    enum fx_mig_carry a = fx_mig_carry(live, NULL, r->m->fingerprint);
    if (a == FX_MIG_CARRY_KEEP && live != NULL) { /* KEEP implies live */
        r->st = *live;
        atomic_store(&c->sh->mig[r->id].weight_bp, r->st.weight_bp);
        atomic_store(&c->sh->mig[r->id].status, (unsigned int)r->st.status);
        return;
    }
    struct fx_mig_state saved;
    bool have = fx_store_get_state(c->store, r->name, &saved) == 0;
    a = fx_mig_carry(live, have ? &saved : NULL, r->m->fingerprint);
    if (a == FX_MIG_CARRY_RESTORE) {
        r->st = saved; /* operator and ramp changes win while the section is unchanged */
        atomic_store(&c->sh->mig[r->id].weight_bp, r->st.weight_bp);
        atomic_store(&c->sh->mig[r->id].status, (unsigned int)r->st.status);
        return;
    }
    struct fx_mig_state old = { 0 };
    if (have)
        old = saved;
    else if (live != NULL)
        old = *live;
    (void)snprintf(r->st.route, sizeof(r->st.route), "%s", r->name);
    fx_mig_state_initial(r->m, wall_ms(), &r->st);
    commit_change(c, r, &old, "config", "config",
                  a == FX_MIG_CARRY_RESET ? fx_mig_carry_reason(a) : why_new);
}

static int routes_build(struct fx_control *c, struct fx_conf *conf, struct fx_ctl_route **out,
                        size_t *nout)
{
    size_t n = 0;
    for (size_t i = 0; i < conf->nroutes; i++)
        n += conf->routes[i].migrate != NULL;
    struct fx_ctl_route *rs = calloc(n ? n : 1, sizeof(*rs));
    if (rs == NULL)
        return FX_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < conf->nroutes; i++) {
        const struct fx_conf_route *cr = &conf->routes[i];
        if (cr->migrate == NULL)
            continue;
        struct fx_ctl_route *r = &rs[k++];
        (void)snprintf(r->name, sizeof(r->name), "%s", cr->name);
        (void)snprintf(r->legacy, sizeof(r->legacy), "%s", cr->to_name);
        r->id = cr->id;
        r->m = cr->migrate;
        r->sh = cr->shadow;
        r->live = true;
        r->ring_cap = ring_size(r->m, c->tick_ms);
        r->ring = calloc(r->ring_cap, sizeof(*r->ring));
        if (r->ring == NULL) {
            for (size_t j = 0; j < k; j++)
                free(rs[j].ring);
            free(rs);
            return FX_ENOMEM;
        }
    }
    *out = rs;
    *nout = n;
    return 0;
}

/* ---- sampling and decisions (control thread) ------------------------------- */

static void sample_route(struct fx_control *c, struct fx_ctl_route *r, uint64_t now)
{
    struct fx_ctl_sample *s;
    if (r->ring_len < r->ring_cap) {
        s = &r->ring[(r->ring_head + r->ring_len) % r->ring_cap];
        r->ring_len++;
    } else {
        s = &r->ring[r->ring_head];
        r->ring_head = (r->ring_head + 1) % r->ring_cap;
    }
    memset(s, 0, sizeof(*s));
    s->at_ms = now;
    for (size_t i = 0; i < c->nw; i++) {
        struct fx_stats *st = c->ws[i].stats;
        if (st == NULL)
            continue;
        for (int side = 0; side < 2; side++) {
            s->req[side] += atomic_load_explicit(&st->side_req[r->id][side], memory_order_relaxed);
            s->err[side] += atomic_load_explicit(&st->side_err[r->id][side], memory_order_relaxed);
            for (size_t b = 0; b < FX_MIG_LAT_BUCKETS; b++)
                s->lat[side][b] +=
                    atomic_load_explicit(&st->side_lat[r->id][side][b], memory_order_relaxed);
        }
    }
    const struct fx_shadow_counters *sc = &c->sh->shadow.ctr[r->id];
    s->sh_cmp = atomic_load_explicit(&sc->compared, memory_order_relaxed);
    s->sh_mis = atomic_load_explicit(&sc->mismatched, memory_order_relaxed);
}

/* Shadow copies compared and mismatched over the guard window (not before
 * `since_mono`). */
static void shadow_window(const struct fx_ctl_route *r, uint64_t since_mono, uint64_t *cmp,
                          uint64_t *mis)
{
    *cmp = 0;
    *mis = 0;
    if (r->ring_len < 2)
        return;
    const struct fx_ctl_sample *last = &r->ring[(r->ring_head + r->ring_len - 1) % r->ring_cap];
    for (size_t i = 0; i < r->ring_len; i++) {
        const struct fx_ctl_sample *s = &r->ring[(r->ring_head + i) % r->ring_cap];
        if (s->at_ms + r->m->guard_window_ms >= last->at_ms && s->at_ms >= since_mono) {
            *cmp = last->sh_cmp - s->sh_cmp;
            *mis = last->sh_mis - s->sh_mis;
            return;
        }
    }
}

/* With a shadow and block_promotion_above, the ramp must not advance while the
 * candidate's mismatch rate over the window is above it. Writes the reason. */
static bool shadow_blocks(const struct fx_ctl_route *r, uint64_t since_mono, char *why, size_t cap)
{
    if (r->sh == NULL || r->sh->block_bp == FX_SHADOW_NO_BLOCK)
        return false;
    uint64_t cmp = 0;
    uint64_t mis = 0;
    shadow_window(r, since_mono, &cmp, &mis);
    if (cmp == 0 || mis * FX_MIG_BUCKETS <= (uint64_t)r->sh->block_bp * cmp)
        return false;
    char lim[16];
    fx_mig_fmt_weight(r->sh->block_bp, lim, sizeof(lim));
    (void)snprintf(why, cap,
                   "shadow: mismatch rate %.2f%% (%llu of %llu compared copies) is above "
                   "block_promotion_above %s",
                   100.0 * (double)mis / (double)cmp, (unsigned long long)mis,
                   (unsigned long long)cmp, lim);
    return true;
}

/* Figures over the guard window, not reaching back before `since_mono`. */
static void window_of(const struct fx_ctl_route *r, uint64_t since_mono, struct fx_mig_window *w,
                      uint64_t lat[2][FX_MIG_LAT_BUCKETS])
{
    memset(w, 0, sizeof(*w));
    memset(lat, 0, sizeof(uint64_t) * 2 * FX_MIG_LAT_BUCKETS);
    if (r->ring_len < 2)
        return;
    const struct fx_ctl_sample *last = &r->ring[(r->ring_head + r->ring_len - 1) % r->ring_cap];
    const struct fx_ctl_sample *first = NULL;
    for (size_t i = 0; i < r->ring_len; i++) {
        const struct fx_ctl_sample *s = &r->ring[(r->ring_head + i) % r->ring_cap];
        if (s->at_ms + r->m->guard_window_ms >= last->at_ms && s->at_ms >= since_mono) {
            first = s;
            break;
        }
    }
    if (first == NULL || first == last)
        return;
    for (int side = 0; side < 2; side++) {
        w->req[side] = last->req[side] - first->req[side];
        w->err[side] = last->err[side] - first->err[side];
        for (size_t b = 0; b < FX_MIG_LAT_BUCKETS; b++)
            lat[side][b] = last->lat[side][b] - first->lat[side][b];
        w->p99_us[side] = fx_mig_quantile_us(lat[side], 0.99);
    }
}

static uint64_t step_since_mono(const struct fx_ctl_route *r, uint64_t now_mono, uint64_t now_wall)
{
    uint64_t age = now_wall > r->st.step_started_ms ? now_wall - r->st.step_started_ms : 0;
    return now_mono > age ? now_mono - age : 0;
}

static void do_rollback(struct fx_control *c, struct fx_ctl_route *r, const char *actor,
                        const char *why)
{
    struct fx_mig_state old = r->st;
    r->st.weight_bp = 0;
    r->st.status = FX_MIG_ROLLED_BACK;
    r->st.step_started_ms = wall_ms();
    if (strcmp(actor, "guard") == 0)
        r->rollbacks++;
    commit_change(c, r, &old, actor, "rollback", why);
}

static void advance(struct fx_control *c, struct fx_ctl_route *r, const char *why)
{
    struct fx_mig_state old = r->st;
    const struct fx_conf_migrate *m = r->m;
    size_t next = r->st.step < 0 ? 0 : (size_t)r->st.step + 1;
    while (next < m->nsteps && m->steps_bp[next] <= r->st.weight_bp)
        next++;
    if (next >= m->nsteps) {
        r->st.weight_bp = FX_MIG_BUCKETS;
        r->st.status = FX_MIG_PROMOTED;
    } else {
        r->st.step = (int)next;
        r->st.weight_bp = m->steps_bp[next];
        if (r->st.weight_bp >= FX_MIG_BUCKETS)
            r->st.status = FX_MIG_PROMOTED;
    }
    r->st.step_started_ms = wall_ms();
    commit_change(c, r, &old, "ramp", "advance", why);
}

static void decide(struct fx_control *c, struct fx_ctl_route *r, uint64_t now_mono)
{
    enum fx_mig_status s = r->st.status;
    if (s != FX_MIG_RAMPING && s != FX_MIG_STEADY)
        return;
    uint64_t now_wall = wall_ms();
    struct fx_mig_window w;
    uint64_t lat[2][FX_MIG_LAT_BUCKETS];
    window_of(r, step_since_mono(r, now_mono, now_wall), &w, lat);
    char why[512];
    enum fx_mig_verdict v = fx_mig_judge(r->m, &w, why, sizeof(why));
    if (v == FX_MIG_ROLLBACK && r->st.weight_bp > 0) {
        do_rollback(c, r, "guard", why);
        return;
    }
    if (s != FX_MIG_RAMPING || now_wall < r->st.step_started_ms + r->m->ramp_interval_ms)
        return;
    bool blocked = shadow_blocks(r, step_since_mono(r, now_mono, now_wall), why, sizeof(why));
    if (!blocked && r->st.weight_bp == 0) {
        /* At 0% the new side has no traffic to judge: the first step is taken on time. */
        advance(c, r, "first step: at 0% the new side has no traffic for the guard to judge");
        return;
    }
    if (blocked)
        v = FX_MIG_HOLD;
    if (v == FX_MIG_ADVANCE) {
        advance(c, r, why);
        return;
    }
    struct fx_mig_state old = r->st;
    r->st.step_started_ms = now_wall; /* evaluate again after another interval */
    commit_change(c, r, &old, "ramp", "hold", why);
}

/* ---- progress samples (control thread) --------------------------------------- */

static void prog_read(const struct fx_control *c, unsigned int id, struct fx_ctl_prog *p)
{
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < c->nw; i++) {
        const struct fx_stats *st = c->ws[i].stats;
        if (st == NULL)
            continue;
        for (int side = 0; side < 2; side++) {
            p->req[side] += atomic_load_explicit(&st->side_req[id][side], memory_order_relaxed);
            p->err[side] += atomic_load_explicit(&st->side_err[id][side], memory_order_relaxed);
            for (size_t b = 0; b < FX_MIG_LAT_BUCKETS; b++)
                p->lat[side][b] +=
                    atomic_load_explicit(&st->side_lat[id][side][b], memory_order_relaxed);
        }
    }
    const struct fx_shadow_counters *sc = &c->sh->shadow.ctr[id];
    p->sh_cmp = atomic_load_explicit(&sc->compared, memory_order_relaxed);
    p->sh_mis = atomic_load_explicit(&sc->mismatched, memory_order_relaxed);
}

/* The interval's figures of one route (now minus the previous sample). */
static void prog_row(struct fx_control *c, const struct fx_conf_route *cr, uint64_t now_wall,
                     struct fx_reg_sample *row)
{
    struct fx_ctl_prog cur;
    struct fx_ctl_prog *prev = &c->prog[cr->id];
    prog_read(c, cr->id, &cur);
    memset(row, 0, sizeof(*row));
    (void)snprintf(row->route, sizeof(row->route), "%s", cr->name);
    row->time_ms = now_wall;
    row->interval_ms = now_wall > c->progress_at_wall ? now_wall - c->progress_at_wall : 0;
    row->migrating = cr->migrate != NULL;
    if (row->migrating)
        row->weight_bp = atomic_load_explicit(&c->sh->mig[cr->id].weight_bp, memory_order_relaxed);
    for (int side = 0; side < 2; side++) {
        uint64_t lat[FX_MIG_LAT_BUCKETS];
        row->req[side] = cur.req[side] - prev->req[side];
        row->err[side] = cur.err[side] - prev->err[side];
        for (size_t b = 0; b < FX_MIG_LAT_BUCKETS; b++)
            lat[b] = cur.lat[side][b] - prev->lat[side][b];
        row->p99_ms[side] = (double)fx_mig_quantile_us(lat, 0.99) / 1000.0;
    }
    row->shadow_compared = cur.sh_cmp - prev->sh_cmp;
    row->shadow_mismatched = cur.sh_mis - prev->sh_mis;
    *prev = cur;
}

/* Every progress_ms, one sample per configured route into the store (opened
 * on first use). Caller holds the lock. */
static void progress_tick(struct fx_control *c, uint64_t now_mono)
{
    if (now_mono < c->next_progress || c->prog == NULL || c->conf == NULL)
        return;
    c->next_progress = now_mono + c->progress_ms;
    size_t n = c->conf->nroutes;
    struct fx_reg_sample *rows = calloc(n ? n : 1, sizeof(*rows));
    if (rows == NULL)
        return;
    uint64_t now_wall = wall_ms();
    for (size_t i = 0; i < n; i++)
        prog_row(c, &c->conf->routes[i], now_wall, &rows[i]);
    c->progress_at_wall = now_wall;
    struct fx_err err = { 0 };
    int rc = c->store != NULL ? 0 : fx_store_open(c->conf->store_path, &c->store, &err);
    if (rc == 0 && n > 0)
        rc = fx_reg_progress_add(c->store, rows, n, &err);
    if (rc != 0) {
        char q[600];
        fx_log(&c->sh->log, FX_LOG_ERROR, "event=store_failed op=progress error=\"%s\"",
               fx_log_quote(q, sizeof(q), err.msg));
    }
    free(rows);
}

static void *control_main(void *arg)
{
    struct fx_control *c = arg;
    (void)pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        uint64_t now = mono_ms();
        for (size_t i = 0; i < c->nroutes; i++) {
            sample_route(c, &c->routes[i], now);
            decide(c, &c->routes[i], now);
        }
        progress_tick(c, now);
        struct timespec until;
        (void)clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + c->tick_ms * 1000000u;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        (void)pthread_cond_timedwait(&c->wake, &c->lock, &until);
    }
    (void)pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void routes_free(struct fx_ctl_route *rs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rs[i].ring);
    free(rs);
}

static int control_start(struct fx_control *c, struct fx_shared *sh, struct fx_worker *ws,
                         size_t nw, struct fx_conf *conf, struct fx_err *err)
{
    c->sh = sh;
    c->ws = ws;
    c->nw = nw;
    c->tick_ms = 1000;
    const char *t = getenv("FICUS_CONTROL_TICK_MS");    /* NOLINT(concurrency-mt-unsafe): startup */
    if (t != NULL && atoi(t) >= 10 && atoi(t) <= 60000) /* NOLINT(cert-err34-c): bounded */
        c->tick_ms = (uint64_t)atoi(t);                 /* NOLINT(cert-err34-c): bounded */
    if (pthread_mutex_init(&c->lock, NULL) != 0 || pthread_cond_init(&c->wake, NULL) != 0)
        return FX_ERR_SET(err, FX_ESYS, "control: cannot create a mutex");
    c->progress_ms = PROGRESS_DEFAULT_MS;
    const char *pm = getenv("FICUS_PROGRESS_MS");             /* NOLINT(concurrency-mt-unsafe) */
    if (pm != NULL && atoi(pm) >= 50 && atoi(pm) <= 86400000) /* NOLINT(cert-err34-c): bounded */
        c->progress_ms = (uint64_t)atoi(pm);                  /* NOLINT(cert-err34-c): bounded */
    c->next_progress = mono_ms() + c->progress_ms;
    c->progress_at_wall = wall_ms();
    c->prog = calloc(FX_CTL_MAX_IDS, sizeof(*c->prog));
    if (c->prog == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "control: out of memory");
    fx_conf_ref(conf);
    c->conf = conf;
    int rc = routes_build(c, conf, &c->routes, &c->nroutes);
    if (rc != 0)
        return FX_ERR_SET(err, rc, "control: out of memory");
    /* The store is opened only when a route migrates: a plain gateway writes nothing. */
    if (c->nroutes > 0) {
        rc = fx_store_open(conf->store_path, &c->store, err);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < c->nroutes; i++)
        route_setup(c, &c->routes[i], NULL, "first start with this migrate section");
    if (pthread_create(&c->thread, NULL, control_main, c) != 0)
        return FX_ERR_SET(err, FX_ESYS, "control: cannot start thread");
    c->running = true;
    return 0;
}

int fx_control_start(struct fx_control *c, struct fx_shared *sh, struct fx_worker *ws, size_t nw,
                     struct fx_conf *conf, struct fx_err *err)
{
    memset(c, 0, sizeof(*c));
    int rc = control_start(c, sh, ws, nw, conf, err);
    if (rc != 0)
        fx_control_stop(c); /* releases whatever the failed start had taken */
    return rc;
}

int fx_control_reload(struct fx_control *c, struct fx_conf *conf, struct fx_err *err)
{
    struct fx_ctl_route *rs = NULL;
    size_t n = 0;
    if (routes_build(c, conf, &rs, &n) != 0)
        return FX_ERR_SET(err, FX_ENOMEM, "control: out of memory");
    (void)pthread_mutex_lock(&c->lock);
    if (n > 0 && c->store == NULL) {
        int rc = fx_store_open(conf->store_path, &c->store, err);
        if (rc != 0) {
            (void)pthread_mutex_unlock(&c->lock);
            routes_free(rs, n);
            return rc;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct fx_ctl_route *old = NULL;
        for (size_t j = 0; j < c->nroutes && old == NULL; j++) {
            if (strcmp(c->routes[j].name, rs[i].name) == 0)
                old = &c->routes[j];
        }
        const struct fx_mig_state *live = old != NULL ? &old->st : NULL;
        if (old != NULL && fx_mig_carry(live, NULL, rs[i].m->fingerprint) == FX_MIG_CARRY_KEEP) {
            rs[i].st = old->st;
            rs[i].rollbacks = old->rollbacks;
            size_t keep = old->ring_len < rs[i].ring_cap ? old->ring_len : rs[i].ring_cap;
            for (size_t k = 0; k < keep; k++)
                rs[i].ring[k] =
                    old->ring[(old->ring_head + old->ring_len - keep + k) % old->ring_cap];
            rs[i].ring_len = keep;
            atomic_store(&c->sh->mig[rs[i].id].weight_bp, rs[i].st.weight_bp);
            atomic_store(&c->sh->mig[rs[i].id].status, (unsigned int)rs[i].st.status);
        } else {
            route_setup(c, &rs[i], live, fx_mig_carry_reason(FX_MIG_CARRY_INIT));
        }
    }
    routes_free(c->routes, c->nroutes);
    c->routes = rs;
    c->nroutes = n;
    fx_conf_ref(conf);
    struct fx_conf *prev = c->conf;
    c->conf = conf;
    (void)pthread_mutex_unlock(&c->lock);
    fx_conf_unref(prev);
    return 0;
}

void fx_control_stop(struct fx_control *c)
{
    if (c->running) {
        (void)pthread_mutex_lock(&c->lock);
        c->stop = true;
        (void)pthread_cond_signal(&c->wake);
        (void)pthread_mutex_unlock(&c->lock);
        (void)pthread_join(c->thread, NULL);
        c->running = false;
    }
    routes_free(c->routes, c->nroutes);
    c->routes = NULL;
    c->nroutes = 0;
    fx_store_close(c->store);
    c->store = NULL;
    FX_FREE(c->prog);
    fx_conf_unref(c->conf);
    c->conf = NULL;
    (void)pthread_cond_destroy(&c->wake);
    (void)pthread_mutex_destroy(&c->lock);
}

/* ---- operator commands ------------------------------------------------------ */

static struct fx_ctl_route *find_route(struct fx_control *c, const char *name)
{
    for (size_t i = 0; i < c->nroutes; i++) {
        if (strcmp(c->routes[i].name, name) == 0)
            return &c->routes[i];
    }
    return NULL;
}

static int apply_cmd(struct fx_control *c, struct fx_ctl_route *r, enum fx_ctl_cmd cmd,
                     uint32_t weight_bp, const char *actor, char *msg, size_t cap)
{
    struct fx_mig_state old = r->st;
    enum fx_mig_status s = r->st.status;
    char why[160];
    switch (cmd) {
    case FX_CTL_WEIGHT:
        if (weight_bp > FX_MIG_BUCKETS) {
            (void)snprintf(msg, cap, "weight above 100%%");
            return FX_EINVAL;
        }
        r->st.weight_bp = weight_bp;
        r->st.status = weight_bp >= FX_MIG_BUCKETS                   ? FX_MIG_PROMOTED
                       : (s == FX_MIG_RAMPING || s == FX_MIG_PAUSED) ? FX_MIG_PAUSED
                                                                     : FX_MIG_STEADY;
        (void)snprintf(why, sizeof(why), "operator set the weight");
        break;
    case FX_CTL_PAUSE:
        if (s != FX_MIG_RAMPING && s != FX_MIG_STEADY) {
            (void)snprintf(msg, cap, "cannot pause a route that is %s", fx_mig_status_name(s));
            return FX_EINVAL;
        }
        r->st.status = FX_MIG_PAUSED;
        (void)snprintf(why, sizeof(why), "operator paused the route");
        break;
    case FX_CTL_RESUME:
        if (s != FX_MIG_PAUSED && s != FX_MIG_ROLLED_BACK) {
            (void)snprintf(msg, cap, "cannot resume a route that is %s", fx_mig_status_name(s));
            return FX_EINVAL;
        }
        if (s == FX_MIG_ROLLED_BACK)
            r->st.weight_bp = r->st.step >= 0 ? r->m->steps_bp[r->st.step] : r->m->weight_bp;
        r->st.status = r->m->nsteps > 0 ? FX_MIG_RAMPING : FX_MIG_STEADY;
        r->st.step_started_ms = wall_ms();
        (void)snprintf(why, sizeof(why), "operator resumed the route");
        break;
    case FX_CTL_PROMOTE:
        r->st.weight_bp = FX_MIG_BUCKETS;
        r->st.status = FX_MIG_PROMOTED;
        (void)snprintf(why, sizeof(why), "operator promoted the new side to 100%%");
        break;
    case FX_CTL_ROLLBACK:
        if (s == FX_MIG_ROLLED_BACK) {
            (void)snprintf(msg, cap, "the route is already rolled_back");
            return FX_EINVAL;
        }
        do_rollback(c, r, actor, "operator rolled back");
        (void)snprintf(msg, cap, "rolled back");
        return 0;
    default:
        (void)snprintf(msg, cap, "unknown command");
        return FX_EINVAL;
    }
    static const char *const kinds[] = { "weight", "pause", "resume", "promote", "rollback" };
    commit_change(c, r, &old, actor, kinds[cmd], why);
    (void)snprintf(msg, cap, "%s", why);
    return 0;
}

int fx_control_cmd(struct fx_control *c, const char *route, enum fx_ctl_cmd cmd, uint32_t weight_bp,
                   const char *actor, char *msg, size_t cap)
{
    (void)pthread_mutex_lock(&c->lock);
    struct fx_ctl_route *r = find_route(c, route);
    int rc;
    if (r == NULL) {
        (void)snprintf(msg, cap, "no migrating route named \"%s\"", route);
        rc = FX_ENOTFOUND;
    } else {
        rc = apply_cmd(c, r, cmd, weight_bp, actor, msg, cap);
    }
    (void)pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ---- reading state ------------------------------------------------------------ */

static json_t *side_json(const struct fx_mig_window *w, uint64_t lat[2][FX_MIG_LAT_BUCKETS],
                         int side)
{
    double rate = w->req[side] ? (double)w->err[side] / (double)w->req[side] : 0.0;
    return json_pack("{s:I,s:I,s:f,s:f,s:f}", "requests", (json_int_t)w->req[side], "errors",
                     (json_int_t)w->err[side], "error_rate", rate, "p50_ms",
                     (double)fx_mig_quantile_us(lat[side], 0.5) / 1000.0, "p99_ms",
                     (double)fx_mig_quantile_us(lat[side], 0.99) / 1000.0);
}

/* The route's shadow figures over the guard window, or null. */
static json_t *shadow_json(const struct fx_ctl_route *r)
{
    if (r->sh == NULL)
        return json_null();
    uint64_t cmp = 0;
    uint64_t mis = 0;
    shadow_window(r, 0, &cmp, &mis);
    json_t *block = json_null();
    if (r->sh->block_bp != FX_SHADOW_NO_BLOCK) {
        char lim[16];
        fx_mig_fmt_weight(r->sh->block_bp, lim, sizeof(lim));
        block = json_string(lim);
    }
    return json_pack("{s:s,s:I,s:I,s:f,s:o}", "to", r->sh->to_name, "compared", (json_int_t)cmp,
                     "mismatched", (json_int_t)mis, "mismatch_rate",
                     cmp ? (double)mis / (double)cmp : 0.0, "block_promotion_above", block);
}

static json_t *route_json(const struct fx_ctl_route *r)
{
    struct fx_mig_window w;
    uint64_t lat[2][FX_MIG_LAT_BUCKETS];
    window_of(r, 0, &w, lat);
    char wt[16];
    fx_mig_fmt_weight(r->st.weight_bp, wt, sizeof(wt));
    json_t *steps = json_array();
    for (size_t i = 0; i < r->m->nsteps; i++) {
        char s[16];
        fx_mig_fmt_weight(r->m->steps_bp[i], s, sizeof(s));
        json_array_append_new(steps, json_string(s));
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:i,s:o,s:s,s:I,s:I,s:{s:o,s:o},s:o,s:s}", "name",
                     r->name, "legacy", r->legacy, "new", r->m->to_name, "weight", wt, "weight_bp",
                     (json_int_t)r->st.weight_bp, "step", r->st.step, "steps", steps, "status",
                     fx_mig_status_name(r->st.status), "rollbacks", (json_int_t)r->rollbacks,
                     "window_seconds", (json_int_t)(r->m->guard_window_ms / 1000), "sides",
                     "legacy", side_json(&w, lat, FX_SIDE_LEGACY), "new",
                     side_json(&w, lat, FX_SIDE_NEW), "shadow", shadow_json(r), "fingerprint",
                     r->st.fingerprint);
}

int fx_control_routes_json(struct fx_control *c, const char *route, FILE *f)
{
    (void)pthread_mutex_lock(&c->lock);
    json_t *out = NULL;
    int rc = 0;
    if (route != NULL) {
        struct fx_ctl_route *r = find_route(c, route);
        if (r == NULL)
            rc = FX_ENOTFOUND;
        else
            out = route_json(r);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < c->nroutes; i++)
            json_array_append_new(arr, route_json(&c->routes[i]));
        out = json_pack("{s:o}", "routes", arr);
    }
    if (out != NULL) {
        (void)pthread_mutex_unlock(&c->lock);
        rc = json_dumpf(out, f, JSON_INDENT(2)) == 0 ? 0 : FX_EIO;
        json_decref(out);
        return rc;
    }
    (void)pthread_mutex_unlock(&c->lock);
    return rc;
}

int fx_control_events_json(struct fx_control *c, const char *route, size_t limit, FILE *f)
{
    (void)pthread_mutex_lock(&c->lock);
    int rc = c->store ? fx_store_events_json(c->store, route, limit, f)
                      : (fputs("[]", f) >= 0 ? 0 : FX_EIO);
    (void)pthread_mutex_unlock(&c->lock);
    return rc;
}

uint64_t fx_control_rollbacks(struct fx_control *c, unsigned int route_id)
{
    uint64_t n = 0;
    (void)pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nroutes; i++) {
        if (c->routes[i].id == route_id)
            n = c->routes[i].rollbacks;
    }
    (void)pthread_mutex_unlock(&c->lock);
    return n;
}
