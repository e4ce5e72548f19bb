/* `ficus plan`: what a reload would change. A pure comparison of the running
 * configuration (its canonical dump, fx_conf_dump_json) with a loaded new
 * one, plus the live migration state; the migration effects come from
 * fx_mig_carry() and fx_mig_state_initial(), the functions the control
 * plane's reload runs, so the plan and the reload cannot disagree. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conf/conf.h"
#include "../migrate/migrate.h"
#include "control.h"

/* Top-level keys of the dump and whether a reload applies them. The admin
 * and log sections are looked at key by key (admin.listen, log.access). */
static const struct {
    const char *key;
    bool restart; /* main.c's reload leaves it as it was: only a restart applies it */
    const char *why;
} globals[] = {
    { "listen", true, "listen addresses change only on restart" },
    { "workers", true, "the worker count is fixed at start" },
    { "store", true, "the store is opened once, at start" },
    { "user", true, "user, group and pidfile change only on restart" },
    { "group", true, "user, group and pidfile change only on restart" },
    { "pidfile", true, "user, group and pidfile change only on restart" },
    { "limits", false, "applied at reload" },
    { "paths", false, "applied at reload" },
};

static bool append(json_t *arr, json_t *v)
{
    return v != NULL && json_array_append_new(arr, v) == 0;
}

/* Sub-keys of objects `a` and `b` whose values differ (present in one only
 * included), as "prefix.key" strings appended to `out`. */
static bool diff_keys(const json_t *a, const json_t *b, const char *prefix, json_t *out)
{
    char name[160];
    const char *k;
    json_t *v;
    if (!json_is_object(a) || !json_is_object(b)) {
        return json_equal(a, b) || append(out, json_string(prefix));
    }
    json_object_foreach((json_t *)(uintptr_t)a, k, v)
    {
        if (!json_equal(v, json_object_get(b, k))) {
            (void)snprintf(name, sizeof(name), "%s.%s", prefix, k);
            if (!append(out, json_string(name)))
                return false;
        }
    }
    json_object_foreach((json_t *)(uintptr_t)b, k, v)
    {
        if (json_object_get(a, k) == NULL) {
            (void)snprintf(name, sizeof(name), "%s.%s", prefix, k);
            if (!append(out, json_string(name)))
                return false;
        }
    }
    return true;
}

/* {key, restart, why, keys?} for each global change. */
static bool plan_globals(const json_t *o, const json_t *n, json_t *out)
{
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof(globals) / sizeof(globals[0]); i++) {
        const json_t *a = json_object_get(o, globals[i].key);
        const json_t *b = json_object_get(n, globals[i].key);
        if (json_equal(a, b) || (a == NULL && b == NULL))
            continue;
        json_t *keys = json_array();
        ok = keys != NULL && diff_keys(a, b, globals[i].key, keys) &&
             append(out, json_pack("{s:s,s:b,s:s,s:o}", "key", globals[i].key, "restart",
                                   globals[i].restart, "why", globals[i].why, "keys", keys));
    }
    const json_t *oa = json_object_get(o, "admin");
    const json_t *na = json_object_get(n, "admin");
    if (ok && !json_equal(oa, na)) {
        bool listen = !json_equal(json_object_get(oa, "listen"), json_object_get(na, "listen"));
        json_t *keys = json_array();
        ok = keys != NULL && diff_keys(oa, na, "admin", keys) &&
             append(out, json_pack("{s:s,s:b,s:s,s:o}", "key", "admin", "restart", listen, "why",
                                   listen ? "the admin listener is bound once, at start"
                                          : "tokens and hosts are read again at reload",
                                   "keys", keys));
    }
    const json_t *ol = json_object_get(o, "log");
    const json_t *nl = json_object_get(n, "log");
    if (ok && !json_equal(ol, nl)) {
        const char *x = json_string_value(json_object_get(ol, "access"));
        const char *y = json_string_value(json_object_get(nl, "access"));
        bool file_x = x != NULL && strcmp(x, "off") != 0 && strcmp(x, "stdout") != 0;
        bool file_y = y != NULL && strcmp(y, "off") != 0 && strcmp(y, "stdout") != 0;
        bool restart = x != NULL && y != NULL && strcmp(x, y) != 0 && !(file_x && file_y);
        json_t *keys = json_array();
        ok = keys != NULL && diff_keys(ol, nl, "log", keys) &&
             append(out, json_pack("{s:s,s:b,s:s,s:o}", "key", "log", "restart", restart, "why",
                                   restart ? "the access log's destination kind (off, stdout, "
                                             "file) is set at start"
                                           : "applied at reload (a new file is opened)",
                                   "keys", keys));
    }
    return ok;
}

