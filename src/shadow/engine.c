/* The comparison engine: a bounded queue fed by the workers and one thread
 * that compares, learns noise, aggregates, samples and persists. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "../core/log.h"
#include "../store/store.h"
#include "shadow.h"
#include "shadow_int.h"

#define FLUSH_EVERY_MS 1000

static const char *const drop_names[FX_SHADOW_DROP__N] = {
    [FX_SHADOW_DROP_BODY] = "body_too_large", [FX_SHADOW_DROP_INFLIGHT] = "inflight",
    [FX_SHADOW_DROP_QUEUE] = "queue_full",    [FX_SHADOW_DROP_PRIMARY] = "primary_incomplete",
    [FX_SHADOW_DROP_NOMEM] = "nomem",         [FX_SHADOW_DROP_SHUTDOWN] = "shutdown",
    [FX_SHADOW_DROP_UPGRADE] = "upgrade",
};

/* Errored-copy reasons (what src/proxy/mirror.c records); the last one
 * collects anything else. At most 8 (fx_shadow__route.errors). */
static const char *const err_names[] = { "connect_failed", "connect_timeout", "timeout",
                                         "bad_response",   "reset",           "nomem",
                                         "other" };
#define NERR (sizeof(err_names) / sizeof(err_names[0]))

const char *fx_shadow_drop_name(enum fx_shadow_drop why)
{
    return (unsigned int)why < FX_SHADOW_DROP__N ? drop_names[why] : "unknown";
}

const char *fx_shadow__error_name(size_t i)
{
    return i < NERR ? err_names[i] : NULL;
}

size_t fx_shadow__error_slot(const char *reason)
{
    for (size_t i = 0; reason != NULL && i + 1 < NERR; i++) {
        if (strcmp(reason, err_names[i]) == 0)
            return i;
    }
    return NERR - 1;
}

uint64_t fx_shadow__wall_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t fx_shadow__mono_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void resp_fini(struct fx_shadow_resp *r)
{
    FX_FREE(r->head);
    FX_FREE(r->body);
}

void fx_shadow_job_free(struct fx_shadow_job *job)
{
    if (job == NULL)
        return;
    FX_FREE(job->req_head);
    resp_fini(&job->primary);
    resp_fini(&job->candidate);
    resp_fini(&job->secondary);
    free(job);
}

static size_t resp_bytes(const struct fx_shadow_resp *r)
{
    return (r->head != NULL ? r->head_len + 1 + FX_SHADOW_ALLOC_OVERHEAD : 0) +
           (r->body != NULL ? r->body_len + 1 + FX_SHADOW_ALLOC_OVERHEAD : 0);
}

size_t fx_shadow_job_bytes(const struct fx_shadow_job *job)
{
    return sizeof(*job) + FX_SHADOW_ALLOC_OVERHEAD +
           (job->req_head != NULL ? job->req_head_len + 1 + FX_SHADOW_ALLOC_OVERHEAD : 0) +
           resp_bytes(&job->primary) + resp_bytes(&job->candidate) + resp_bytes(&job->secondary);
}

/* Shrink a capture buffer to its length (+1): captures grow by doubling, so
 * up to half of an area can be slack that the budget would not see. */
static void trim(char **p, size_t len)
{
    if (*p == NULL)
        return;
    char *np = realloc(*p, len + 1);
    if (np != NULL)
        *p = np;
}

static void job_trim(struct fx_shadow_job *job)
{
    trim(&job->req_head, job->req_head_len);
    struct fx_shadow_resp *rs[] = { &job->primary, &job->candidate, &job->secondary };
    for (size_t i = 0; i < 3; i++) {
        trim(&rs[i]->head, rs[i]->head_len);
        trim(&rs[i]->body, rs[i]->body_len);
    }
}

