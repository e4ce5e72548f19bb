/* Unit tests for control: start from config, operator commands, persistence
 * across restarts and reloads, the guard and the ramp, the JSON views. No
 * real workers: the tests write the workers' per-side counters themselves. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>
#include <jansson.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "../core/log.h"
#include "../migrate/migrate.h"
#include "../proxy/proxy.h"
#include "control.h"

/* ---- configurations ------------------------------------------------------ */

/* A non-migrating route first, so the migrating ones do not have id 0. */
#define PLAIN "  - name: plain\n    to: a\n"
/* A second migrating route without a ramp: steady at 25%. */
#define FIXED "  - name: fixed\n    to: a\n    migrate: {to: b, weight: 25%}\n"
#define MIG_R PLAIN "  - name: r\n    to: a\n    migrate:\n      to: b\n"

/* Ramping at 5% (before the first step), nothing decided for an hour. */
#define CFG_SLOW               \
    MIG_R "      weight: 5%\n" \
          "      ramp: {steps: [10%, 50%, 100%], interval: 1h}\n" FIXED

/* The same route with another migrate section (fingerprint differs). */
#define CFG_SLOW_CHANGED       \
    MIG_R "      weight: 7%\n" \
          "      ramp: {steps: [10%, 50%, 100%], interval: 1h}\n" FIXED

/* At 10% (step 0) with a one-hour interval: only the guard acts. */
#define CFG_GUARD                                            \
    MIG_R "      weight: 10%\n"                              \
          "      ramp: {steps: [10%, 100%], interval: 1h}\n" \
          "      guard: {min_requests: 20, window: 1s}\n" FIXED

/* From 0% in two steps of 100 ms. */
#define CFG_FAST                                                \
    MIG_R "      ramp: {steps: [10%, 100%], interval: 100ms}\n" \
          "      guard: {min_requests: 20, window: 1s}\n" FIXED

/* ---- fixture ------------------------------------------------------------- */

struct fixture {
    char dir[64];
    char db[128]; /* dir/t.db */
    struct fx_shared *sh;
    bool sh_init;
    struct fx_worker ws[2];
    struct fx_control ctl;
    bool started;
    unsigned int rid; /* id of route "r" */
    unsigned int fid; /* id of route "fixed" */
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/ficus-control-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    (void)snprintf(fx->db, sizeof(fx->db), "%s/t.db", fx->dir);
    fx->sh = calloc(1, sizeof(*fx->sh));
    fx->ws[0].stats = calloc(1, sizeof(struct fx_stats));
    fx->ws[1].stats = calloc(1, sizeof(struct fx_stats));
    if (fx->sh == NULL || fx->ws[0].stats == NULL || fx->ws[1].stats == NULL) {
        free(fx->sh);
        free(fx->ws[0].stats);
        free(fx->ws[1].stats);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->started)
        fx_control_stop(&fx->ctl);
    if (fx->sh_init)
        fx_shared_fini(fx->sh);
    free(fx->sh);
    free(fx->ws[0].stats);
    free(fx->ws[1].stats);
    DIR *d = opendir(fx->dir);
    if (d != NULL) {
        const struct dirent *de;
        char p[384];
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            (void)snprintf(p, sizeof(p), "%s/%s", fx->dir, de->d_name);
            (void)unlink(p);
        }
        (void)closedir(d);
    }
    (void)rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Load `routes` (the lines under "routes:") with the fixture's store and
 * assign ids; the first config also initialises fx->sh. */
static struct fx_conf *load(struct fixture *fx, const char *routes)
{
    char yaml[2048];
    (void)snprintf(yaml, sizeof(yaml),
                   "listen: \"127.0.0.1:0\"\n"
                   "store: \"sqlite:%s\"\n"
                   "upstreams: {a: {servers: [\"127.0.0.1:3000\"]},"
                   " b: {servers: [\"127.0.0.1:4000\"]}}\n"
                   "routes:\n%s",
                   fx->db, routes);
    struct fx_conf *c = NULL;
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    if (fx_conf_load_string("t.yaml", yaml, strlen(yaml), &c, &err) != 0)
        fail_msg("config: %s", err.msg);
    if (!fx->sh_init) {
        fx_conf_ref(c);
        assert_int_equal(fx_shared_init(fx->sh, c), 0);
        fx->sh->log.level = FX_LOG_ERROR; /* keep the migration lines off the test output */
        fx->sh_init = true;
    }
    (void)pthread_mutex_lock(&fx->sh->lock);
    int rc = fx_shared_assign_ids(fx->sh, c, &err);
    (void)pthread_mutex_unlock(&fx->sh->lock);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < c->nroutes; i++) {
        if (strcmp(c->routes[i].name, "r") == 0)
            fx->rid = c->routes[i].id;
        if (strcmp(c->routes[i].name, "fixed") == 0)
            fx->fid = c->routes[i].id;
    }
    return c;
}

static void start(struct fixture *fx, const char *routes)
{
    struct fx_conf *c = load(fx, routes);
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    int rc = fx_control_start(&fx->ctl, fx->sh, fx->ws, 2, c, &err);
    fx_conf_unref(c);
    if (rc != 0)
        fail_msg("fx_control_start: %d %s", rc, err.msg);
    fx->started = true;
}

static void stop(struct fixture *fx)
{
    fx_control_stop(&fx->ctl);
    fx->started = false;
}

static void reload(struct fixture *fx, const char *routes)
{
    struct fx_conf *c = load(fx, routes);
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    int rc = fx_control_reload(&fx->ctl, c, &err);
    fx_conf_unref(c);
    if (rc != 0)
        fail_msg("fx_control_reload: %d %s", rc, err.msg);
}

