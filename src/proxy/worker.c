#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "../loop/loop.h"
#include "../route/route.h"
#include "../tls/tls_types.h"
#include "proxy_int.h"

int fx_proxy__buf_get(struct fx_worker *w, struct fx_buf *b)
{
    if (w->free_bufs != NULL) {
        struct fx_blk *blk = w->free_bufs;
        w->free_bufs = blk->next;
        w->nfree_bufs--;
        b->data = (char *)blk;
        b->cap = w->bufsize;
        b->off = 0;
        b->len = 0;
        return 0;
    }
    return fx_buf_init(b, w->bufsize);
}

void fx_proxy__buf_put(struct fx_worker *w, struct fx_buf *b)
{
    if (b->data == NULL)
        return;
    if (b->cap == w->bufsize && w->nfree_bufs < 256) {
        struct fx_blk *blk = (struct fx_blk *)(void *)b->data;
        blk->next = w->free_bufs;
        w->free_bufs = blk;
        w->nfree_bufs++;
        b->data = NULL;
        b->cap = b->off = b->len = 0;
        return;
    }
    fx_buf_fini(b);
}

struct fx_wconf *fx_proxy__wc_get(struct fx_worker *w)
{
    w->wc->users++;
    return w->wc;
}

void fx_proxy__wc_put(struct fx_worker *w, struct fx_wconf *wc)
{
    if (--wc->users > 0)
        return;
    struct fx_wconf **pp = &w->old_wc;
    while (*pp != NULL && *pp != wc)
        pp = &(*pp)->next;
    if (*pp == wc)
        *pp = wc->next;
    fx_conf_unref(wc->conf);
    free(wc);
}

static void size_buffers(struct fx_worker *w, const struct fx_conf *c)
{
    size_t want = c->limits.header_bytes + 2048;
    if (want < 32768 + 2048)
        want = 32768 + 2048;
    if (want == w->bufsize)
        return;
    while (w->free_bufs != NULL) {
        struct fx_blk *b = w->free_bufs;
        w->free_bufs = b->next;
        free(b);
    }
    w->nfree_bufs = 0;
    w->bufsize = want;
}

/* The TLS server of listener `l` in `c`: the entry at its start position if
 * it still has its address, else the entry with its address (the listen
 * list changed; its sockets stay until a restart). NULL: plain HTTP. */
static struct fx_tls_server *listener_tls(const struct fx_conf *c, const struct fx_listener *l)
{
    if (c->listen_tls == NULL)
        return NULL;
    if (l->idx < c->nlisten && strcmp(c->listen[l->idx].text, l->text) == 0)
        return c->listen_tls[l->idx] != NULL ? c->listen_tls[l->idx]->srv : NULL;
    for (size_t i = 0; i < c->nlisten; i++) {
        if (strcmp(c->listen[i].text, l->text) == 0)
            return c->listen_tls[i] != NULL ? c->listen_tls[i]->srv : NULL;
    }
    return NULL;
}

/* Switch to the shared config when it changed. Only the loop thread calls this. */
static void check_conf(struct fx_worker *w)
{
    uint64_t gen = atomic_load_explicit(&w->sh->gen, memory_order_acquire);
    if (gen == w->conf_gen && w->wc != NULL)
        return;
    struct fx_wconf *nwc = calloc(1, sizeof(*nwc));
    if (nwc == NULL)
        return; /* retry at the next iteration */
    nwc->conf = fx_shared_conf(w->sh);
    nwc->users = 1;
    w->conf_gen = gen;
    struct fx_wconf *old = w->wc;
    w->wc = nwc;
    size_buffers(w, nwc->conf);
    for (size_t i = 0; i < w->nlsn; i++)
        w->lsn[i].tls = listener_tls(nwc->conf, &w->lsn[i]);
    atomic_store_explicit(&w->seen_gen, gen, memory_order_release);
    if (old != NULL) {
        old->next = w->old_wc;
        w->old_wc = old;
        fx_proxy__wc_put(w, old);
    }
}

uint64_t fx_proxy__rand_u64(struct fx_worker *w)
{
    /* xorshift128+: fast, seeded from getrandom(); ids need uniqueness, not secrecy. */
    uint64_t s1 = w->rng[0];
    const uint64_t s0 = w->rng[1];
    w->rng[0] = s0;
    s1 ^= s1 << 23;
    w->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return w->rng[1] + s0;
}

void fx_proxy__rand_hex(struct fx_worker *w, char *out, size_t nhex)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < nhex) {
        uint64_t r = fx_proxy__rand_u64(w);
        for (int k = 0; k < 16 && i < nhex; k++, i++) {
            out[i] = hex[r & 15u];
            r >>= 4;
        }
    }
    out[nhex] = '\0';
}

