#include "admin.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "../proxy/proxy.h"

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int status, const char *reason, const char *ctype, const char *body,
                    size_t blen)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, reason, ctype, blen);
    if (n > 0)
        send_all(fd, head, (size_t)n);
    send_all(fd, body, blen);
}

/* Read a request head (up to 8 KiB); returns its length or -1. */
static ssize_t read_head(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
            return (ssize_t)len;
    }
    return -1;
}

static void serve_dynamic(struct fx_admin *a, int fd, bool metrics)
{
    char *out = NULL;
    size_t olen = 0;
    FILE *f = open_memstream(&out, &olen);
    if (f == NULL) {
        respond(fd, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
        return;
    }
    if (metrics) {
        fx_stats_render(a->sh, a->ws, a->nw, f);
    } else {
        struct fx_conf *c = fx_shared_conf(a->sh);
        (void)fx_conf_dump_json(c, f);
        fx_conf_unref(c);
    }
    (void)fclose(f);
    if (metrics)
        respond(fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", out, olen);
    else
        respond(fd, 200, "OK", "application/json", out, olen);
    free(out);
}

static void serve_one(struct fx_admin *a, int fd)
{
    struct timeval tv = { 2, 0 };
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char buf[8192];
    if (read_head(fd, buf, sizeof(buf)) < 0)
        return;
    char method[16];
    char path[1024];
    if (sscanf(buf, "%15s %1023s", method, path) != 2) {
        respond(fd, 400, "Bad Request", "text/plain", "bad request\n", 12);
        return;
    }
    char *q = strchr(path, '?');
    if (q != NULL)
        *q = '\0';
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        respond(fd, 405, "Method Not Allowed", "text/plain", "method not allowed\n", 19);
        return;
    }
    if (strcmp(path, "/metrics") == 0)
        serve_dynamic(a, fd, true);
    else if (strcmp(path, "/api/v1/config") == 0)
        serve_dynamic(a, fd, false);
    else if (strcmp(path, "/healthz") == 0)
        respond(fd, atomic_load(&a->sh->stopping) ? 503 : 200,
                atomic_load(&a->sh->stopping) ? "Service Unavailable" : "OK", "text/plain",
                atomic_load(&a->sh->stopping) ? "draining\n" : "ok\n",
                atomic_load(&a->sh->stopping) ? 9 : 3);
    else
        respond(fd, 404, "Not Found", "text/plain", "not found\n", 10);
}

static void *admin_main(void *arg)
{
    struct fx_admin *a = arg;
    for (;;) {
        struct pollfd p[2] = { { a->fd, POLLIN, 0 }, { a->stop_fd, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve_one(a, fd);
        (void)close(fd);
    }
    return NULL;
}

int fx_admin_start(struct fx_admin *a, int fd, struct fx_shared *sh, struct fx_worker *ws,
                   size_t nw, struct fx_err *err)
{
    a->fd = fd;
    a->sh = sh;
    a->ws = ws;
    a->nw = nw;
    a->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (a->stop_fd < 0)
        return FX_ERR_SET(err, FX_ESYS, "admin: eventfd failed");
    if (pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        (void)close(a->stop_fd);
        return FX_ERR_SET(err, FX_ESYS, "admin: cannot start thread");
    }
    return 0;
}

void fx_admin_stop(struct fx_admin *a)
{
    uint64_t one = 1;
    ssize_t n = write(a->stop_fd, &one, sizeof(one));
    (void)n;
    (void)pthread_join(a->thread, NULL);
    (void)close(a->stop_fd);
    (void)close(a->fd);
}