/* ---- helpers -------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static unsigned int pub_weight(const struct fixture *fx, unsigned int id)
{
    return atomic_load(&fx->sh->mig[id].weight_bp);
}

static unsigned int pub_status(const struct fixture *fx, unsigned int id)
{
    return atomic_load(&fx->sh->mig[id].status);
}

/* Parse what `fn` wrote to a memory stream. */
static json_t *parse_buf(char *buf)
{
    json_error_t je;
    json_t *j = json_loads(buf, 0, &je);
    if (j == NULL)
        fail_msg("bad JSON (%s): %s", je.text, buf);
    free(buf);
    return j;
}

static json_t *events_of(struct fixture *fx, const char *route)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fx_control_events_json(&fx->ctl, route, 1000, f), 0);
    assert_int_equal(fclose(f), 0);
    json_t *j = parse_buf(buf);
    assert_true(json_is_array(j));
    return j;
}

/* Route `name` as fx_control_routes_json writes it. */
static json_t *route_of(struct fixture *fx, const char *name)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fx_control_routes_json(&fx->ctl, name, f), 0);
    assert_int_equal(fclose(f), 0);
    json_t *j = parse_buf(buf);
    assert_true(json_is_object(j));
    return j;
}

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL)
        fail_msg("no string \"%s\"", key);
    return s;
}

static json_int_t int_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("no integer \"%s\"", key);
    return json_integer_value(v);
}

/* Events of `kind` (NULL: any) by `actor` (NULL: any) in the audit log of r. */
static size_t count_events(struct fixture *fx, const char *kind, const char *actor)
{
    json_t *ev = events_of(fx, "r");
    size_t n = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(ev, i, e)
    {
        if ((kind == NULL || strcmp(str_of(e, "kind"), kind) == 0) &&
            (actor == NULL || strcmp(str_of(e, "actor"), actor) == 0))
            n++;
    }
    json_decref(ev);
    return n;
}

/* The last event of route r (caller frees with json_decref). */
static json_t *last_event(struct fixture *fx, const char *kind)
{
    json_t *ev = events_of(fx, "r");
    json_t *found = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e)
    {
        if (kind == NULL || strcmp(str_of(e, "kind"), kind) == 0)
            found = e;
    }
    if (found == NULL)
        fail_msg("no %s event", kind ? kind : "");
    json_incref(found);
    json_decref(ev);
    return found;
}

static void assert_route(struct fixture *fx, const char *name, unsigned int id, json_int_t weight,
                         const char *status)
{
    json_t *r = route_of(fx, name);
    assert_int_equal(int_of(r, "weight_bp"), weight);
    assert_string_equal(str_of(r, "status"), status);
    json_decref(r);
    assert_int_equal(pub_weight(fx, id), weight);
    enum fx_mig_status st;
    assert_int_equal(fx_mig_status_parse(status, &st), 0);
    assert_int_equal(pub_status(fx, id), st);
}

/* One round of traffic on route r, per side: requests, errors, latency. */
struct flow {
    uint64_t req[2];
    uint64_t err[2];
    uint64_t us[2];
};

static void add_round(struct fixture *fx, const struct flow *fl, size_t worker)
{
    struct fx_stats *st = fx->ws[worker].stats;
    for (int side = 0; side < 2; side++) {
        atomic_fetch_add(&st->side_req[fx->rid][side], fl->req[side]);
        atomic_fetch_add(&st->side_err[fx->rid][side], fl->err[side]);
        atomic_fetch_add(&st->side_lat[fx->rid][side][fx_mig_lat_bucket(fl->us[side])],
                         fl->req[side]);
    }
}

/* Add a round every 5 ms, alternating workers, until r's published status is
 * `want` or `timeout` ms passed (then returns false). */
static bool pump_until(struct fixture *fx, const struct flow *fl, enum fx_mig_status want,
                       uint64_t timeout)
{
    uint64_t end = now_ms() + timeout;
    for (size_t round = 0; now_ms() < end; round++) {
        if (pub_status(fx, fx->rid) == (unsigned int)want)
            return true;
        add_round(fx, fl, round % 2);
        sleep_ms(5);
    }
    return pub_status(fx, fx->rid) == (unsigned int)want;
}

static void pump_for(struct fixture *fx, const struct flow *fl, uint64_t ms)
{
    uint64_t end = now_ms() + ms;
    for (size_t round = 0; now_ms() < end; round++) {
        add_round(fx, fl, round % 2);
        sleep_ms(5);
    }
}

static int cmd(struct fixture *fx, const char *route, enum fx_ctl_cmd c, uint32_t weight, char *msg,
               size_t cap)
{
    return fx_control_cmd(&fx->ctl, route, c, weight, "alice", msg, cap);
}

/* ---- start ------------------------------------------------------------------ */

static void test_control_start_initialises_from_config(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    assert_int_not_equal(fx->rid, 0);
    assert_route(fx, "r", fx->rid, 500, "ramping");
    assert_route(fx, "fixed", fx->fid, 2500, "steady");
    json_t *r = route_of(fx, "r");
    assert_int_equal(int_of(r, "step"), -1);
    json_decref(r);

    assert_int_equal(count_events(fx, NULL, NULL), 1);
    json_t *e = last_event(fx, "config");
    assert_string_equal(str_of(e, "actor"), "config");
    assert_string_equal(str_of(e, "route"), "r");
    assert_string_equal(str_of(e, "new"), "5.00% ramping");
    assert_string_equal(str_of(e, "reason"), "first start with this migrate section");
    json_decref(e);
    json_t *all = events_of(fx, NULL);
    assert_int_equal(json_array_size(all), 2); /* r and fixed */
    json_decref(all);
    assert_int_equal(fx_control_rollbacks(&fx->ctl, fx->rid), 0);
}