/* Strings of array `a` not in array `b`. */
static json_t *minus(const json_t *a, const json_t *b)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        bool found = false;
        size_t j;
        json_t *w;
        json_array_foreach(b, j, w)
        {
            found = found || json_equal(v, w);
        }
        if (!found && out != NULL && json_array_append(out, v) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* {name, change: added|removed|changed, servers_added, servers_removed, keys}. */
static bool plan_upstreams(const json_t *o, const json_t *n, json_t *out)
{
    const char *k;
    json_t *v;
    bool ok = true;
    json_object_foreach((json_t *)(uintptr_t)o, k, v)
    {
        if (ok && json_object_get(n, k) == NULL)
            ok = append(out, json_pack("{s:s,s:s}", "name", k, "change", "removed"));
    }
    json_object_foreach((json_t *)(uintptr_t)n, k, v)
    {
        const json_t *was = json_object_get(o, k);
        if (!ok || json_equal(was, v))
            continue;
        if (was == NULL) {
            ok = append(out, json_pack("{s:s,s:s}", "name", k, "change", "added"));
            continue;
        }
        const json_t *sa = json_object_get(was, "servers");
        const json_t *sb = json_object_get(v, "servers");
        json_t *keys = json_array();
        json_t *w = json_deep_copy(was);
        json_t *x = json_deep_copy(v);
        ok = keys != NULL && w != NULL && x != NULL && json_object_del(w, "servers") == 0 &&
             json_object_del(x, "servers") == 0 && diff_keys(w, x, "upstreams", keys) &&
             append(out, json_pack("{s:s,s:s,s:o*,s:o*,s:o}", "name", k, "change", "changed",
                                   "servers_added", minus(sb, sa), "servers_removed", minus(sa, sb),
                                   "keys", keys));
        json_decref(w);
        json_decref(x);
    }
    return ok;
}

static const json_t *route_named(const json_t *routes, const char *name, size_t *at)
{
    size_t i;
    json_t *r;
    json_array_foreach(routes, i, r)
    {
        const char *s = json_string_value(json_object_get(r, "name"));
        if (s != NULL && strcmp(s, name) == 0) {
            *at = i;
            return r;
        }
    }
    return NULL;
}

/* The keys of a route entry that a reload would change, grouped as the
 * operator thinks of them; rewrites are strip_prefix, set_headers and
 * remove_headers together. */
static json_t *route_keys(const json_t *a, const json_t *b)
{
    static const char *const plain[] = { "match", "to", "migrate", "shadow" };
    static const char *const rewrites[] = { "strip_prefix", "set_headers", "remove_headers" };
    json_t *keys = json_array();
    for (size_t i = 0; keys != NULL && i < sizeof(plain) / sizeof(plain[0]); i++) {
        const json_t *x = json_object_get(a, plain[i]);
        const json_t *y = json_object_get(b, plain[i]);
        /* Sections present on both sides name their changed keys ("migrate.ramp");
         * the fingerprint follows from them and is not a key of its own. */
        bool ok = json_equal(x, y) ||
                  (json_is_object(x) && json_is_object(y) ? diff_keys(x, y, plain[i], keys)
                                                          : append(keys, json_string(plain[i])));
        size_t n = json_array_size(keys);
        if (ok && n > 0 &&
            strcmp(json_string_value(json_array_get(keys, n - 1)), "migrate.fingerprint") == 0)
            ok = json_array_remove(keys, n - 1) == 0;
        if (!ok) {
            json_decref(keys);
            return NULL;
        }
    }
    bool rw = false;
    for (size_t i = 0; i < sizeof(rewrites) / sizeof(rewrites[0]); i++)
        rw = rw || !json_equal(json_object_get(a, rewrites[i]), json_object_get(b, rewrites[i]));
    if (keys != NULL && rw && !append(keys, json_string("rewrites"))) {
        json_decref(keys);
        return NULL;
    }
    return keys;
}

static json_t *state_json(const struct fx_mig_state *st)
{
    char w[16];
    if (st == NULL)
        return json_null();
    fx_mig_fmt_weight(st->weight_bp, w, sizeof(w));
    return json_pack("{s:s,s:s,s:I,s:i}", "status", fx_mig_status_name(st->status), "weight", w,
                     "weight_bp", (json_int_t)st->weight_bp, "step", st->step);
}

static const struct fx_mig_state *live_named(const struct fx_plan_live *live, const char *name)
{
    for (size_t i = 0; live != NULL && i < live->n; i++) {
        if (strcmp(live->v[i].route, name) == 0)
            return &live->v[i];
    }
    return NULL;
}

/* The effect of the reload on a route's migration state: what
 * fx_control_reload() does, from the same decision function. Offline (no
 * live state), the running section's fingerprint stands for the state. */
static json_t *plan_migration(const json_t *old_route, const struct fx_conf_route *nr,
                              const struct fx_plan_live *live)
{
    const struct fx_mig_state *ls = live->known ? live_named(live, nr->name) : NULL;
    struct fx_mig_state offline = { 0 };
    if (!live->known && old_route != NULL) {
        const json_t *m = json_object_get(old_route, "migrate");
        const char *fp = json_string_value(json_object_get(m, "fingerprint"));
        if (fp != NULL) {
            (void)snprintf(offline.fingerprint, sizeof(offline.fingerprint), "%s", fp);
            ls = &offline;
        }
    }
    if (nr->migrate == NULL) {
        if (ls == NULL)
            return json_null();
        return json_pack("{s:s,s:o,s:n,s:s}", "action", "ended", "before",
                         live->known ? state_json(ls) : json_null(), "after", "reason",
                         "the route no longer migrates: it is served by its `to` alone (the "
                         "saved state stays in the store)");
    }
    enum fx_mig_carry a = fx_mig_carry(ls, NULL, nr->migrate->fingerprint);
    struct fx_mig_state next = { 0 };
    if (a == FX_MIG_CARRY_KEEP && ls != NULL) /* KEEP implies ls */
        next = *ls;
    else
        fx_mig_state_initial(nr->migrate, 0, &next);
    const char *reason = fx_mig_carry_reason(a);
    if (a == FX_MIG_CARRY_INIT && live->known)
        reason = "the route starts migrating; a state saved earlier for this very migrate "
                 "section would be restored instead";
    bool known = live->known || a != FX_MIG_CARRY_KEEP;
    return json_pack("{s:s,s:o,s:o,s:s}", "action", fx_mig_carry_name(a), "before",
                     live->known ? state_json(ls) : json_null(), "after",
                     known ? state_json(&next) : json_null(), "reason", reason);
}

static bool migration_changes(const json_t *mig)
{
    const char *a = json_string_value(json_object_get(mig, "action"));
    return a != NULL && strcmp(a, "kept") != 0;
}

static bool plan_routes(const json_t *o, const struct fx_conf *next, const json_t *n,
                        const struct fx_plan_live *live, json_t *out)
{
    bool ok = true;
    size_t i;
    json_t *r;
    json_array_foreach(o, i, r)
    {
        const char *name = json_string_value(json_object_get(r, "name"));
        size_t at;
        if (ok && name != NULL && route_named(n, name, &at) == NULL)
            ok = append(out, json_pack("{s:s,s:s,s:i}", "name", name, "change", "removed", "was",
                                       (int)i + 1));
    }
    for (size_t k = 0; ok && k < next->nroutes; k++) {
        const struct fx_conf_route *nr = &next->routes[k];
        size_t at = 0;
        const json_t *was = route_named(o, nr->name, &at);
        json_t *mig = plan_migration(was, nr, live);
        json_t *keys = was != NULL ? route_keys(was, json_array_get(n, k)) : json_array();
        if (mig == NULL || keys == NULL) {
            json_decref(mig);
            json_decref(keys);
            return false;
        }
        bool moved = was != NULL && at != k;
        const char *change = was == NULL                          ? "added"
                             : json_array_size(keys) > 0 || moved ? "changed"
                             : migration_changes(mig)             ? "changed"
                                                                  : "unchanged";
        json_t *e = json_pack("{s:s,s:s,s:i,s:o,s:o}", "name", nr->name, "change", change,
                              "position", (int)k + 1, "keys", keys, "migration", mig);
        if (e != NULL && moved)
            (void)json_object_set_new(e, "was", json_integer((json_int_t)at + 1));
        ok = append(out, e);
    }
    return ok;
}

static size_t count_changes(const json_t *plan)
{
    size_t n = json_array_size(json_object_get(plan, "global")) +
               json_array_size(json_object_get(plan, "upstreams"));
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(plan, "routes"), i, r)
    {
        const char *c = json_string_value(json_object_get(r, "change"));
        n += c != NULL && strcmp(c, "unchanged") != 0;
    }
    return n;
}