bool fx_shadow_inflight_charge(struct fx_shadow *s, size_t n, uint64_t budget)
{
    size_t before = atomic_fetch_add_explicit(&s->inflight_bytes, n, memory_order_relaxed);
    if ((uint64_t)before + n <= budget)
        return true;
    atomic_fetch_sub_explicit(&s->inflight_bytes, n, memory_order_relaxed);
    return false;
}

void fx_shadow_inflight_release(struct fx_shadow *s, size_t n)
{
    atomic_fetch_sub_explicit(&s->inflight_bytes, n, memory_order_relaxed);
}

void fx_shadow_count_discard(struct fx_shadow *s, unsigned int route_id)
{
    fx_shadow_count_drop(s, route_id, FX_SHADOW_DROP_SHUTDOWN);
    atomic_fetch_add_explicit(&s->discarded, 1, memory_order_relaxed);
}

void fx_shadow_queue_stats(struct fx_shadow *s, struct fx_shadow_queue_stats *out)
{
    memset(out, 0, sizeof(*out));
    (void)pthread_mutex_lock(&s->lock);
    out->jobs = s->queued;
    out->bytes = s->queued_bytes;
    if (s->conf != NULL) {
        out->budget = s->conf->limits.shadow_queue_bytes;
        out->inflight_budget = s->conf->limits.shadow_inflight_bytes;
    }
    (void)pthread_mutex_unlock(&s->lock);
    out->inflight_bytes = atomic_load_explicit(&s->inflight_bytes, memory_order_relaxed);
}

/* The route of `conf` named `name` with a shadow section, or NULL. */
static const struct fx_conf_route *shadow_route(const struct fx_conf *conf, const char *name)
{
    for (size_t i = 0; conf != NULL && i < conf->nroutes; i++) {
        if (conf->routes[i].shadow != NULL && strcmp(conf->routes[i].name, name) == 0)
            return &conf->routes[i];
    }
    return NULL;
}

/* ---- state (st->lock held) ------------------------------------------------- */

static struct fx_shadow__route *route_find(struct fx_shadow_state *st, const char *name)
{
    for (size_t i = 0; i < st->nroutes; i++) {
        if (strcmp(st->routes[i].name, name) == 0)
            return &st->routes[i];
    }
    return NULL;
}

/* Find or create the aggregates of a route, loading them from the store and
 * seeding the live counters once per process. NULL on allocation failure. */
static struct fx_shadow__route *route_ensure(struct fx_shadow *s, const char *name, unsigned int id)
{
    struct fx_shadow_state *st = s->st;
    struct fx_shadow__route *r = route_find(st, name);
    if (r != NULL || id >= FX_SHADOW_MAX_ROUTES)
        return r;
    struct fx_shadow__route *arr = realloc(st->routes, (st->nroutes + 1) * sizeof(*arr));
    if (arr == NULL)
        return NULL;
    st->routes = arr;
    r = &arr[st->nroutes];
    memset(r, 0, sizeof(*r));
    (void)snprintf(r->name, sizeof(r->name), "%s", name);
    r->id = id;
    (void)fx_shadow__db_load_route(st->store, r, &s->ctr[id], !st->seeded[id]);
    st->seeded[id] = true;
    st->nroutes++;
    return r;
}

static uint64_t ctr_sum(const struct fx_shadow_counters *c)
{
    uint64_t n = atomic_load(&c->compared) + atomic_load(&c->errored) + atomic_load(&c->noise);
    for (size_t i = 0; i < FX_SHADOW_DROP__N; i++)
        n += atomic_load(&c->dropped[i]);
    return n;
}

static void flush_route(struct fx_shadow *s, struct fx_shadow__route *r,
                        const struct fx_conf_route *cr)
{
    const struct fx_conf_shadow *sh = cr != NULL ? cr->shadow : NULL;
    (void)fx_shadow__db_flush_route(s->st->store, r, &s->ctr[r->id],
                                    sh != NULL ? sh->to_name : NULL,
                                    sh != NULL ? sh->secondary_name : NULL);
}