static void test_control_start_step_and_promoted_from_weight(void **state)
{
    struct fixture *fx = *state;
    start(fx, MIG_R "      weight: 50%\n"
                    "      ramp: {steps: [10%, 50%, 100%], interval: 1h}\n"
                    "  - name: done\n    to: a\n    migrate: {to: b, weight: 100%}\n");
    json_t *r = route_of(fx, "r");
    assert_int_equal(int_of(r, "weight_bp"), 5000);
    assert_int_equal(int_of(r, "step"), 1);
    assert_string_equal(str_of(r, "status"), "ramping");
    json_decref(r);
    json_t *d = route_of(fx, "done");
    assert_int_equal(int_of(d, "weight_bp"), 10000);
    assert_string_equal(str_of(d, "status"), "promoted");
    json_decref(d);
}

/* A gateway without migrating routes opens no store and writes nothing. */
static void test_control_start_without_migration_opens_no_store(void **state)
{
    struct fixture *fx = *state;
    start(fx, PLAIN);
    struct stat sb;
    assert_int_equal(stat(fx->db, &sb), -1);
    assert_int_equal(errno, ENOENT);
    json_t *ev = events_of(fx, NULL);
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
    json_t *all = route_of(fx, NULL);
    assert_int_equal(json_array_size(json_object_get(all, "routes")), 0);
    json_decref(all);
    char msg[160];
    assert_int_equal(cmd(fx, "plain", FX_CTL_PAUSE, 0, msg, sizeof(msg)), FX_ENOTFOUND);
}

/* ---- operator commands ------------------------------------------------------ */

static void test_control_cmd_weight_pauses_a_ramp(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "r", FX_CTL_WEIGHT, 2000, msg, sizeof(msg)), 0);
    assert_route(fx, "r", fx->rid, 2000, "paused");
    json_t *e = last_event(fx, NULL);
    assert_string_equal(str_of(e, "kind"), "weight");
    assert_string_equal(str_of(e, "actor"), "alice");
    assert_string_equal(str_of(e, "old"), "5.00% ramping");
    assert_string_equal(str_of(e, "new"), "20.00% paused");
    json_decref(e);

    /* Above 100%: refused, nothing changes. */
    assert_int_equal(cmd(fx, "r", FX_CTL_WEIGHT, 10001, msg, sizeof(msg)), FX_EINVAL);
    assert_non_null(strstr(msg, "100%"));
    assert_route(fx, "r", fx->rid, 2000, "paused");
    assert_int_equal(count_events(fx, NULL, NULL), 2);

    /* 100% promotes. */
    assert_int_equal(cmd(fx, "r", FX_CTL_WEIGHT, 10000, msg, sizeof(msg)), 0);
    assert_route(fx, "r", fx->rid, 10000, "promoted");
}

static void test_control_cmd_weight_on_steady_route_stays_steady(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "fixed", FX_CTL_WEIGHT, 100, msg, sizeof(msg)), 0);
    assert_route(fx, "fixed", fx->fid, 100, "steady");
    assert_int_equal(cmd(fx, "fixed", FX_CTL_WEIGHT, 0, msg, sizeof(msg)), 0);
    assert_route(fx, "fixed", fx->fid, 0, "steady");
    /* The other route is untouched. */
    assert_route(fx, "r", fx->rid, 500, "ramping");
}

static void test_control_cmd_pause_and_resume(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "r", FX_CTL_PAUSE, 0, msg, sizeof(msg)), 0);
    assert_route(fx, "r", fx->rid, 500, "paused");
    json_t *e = last_event(fx, NULL);
    assert_string_equal(str_of(e, "kind"), "pause");
    assert_string_equal(str_of(e, "actor"), "alice");
    json_decref(e);

    assert_int_equal(cmd(fx, "r", FX_CTL_PAUSE, 0, msg, sizeof(msg)), FX_EINVAL);
    assert_non_null(strstr(msg, "paused"));

    assert_int_equal(cmd(fx, "r", FX_CTL_RESUME, 0, msg, sizeof(msg)), 0);
    assert_route(fx, "r", fx->rid, 500, "ramping");
    e = last_event(fx, NULL);
    assert_string_equal(str_of(e, "kind"), "resume");
    assert_string_equal(str_of(e, "new"), "5.00% ramping");
    json_decref(e);

    assert_int_equal(cmd(fx, "r", FX_CTL_RESUME, 0, msg, sizeof(msg)), FX_EINVAL);
    assert_non_null(strstr(msg, "ramping"));

    /* A steady route can be paused, and resumes to steady (no steps). */
    assert_int_equal(cmd(fx, "fixed", FX_CTL_RESUME, 0, msg, sizeof(msg)), FX_EINVAL);
    assert_non_null(strstr(msg, "steady"));
    assert_int_equal(cmd(fx, "fixed", FX_CTL_PAUSE, 0, msg, sizeof(msg)), 0);
    assert_route(fx, "fixed", fx->fid, 2500, "paused");
    assert_int_equal(cmd(fx, "fixed", FX_CTL_RESUME, 0, msg, sizeof(msg)), 0);
    assert_route(fx, "fixed", fx->fid, 2500, "steady");
}