/* The canonical dump of `c` as a JSON value (new reference), or NULL. */
static json_t *dump_of(const struct fx_conf *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
    int rc = fx_conf_dump_json(c, f);
    if (fclose(f) != 0)
        rc = FX_EIO;
    json_t *v = rc == 0 ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    return v;
}

json_t *fx_plan_build(const json_t *running, const struct fx_conf *next,
                      const struct fx_plan_live *live)
{
    if (running == NULL || next == NULL || live == NULL)
        return NULL;
    json_t *n = dump_of(next);
    json_t *plan = json_pack("{s:[],s:[],s:[],s:b}", "global", "upstreams", "routes", "live_state",
                             live->known);
    bool ok = n != NULL && plan != NULL &&
              plan_globals(running, n, json_object_get(plan, "global")) &&
              plan_upstreams(json_object_get(running, "upstreams"), json_object_get(n, "upstreams"),
                             json_object_get(plan, "upstreams")) &&
              plan_routes(json_object_get(running, "routes"), next, json_object_get(n, "routes"),
                          live, json_object_get(plan, "routes"));
    json_decref(n);
    if (!ok ||
        json_object_set_new(plan, "changes", json_integer((json_int_t)count_changes(plan))) != 0) {
        json_decref(plan);
        return NULL;
    }
    return plan;
}