/* Persist every route (force) or, at most once a second, the changed ones;
 * routes that left the configuration are written a last time and dropped.
 * With `nowait`, gives up (returns false) when the state lock is taken. */
static bool flush_all(struct fx_shadow *s, struct fx_conf *conf, bool force, bool nowait)
{
    struct fx_shadow_state *st = s->st;
    uint64_t now = fx_shadow__mono_ms();
    if (!nowait)
        (void)pthread_mutex_lock(&st->lock);
    else if (pthread_mutex_trylock(&st->lock) != 0)
        return false;
    if (force || now - st->last_flush_ms >= FLUSH_EVERY_MS) {
        st->last_flush_ms = now;
        size_t k = 0;
        for (size_t i = 0; i < st->nroutes; i++) {
            struct fx_shadow__route *r = &st->routes[i];
            const struct fx_conf_route *cr = shadow_route(conf, r->name);
            uint64_t sum = ctr_sum(&s->ctr[r->id]);
            if (force || cr == NULL || r->dirty || sum != r->flushed_sum) {
                flush_route(s, r, cr);
                r->flushed_sum = sum;
            }
            if (cr == NULL)
                fx_shadow__route_fini(r);
            else
                st->routes[k++] = *r;
        }
        st->nroutes = k;
    }
    (void)pthread_mutex_unlock(&st->lock);
    return true;
}

/* ---- one job ---------------------------------------------------------------- */

struct outcome {
    struct fx_shadow_diffs cand; /* primary vs candidate */
    struct fx_shadow_diffs sec;  /* primary vs secondary (noise) */
    bool has_sec;
    size_t *kept; /* owned: indices of cand.d that count (not noise) */
    size_t nkept;
    uint64_t noise;
    char endpoint[256];
};

static void rules_of(const struct fx_conf_shadow *sh, struct fx_shadow_rules *rules)
{
    memset(rules, 0, sizeof(*rules));
    rules->ignore_headers = sh->ignore_headers;
    rules->nignore_headers = sh->nignore_headers;
    rules->ignore_json = sh->ignore_json;
    rules->nignore_json = sh->nignore_json;
}

/* Learn the secondary's differences as noise (each generalised path is
 * listed once per comparison). */
static void learn_noise(struct fx_shadow__route *r, struct outcome *o)
{
    for (size_t i = 0; o->has_sec && i < o->sec.n; i++) {
        struct fx_shadow__noise *n = fx_shadow__noise_get(r, o->endpoint, o->sec.d[i].gpath, true);
        if (n != NULL) {
            n->seen++;
            n->dirty = true;
        }
    }
}

struct noise_arg {
    const struct fx_shadow__route *r;
    const char *endpoint;
};

static bool noise_cb(void *arg, const char *gpath)
{
    const struct noise_arg *na = arg;
    return fx_shadow__is_noise(na->r, na->endpoint, gpath);
}

/* Keep the candidate's differences that noise does not cover. */
static int split_noise(struct outcome *o)
{
    o->kept = malloc((o->cand.n + 1) * sizeof(*o->kept));
    if (o->kept == NULL)
        return FX_ENOMEM;
    for (size_t i = 0; i < o->cand.n; i++) {
        if (o->cand.d[i].noise)
            o->noise++;
        else
            o->kept[o->nkept++] = i;
    }
    return 0;
}

static void aggregate(struct fx_shadow__route *r, const struct outcome *o)
{
    struct fx_shadow__ep *ep = fx_shadow__ep_get(r, o->endpoint);
    r->dirty = true;
    if (ep == NULL)
        return;
    ep->dirty = true;
    ep->compared++;
    if (o->nkept == 0)
        return;
    ep->mismatched++;
    /* The diff lists each generalised path once. */
    for (size_t i = 0; i < o->nkept; i++) {
        struct fx_shadow__path *p = fx_shadow__path_get(ep, o->cand.d[o->kept[i]].gpath);
        if (p != NULL)
            p->count++;
    }
}