static void test_control_cmd_promote(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "r", FX_CTL_PROMOTE, 0, msg, sizeof(msg)), 0);
    assert_route(fx, "r", fx->rid, 10000, "promoted");
    json_t *e = last_event(fx, NULL);
    assert_string_equal(str_of(e, "kind"), "promote");
    assert_string_equal(str_of(e, "old"), "5.00% ramping");
    assert_string_equal(str_of(e, "new"), "100.00% promoted");
    json_decref(e);

    assert_int_equal(cmd(fx, "r", FX_CTL_PAUSE, 0, msg, sizeof(msg)), FX_EINVAL);
    assert_non_null(strstr(msg, "promoted"));
    assert_int_equal(cmd(fx, "r", FX_CTL_RESUME, 0, msg, sizeof(msg)), FX_EINVAL);
    assert_route(fx, "r", fx->rid, 10000, "promoted");
}

static void test_control_cmd_rollback_and_resume(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "r", FX_CTL_ROLLBACK, 0, msg, sizeof(msg)), 0);
    assert_route(fx, "r", fx->rid, 0, "rolled_back");
    json_t *e = last_event(fx, NULL);
    assert_string_equal(str_of(e, "kind"), "rollback");
    assert_string_equal(str_of(e, "actor"), "alice");
    assert_string_equal(str_of(e, "new"), "0.00% rolled_back");
    json_decref(e);
    /* Operator rollbacks are not guard rollbacks. */
    assert_int_equal(fx_control_rollbacks(&fx->ctl, fx->rid), 0);

    assert_int_equal(cmd(fx, "r", FX_CTL_ROLLBACK, 0, msg, sizeof(msg)), FX_EINVAL);
    assert_non_null(strstr(msg, "rolled_back"));
    assert_int_equal(count_events(fx, "rollback", NULL), 1);

    assert_int_equal(cmd(fx, "r", FX_CTL_PAUSE, 0, msg, sizeof(msg)), FX_EINVAL);

    /* Before the first step, resume goes back to the configured weight. */
    assert_int_equal(cmd(fx, "r", FX_CTL_RESUME, 0, msg, sizeof(msg)), 0);
    assert_route(fx, "r", fx->rid, 500, "ramping");

    /* A promoted route can still be rolled back. */
    assert_int_equal(cmd(fx, "r", FX_CTL_PROMOTE, 0, msg, sizeof(msg)), 0);
    assert_int_equal(cmd(fx, "r", FX_CTL_ROLLBACK, 0, msg, sizeof(msg)), 0);
    assert_route(fx, "r", fx->rid, 0, "rolled_back");
}

static void test_control_cmd_unknown_route(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "nope", FX_CTL_PAUSE, 0, msg, sizeof(msg)), FX_ENOTFOUND);
    assert_non_null(strstr(msg, "\"nope\""));
    /* A route that exists but does not migrate. */
    assert_int_equal(cmd(fx, "plain", FX_CTL_PROMOTE, 0, msg, sizeof(msg)), FX_ENOTFOUND);
    assert_int_equal(count_events(fx, NULL, NULL), 1);
}

/* ---- persistence ------------------------------------------------------------- */

static void test_control_start_same_config_resumes_state(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "r", FX_CTL_WEIGHT, 2000, msg, sizeof(msg)), 0);
    stop(fx);
    atomic_store(&fx->sh->mig[fx->rid].weight_bp, 0);
    atomic_store(&fx->sh->mig[fx->rid].status, 0);

    start(fx, CFG_SLOW);
    assert_route(fx, "r", fx->rid, 2000, "paused");
    assert_int_equal(count_events(fx, NULL, NULL), 2);
    assert_int_equal(count_events(fx, "config", NULL), 1);
}

static void test_control_start_changed_config_reinitialises(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "r", FX_CTL_WEIGHT, 2000, msg, sizeof(msg)), 0);
    stop(fx);

    start(fx, CFG_SLOW_CHANGED);
    assert_route(fx, "r", fx->rid, 700, "ramping");
    assert_int_equal(count_events(fx, "config", "config"), 2);
    json_t *e = last_event(fx, NULL);
    assert_string_equal(str_of(e, "kind"), "config");
    assert_string_equal(str_of(e, "old"), "20.00% paused");
    assert_string_equal(str_of(e, "new"), "7.00% ramping");
    assert_non_null(strstr(str_of(e, "reason"), "changed"));
    json_decref(e);
    /* The unchanged route kept its state without an event. */
    json_t *all = events_of(fx, "fixed");
    assert_int_equal(json_array_size(all), 1);
    json_decref(all);
}

static void test_control_reload_unchanged_keeps_state(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "r", FX_CTL_PAUSE, 0, msg, sizeof(msg)), 0);
    assert_int_equal(cmd(fx, "fixed", FX_CTL_WEIGHT, 300, msg, sizeof(msg)), 0);
    size_t before = count_events(fx, NULL, NULL);

    reload(fx, CFG_SLOW);
    assert_route(fx, "r", fx->rid, 500, "paused");
    assert_route(fx, "fixed", fx->fid, 300, "steady");
    assert_int_equal(count_events(fx, NULL, NULL), before);
    /* Commands work on the reloaded routes. */
    assert_int_equal(cmd(fx, "r", FX_CTL_RESUME, 0, msg, sizeof(msg)), 0);
    assert_route(fx, "r", fx->rid, 500, "ramping");
}

