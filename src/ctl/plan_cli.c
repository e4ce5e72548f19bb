/* `ficus plan`: load a new configuration, fetch the running one and its live
 * migration state from the admin API (or load --current FILE offline), and
 * print what a reload would change (src/control/plan.c). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conf/conf.h"
#include "../control/control.h"
#include "../migrate/migrate.h"
#include "ctl.h"

#define PLAN_SAME    0
#define PLAN_CHANGES 1
#define PLAN_ERROR   2

/* Printed with fputs, never as a format. */
static const char usage_plan[] =
    "usage: ficus plan -c NEW.yaml [--admin URL] [--token-file PATH] [--current OLD.yaml]\n"
    "                  [--format text|json]\n"
    "\n"
    "Print what reloading into NEW.yaml would change, route by route: routes added,\n"
    "removed or changed (match, to, migrate, shadow, rewrites, position), upstreams\n"
    "(servers added and removed), global keys (those a reload leaves as they are are\n"
    "marked NEEDS A RESTART), and for each migrating route the effect on its live\n"
    "state (kept, reset, initialised) with the reason, decided by the reload's own code.\n"
    "The running configuration and state come from the admin API (GET /api/v1/config\n"
    "and /api/v1/routes, read role) at --admin, default NEW.yaml's admin.listen; with\n"
    "--current OLD.yaml the comparison is offline and the live state unknown.\n"
    "Exit status: 0 no change, 1 changes, 2 error (NEW.yaml invalid: every error\n"
    "printed as ficus check does).\n"
    "  -c, --config FILE   the new configuration (YAML)\n"
    "  --admin URL         admin API address: http://HOST:PORT or HOST:PORT\n"
    "  --token-file PATH   bearer token (read role): first token in PATH;\n"
    "                      default: $FICUS_ADMIN_TOKEN\n"
    "  --current FILE      compare with FILE instead of the running process\n"
    "  --format FMT        text (default) or json\n"
    "  -h, --help          print this help\n";

struct plan_args {
    const char *conf;
    const char *admin;
    const char *token_file;
    const char *current;
    bool json;
};

static int usage_error(const char *what, const char *arg)
{
    (void)fprintf(stderr, "ficus plan: %s%s\n(ficus plan --help for usage)\n", what, arg);
    return PLAN_ERROR;
}

/* Returns -1 to go on, else the exit status (help printed or usage error). */
static int parse(struct plan_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof(*a));
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            (void)fputs(usage_plan, stdout);
            return 0;
        }
        if (i + 1 >= argc)
            return usage_error("unknown option or missing value: ", o);
        const char *v = argv[++i];
        if (strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0)
            a->conf = v;
        else if (strcmp(o, "--admin") == 0)
            a->admin = v;
        else if (strcmp(o, "--token-file") == 0)
            a->token_file = v;
        else if (strcmp(o, "--current") == 0)
            a->current = v;
        else if (strcmp(o, "--format") == 0 && (strcmp(v, "text") == 0 || strcmp(v, "json") == 0))
            a->json = strcmp(v, "json") == 0;
        else if (strcmp(o, "--format") == 0)
            return usage_error("--format must be text or json, not ", v);
        else
            return usage_error("unknown option: ", o);
    }
    if (a->conf == NULL)
        return usage_error("missing -c NEW.yaml", "");
    return -1;
}

/* GET `path` from the admin API as JSON (new reference), or NULL after a message. */
static json_t *admin_get(const struct plan_args *a, const char *admin, const char *path)
{
    int status = 0;
    char *body = NULL;
    size_t len = 0;
    if (fx_ctl_request(admin, a->token_file, "GET", path, NULL, &status, &body, &len) != 0)
        return NULL;
    json_error_t je;
    json_t *v = status == 200 ? json_loadb(body, len, 0, &je) : NULL;
    if (status != 200)
        (void)fprintf(stderr, "ficus plan: GET %s: HTTP %d: %.*s\n", path, status,
                      (int)(len > 300 ? 300 : len), body);
    else if (v == NULL)
        (void)fprintf(stderr, "ficus plan: GET %s: not JSON: %s\n", path, je.text);
    free(body);
    return v;
}