/* True when the sample budget of this second allows one more write. */
static bool sample_budget(struct fx_shadow_state *st, uint64_t now_ms)
{
    uint64_t sec = now_ms / 1000u;
    if (sec != st->sample_sec) {
        st->sample_sec = sec;
        st->sample_used = 0;
    }
    if (st->sample_used >= FX_SHADOW_SAMPLE_RATE)
        return false;
    st->sample_used++;
    return true;
}

/* Compare the candidate against the primary with the route's learned noise
 * applied during the walk (so that the difference limit counts real
 * differences only), then count. Returns 0 or FX_ENOMEM. */
static int compare_record(struct fx_shadow *s, const struct fx_conf_route *cr,
                          const struct fx_shadow_job *job, struct fx_shadow_rules *rules,
                          struct outcome *o)
{
    struct fx_shadow_counters *c = &s->ctr[job->route_id];
    struct fx_shadow_state *st = s->st;
    (void)pthread_mutex_lock(&st->lock);
    struct fx_shadow__route *r = route_ensure(s, cr->name, cr->id);
    struct noise_arg na = { r, o->endpoint };
    if (r != NULL) {
        learn_noise(r, o);
        rules->noise = noise_cb;
        /* cppcheck-suppress autoVariables ; reset below, before `na` goes out of scope */
        rules->noise_arg = &na;
    }
    int rc = fx_shadow_compare(&job->primary, &job->candidate, rules, &o->cand);
    rules->noise = NULL;
    rules->noise_arg = NULL;
    if (rc == 0)
        rc = split_noise(o);
    if (rc != 0) {
        (void)pthread_mutex_unlock(&st->lock);
        return rc;
    }
    if (r != NULL)
        aggregate(r, o);
    atomic_fetch_add(&c->compared, 1);
    atomic_fetch_add(&c->noise, o->noise);
    atomic_fetch_add(o->nkept > 0 ? &c->mismatched : &c->matched, 1);
    if (o->cand.overflow)
        atomic_fetch_add(&c->truncated, 1);
    bool sample = o->nkept > 0 && sample_budget(st, fx_shadow__wall_ms());
    (void)pthread_mutex_unlock(&st->lock);
    if (!sample)
        return 0;
    /* Built without the lock: it decodes bodies again. */
    char *doc = fx_shadow__sample_doc(job, cr->shadow, o->endpoint, &o->cand, o->kept, o->nkept);
    if (doc == NULL)
        return 0;
    /* Samples are kept per (endpoint, path). A copy with several differing
     * paths is filed under them in turn, so that a path that always comes
     * second still has recent samples of its own. */
    (void)pthread_mutex_lock(&st->lock);
    const char *g = o->cand.d[o->kept[st->sample_seq++ % o->nkept]].gpath;
    char key[sizeof(o->endpoint) + FX_SHADOW_PATH_MAX + 1];
    (void)snprintf(key, sizeof(key), "%s %s", o->endpoint, g);
    (void)fx_shadow__db_add_sample(st->store, cr->name, job->time_ms, o->endpoint, key, doc);
    (void)pthread_mutex_unlock(&st->lock);
    free(doc);
    return 0;
}

static void count_error(struct fx_shadow *s, const struct fx_conf_route *cr,
                        const struct fx_shadow_job *job)
{
    atomic_fetch_add(&s->ctr[job->route_id].errored, 1);
    (void)pthread_mutex_lock(&s->st->lock);
    struct fx_shadow__route *r = route_ensure(s, cr->name, cr->id);
    if (r != NULL) {
        r->errors[fx_shadow__error_slot(job->candidate.error)]++;
        r->dirty = true;
    }
    (void)pthread_mutex_unlock(&s->st->lock);
}

/* A failing secondary pauses noise learning: count it by reason so that
 * the report can say so. */