static void test_control_reload_changed_reinitialises(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "r", FX_CTL_PAUSE, 0, msg, sizeof(msg)), 0);

    reload(fx, CFG_SLOW_CHANGED);
    assert_route(fx, "r", fx->rid, 700, "ramping");
    json_t *e = last_event(fx, NULL);
    assert_string_equal(str_of(e, "kind"), "config");
    assert_string_equal(str_of(e, "actor"), "config");
    assert_string_equal(str_of(e, "old"), "5.00% paused");
    assert_non_null(strstr(str_of(e, "reason"), "changed"));
    json_decref(e);
}

/* The first migrating route arrives by reload: the store is opened then. */
static void test_control_reload_opens_store_for_first_migration(void **state)
{
    struct fixture *fx = *state;
    start(fx, PLAIN);
    reload(fx, CFG_SLOW);
    assert_route(fx, "r", fx->rid, 500, "ramping");
    json_t *e = last_event(fx, "config");
    assert_string_equal(str_of(e, "reason"), "route added to the configuration");
    json_decref(e);
    struct stat sb;
    assert_int_equal(stat(fx->db, &sb), 0);
}

/* ---- the guard ------------------------------------------------------------------ */

static void test_control_guard_rolls_back_on_errors(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_GUARD);
    assert_route(fx, "r", fx->rid, 1000, "ramping");
    const struct flow bad = { .req = { 4, 4 }, .err = { 0, 2 }, .us = { 2000, 2000 } };
    if (!pump_until(fx, &bad, FX_MIG_ROLLED_BACK, 2000))
        fail_msg("no rollback");
    /* Keep the bad traffic up: a rolled-back route is not judged again. */
    pump_for(fx, &bad, 100);
    assert_route(fx, "r", fx->rid, 0, "rolled_back");
    assert_int_equal(fx_control_rollbacks(&fx->ctl, fx->rid), 1);
    assert_int_equal(fx_control_rollbacks(&fx->ctl, fx->fid), 0);
    assert_int_equal(count_events(fx, "rollback", NULL), 1);
    json_t *e = last_event(fx, "rollback");
    assert_string_equal(str_of(e, "actor"), "guard");
    assert_string_equal(str_of(e, "old"), "10.00% ramping");
    assert_string_equal(str_of(e, "new"), "0.00% rolled_back");
    const char *why = str_of(e, "reason");
    assert_non_null(strstr(why, "%"));
    assert_non_null(strstr(why, "error rate increase above the rollback limit"));
    json_decref(e);
    json_t *r = route_of(fx, "r");
    assert_int_equal(int_of(r, "rollbacks"), 1);
    json_decref(r);

    /* Resume returns to the step reached; the old traffic is not judged again. */
    char msg[160];
    assert_int_equal(cmd(fx, "r", FX_CTL_RESUME, 0, msg, sizeof(msg)), 0);
    sleep_ms(60);
    assert_route(fx, "r", fx->rid, 1000, "ramping");
    assert_int_equal(fx_control_rollbacks(&fx->ctl, fx->rid), 1);
}

static void test_control_guard_rolls_back_on_p99(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_GUARD);
    const struct flow slow = { .req = { 4, 4 }, .err = { 0, 0 }, .us = { 10000, 100000 } };
    if (!pump_until(fx, &slow, FX_MIG_ROLLED_BACK, 2000))
        fail_msg("no rollback");
    json_t *e = last_event(fx, "rollback");
    assert_string_equal(str_of(e, "actor"), "guard");
    assert_non_null(strstr(str_of(e, "reason"), "p99 ratio above the rollback limit"));
    json_decref(e);
    assert_int_equal(fx_control_rollbacks(&fx->ctl, fx->rid), 1);
}

static void test_control_guard_waits_for_min_requests(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_GUARD);
    sleep_ms(20);
    /* 10 new requests, all failed: below min_requests (20). */
    const struct flow few = { .req = { 10, 10 }, .err = { 0, 10 }, .us = { 2000, 2000 } };
    add_round(fx, &few, 0);
    sleep_ms(100);
    assert_route(fx, "r", fx->rid, 1000, "ramping");
    assert_int_equal(fx_control_rollbacks(&fx->ctl, fx->rid), 0);
    assert_int_equal(count_events(fx, "rollback", NULL), 0);
}

static void test_control_guard_healthy_traffic_does_nothing(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_GUARD);
    const struct flow good = { .req = { 4, 4 }, .err = { 0, 0 }, .us = { 2000, 2000 } };
    pump_for(fx, &good, 100);
    assert_route(fx, "r", fx->rid, 1000, "ramping");
    assert_int_equal(count_events(fx, NULL, NULL), 1);
}

/* ---- the ramp ------------------------------------------------------------------- */

static void test_control_ramp_reaches_promoted(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_FAST);
    assert_route(fx, "r", fx->rid, 0, "ramping");
    const struct flow good = { .req = { 4, 4 }, .err = { 0, 0 }, .us = { 2000, 2000 } };
    if (!pump_until(fx, &good, FX_MIG_PROMOTED, 3000))
        fail_msg("not promoted: weight %u status %u", pub_weight(fx, fx->rid),
                 pub_status(fx, fx->rid));
    assert_route(fx, "r", fx->rid, 10000, "promoted");
    assert_int_equal(count_events(fx, "advance", "ramp"), 2);
    assert_int_equal(count_events(fx, "advance", NULL), 2);
    assert_int_equal(count_events(fx, "rollback", NULL), 0);
    json_t *e = last_event(fx, "advance");
    assert_string_equal(str_of(e, "old"), "10.00% ramping");
    assert_string_equal(str_of(e, "new"), "100.00% promoted");
    assert_non_null(strstr(str_of(e, "reason"), "within limits"));
    json_decref(e);
    json_t *r = route_of(fx, "r");
    assert_int_equal(int_of(r, "step"), 1);
    json_decref(r);
}

