/* Command-line dispatch, wiring, signals. */
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "admin/admin.h"
#include "conf/conf.h"
#include "conf/schema.h"
#include "control/control.h"
#include "core/err.h"
#include "core/log.h"
#include "ctl/ctl.h"
#include "net/net.h"
#include "proc/proc.h"
#include "proxy/proxy.h"
#include "registry/registry.h"
#include "shadow/shadow.h"
#include "tls/tls.h"

#ifndef FX_VERSION
#define FX_VERSION "0.0.0"
#endif

static const char usage_main[] =
    "usage: ficus <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve -c FILE   run the gateway with the configuration in FILE\n"
    "  check -c FILE   validate FILE and exit (0 valid, 1 invalid)\n"
    "  config reference --format md\n"
    "                  print the configuration reference tables (Markdown)\n"
    "  plan -c FILE    what reloading into FILE would change (ficus plan --help)\n"
    "  ctl ...         operate migrations through the admin API (ficus ctl --help)\n"
    "  debt ...        the technical debt registry (ficus debt --help)\n"
    "  report ...      migration progress and debt report (ficus report --help)\n"
    "  version         print the version\n"
    "  help            print this help\n"
    "\n"
    "Each command accepts --help. Signals for serve: SIGHUP reloads the configuration\n"
    "(an invalid file is rejected and the running one kept), SIGUSR1 reopens the access\n"
    "log file (log rotation), SIGTERM or SIGINT drains in-flight requests\n"
    "(limits.drain_timeout) and exits 0.\n";

static const char usage_serve[] =
    "usage: ficus serve -c FILE [--expose-fds SOCK] [--takeover SOCK]\n"
    "\n"
    "Run the gateway. Logs events on stderr (logfmt), access log as configured.\n"
    "  -c, --config FILE     configuration file (YAML)\n"
    "  --expose-fds SOCK     hand the listening sockets to a new binary that starts\n"
    "                        with --takeover SOCK, then drain and exit (upgrade)\n"
    "  --takeover SOCK       take the listening sockets over from the ficus that\n"
    "                        runs with --expose-fds SOCK, then tell it to drain\n"
    "  -h, --help            print this help\n";

static const char usage_check[] = "usage: ficus check -c FILE\n"
                                  "\n"
                                  "Validate a configuration file. Prints every error, one a\n"
                                  "line, as FILE:LINE:COLUMN: key.path: cause and exits 1, or\n"
                                  "exits 0 when valid.\n"
                                  "  -c, --config FILE   configuration file (YAML)\n"
                                  "  -h, --help          print this help\n";

/* serve's options beyond -c (borrowed from argv). */
struct serve_opts {
    const char *expose;   /* --expose-fds SOCK */
    const char *takeover; /* --takeover SOCK */
};

/* Parse "-c FILE" / "--config FILE" / "--help", and serve's options when
 * `opts` is not NULL. Returns the path, NULL for help (after printing it), or
 * NULL with *bad set. */
static const char *parse_config_arg(int argc, char **argv, const char *usage,
                                    struct serve_opts *opts, bool *bad)
{
    const char *path = NULL;
    *bad = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            (void)fputs(usage, stdout);
            return NULL;
        }
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            path = argv[++i];
            continue;
        }
        if (opts != NULL && strcmp(argv[i], "--expose-fds") == 0 && i + 1 < argc) {
            opts->expose = argv[++i];
            continue;
        }
        if (opts != NULL && strcmp(argv[i], "--takeover") == 0 && i + 1 < argc) {
            opts->takeover = argv[++i];
            continue;
        }
        (void)fprintf(stderr, "ficus: unexpected argument '%s'\n%s", argv[i], usage);
        *bad = true;
        return NULL;
    }
    if (path == NULL) {
        (void)fprintf(stderr, "ficus: missing -c FILE\n%s", usage);
        *bad = true;
    }
    return path;
}

/* Parse "-c FILE" and load it. On success returns 0 with *out set (caller owns
 * the reference); otherwise *out stays NULL and the return value is the exit
 * status: 0 after --help, 2 on a usage error, 1 on an invalid file (printed). */