static void count_secondary(struct fx_shadow *s, const struct fx_conf_route *cr,
                            const struct fx_shadow_job *job)
{
    (void)pthread_mutex_lock(&s->st->lock);
    struct fx_shadow__route *r = route_ensure(s, cr->name, cr->id);
    if (r != NULL) {
        if (job->secondary.status == 0) {
            r->sec_errors[fx_shadow__error_slot(job->secondary.error)]++;
            r->sec_err_ms = fx_shadow__wall_ms();
        } else {
            r->sec_ok_ms = fx_shadow__wall_ms();
        }
        r->dirty = true;
    }
    (void)pthread_mutex_unlock(&s->st->lock);
}

static void process(struct fx_shadow *s, const struct fx_conf *conf,
                    const struct fx_shadow_job *job)
{
    const struct fx_conf_route *cr = shadow_route(conf, job->route);
    if (cr == NULL || job->route_id >= FX_SHADOW_MAX_ROUTES)
        return; /* the route lost its shadow section: not counted */
    if (job->primary.status == 0) {
        fx_shadow_count_drop(s, job->route_id, FX_SHADOW_DROP_PRIMARY);
        return;
    }
    if (job->candidate.status == 0) {
        count_error(s, cr, job);
        return;
    }
    struct outcome *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        fx_shadow_count_drop(s, job->route_id, FX_SHADOW_DROP_NOMEM);
        return;
    }
    struct fx_shadow_rules rules;
    rules_of(cr->shadow, &rules);
    const char *rh = job->req_head != NULL ? job->req_head : "";
    bool head_ok = job->req_head != NULL && job->method_len <= job->req_head_len &&
                   job->target_off <= job->req_head_len &&
                   job->target_len <= job->req_head_len - job->target_off;
    (void)fx_shadow_endpoint(rh, head_ok ? job->method_len : 0,
                             rh + (head_ok ? job->target_off : 0), head_ok ? job->target_len : 0,
                             o->endpoint, sizeof(o->endpoint));
    o->has_sec = job->has_secondary && job->secondary.status != 0;
    if (job->has_secondary)
        count_secondary(s, cr, job);
    /* Noise is learned up to the noise table's size, not the candidate's
     * difference limit: a secondary with many noisy fields must not leave
     * some of them to be counted as mismatches. */
    struct fx_shadow_rules srules = rules;
    srules.max_diffs = FX_SHADOW_MAX_NOISE;
    int rc = o->has_sec ? fx_shadow_compare(&job->primary, &job->secondary, &srules, &o->sec) : 0;
    if (rc == 0)
        rc = compare_record(s, cr, job, &rules, o);
    if (rc != 0)
        fx_shadow_count_drop(s, job->route_id, FX_SHADOW_DROP_NOMEM);
    fx_shadow_diffs_fini(&o->cand);
    fx_shadow_diffs_fini(&o->sec);
    free(o->kept);
    free(o);
}

/* ---- thread and queue ------------------------------------------------------- */

static void *run(void *arg)
{
    struct fx_shadow *s = arg;
    size_t done_bytes = 0; /* of the job just compared: released with the next lock */
    for (;;) {
        (void)pthread_mutex_lock(&s->lock);
        FX_ASSERT(s->queued_bytes >= done_bytes);
        s->queued_bytes -= done_bytes;
        done_bytes = 0;
        struct timespec until;
        (void)clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        int wr = 0;
        while (s->head == NULL && !s->stop && wr != ETIMEDOUT)
            wr = pthread_cond_timedwait(&s->wake, &s->lock, &until);
        struct fx_shadow_job *job = s->head;
        if (job != NULL) {
            s->head = job->next;
            s->tail = s->head != NULL ? s->tail : NULL;
            s->queued--;
        }
        bool stop = s->stop;
        struct fx_conf *conf = s->conf;
        fx_conf_ref(conf);
        (void)pthread_mutex_unlock(&s->lock);
        if (job != NULL) {
            done_bytes = job->bytes;
            process(s, conf, job);
        }
        fx_shadow_job_free(job);
        if (job == NULL && stop) {
            (void)flush_all(s, conf, true, false);
            fx_conf_unref(conf);
            break;
        }
        (void)flush_all(s, conf, false, false);
        fx_conf_unref(conf);
    }
    (void)pthread_mutex_lock(&s->lock);
    s->exited = true;
    (void)pthread_cond_broadcast(&s->wake);
    (void)pthread_mutex_unlock(&s->lock);
    return NULL;
}