/* At 0% the new side has no traffic: the first step is taken on time anyway,
 * and the next one waits for traffic. */
static void test_control_ramp_first_step_from_zero_without_traffic(void **state)
{
    struct fixture *fx = *state;
    uint64_t t0 = now_ms();
    start(fx, CFG_FAST);
    assert_route(fx, "r", fx->rid, 0, "ramping");
    while (pub_weight(fx, fx->rid) == 0 && now_ms() < t0 + 2000)
        sleep_ms(5);
    assert_int_equal(pub_weight(fx, fx->rid), 1000);
    assert_true(now_ms() - t0 >= 90);
    json_t *e = last_event(fx, "advance");
    assert_string_equal(str_of(e, "actor"), "ramp");
    assert_string_equal(str_of(e, "old"), "0.00% ramping");
    assert_string_equal(str_of(e, "new"), "10.00% ramping");
    assert_non_null(strstr(str_of(e, "reason"), "first step"));
    json_decref(e);

    sleep_ms(250);
    assert_route(fx, "r", fx->rid, 1000, "ramping");
    assert_int_equal(count_events(fx, "advance", NULL), 1);
    assert_true(count_events(fx, "hold", "ramp") >= 1);
    e = last_event(fx, "hold");
    assert_non_null(strstr(str_of(e, "reason"), "too few new requests"));
    json_decref(e);
}

/* ---- JSON views ------------------------------------------------------------------ */

static void test_control_routes_json_fields(void **state)
{
    struct fixture *fx = *state;
    start(fx, MIG_R "      weight: 10%\n"
                    "      ramp: {steps: [10%, 100%], interval: 1h}\n"
                    "      guard: {min_requests: 1000, window: 2s}\n" FIXED);
    sleep_ms(30); /* a first sample before the traffic */
    const struct flow legacy = { .req = { 30, 0 }, .err = { 3, 0 }, .us = { 2000, 0 } };
    const struct flow fresh = { .req = { 0, 10 }, .err = { 0, 0 }, .us = { 0, 4000 } };
    add_round(fx, &legacy, 0);
    add_round(fx, &fresh, 1);
    sleep_ms(60);

    json_t *all = route_of(fx, NULL);
    const json_t *routes = json_object_get(all, "routes");
    assert_true(json_is_array(routes));
    assert_int_equal(json_array_size(routes), 2);
    const json_t *r = json_array_get(routes, 0);
    assert_string_equal(str_of(r, "name"), "r");
    assert_string_equal(str_of(r, "legacy"), "a");
    assert_string_equal(str_of(r, "new"), "b");
    assert_string_equal(str_of(r, "weight"), "10.00%");
    assert_int_equal(int_of(r, "weight_bp"), 1000);
    assert_int_equal(int_of(r, "step"), 0);
    const json_t *steps = json_object_get(r, "steps");
    assert_int_equal(json_array_size(steps), 2);
    assert_string_equal(json_string_value(json_array_get(steps, 0)), "10.00%");
    assert_string_equal(json_string_value(json_array_get(steps, 1)), "100.00%");
    assert_string_equal(str_of(r, "status"), "ramping");
    assert_int_equal(int_of(r, "rollbacks"), 0);
    assert_int_equal(int_of(r, "window_seconds"), 2);
    const json_t *sides = json_object_get(r, "sides");
    const json_t *lg = json_object_get(sides, "legacy");
    const json_t *nw = json_object_get(sides, "new");
    assert_non_null(lg);
    assert_non_null(nw);
    assert_int_equal(int_of(lg, "requests"), 30);
    assert_int_equal(int_of(lg, "errors"), 3);
    assert_true(json_real_value(json_object_get(lg, "error_rate")) > 0.0999);
    assert_true(json_real_value(json_object_get(lg, "error_rate")) < 0.1001);
    double p50 = json_real_value(json_object_get(lg, "p50_ms"));
    assert_true(p50 >= 2.0);
    assert_true(json_real_value(json_object_get(lg, "p99_ms")) >= p50);
    assert_int_equal(int_of(nw, "requests"), 10);
    assert_int_equal(int_of(nw, "errors"), 0);
    assert_true(json_real_value(json_object_get(nw, "p99_ms")) >= 4.0);
    assert_string_equal(str_of(json_array_get(routes, 1), "name"), "fixed");
    assert_string_equal(str_of(json_array_get(routes, 1), "status"), "steady");
    json_decref(all);

    json_t *one = route_of(fx, "r");
    assert_string_equal(str_of(one, "name"), "r");
    assert_int_equal(int_of(json_object_get(json_object_get(one, "sides"), "legacy"), "requests"),
                     30);
    json_decref(one);

    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    assert_int_equal(fx_control_routes_json(&fx->ctl, "nope", f), FX_ENOTFOUND);
    assert_int_equal(fx_control_routes_json(&fx->ctl, "plain", f), FX_ENOTFOUND);
    (void)fclose(f);
}

static void test_control_events_json_filters_by_route(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "fixed", FX_CTL_PAUSE, 0, msg, sizeof(msg)), 0);
    json_t *ev = events_of(fx, "fixed");
    assert_int_equal(json_array_size(ev), 2);
    size_t i;
    const json_t *e;
    json_array_foreach(ev, i, e)
    {
        assert_string_equal(str_of(e, "route"), "fixed");
    }
    assert_string_equal(str_of(json_array_get(ev, 1), "kind"), "pause");
    json_decref(ev);
    json_t *all = events_of(fx, NULL);
    assert_int_equal(json_array_size(all), 3);
    json_decref(all);
}