static int load_command_config(int argc, char **argv, const char *usage, const char **path,
                               struct serve_opts *opts, struct fx_conf **out)
{
    bool bad;
    *path = parse_config_arg(argc, argv, usage, opts, &bad);
    if (*path == NULL)
        return bad ? 2 : 0;
    struct fx_err err = { 0 };
    if (fx_conf_load(*path, out, &err) != 0) {
        *out = NULL;
        (void)fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    bool bad;
    const char *path = parse_config_arg(argc, argv, usage_check, NULL, &bad);
    if (path == NULL)
        return bad ? 2 : 0;
    struct fx_conf *c = NULL;
    if (fx_conf_check(path, stderr, &c, NULL) != 0)
        return 1;
    (void)printf("%s: ok (%zu listeners, %zu upstreams, %zu routes)\n", path, c->nlisten,
                 c->nupstreams, c->nroutes);
    for (size_t i = 0; c->listen_tls != NULL && i < c->nlisten; i++) {
        if (c->listen_tls[i] == NULL)
            continue;
        (void)printf("listen[%zu] %s: tls\n", i, c->listen[i].text);
        (void)fx_tls_server_describe(c->listen_tls[i]->srv, stdout, stderr);
    }
    fx_conf_unref(c);
    return 0;
}

static const char usage_config[] =
    "usage: ficus config reference --format md\n"
    "\n"
    "Print the reference tables of every configuration section, generated from\n"
    "the schema the loader uses (docs/configuration.md embeds them; regenerate\n"
    "with scripts/conf-reference.mjs).\n"
    "  -h, --help          print this help\n";

static int cmd_config(int argc, char **argv)
{
    if (argc == 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
        (void)fputs(usage_config, stdout);
        return 0;
    }
    if (argc != 5 || strcmp(argv[2], "reference") != 0 || strcmp(argv[3], "--format") != 0 ||
        strcmp(argv[4], "md") != 0) {
        (void)fputs(usage_config, stderr);
        return 2;
    }
    return fx_conf_schema_reference_md(stdout) == 0 ? 0 : 1;
}

/* Tell systemd (Type=notify) about a state change; a no-op returning 0 when
 * NOTIFY_SOCKET is unset. RELOADING=1 carries MONOTONIC_USEC as
 * Type=notify-reload (systemd 253) requires. A failure is logged, never fatal:
 * the service manager only loses a status line. */
__attribute__((format(printf, 2, 3))) static void notify(struct fx_log *log, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return;
    int rc = sd_notify(0, msg);
    if (rc < 0)
        fx_log(log, FX_LOG_WARN, "event=sd_notify_failed error=%s", strerrorname_np(-rc));
}

static unsigned long long monotonic_usec(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000ull;
}

/* Everything `serve` owns. */
struct server {
    struct fx_shared sh;
    struct fx_worker *ws;
    size_t nw;
    struct fx_admin admin;
    bool admin_on;
    struct fx_control control;
    bool control_on;
    bool shadow_on;
    char *conf_path;
    struct fx_proc_ids ids;       /* `user:`/`group:`, resolved before binding */
    char *pidfile;                /* owned: the pidfile we wrote, removed at exit */
    struct fx_proc_lsets mine;    /* our listeners (fds borrowed: workers and admin own them) */
    struct fx_proc_lsets taken;   /* received with --takeover; unused ones closed after start */
    int takeover_conn;            /* -1, or the connection to the old process */
    pid_t takeover_peer;          /* the old process's pid */
    struct fx_proc_expose expose; /* --expose-fds */
};

static unsigned int worker_count(const struct fx_conf *c)
{
    if (c->workers > 0)
        return c->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned int)n : 1u;
}

static void set_port(struct fx_addr *a, unsigned short port)
{
    if (a->ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)(void *)&a->ss)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)(void *)&a->ss)->sin_port = htons(port);
}

/* The port of `a`, read from a copy (sin_port and sin6_port share their
 * offset), not through a cast pointer: GCC -O2 compiled a test through the
 * cast away in some builds (type punning of sockaddr_storage). */
static unsigned short port_of(const struct fx_addr *a)
{
    struct sockaddr_in sin;
    memcpy(&sin, &a->ss, sizeof(sin));
    return ntohs(sin.sin_port);
}

static struct fx_proc_lset *find_taken(struct fx_proc_lsets *t, const char *text)
{
    for (size_t i = 0; i < t->n; i++) {
        if (!t->v[i].used && t->v[i].nfds > 0 && strcmp(t->v[i].text, text) == 0)
            return &t->v[i];
    }
    return NULL;
}