bool fx_shadow_submit(struct fx_shadow *s, struct fx_shadow_job *job)
{
    if (job == NULL)
        return false;
    job->next = NULL;
    job_trim(job);
    job->bytes = fx_shadow_job_bytes(job);
    (void)pthread_mutex_lock(&s->lock);
    bool ok = s->running && !s->stop && s->queued < FX_SHADOW_QUEUE_MAX &&
              (uint64_t)s->queued_bytes + job->bytes <= s->conf->limits.shadow_queue_bytes;
    if (ok) {
        if (s->tail != NULL)
            s->tail->next = job;
        else
            s->head = job;
        s->tail = job;
        s->queued++;
        s->queued_bytes += job->bytes;
        (void)pthread_cond_signal(&s->wake);
    }
    (void)pthread_mutex_unlock(&s->lock);
    if (!ok) {
        fx_shadow_count_drop(s, job->route_id, FX_SHADOW_DROP_QUEUE);
        fx_shadow_job_free(job);
    }
    return ok;
}

static void ensure_all(struct fx_shadow *s, const struct fx_conf *conf)
{
    (void)pthread_mutex_lock(&s->st->lock);
    for (size_t i = 0; i < conf->nroutes; i++) {
        if (conf->routes[i].shadow != NULL)
            (void)route_ensure(s, conf->routes[i].name, conf->routes[i].id);
    }
    (void)pthread_mutex_unlock(&s->st->lock);
}

static void state_free(struct fx_shadow_state *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->nroutes; i++)
        fx_shadow__route_fini(&st->routes[i]);
    free(st->routes);
    fx_store_close(st->store);
    (void)pthread_mutex_destroy(&st->lock);
    free(st);
}

static int init_sync(struct fx_shadow *s, struct fx_err *err)
{
    pthread_condattr_t ca;
    if (pthread_mutex_init(&s->lock, NULL) != 0 || pthread_condattr_init(&ca) != 0)
        return FX_ERR_SET(err, FX_ESYS, "shadow: cannot initialise the queue lock");
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&s->wake, &ca);
    (void)pthread_condattr_destroy(&ca);
    return rc == 0 ? 0 : FX_ERR_SET(err, FX_ESYS, "shadow: cannot initialise the queue condvar");
}

int fx_shadow_start(struct fx_shadow *s, struct fx_conf *conf, struct fx_err *err)
{
    int rc = init_sync(s, err);
    if (rc != 0)
        return rc;
    struct fx_shadow_state *st = calloc(1, sizeof(*st));
    if (st == NULL || pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st);
        return FX_ERR_SET(err, FX_ESYS, "shadow: out of memory");
    }
    rc = fx_store_open(conf->store_path, &st->store, err);
    if (rc == 0 && fx_shadow__db_init(st->store) != 0)
        rc = FX_ERR_SET(err, FX_EIO, "shadow: %s: cannot create the shadow tables",
                        conf->store_path);
    if (rc != 0) {
        state_free(st);
        return rc;
    }
    s->st = st;
    fx_conf_ref(conf);
    s->conf = conf;
    ensure_all(s, conf);
    st->last_flush_ms = fx_shadow__mono_ms();
    s->stop = false;
    s->exited = false;
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        s->st = NULL;
        state_free(st);
        fx_conf_unref(conf);
        s->conf = NULL;
        return FX_ERR_SET(err, FX_ESYS, "shadow: cannot start the comparison thread");
    }
    s->running = true;
    return 0;
}