/* Out of descriptors: the pending connection stays in the kernel queue and,
 * edge-triggered, nobody would look at it again until the next SYN. Give
 * up the spare descriptor, accept the connection and close it at once (the
 * client sees a reset rather than a hang), then take the spare back
 * (libuv's and nginx's trick). Returns false when even that fails. */
static bool accept_emfile(struct fx_worker *w, int lfd)
{
    if (w->spare_fd < 0)
        return false;
    (void)close(w->spare_fd);
    w->spare_fd = -1;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
        struct linger lg = { 1, 0 };
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        (void)close(fd);
        atomic_store_explicit(&w->stats->emfile_conns,
                              atomic_load_explicit(&w->stats->emfile_conns, memory_order_relaxed) +
                                  1,
                              memory_order_relaxed);
    }
    w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
}

static void on_accept(struct fx_io *io, uint32_t events)
{
    (void)events;
    struct fx_listener *l = (struct fx_listener *)io;
    struct fx_worker *w = l->w;
    if (w->spare_fd < 0)
        w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* lost at the last EMFILE */
    /* Edge-triggered: accept until EAGAIN, or the connections left in the queue
     * would wait for the next SYN to be noticed. */
    while (!w->draining) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0) {
            if (errno != EMFILE && errno != ENFILE)
                return;
            int e = errno;
            unsigned int n = 0;
            while (accept_emfile(w, io->fd))
                n++;
            fx_log(&w->sh->log, FX_LOG_WARN, "event=accept_failed error=%s closed=%u",
                   strerrorname_np(e), n);
            return;
        }
        int max = (int)w->wc->conf->limits.max_connections;
        if (atomic_fetch_add(&w->sh->nconns, 1) >= max) {
            atomic_fetch_sub(&w->sh->nconns, 1);
            atomic_fetch_add_explicit(&w->stats->rejected_conns, 1, memory_order_relaxed);
            (void)close(fd);
            continue;
        }
        fx_proxy__cc_accept(w, fd, &peer, l->tls);
    }
}

static void on_wake(struct fx_io *io, uint32_t events)
{
    (void)events;
    uint64_t v;
    ssize_t n = read(io->fd, &v, sizeof(v));
    (void)n;
}

int fx_worker_init(struct fx_worker *w, struct fx_shared *sh, unsigned int id, const int *fds,
                   const unsigned int *lidx, size_t nfds, struct fx_err *err)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->sh = sh;
    w->wake.fd = -1;
    w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fx_loop_init(&w->loop) != 0)
        return FX_ERR_SET(err, FX_ESYS, "worker %u: epoll_create1 failed", id);
    w->stats = calloc(1, sizeof(*w->stats));
    w->alog = malloc(FX_ALOG_CAP);
    w->lsn = calloc(nfds ? nfds : 1, sizeof(*w->lsn));
    if (w->stats == NULL || w->alog == NULL || w->lsn == NULL ||
        fx_route_scratch_init(&w->route) != 0)
        return FX_ERR_SET(err, FX_ENOMEM, "worker %u: out of memory", id);
    w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->wake.cb = on_wake;
    if (w->wake.fd < 0 || fx_loop_add(&w->loop, &w->wake, EPOLLIN) != 0)
        return FX_ERR_SET(err, FX_ESYS, "worker %u: eventfd failed", id);
    for (size_t i = 0; i < nfds; i++) {
        w->lsn[i].io.fd = fds[i];
        w->lsn[i].io.cb = on_accept;
        w->lsn[i].w = w;
        w->lsn[i].idx = lidx[i];
        if (lidx[i] < sh->conf->nlisten)
            (void)snprintf(w->lsn[i].text, sizeof(w->lsn[i].text), "%s",
                           sh->conf->listen[lidx[i]].text);
        w->nlsn++;
        if (fx_loop_add(&w->loop, &w->lsn[i].io, EPOLLIN) != 0)
            return FX_ERR_SET(err, FX_ESYS, "worker %u: epoll_ctl failed", id);
    }
    if (getrandom(w->rng, sizeof(w->rng), 0) != (ssize_t)sizeof(w->rng) ||
        (w->rng[0] | w->rng[1]) == 0) {
        w->rng[0] = 0x9e3779b97f4a7c15u ^ (uint64_t)id;
        w->rng[1] = 0xbf58476d1ce4e5b9u ^ w->loop.now_us;
    }
    check_conf(w);
    return 0;
}

void fx_worker_wake(struct fx_worker *w)
{
    uint64_t one = 1;
    ssize_t n = write(w->wake.fd, &one, sizeof(one));
    (void)n;
}

