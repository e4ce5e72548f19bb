/* Binary upgrade: the old process hands its listening sockets to the new one
 * over a Unix SOCK_SEQPACKET socket (SCM_RIGHTS), as HAProxy's `-x` does.
 *
 * Protocol, one message per line of text:
 *   new -> old  "FICUS-TAKEOVER 1"
 *   old -> new  "L <index> <configured address>" + up to FX_NET_FDS_MAX fds,
 *               repeated per batch; "A <configured address>" + the admin fd;
 *               "END <pid>"
 *   new -> old  "STARTED" once its workers serve; the old process then
 *               raises SIGTERM and drains. A new process that exits or closes
 *               the connection before STARTED leaves the old one serving.
 * Both processes accept on the same sockets meanwhile, so no connection
 * waits in a queue nobody reads: the sockets never close. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/log.h"
#include "../net/net.h"
#include "proc.h"

#define HELLO       "FICUS-TAKEOVER 1"
#define STARTED     "STARTED"
#define IO_TIMEOUT  5  /* seconds for each message of the exchange */
#define RUN_TIMEOUT 60 /* seconds the new process may take to start serving */

static int set_unix_path(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -ENAMETOOLONG;
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

static void set_timeouts(int fd, int seconds)
{
    struct timeval tv = { .tv_sec = seconds };
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int send_set(int c, char kind, size_t idx, const struct fx_proc_lset *l)
{
    char msg[128];
    for (size_t off = 0; off < l->nfds; off += FX_NET_FDS_MAX) {
        size_t n = l->nfds - off < FX_NET_FDS_MAX ? l->nfds - off : FX_NET_FDS_MAX;
        int len = kind == 'L' ? snprintf(msg, sizeof(msg), "L %zu %s", idx, l->text)
                              : snprintf(msg, sizeof(msg), "A %s", l->text);
        int rc = fx_net_send_fds(c, msg, (size_t)len, l->fds + off, n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Root or our own user only; fills *pid with the peer's. */
static bool peer_allowed(int c, pid_t *pid)
{
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0)
        return false;
    *pid = cr.pid;
    return cr.uid == 0 || cr.uid == geteuid();
}

/* Wait for one message and compare it with `want`. */
static bool expect_msg(int c, const char *want)
{
    char buf[256];
    int fds[1];
    size_t nfds = 0;
    ssize_t r = fx_net_recv_fds(c, buf, sizeof(buf), fds, 0, &nfds);
    return r > 0 && strcmp(buf, want) == 0;
}

/* Every listener set, then "END <pid>". Returns 0 or -errno. */
static int send_listeners(const struct fx_proc_expose *e, int c)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < e->ls->n; i++)
        rc = send_set(c, 'L', i, &e->ls->v[i]);
    if (rc == 0 && e->ls->admin.nfds > 0)
        rc = send_set(c, 'A', 0, &e->ls->admin);
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "END %ld", (long)getpid());
    return rc != 0 ? rc : fx_net_send_fds(c, buf, (size_t)len, NULL, 0);
}

/* Serve one client. Returns true when the handover is complete. */
static bool serve_one(struct fx_proc_expose *e, int c)
{
    pid_t peer = 0;
    if (!peer_allowed(c, &peer)) {
        fx_log(e->log, FX_LOG_WARN, "event=takeover_refused reason=peer_uid");
        return false;
    }
    set_timeouts(c, IO_TIMEOUT);
    if (!expect_msg(c, HELLO)) {
        fx_log(e->log, FX_LOG_WARN, "event=takeover_refused reason=bad_hello");
        return false;
    }
    int rc = send_listeners(e, c);
    if (rc != 0) {
        fx_log(e->log, FX_LOG_WARN, "event=takeover_aborted peer_pid=%ld error=%s", (long)peer,
               strerrorname_np(-rc));
        return false;
    }
    fx_log(e->log, FX_LOG_INFO, "event=takeover_sent peer_pid=%ld listeners=%zu", (long)peer,
           e->ls->n);
    set_timeouts(c, RUN_TIMEOUT);
    if (!expect_msg(c, STARTED)) {
        fx_log(e->log, FX_LOG_WARN,
               "event=takeover_aborted peer_pid=%ld msg=\"new process did not start; still "
               "serving\"",
               (long)peer);
        return false;
    }
    fx_log(e->log, FX_LOG_INFO, "event=takeover_done peer_pid=%ld msg=\"draining\"", (long)peer);
    return true;
}

static void *expose_main(void *arg)
{
    struct fx_proc_expose *e = arg;
    while (!atomic_load(&e->stop)) {
        struct pollfd p = { .fd = e->fd, .events = POLLIN };
        if (poll(&p, 1, 200) <= 0)
            continue;
        int c = accept4(e->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        bool done = serve_one(e, c);
        (void)close(c);
        if (done) {
            /* main's sigwaitinfo() takes it: the ordinary SIGTERM drain. */
            (void)kill(getpid(), SIGTERM);
            break;
        }
    }
    return NULL;
}

int fx_proc_expose_start(struct fx_proc_expose *e, const char *path, const struct fx_proc_lsets *ls,
                         struct fx_log *log, struct fx_err *err)
{
    memset(e, 0, sizeof(*e));
    e->fd = -1;
    e->ls = ls;
    e->log = log;
    struct sockaddr_un sa;
    if (set_unix_path(&sa, path) != 0)
        return FX_ERR_SET(err, FX_ECONF, "expose-fds %s: path too long", path);
    (void)snprintf(e->path, sizeof(e->path), "%s", path);
    struct stat st;
    /* A socket file left by a crash, or the old process's (it keeps its fd). */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        (void)unlink(path);
    e->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    mode_t old = umask(0077);
    int rc = e->fd < 0 ? -1 : bind(e->fd, (struct sockaddr *)&sa, sizeof(sa));
    (void)umask(old);
    if (rc != 0 || listen(e->fd, 4) != 0 || stat(path, &st) != 0) {
        int en = errno;
        if (e->fd >= 0)
            (void)close(e->fd);
        e->fd = -1;
        return FX_ERR_SET(err, FX_ESYS, "expose-fds %s: %s", path, strerrordesc_np(en));
    }
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    if (pthread_create(&e->thread, NULL, expose_main, e) != 0) {
        (void)close(e->fd);
        e->fd = -1;
        (void)unlink(path);
        return FX_ERR_SET(err, FX_ESYS, "expose-fds %s: cannot start thread", path);
    }
    e->running = true;
    return 0;
}

void fx_proc_expose_stop(struct fx_proc_expose *e)
{
    if (!e->running)
        return;
    atomic_store(&e->stop, true);
    (void)pthread_join(e->thread, NULL);
    e->running = false;
    struct stat st;
    /* A successor may have put its own socket at the same path. */
    if (stat(e->path, &st) == 0 && st.st_dev == e->dev && st.st_ino == e->ino)
        (void)unlink(e->path);
    (void)close(e->fd);
    e->fd = -1;
}

/* Append `n` fds to `l`. Returns 0 or -ENOMEM (the fds are closed then). */
static int lset_add(struct fx_proc_lset *l, const int *fds, size_t n)
{
    int *v = realloc(l->fds, (l->nfds + n) * sizeof(int));
    if (v == NULL) {
        for (size_t i = 0; i < n; i++)
            (void)close(fds[i]);
        return -ENOMEM;
    }
    memcpy(v + l->nfds, fds, n * sizeof(int));
    l->fds = v;
    l->nfds += n;
    return 0;
}

/* Record one "L idx text" or "A text" message. */
static int take_message(struct fx_proc_lsets *out, const char *buf, const int *fds, size_t n)
{
    struct fx_proc_lset *l = NULL;
    const char *text = NULL;
    if (buf[0] == 'A' && buf[1] == ' ') {
        l = &out->admin;
        text = buf + 2;
    } else if (buf[0] == 'L' && buf[1] == ' ') {
        char *end = NULL;
        unsigned long idx = strtoul(buf + 2, &end, 10);
        if (end == buf + 2 || *end != ' ' || idx > out->n || idx > 4096)
            return -EPROTO;
        if (idx == out->n) {
            struct fx_proc_lset *v = realloc(out->v, (out->n + 1) * sizeof(*v));
            if (v == NULL)
                return -ENOMEM;
            memset(&v[out->n], 0, sizeof(v[0]));
            out->v = v;
            out->n++;
        }
        l = &out->v[idx];
        text = end + 1;
    } else {
        return -EPROTO;
    }
    size_t tl = strlen(text);
    if (tl >= sizeof(l->text))
        return -EPROTO;
    memcpy(l->text, text, tl + 1);
    return lset_add(l, fds, n);
}

static int receive_all(int c, struct fx_proc_lsets *out, pid_t *peer)
{
    char buf[256];
    int fds[FX_NET_FDS_MAX];
    for (;;) {
        size_t n = 0;
        ssize_t r = fx_net_recv_fds(c, buf, sizeof(buf), fds, FX_NET_FDS_MAX, &n);
        int rc = r < 0 ? (int)r : r == 0 ? -ECONNRESET : 0;
        if (rc == 0 && strncmp(buf, "END ", 4) == 0) {
            *peer = (pid_t)strtol(buf + 4, NULL, 10);
            for (size_t i = 0; i < n; i++)
                (void)close(fds[i]);
            return 0;
        }
        if (rc == 0)
            rc = take_message(out, buf, fds, n);
        else
            for (size_t i = 0; i < n; i++)
                (void)close(fds[i]);
        if (rc != 0)
            return rc;
    }
}

int fx_proc_takeover(const char *path, struct fx_proc_lsets *out, pid_t *peer, int *conn,
                     struct fx_err *err)
{
    memset(out, 0, sizeof(*out));
    *conn = -1;
    struct sockaddr_un sa;
    if (set_unix_path(&sa, path) != 0)
        return FX_ERR_SET(err, FX_ECONF, "takeover %s: path too long", path);
    int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int en = errno;
        if (c >= 0)
            (void)close(c);
        return FX_ERR_SET(err, FX_ESYS,
                          "takeover %s: %s (is the old ficus running with "
                          "--expose-fds %s?)",
                          path, strerrordesc_np(en), path);
    }
    set_timeouts(c, IO_TIMEOUT);
    int rc = fx_net_send_fds(c, HELLO, strlen(HELLO), NULL, 0);
    if (rc == 0)
        rc = receive_all(c, out, peer);
    if (rc != 0) {
        (void)close(c);
        fx_proc_lsets_fini(out, true);
        return FX_ERR_SET(err, FX_EIO, "takeover %s: %s", path, strerrordesc_np(-rc));
    }
    *conn = c;
    return 0;
}

int fx_proc_takeover_done(int conn)
{
    int rc = fx_net_send_fds(conn, STARTED, strlen(STARTED), NULL, 0);
    (void)close(conn);
    return rc;
}

static void lset_fini(struct fx_proc_lset *l, bool close_unused)
{
    if (close_unused && !l->used) {
        for (size_t i = 0; i < l->nfds; i++)
            (void)close(l->fds[i]);
    }
    FX_FREE(l->fds);
    l->nfds = 0;
}

void fx_proc_lsets_fini(struct fx_proc_lsets *ls, bool close_unused)
{
    for (size_t i = 0; i < ls->n; i++)
        lset_fini(&ls->v[i], close_unused);
    FX_FREE(ls->v);
    ls->n = 0;
    lset_fini(&ls->admin, close_unused);
}