/* Log the address `fd` listens on and point `addr` at it (port 0 resolved). */
static void note_listening(int fd, struct fx_addr *addr, const char *kind, bool taken,
                           struct fx_log *log)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        ss = addr->ss;
    fx_addr_format((struct sockaddr *)&ss, addr->text, sizeof(addr->text));
    /* NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage): ss is always set */
    set_port(addr, ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port));
    fx_log(log, FX_LOG_INFO, "event=listening kind=%s addr=%s%s", kind, addr->text,
           taken ? " from=takeover" : "");
}

/* Fill `set` with at least `nw` SO_REUSEPORT sockets for listener `l`: those
 * the old process handed over for the same configured address, plus fresh
 * ones bound to the same address (port 0 is resolved by the first). */
static int open_listeners(struct server *s, const struct fx_conf *c, size_t l,
                          struct fx_proc_lset *set, struct fx_err *err)
{
    struct fx_addr addr = c->listen[l];
    (void)snprintf(set->text, sizeof(set->text), "%s", addr.text);
    struct fx_proc_lset *old = find_taken(&s->taken, addr.text);
    size_t have = old != NULL ? old->nfds : 0;
    set->fds = calloc(have > s->nw ? have : s->nw, sizeof(int));
    if (set->fds == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "out of memory");
    if (old != NULL) {
        memcpy(set->fds, old->fds, have * sizeof(int));
        set->nfds = have;
        old->used = true;
        note_listening(set->fds[0], &addr, "proxy", true, &s->sh.log);
    } else if (port_of(&addr) != 0) {
        /* Port 0 gets a fresh port: nobody else can be there. */
        int rc = fx_net_check_free(&addr, err);
        if (rc != 0)
            return rc;
    }
    while (set->nfds < s->nw) {
        int fd = fx_net_listen(&addr, true, 4096, err);
        if (fd < 0)
            return fd;
        set->fds[set->nfds++] = fd;
        if (set->nfds == 1)
            note_listening(fd, &addr, "proxy", false, &s->sh.log);
    }
    return 0;
}

/* Worker `i`'s share of every listener's sockets: index j goes to j % nw;
 * lidx[k] gets the listener position of out[k]. */
static size_t worker_fds(const struct server *s, size_t i, int *out, unsigned int *lidx)
{
    size_t k = 0;
    for (size_t l = 0; l < s->mine.n; l++) {
        for (size_t j = i; j < s->mine.v[l].nfds; j += s->nw) {
            lidx[k] = (unsigned int)l;
            out[k++] = s->mine.v[l].fds[j];
        }
    }
    return k;
}