void fx_shadow_reload(struct fx_shadow *s, struct fx_conf *conf)
{
    if (!s->running)
        return; /* never started or stopped: nothing would release the reference */
    fx_conf_ref(conf);
    (void)pthread_mutex_lock(&s->lock);
    struct fx_conf *old = s->conf;
    s->conf = conf;
    (void)pthread_mutex_unlock(&s->lock);
    fx_conf_unref(old);
    ensure_all(s, conf);
}

/* Detach the queue (s->lock held) and count its jobs as discarded; returns
 * the list, freed by the caller without the lock. Jobs of routes that lost
 * their shadow section are not counted, as in process(). */
static struct fx_shadow_job *discard_queue(struct fx_shadow *s, size_t *n)
{
    struct fx_shadow_job *list = s->head;
    *n = 0;
    for (struct fx_shadow_job *j = list; j != NULL; j = j->next) {
        if (shadow_route(s->conf, j->route) != NULL)
            fx_shadow_count_discard(s, j->route_id);
        s->queued_bytes -= j->bytes;
        (*n)++;
    }
    s->head = s->tail = NULL;
    s->queued = 0;
    return list;
}

/* Wait until the thread has exited or `deadline` (monotonic) passed (s->lock held). */
static bool wait_exit(struct fx_shadow *s, const struct timespec *deadline)
{
    int wr = 0;
    while (!s->exited && wr != ETIMEDOUT)
        wr = pthread_cond_timedwait(&s->wake, &s->lock, deadline);
    return s->exited;
}

void fx_shadow_stop(struct fx_shadow *s, uint64_t wait_ms)
{
    if (!s->running)
        return;
    uint64_t t0 = fx_shadow__mono_ms();
    (void)pthread_mutex_lock(&s->lock);
    s->stop = true;
    size_t n = 0;
    struct fx_shadow_job *list = discard_queue(s, &n);
    (void)pthread_cond_broadcast(&s->wake);
    uint64_t drain_ms = s->conf->limits.drain_timeout_ms;
    if (wait_ms < drain_ms)
        drain_ms = wait_ms;
    (void)pthread_mutex_unlock(&s->lock);
    while (list != NULL) {
        struct fx_shadow_job *next = list->next;
        fx_shadow_job_free(list);
        list = next;
    }
    struct timespec deadline;
    (void)clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t ns = (uint64_t)deadline.tv_nsec + (drain_ms % 1000u) * 1000000u;
    deadline.tv_sec += (time_t)(drain_ms / 1000u + ns / 1000000000u);
    deadline.tv_nsec = (long)(ns % 1000000000u);
    (void)pthread_mutex_lock(&s->lock);
    bool exited = wait_exit(s, &deadline);
    (void)pthread_mutex_unlock(&s->lock);
    struct fx_log log = { FX_LOG_INFO, 2 };
    fx_log(&log, FX_LOG_INFO,
           "event=shadow_stop discarded=%" PRIu64 " discarded_queued=%zu elapsed_ms=%" PRIu64
           " result=%s",
           (uint64_t)atomic_load(&s->discarded), n, fx_shadow__mono_ms() - t0,
           exited ? "ok" : "drain_timeout");
    if (!exited) {
        /* Still comparing: persist the discards now unless the thread holds
         * the state; its state stays allocated until the process exits. */
        (void)flush_all(s, s->conf, true, true);
        return;
    }
    (void)pthread_join(s->thread, NULL);
    /* The lock stays usable: a late fx_shadow_submit() sees running == false. */
    (void)pthread_mutex_lock(&s->lock);
    s->running = false;
    struct fx_shadow_state *st = s->st;
    s->st = NULL;
    struct fx_conf *conf = s->conf;
    s->conf = NULL;
    (void)pthread_mutex_unlock(&s->lock);
    state_free(st);
    fx_conf_unref(conf);
}