static void bury(struct fx_worker *w)
{
    while (w->grave_c != NULL) {
        struct fx_cconn *cc = w->grave_c;
        w->grave_c = cc->next;
        free(cc);
    }
    while (w->grave_u != NULL) {
        struct fx_uconn *uc = w->grave_u;
        w->grave_u = uc->next;
        free(uc);
    }
    fx_proxy__mirror_bury(w);
}

static void close_listeners(struct fx_worker *w)
{
    for (size_t i = 0; i < w->nlsn; i++) {
        if (w->lsn[i].io.fd < 0)
            continue;
        fx_loop_del(&w->loop, &w->lsn[i].io);
        (void)close(w->lsn[i].io.fd);
        w->lsn[i].io.fd = -1;
    }
}

/* Enter drain mode: stop accepting, close idle connections, let others finish. */
static void start_drain(struct fx_worker *w)
{
    w->draining = true;
    w->drain_deadline_ms = w->loop.now_ms + w->wc->conf->limits.drain_timeout_ms;
    w->drain_start_ms = w->loop.now_ms;
    close_listeners(w);
}

/* How long a drain keeps a connection that has not sent its first request:
 * one accepted just before the listeners closed usually has it in flight
 * (during a binary upgrade, closing it would fail a request the client has
 * already sent). */
#define FX_DRAIN_FRESH_MS 1000

bool fx_proxy__cc_drain_idle(const struct fx_cconn *cc)
{
    if (cc->state != FX_CC_HEAD || cc->in.len != 0)
        return false;
    if (cc->nreq == 0 && cc->w->loop.now_ms < cc->w->drain_start_ms + FX_DRAIN_FRESH_MS)
        return false;
    char b;
    return recv(cc->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

static void drain_step(struct fx_worker *w)
{
    bool expired = w->loop.now_ms >= w->drain_deadline_ms;
    struct fx_cconn *cc = w->conns;
    while (cc != NULL) {
        struct fx_cconn *next = cc->next;
        if (expired && cc->state == FX_CC_TUNNEL && cc->x->error == NULL)
            cc->x->error = "shutdown"; /* access log: the drain ended the tunnel */
        if (expired || fx_proxy__cc_drain_idle(cc))
            fx_proxy__cc_close(cc);
        cc = next;
    }
}

static void close_pools(struct fx_worker *w)
{
    for (size_t i = 0; i < FX_MAX_IDS; i++) {
        while (w->pool[i] != NULL) {
            struct fx_uconn *uc = w->pool[i];
            w->pool[i] = uc->next;
            w->pool_n[i]--;
            uc->next = NULL;
            uc->owner = NULL;
            fx_proxy__uc_release(uc, false, 0);
        }
    }
}

static void *worker_main(void *arg)
{
    struct fx_worker *w = arg;
    for (;;) {
        check_conf(w);
        fx_proxy__tunnel_check_close(w);
        if (!w->draining && atomic_load(&w->sh->stopping))
            start_drain(w);
        if (w->draining) {
            drain_step(w);
            if (w->conns == NULL)
                break;
        }
        int rc = fx_loop_run_once(&w->loop, w->draining ? 50 : 1000);
        fx_proxy__alog_flush(w);
        bury(w);
        if (rc < 0) {
            fx_log(&w->sh->log, FX_LOG_ERROR, "event=loop_failed worker=%u", w->id);
            break;
        }
    }
    close_pools(w);
    fx_proxy__mirror_shutdown(w);
    fx_proxy__alog_flush(w);
    bury(w);
    return NULL;
}

int fx_worker_start(struct fx_worker *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : FX_ESYS;
}

void fx_worker_join(struct fx_worker *w)
{
    (void)pthread_join(w->thread, NULL);
    close_listeners(w);
    if (w->wake.fd >= 0)
        (void)close(w->wake.fd);
    if (w->spare_fd >= 0)
        (void)close(w->spare_fd);
    w->spare_fd = -1;
    if (w->wc != NULL)
        fx_proxy__wc_put(w, w->wc);
    w->wc = NULL;
    while (w->old_wc != NULL) {
        struct fx_wconf *o = w->old_wc;
        w->old_wc = o->next;
        fx_conf_unref(o->conf);
        free(o);
    }
    while (w->free_bufs != NULL) {
        struct fx_blk *b = w->free_bufs;
        w->free_bufs = b->next;
        free(b);
    }
    fx_loop_fini(&w->loop);
    FX_FREE(w->lsn);
    FX_FREE(w->alog);
}

void fx_worker_fini(struct fx_worker *w)
{
    fx_route_scratch_fini(&w->route);
    FX_FREE(w->stats);
}