static int start_workers(struct server *s, const struct fx_conf *c, struct fx_err *err)
{
    s->nw = worker_count(c);
    s->ws = calloc(s->nw, sizeof(*s->ws));
    s->mine.v = calloc(c->nlisten ? c->nlisten : 1, sizeof(*s->mine.v));
    if (s->ws == NULL || s->mine.v == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "out of memory");
    size_t total = 0;
    for (size_t l = 0; l < c->nlisten; l++) {
        s->mine.n++;
        int rc = open_listeners(s, c, l, &s->mine.v[l], err);
        if (rc < 0)
            return rc;
        total += s->mine.v[l].nfds;
    }
    int *wfds = calloc(total ? total : 1, sizeof(int));
    unsigned int *lidx = calloc(total ? total : 1, sizeof(unsigned int));
    if (wfds == NULL || lidx == NULL) {
        free(wfds);
        free(lidx);
        return FX_ERR_SET(err, FX_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < s->nw && rc == 0; i++) {
        size_t n = worker_fds(s, i, wfds, lidx);
        rc = fx_worker_init(&s->ws[i], &s->sh, (unsigned int)i, wfds, lidx, n, err);
    }
    free(wfds);
    free(lidx);
    if (rc != 0)
        return rc;
    /* Load persisted migration state before the first request is routed. */
    rc = fx_control_start(&s->control, &s->sh, s->ws, s->nw, s->sh.conf, err);
    if (rc != 0)
        return rc;
    s->control_on = true;
    s->sh.control = &s->control;
    rc = fx_shadow_start(&s->sh.shadow, s->sh.conf, err);
    if (rc != 0)
        return rc;
    s->shadow_on = true;
    for (size_t i = 0; i < s->nw; i++) {
        rc = fx_worker_start(&s->ws[i]);
        if (rc != 0)
            return FX_ERR_SET(err, rc, "cannot start worker thread %zu", i);
    }
    return 0;
}

static int open_access_log(struct server *s, const struct fx_conf *c, struct fx_err *err)
{
    if (c->access_mode == FX_CONF_LOG_OFF)
        return 0;
    if (c->access_mode == FX_CONF_LOG_STDOUT) {
        s->sh.access_fd = 1;
        return 0;
    }
    int fd = open(c->access_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return FX_ERR_SET(err, FX_ESYS, "access log %s: %s", c->access_path,
                          strerrordesc_np(errno));
    s->sh.access_fd = fd;
    return 0;
}

static int start_admin(struct server *s, const struct fx_conf *c, struct fx_err *err)
{
    if (!c->admin_enabled)
        return 0;
    struct fx_addr addr = c->admin_listen;
    struct fx_proc_lset *old = &s->taken.admin;
    if (old->used || old->nfds == 0 || strcmp(old->text, addr.text) != 0)
        old = NULL;
    int fd;
    if (old != NULL) {
        old->used = true;
        fd = old->fds[0]; /* one admin socket: any extra was closed by the sender */
    } else {
        fd = fx_net_listen(&c->admin_listen, false, 128, err);
        if (fd < 0)
            return fd;
    }
    (void)snprintf(s->mine.admin.text, sizeof(s->mine.admin.text), "%s", addr.text);
    note_listening(fd, &addr, "admin", old != NULL, &s->sh.log);
    s->mine.admin.fds = malloc(sizeof(int));
    if (s->mine.admin.fds != NULL) {
        s->mine.admin.fds[0] = fd;
        s->mine.admin.nfds = 1;
    }
    int rc = fx_admin_start(&s->admin, fd, &s->sh, s->ws, s->nw, err);
    if (rc != 0) {
        (void)close(fd);
        return rc;
    }
    s->admin_on = true;
    return 0;
}

static bool same_listeners(const struct fx_conf *a, const struct fx_conf *b)
{
    if (a->nlisten != b->nlisten)
        return false;
    for (size_t i = 0; i < a->nlisten; i++) {
        if (strcmp(a->listen[i].text, b->listen[i].text) != 0)
            return false;
    }
    return true;
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static bool same_process(const struct fx_conf *a, const struct fx_conf *b)
{
    return same_str(a->proc.user, b->proc.user) && same_str(a->proc.group, b->proc.group) &&
           same_str(a->proc.pidfile, b->proc.pidfile);
}

static void reload_failed(struct server *s, struct fx_conf *c, const struct fx_err *err)
{
    fx_conf_unref(c);
    atomic_fetch_add(&s->sh.reloads_failed, 1);
    char q[1100];
    fx_log(&s->sh.log, FX_LOG_ERROR, "event=reload result=error error=\"%s\"",
           fx_log_quote(q, sizeof(q), err->msg));
}

/* Reopen the access log file (log rotation); dup2 swaps it under the workers atomically. */
static void reopen_access_log(struct server *s, const struct fx_conf *c)
{
    if (c->access_mode != FX_CONF_LOG_FILE || s->sh.access_fd <= 2)
        return;
    int fd = open(c->access_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        /* Keep writing to the old file rather than lose lines. */
        fx_log(&s->sh.log, FX_LOG_ERROR, "event=reopen_failed path=%s error=%s", c->access_path,
               strerrorname_np(errno));
        return;
    }
    (void)dup2(fd, s->sh.access_fd);
    (void)close(fd);
}

/* Wake the workers and wait (bounded) until every one routes with generation `gen`. */
static void wait_workers(struct server *s, uint64_t gen)
{
    for (size_t i = 0; i < s->nw; i++)
        fx_worker_wake(&s->ws[i]);
    for (int tries = 0; tries < 200; tries++) {
        size_t done = 0;
        for (size_t i = 0; i < s->nw; i++)
            done += fx_worker_has_gen(&s->ws[i], gen);
        if (done == s->nw)
            return;
        (void)usleep(5000);
    }
}

static void reload(struct server *s)
{
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    if (fx_conf_load(s->conf_path, &c, &err) != 0) {
        reload_failed(s, NULL, &err);
        return;
    }
    (void)pthread_mutex_lock(&s->sh.lock);
    int rc = fx_shared_assign_ids(&s->sh, c, &err);
    bool same = same_listeners(s->sh.conf, c);
    (void)pthread_mutex_unlock(&s->sh.lock);
    if (rc == 0 && s->control_on)
        rc = fx_control_reload(&s->control, c, &err);
    if (rc != 0) {
        reload_failed(s, c, &err);
        return;
    }
    if (s->shadow_on)
        fx_shadow_reload(&s->sh.shadow, c);
    if (!same)
        fx_log(&s->sh.log, FX_LOG_WARN,
               "event=reload_listen_ignored msg=\"listen addresses change only on restart\"");
    if (!same_process(s->sh.conf, c))
        fx_log(&s->sh.log, FX_LOG_WARN,
               "event=reload_process_ignored msg=\"user, group and pidfile change only on "
               "restart\"");
    reopen_access_log(s, c);
    size_t nroutes = c->nroutes;
    fx_shared_swap(&s->sh, c);
    atomic_fetch_add(&s->sh.reloads_ok, 1);
    uint64_t gen = atomic_load(&s->sh.gen);
    wait_workers(s, gen);
    fx_log(&s->sh.log, FX_LOG_INFO, "event=reload result=ok generation=%llu routes=%zu",
           (unsigned long long)gen, nroutes);
}

static void wait_signals(struct server *s, const sigset_t *set)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig == SIGHUP) {
            notify(&s->sh.log, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
                   monotonic_usec(), s->conf_path);
            reload(s);
            notify(&s->sh.log, "READY=1\nSTATUS=serving: %zu workers, %llu reloads ok, %llu failed",
                   s->nw, (unsigned long long)atomic_load(&s->sh.reloads_ok),
                   (unsigned long long)atomic_load(&s->sh.reloads_failed));
            continue;
        }
        if (sig == SIGUSR1) {
            /* logrotate's postrotate, as nginx's USR1: reopen, never reload. */
            reopen_access_log(s, s->sh.conf);
            fx_log(&s->sh.log, FX_LOG_INFO, "event=reopen_logs");
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            fx_log(&s->sh.log, FX_LOG_INFO, "event=shutdown signal=%s",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
            notify(&s->sh.log, "STOPPING=1\nSTATUS=draining (limits.drain_timeout %llu ms)",
                   (unsigned long long)s->sh.conf->limits.drain_timeout_ms);
            return;
        }
    }
}

static uint64_t mono_ms(void)
{
    return (uint64_t)(monotonic_usec() / 1000u);
}

static void stop_server(struct server *s)
{
    uint64_t t0 = mono_ms();
    atomic_store(&s->sh.stopping, true);
    for (size_t i = 0; i < s->nw; i++)
        fx_worker_wake(&s->ws[i]);
    for (size_t i = 0; i < s->nw; i++) {
        if (s->ws[i].thread != 0)
            fx_worker_join(&s->ws[i]);
    }
    /* Admin and control read the workers' statistics until they stop: the
     * statistics are freed only after both (a scrape during the drain used to
     * read freed memory). */
    if (s->admin_on)
        fx_admin_stop(&s->admin);
    if (s->control_on)
        fx_control_stop(&s->control);
    s->sh.control = NULL;
    if (s->shadow_on) {
        /* After the workers (no job arrives any more), within what is left of
         * drain_timeout: the whole stop stays within it. */
        uint64_t drain = s->sh.conf != NULL ? s->sh.conf->limits.drain_timeout_ms : 0;
        uint64_t spent = mono_ms() - t0;
        fx_shadow_stop(&s->sh.shadow, spent < drain ? drain - spent : 0);
    }
    for (size_t i = 0; i < s->nw; i++)
        fx_worker_fini(&s->ws[i]);
    if (s->sh.access_fd > 2)
        (void)close(s->sh.access_fd);
    free(s->ws);
    fx_shared_fini(&s->sh);
}

/* Remove our pidfile; after a drop the directory may not be writable by the
 * new user, which is logged (a stale file is replaced at the next start). */
static void remove_pidfile(struct server *s)
{
    struct fx_log log = { FX_LOG_INFO, 2 }; /* s->sh is finished by then */
    if (s->pidfile == NULL)
        return;
    int rc = fx_proc_pidfile_remove(s->pidfile);
    if (rc != 0)
        fx_log(&log, FX_LOG_WARN, "event=pidfile_remove_failed path=%s error=%s", s->pidfile,
               strerrorname_np(-rc));
    FX_FREE(s->pidfile);
}

/* Give the files opened before the drop to the new user (the store and the
 * files SQLite keeps beside it, the access log) so that reopening them later
 * (new store connections, SIGUSR1) still works. */
static int chown_files(struct server *s, const struct fx_conf *c, struct fx_err *err)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    char p[4200];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        (void)snprintf(p, sizeof(p), "%s%s", c->store_path, suffixes[i]);
        int rc = fx_proc_chown(&s->ids, p, err);
        if (rc != 0)
            return rc;
    }
    return c->access_mode == FX_CONF_LOG_FILE ? fx_proc_chown(&s->ids, c->access_path, err) : 0;
}