/* The live states from GET /api/v1/routes into *out (owned array). */
static int live_from(const json_t *routes, struct fx_mig_state **out, size_t *n)
{
    const json_t *arr = json_object_get(routes, "routes");
    size_t cnt = json_array_size(arr);
    struct fx_mig_state *v = calloc(cnt ? cnt : 1, sizeof(*v));
    if (v == NULL)
        return PLAN_ERROR;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *r = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *st = json_string_value(json_object_get(r, "status"));
        const char *fp = json_string_value(json_object_get(r, "fingerprint"));
        if (name == NULL || st == NULL || fp == NULL ||
            fx_mig_status_parse(st, &v[i].status) != 0) {
            free(v);
            (void)fputs("ficus plan: GET /api/v1/routes: a route without name, status or "
                        "fingerprint (an older ficus?)\n",
                        stderr);
            return PLAN_ERROR;
        }
        (void)snprintf(v[i].route, sizeof(v[i].route), "%s", name);
        (void)snprintf(v[i].fingerprint, sizeof(v[i].fingerprint), "%s", fp);
        v[i].weight_bp = (uint32_t)json_integer_value(json_object_get(r, "weight_bp"));
        v[i].step = (int)json_integer_value(json_object_get(r, "step"));
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* The running side: the dump in *running and the live states in *states. */
static int running_side(const struct plan_args *a, const struct fx_conf *next, json_t **running,
                        struct fx_mig_state **states, struct fx_plan_live *live)
{
    if (a->current != NULL) {
        struct fx_conf *old = NULL;
        struct fx_err err = { 0 };
        if (fx_conf_load(a->current, &old, &err) != 0) {
            (void)fprintf(stderr, "ficus plan: --current %s\n", err.msg);
            return PLAN_ERROR;
        }
        *running = fx_plan_dump(old);
        fx_conf_unref(old);
        return *running != NULL ? 0 : PLAN_ERROR;
    }
    const char *admin = a->admin;
    if (admin == NULL && !next->admin_enabled) {
        (void)fprintf(stderr,
                      "ficus plan: %s has no admin.listen: give --admin URL or --current FILE\n",
                      a->conf);
        return PLAN_ERROR;
    }
    if (admin == NULL)
        admin = next->admin_listen.text;
    *running = admin_get(a, admin, "/api/v1/config");
    json_t *routes = *running != NULL ? admin_get(a, admin, "/api/v1/routes") : NULL;
    if (routes == NULL)
        return PLAN_ERROR;
    int rc = live_from(routes, states, &live->n);
    json_decref(routes);
    live->v = *states;
    live->known = rc == 0;
    return rc;
}

int fx_ctl_plan_main(int argc, char **argv)
{
    struct plan_args a;
    int rc = parse(&a, argc, argv);
    if (rc >= 0)
        return rc;
    struct fx_conf *next = NULL;
    if (fx_conf_check(a.conf, stderr, &next, NULL) != 0)
        return PLAN_ERROR;
    json_t *running = NULL;
    struct fx_mig_state *states = NULL;
    struct fx_plan_live live = { NULL, 0, false };
    rc = running_side(&a, next, &running, &states, &live);
    json_t *plan = rc == 0 ? fx_plan_build(running, next, &live) : NULL;
    if (rc == 0 && plan == NULL) {
        (void)fputs("ficus plan: out of memory\n", stderr);
        rc = PLAN_ERROR;
    }
    if (plan != NULL) {
        int out = a.json ? json_dumpf(plan, stdout, JSON_INDENT(2)) | (fputc('\n', stdout) < 0)
                         : fx_plan_print_text(plan, stdout);
        rc = out != 0                                                   ? PLAN_ERROR
             : json_integer_value(json_object_get(plan, "changes")) > 0 ? PLAN_CHANGES
                                                                        : PLAN_SAME;
    }
    json_decref(plan);
    json_decref(running);
    free(states);
    fx_conf_unref(next);
    return rc;
}