json_t *fx_plan_dump(const struct fx_conf *c)
{
    return c != NULL ? dump_of(c) : NULL;
}

/* "rolled_back 0.00%"; "?" when unknown (offline), "none" when there is none. */
static const char *state_text(const json_t *st, bool live, char *out, size_t cap)
{
    if (!json_is_object(st)) {
        (void)snprintf(out, cap, "%s", live ? "none" : "?");
        return out;
    }
    (void)snprintf(out, cap, "%s %s", json_string_value(json_object_get(st, "status")),
                   json_string_value(json_object_get(st, "weight")));
    return out;
}

static void print_list(FILE *f, const json_t *arr, const char *lead)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        (void)fprintf(f, "%s%s", i == 0 ? lead : ", ", json_string_value(v));
    }
}

static void print_globals(FILE *f, const json_t *g)
{
    size_t i;
    json_t *e;
    json_array_foreach(g, i, e)
    {
        bool restart = json_is_true(json_object_get(e, "restart"));
        (void)fprintf(f, "global %s: %s (%s)", json_string_value(json_object_get(e, "key")),
                      restart ? "NEEDS A RESTART, a reload leaves it as it is" : "changed",
                      json_string_value(json_object_get(e, "why")));
        print_list(f, json_object_get(e, "keys"), ": ");
        (void)fputc('\n', f);
    }
}