/* ---- ficus plan ------------------------------------------------------------------ */

/* The live states as `ficus plan` reads them: from fx_control_routes_json. */
static size_t live_of(struct fixture *fx, struct fx_mig_state *v, size_t cap)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fx_control_routes_json(&fx->ctl, NULL, f), 0);
    assert_int_equal(fclose(f), 0);
    json_t *j = parse_buf(buf);
    const json_t *arr = json_object_get(j, "routes");
    size_t n = json_array_size(arr);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(arr, i);
        memset(&v[i], 0, sizeof(v[i]));
        (void)snprintf(v[i].route, sizeof(v[i].route), "%s", str_of(r, "name"));
        (void)snprintf(v[i].fingerprint, sizeof(v[i].fingerprint), "%s", str_of(r, "fingerprint"));
        assert_int_equal(fx_mig_status_parse(str_of(r, "status"), &v[i].status), 0);
        v[i].weight_bp = (uint32_t)json_integer_value(json_object_get(r, "weight_bp"));
        v[i].step = (int)json_integer_value(json_object_get(r, "step"));
    }
    json_decref(j);
    return n;
}

static const json_t *plan_route(const json_t *plan, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(plan, "routes"), i, r)
    {
        if (strcmp(str_of(r, "name"), name) == 0)
            return r;
    }
    fail_msg("no route %s in the plan", name);
    return NULL;
}

/* The plan's prediction against a live control plane, then the real reload:
 * both must land on the same state (a paused route reset by a changed
 * section; an unchanged one kept). */
static void test_plan_build_predicts_what_reload_does(void **state)
{
    struct fixture *fx = *state;
    start(fx, CFG_SLOW);
    char msg[160];
    assert_int_equal(cmd(fx, "r", FX_CTL_PAUSE, 0, msg, sizeof(msg)), 0);
    assert_int_equal(cmd(fx, "fixed", FX_CTL_WEIGHT, 4000, msg, sizeof(msg)), 0);
    struct fx_mig_state v[4];
    struct fx_plan_live live = { v, live_of(fx, v, 4), true };
    struct fx_conf *cur = load(fx, CFG_SLOW);
    struct fx_conf *next = load(fx, CFG_SLOW_CHANGED);
    json_t *running = fx_plan_dump(cur);
    json_t *plan = fx_plan_build(running, next, &live);
    assert_non_null(plan);
    const json_t *m = json_object_get(plan_route(plan, "r"), "migration");
    assert_string_equal(str_of(m, "action"), "reset");
    assert_string_equal(str_of(json_object_get(m, "before"), "status"), "paused");
    const json_t *after = json_object_get(m, "after");
    const json_t *fm = json_object_get(plan_route(plan, "fixed"), "migration");
    assert_string_equal(str_of(fm, "action"), "kept");
    assert_string_equal(str_of(plan_route(plan, "fixed"), "change"), "unchanged");
    assert_int_equal(json_integer_value(json_object_get(plan, "changes")), 1);

    reload(fx, CFG_SLOW_CHANGED);
    json_t *r = route_of(fx, "r");
    assert_string_equal(str_of(r, "status"), str_of(after, "status"));
    assert_int_equal(json_integer_value(json_object_get(r, "weight_bp")),
                     json_integer_value(json_object_get(after, "weight_bp")));
    assert_int_equal(json_integer_value(json_object_get(r, "step")),
                     json_integer_value(json_object_get(after, "step")));
    json_decref(r);
    json_t *fr = route_of(fx, "fixed");
    assert_string_equal(str_of(fr, "status"), "steady");
    assert_int_equal(json_integer_value(json_object_get(fr, "weight_bp")), 4000);
    json_decref(fr);
    json_decref(plan);
    json_decref(running);
    fx_conf_unref(cur);
    fx_conf_unref(next);
}

static struct fx_conf *conf_of(const char *yaml)
{
    struct fx_conf *c = NULL;
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    if (fx_conf_load_string("p.yaml", yaml, strlen(yaml), &c, &err) != 0)
        fail_msg("config: %s", err.msg);
    return c;
}

#define PLAN_UP \
    "upstreams: {a: {servers: [\"127.0.0.1:3000\"]}, b: {servers: [\"127.0.0.1:4000\"]}}\n"
#define PLAN_UP2                                                                          \
    "upstreams: {a: {servers: [\"127.0.0.1:3001\"]}, b: {servers: [\"127.0.0.1:4000\"]}," \
    " c: {servers: [\"127.0.0.1:5000\"]}}\n"

/* Offline (--current): routes added, removed, moved and rewritten, servers
 * swapped, listen and workers marked as needing a restart, limits not. */