/* Whether `ids` may create files in the directory of `path`: owner, group
 * or other write+search bits (the process keeps exactly one group; ACLs are
 * not consulted). Checked as root, before the drop. */
static bool dir_writable_by(const struct fx_proc_ids *ids, const char *path, char *dir, size_t cap)
{
    (void)snprintf(dir, cap, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        (void)snprintf(dir, cap, ".");
    struct stat st;
    if (stat(dir, &st) != 0)
        return false;
    if (ids->uid == 0 || st.st_uid == ids->uid)
        return (st.st_mode & 0300) == 0300;
    if (st.st_gid == ids->gid)
        return (st.st_mode & 0030) == 0030;
    return (st.st_mode & 0003) == 0003;
}

/* Once the listeners, the log and the store are open: write the pidfile,
 * hand the files over and switch to `user:`. SQLite creates its -wal and
 * -shm files beside the store later on: its directory must be writable by
 * the new user, which is checked rather than fixed (Ficus does not chown a
 * directory it did not create). */
static int drop_privileges(struct server *s, const struct fx_conf *c, struct fx_err *err)
{
    char dir[4200];
    if (s->ids.set && !dir_writable_by(&s->ids, c->store_path, dir, sizeof(dir)))
        return FX_ERR_SET(err, FX_ECONF,
                          "store %s: directory %s is not writable by user \"%s\" (SQLite "
                          "creates its -wal and -shm files there): give it to that user",
                          c->store_path, dir, s->ids.name);
    if (c->proc.pidfile != NULL) {
        s->pidfile = strdup(c->proc.pidfile);
        if (s->pidfile == NULL)
            return FX_ERR_SET(err, FX_ENOMEM, "pidfile: out of memory");
        int rc = fx_proc_pidfile_write(s->pidfile, s->takeover_peer, err);
        if (rc != 0) {
            FX_FREE(s->pidfile);
            return rc;
        }
    }
    if (!s->ids.set)
        return 0;
    int rc = chown_files(s, c, err);
    if (rc == 0)
        rc = fx_proc_drop(&s->ids, err);
    if (rc != 0)
        return rc;
    fx_log(&s->sh.log, FX_LOG_INFO, "event=privileges_dropped user=%s uid=%u gid=%u", s->ids.name,
           (unsigned int)s->ids.uid, (unsigned int)s->ids.gid);
    return 0;
}

/* Everything from the config to serving: take the listeners over (--takeover)
 * or bind them, open the log, the store and the admin listener, expose them
 * for a successor (--expose-fds), drop privileges. */
static int start_server(struct server *s, const struct fx_conf *c, const char *path,
                        const struct serve_opts *opts, struct fx_err *err)
{
    s->takeover_conn = -1;
    int rc = fx_proc_ids_resolve(path, c->proc.user, c->proc.group, &s->ids, err);
    if (rc == 0 && opts->takeover != NULL)
        rc = fx_proc_takeover(opts->takeover, &s->taken, &s->takeover_peer, &s->takeover_conn, err);
    if (rc == 0)
        rc = fx_proc_pidfile_check(c->proc.pidfile, s->takeover_peer, err);
    if (rc == 0)
        rc = open_access_log(s, c, err);
    if (rc == 0)
        rc = start_workers(s, c, err);
    if (rc == 0)
        rc = start_admin(s, c, err);
    /* Before the drop: the socket's directory may be root's (/run/ficus). */
    if (rc == 0 && opts->expose != NULL)
        rc = fx_proc_expose_start(&s->expose, opts->expose, &s->mine, &s->sh.log, err);
    if (rc == 0)
        rc = drop_privileges(s, c, err);
    if (rc != 0 && s->takeover_conn >= 0) {
        /* The old process keeps serving: it never got STARTED. */
        (void)close(s->takeover_conn);
        s->takeover_conn = -1;
    }
    return rc;
}

/* We serve: close the handed-over sockets no listener of ours took, and tell
 * the old process to drain. */
static void finish_takeover(struct server *s)
{
    for (size_t i = 0; i < s->taken.n; i++) {
        if (!s->taken.v[i].used)
            fx_log(&s->sh.log, FX_LOG_WARN, "event=takeover_listener_closed addr=%s",
                   s->taken.v[i].text);
    }
    fx_proc_lsets_fini(&s->taken, true);
    int rc = fx_proc_takeover_done(s->takeover_conn);
    s->takeover_conn = -1;
    fx_log(&s->sh.log, rc == 0 ? FX_LOG_INFO : FX_LOG_ERROR, "event=takeover result=%s old_pid=%ld",
           rc == 0 ? "ok" : strerrorname_np(-rc), (long)s->takeover_peer);
}

static int cmd_serve(int argc, char **argv)
{
    const char *path = NULL;
    struct fx_conf *c = NULL;
    struct serve_opts opts = { 0 };
    int rc = load_command_config(argc, argv, usage_serve, &path, &opts, &c);
    if (c == NULL)
        return rc;
    struct fx_err err = { 0 };
    static struct server s; /* large (worker stats); lives for the whole command */
    memset(&s, 0, sizeof(s));
    s.conf_path = (char *)(uintptr_t)path;
    if (fx_shared_init(&s.sh, c) != 0 || fx_shared_assign_ids(&s.sh, c, &err) != 0) {
        (void)fprintf(stderr, "ficus: %s\n", err.msg);
        return 1;
    }
    sigset_t set;
    (void)sigemptyset(&set);
    (void)sigaddset(&set, SIGHUP);
    (void)sigaddset(&set, SIGTERM);
    (void)sigaddset(&set, SIGINT);
    (void)sigaddset(&set, SIGUSR1);
    (void)pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread */
    (void)signal(SIGPIPE, SIG_IGN);
    rc = start_server(&s, c, path, &opts, &err);
    if (rc != 0) {
        char q[1100];
        fx_log(&s.sh.log, FX_LOG_ERROR, "event=start_failed error=\"%s\"",
               fx_log_quote(q, sizeof(q), err.msg));
        fx_proc_expose_stop(&s.expose);
        stop_server(&s);
        remove_pidfile(&s);
        return 1;
    }
    fx_log(&s.sh.log, FX_LOG_INFO, "event=ready workers=%zu version=%s pid=%d", s.nw, FX_VERSION,
           (int)getpid());
    if (s.takeover_conn >= 0)
        finish_takeover(&s);
    notify(&s.sh.log, "READY=1\nMAINPID=%d\nSTATUS=serving: %zu workers, %zu listeners",
           (int)getpid(), s.nw, c->nlisten);
    wait_signals(&s, &set);
    fx_proc_expose_stop(&s.expose);
    stop_server(&s);
    remove_pidfile(&s);
    fx_proc_lsets_fini(&s.mine, false);
    struct fx_log elog = { FX_LOG_INFO, 2 };
    fx_log(&elog, FX_LOG_INFO, "event=exit code=0");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        (void)fputs(usage_main, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc, argv);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc, argv);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(argc, argv);
    if (strcmp(cmd, "plan") == 0)
        return fx_ctl_plan_main(argc, argv);
    if (strcmp(cmd, "ctl") == 0)
        return fx_ctl_main(argc, argv);
    if (strcmp(cmd, "debt") == 0)
        return fx_reg_debt_main(argc, argv);
    if (strcmp(cmd, "report") == 0)
        return fx_reg_report_main(argc, argv);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            (void)fputs("usage: ficus version\n\nPrint the version and exit.\n", stdout);
            return 0;
        }
        (void)printf("ficus %s\n", FX_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        (void)fputs(usage_main, stdout);
        return 0;
    }
    (void)fprintf(stderr, "ficus: unknown command '%s'\n%s", cmd, usage_main);
    return 2;
}