static void print_upstreams(FILE *f, const json_t *u)
{
    size_t i;
    json_t *e;
    json_array_foreach(u, i, e)
    {
        const char *c = json_string_value(json_object_get(e, "change"));
        (void)fprintf(f, "upstream %s: %s", json_string_value(json_object_get(e, "name")), c);
        print_list(f, json_object_get(e, "servers_added"), "; servers added: ");
        print_list(f, json_object_get(e, "servers_removed"), "; servers removed: ");
        print_list(f, json_object_get(e, "keys"), "; keys: ");
        (void)fputc('\n', f);
    }
}

static void print_route(FILE *f, const json_t *e, bool live)
{
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *c = json_string_value(json_object_get(e, "change"));
    if (strcmp(c, "removed") == 0) {
        (void)fprintf(f, "route %s: removed\n", name);
        return;
    }
    if (strcmp(c, "unchanged") != 0) {
        (void)fprintf(f, "route %s: %s", name, c);
        if (strcmp(c, "added") == 0)
            (void)fprintf(f, " at position %lld",
                          (long long)json_integer_value(json_object_get(e, "position")));
        print_list(f, json_object_get(e, "keys"), ": ");
        if (json_object_get(e, "was") != NULL)
            (void)fprintf(f, "%sposition %lld -> %lld (first match wins)",
                          json_array_size(json_object_get(e, "keys")) > 0 ? "; " : ": ",
                          (long long)json_integer_value(json_object_get(e, "was")),
                          (long long)json_integer_value(json_object_get(e, "position")));
        (void)fputc('\n', f);
    }
    const json_t *m = json_object_get(e, "migration");
    if (!json_is_object(m))
        return;
    char a[64];
    char b[64];
    if (!json_is_object(json_object_get(m, "after"))) {
        (void)fprintf(f, "route %s: migration %s (%s) because %s\n", name,
                      json_string_value(json_object_get(m, "action")),
                      json_is_object(json_object_get(m, "before"))
                          ? state_text(json_object_get(m, "before"), live, a, sizeof(a))
                          : "the state it runs in",
                      json_string_value(json_object_get(m, "reason")));
        return;
    }
    (void)fprintf(f, "route %s: migration %s: %s -> %s because %s\n", name,
                  json_string_value(json_object_get(m, "action")),
                  state_text(json_object_get(m, "before"), live, a, sizeof(a)),
                  state_text(json_object_get(m, "after"), live, b, sizeof(b)),
                  json_string_value(json_object_get(m, "reason")));
}

int fx_plan_print_text(const json_t *plan, FILE *f)
{
    print_globals(f, json_object_get(plan, "global"));
    print_upstreams(f, json_object_get(plan, "upstreams"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(plan, "routes"), i, e)
    {
        print_route(f, e, json_is_true(json_object_get(plan, "live_state")));
    }
    long long n = (long long)json_integer_value(json_object_get(plan, "changes"));
    (void)fprintf(f, "%lld change%s%s\n", n, n == 1 ? "" : "s",
                  json_is_true(json_object_get(plan, "live_state"))
                      ? ""
                      : " (offline: live migration state unknown)");
    return ferror(f) ? FX_EIO : 0;
}