static void test_plan_build_offline_diff(void **state)
{
    (void)state;
    struct fx_conf *old =
        conf_of("listen: \"127.0.0.1:8080\"\nworkers: 2\n" PLAN_UP
                "routes:\n  - {name: x, to: a}\n  - {name: gone, to: a}\n  - {name: y, to: b}\n");
    struct fx_conf *next =
        conf_of("listen: \"127.0.0.1:8081\"\nworkers: 3\nlimits: {max_headers: 50}\n" PLAN_UP2
                "routes:\n  - {name: y, to: b, strip_prefix: /y}\n  - {name: x, to: a}\n"
                "  - name: z\n    to: a\n    migrate: {to: b, weight: 10%}\n");
    json_t *running = fx_plan_dump(old);
    struct fx_plan_live live = { NULL, 0, false };
    json_t *plan = fx_plan_build(running, next, &live);
    assert_non_null(plan);
    assert_string_equal(str_of(plan_route(plan, "gone"), "change"), "removed");
    const json_t *y = plan_route(plan, "y");
    assert_string_equal(str_of(y, "change"), "changed");
    assert_string_equal(json_string_value(json_array_get(json_object_get(y, "keys"), 0)),
                        "rewrites");
    assert_int_equal(json_integer_value(json_object_get(y, "was")), 3);
    assert_int_equal(json_integer_value(json_object_get(y, "position")), 1);
    const json_t *x = plan_route(plan, "x");
    assert_string_equal(str_of(x, "change"), "changed"); /* moved down: first match wins */
    assert_int_equal(json_array_size(json_object_get(x, "keys")), 0);
    assert_int_equal(json_integer_value(json_object_get(x, "was")), 1);
    const json_t *z = plan_route(plan, "z");
    assert_string_equal(str_of(z, "change"), "added");
    const json_t *zm = json_object_get(z, "migration");
    assert_string_equal(str_of(zm, "action"), "initialised");
    assert_string_equal(str_of(json_object_get(zm, "after"), "weight"), "10.00%");
    const json_t *ups = json_object_get(plan, "upstreams");
    assert_int_equal(json_array_size(ups), 2); /* a changed, c added */
    const json_t *ua = json_array_get(ups, 0);
    assert_string_equal(str_of(ua, "name"), "a");
    assert_string_equal(json_string_value(json_array_get(json_object_get(ua, "servers_added"), 0)),
                        "127.0.0.1:3001");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(ua, "servers_removed"), 0)),
        "127.0.0.1:3000");
    assert_string_equal(str_of(json_array_get(ups, 1), "change"), "added");
    const json_t *g = json_object_get(plan, "global");
    assert_int_equal(json_array_size(g), 3);
    assert_string_equal(str_of(json_array_get(g, 0), "key"), "listen");
    assert_true(json_is_true(json_object_get(json_array_get(g, 0), "restart")));
    assert_string_equal(str_of(json_array_get(g, 1), "key"), "workers");
    assert_true(json_is_true(json_object_get(json_array_get(g, 1), "restart")));
    assert_string_equal(str_of(json_array_get(g, 2), "key"), "limits");
    assert_true(json_is_false(json_object_get(json_array_get(g, 2), "restart")));
    /* 3 global + 2 upstreams + gone, y, x, z */
    assert_int_equal(json_integer_value(json_object_get(plan, "changes")), 9);
    json_decref(plan);

    /* The same file against itself: nothing. */
    plan = fx_plan_build(running, old, &live);
    assert_int_equal(json_integer_value(json_object_get(plan, "changes")), 0);
    json_decref(plan);
    json_decref(running);
    fx_conf_unref(old);
    fx_conf_unref(next);
}

/* The shared decision: live wins, then saved, else reset or init. */
static void test_plan_carry_decision(void **state)
{
    (void)state;
    struct fx_mig_state a = { .fingerprint = "aaa" };
    struct fx_mig_state b = { .fingerprint = "bbb" };
    assert_int_equal(fx_mig_carry(&a, &b, "aaa"), FX_MIG_CARRY_KEEP);
    assert_int_equal(fx_mig_carry(&a, &b, "bbb"), FX_MIG_CARRY_RESTORE);
    assert_int_equal(fx_mig_carry(NULL, &b, "bbb"), FX_MIG_CARRY_RESTORE);
    assert_int_equal(fx_mig_carry(&a, NULL, "ccc"), FX_MIG_CARRY_RESET);
    assert_int_equal(fx_mig_carry(NULL, &b, "ccc"), FX_MIG_CARRY_RESET);
    assert_int_equal(fx_mig_carry(NULL, NULL, "ccc"), FX_MIG_CARRY_INIT);
}

int main(void)
{
    /* Decisions every 10 ms instead of every second. */
    if (setenv("FICUS_CONTROL_TICK_MS", "10", 1) != 0)
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_control_start_initialises_from_config),
        T(test_control_start_step_and_promoted_from_weight),
        T(test_control_start_without_migration_opens_no_store),
        T(test_control_cmd_weight_pauses_a_ramp),
        T(test_control_cmd_weight_on_steady_route_stays_steady),
        T(test_control_cmd_pause_and_resume),
        T(test_control_cmd_promote),
        T(test_control_cmd_rollback_and_resume),
        T(test_control_cmd_unknown_route),
        T(test_control_start_same_config_resumes_state),
        T(test_control_start_changed_config_reinitialises),
        T(test_control_reload_unchanged_keeps_state),
        T(test_control_reload_changed_reinitialises),
        T(test_control_reload_opens_store_for_first_migration),
        T(test_control_guard_rolls_back_on_errors),
        T(test_control_guard_rolls_back_on_p99),
        T(test_control_guard_waits_for_min_requests),
        T(test_control_guard_healthy_traffic_does_nothing),
        T(test_control_ramp_reaches_promoted),
        T(test_control_ramp_first_step_from_zero_without_traffic),
        T(test_control_routes_json_fields),
        T(test_control_events_json_filters_by_route),
        T(test_plan_build_predicts_what_reload_does),
        T(test_plan_build_offline_diff),
        T(test_plan_carry_decision),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
