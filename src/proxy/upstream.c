/* Upstream connections and per-worker keep-alive pools. */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../loop/loop.h"
#include "../net/net.h"
#include "proxy_int.h"

static void uc_dead(struct fx_io *io, uint32_t events)
{
    (void)io;
    (void)events;
}

static void uc_gauge(struct fx_worker *w, int delta)
{
    atomic_store_explicit(&w->stats->upstream_conns,
                          atomic_load_explicit(&w->stats->upstream_conns, memory_order_relaxed) +
                              delta,
                          memory_order_relaxed);
}

static void uc_close(struct fx_uconn *uc)
{
    struct fx_worker *w = uc->w;
    if (uc->flags & FX_IO_F_CLOSED)
        return;
    uc->flags |= FX_IO_F_CLOSED;
    fx_timer_del(&w->loop, &uc->timer);
    fx_loop_del(&w->loop, &uc->io);
    (void)close(uc->io.fd);
    uc->io.fd = -1;
    uc->io.cb = uc_dead;
    fx_proxy__buf_put(w, &uc->in);
    uc->next = w->grave_u;
    w->grave_u = uc;
    uc_gauge(w, -1);
}

static void pool_unlink(struct fx_worker *w, struct fx_uconn *uc)
{
    struct fx_uconn **pp = &w->pool[uc->pool_id];
    while (*pp != NULL && *pp != uc)
        pp = &(*pp)->next;
    if (*pp == uc) {
        *pp = uc->next;
        w->pool_n[uc->pool_id]--;
    }
    uc->next = NULL;
}

static void uc_on_event(struct fx_io *io, uint32_t events)
{
    struct fx_uconn *uc = (struct fx_uconn *)io;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
        uc->flags |= FX_IO_F_READABLE;
    if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
        uc->flags |= FX_IO_F_HUP;
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        uc->flags |= FX_IO_F_WRITABLE;
    if (uc->owner != NULL) {
        fx_proxy__cc_run(uc->owner);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        /* An idle pooled connection: the server closed it or sent junk. */
        pool_unlink(uc->w, uc);
        uc_close(uc);
    }
}

static void uc_on_timer(struct fx_timer *t)
{
    struct fx_uconn *uc = (struct fx_uconn *)(void *)((char *)t - offsetof(struct fx_uconn, timer));
    if (uc->owner == NULL && uc->tkind == FX_TK_IDLE) {
        /* Idle longer than the upstream's idle_timeout: close it before the server's
         * own keep-alive timeout does, so a reuse never races the server's FIN. */
        pool_unlink(uc->w, uc);
        uc_close(uc);
        return;
    }
    fx_proxy__uc_timeout(uc);
}

static struct fx_uconn *pool_pop(struct fx_worker *w, unsigned int pool_id)
{
    while (w->pool[pool_id] != NULL) {
        struct fx_uconn *uc = w->pool[pool_id];
        w->pool[pool_id] = uc->next;
        w->pool_n[pool_id]--;
        uc->next = NULL;
        if (uc->flags & (FX_IO_F_EOF | FX_IO_F_READABLE | FX_IO_F_HUP)) {
            uc_close(uc);
            continue;
        }
        return uc;
    }
    return NULL;
}

struct fx_uconn *fx_proxy__uc_get(struct fx_worker *w, const struct fx_conf_server *srv,
                                  const struct fx_conf_upstream *up, struct fx_cconn *cc,
                                  bool fresh)
{
    struct fx_uconn *uc = fresh ? NULL : pool_pop(w, srv->pool_id);
    if (uc != NULL) {
        fx_timer_stop(&w->loop, &uc->timer); /* the idle deadline; the caller arms its own */
        uc->tkind = FX_TK_NONE;
        uc->owner = cc;
        uc->idle_timeout_ms = up->idle_timeout_ms;
        uc->flags |= FX_UCONN_F_REUSED | FX_IO_F_WRITABLE;
        return uc;
    }
    int fd = fx_net_connect(&srv->addr);
    if (fd < 0)
        return NULL;
    uc = calloc(1, sizeof(*uc));
    if (uc == NULL) {
        (void)close(fd);
        return NULL;
    }
    uc->io.fd = fd;
    uc->io.cb = uc_on_event;
    uc->xp.ops = &fx_net_plain_ops;
    uc->w = w;
    uc->owner = cc;
    uc->pool_id = srv->pool_id;
    uc->idle_timeout_ms = up->idle_timeout_ms;
    uc->flags = FX_UCONN_F_CONNECTING;
    fx_timer_init(&uc->timer, uc_on_timer);
    if (fx_loop_add(&w->loop, &uc->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) != 0) {
        (void)close(fd);
        free(uc);
        return NULL;
    }
    uc_gauge(w, 1);
    return uc;
}

void fx_proxy__uc_release(struct fx_uconn *uc, bool reusable, unsigned int max_idle)
{
    struct fx_worker *w = uc->w;
    uc->owner = NULL;
    if (!reusable || w->draining || w->pool_n[uc->pool_id] >= max_idle ||
        (uc->flags & (FX_IO_F_EOF | FX_IO_F_HUP | FX_UCONN_F_CONNECTING))) {
        uc_close(uc);
        return;
    }
    if (uc->flags & FX_IO_F_READABLE) {
        /* The readiness bit may be stale (a read that exactly filled the buffer), or the
         * server may already have closed: peek to tell which. */
        char c;
        ssize_t n = recv(uc->io.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            uc_close(uc);
            return;
        }
        uc->flags &= ~FX_IO_F_READABLE;
    }
    /* The connection's own timer measures the idle time: re-arming a queued timer to a
     * later deadline is O(1) (the heap keeps the old key), so pooling costs no more than
     * stopping it did. */
    uc->tkind = FX_TK_IDLE;
    if (fx_timer_arm(&w->loop, &uc->timer, uc->idle_timeout_ms) != 0) {
        uc_close(uc); /* unbounded idle connections are worse than a new connect */
        return;
    }
    fx_proxy__buf_put(w, &uc->in);
    uc->idle_since_ms = w->loop.now_ms;
    uc->next = w->pool[uc->pool_id];
    w->pool[uc->pool_id] = uc;
    w->pool_n[uc->pool_id]++;
}

/* ---- passive health: ejection of servers that refuse or time out connects ---- */

uint64_t fx_proxy_backoff_ms(unsigned int streak)
{
    uint64_t ms = FX_EJECT_BASE_MS;
    for (unsigned int i = 0; i < streak && ms < FX_EJECT_MAX_MS; i++)
        ms *= 2;
    return ms < FX_EJECT_MAX_MS ? ms : FX_EJECT_MAX_MS;
}

size_t fx_proxy_srv_pick(const struct fx_srv_health *health, const struct fx_conf_upstream *up,
                         size_t start, uint64_t tried, uint64_t now_ms)
{
    size_t n = up->nservers;
    if (n <= 1)
        return 0;
    size_t best = SIZE_MAX;
    uint64_t best_until = UINT64_MAX;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (tried & ((uint64_t)1 << (i % 64)))
            continue;
        uint64_t until = atomic_load_explicit(&health[up->servers[i].pool_id].down_until_ms,
                                              memory_order_relaxed);
        if (until <= now_ms)
            return i;
        if (until < best_until) {
            best = i;
            best_until = until;
        }
    }
    return best != SIZE_MAX ? best : start % n;
}

const struct fx_conf_server *fx_proxy__srv_pick(struct fx_worker *w,
                                                const struct fx_conf_upstream *up,
                                                const struct fx_conf_server *after, uint64_t tried)
{
    size_t start;
    if (after == NULL) {
        start = w->rr[up->id]++;
        if (up->nservers == 1)
            return &up->servers[0];
    } else {
        start = (size_t)(after - up->servers) + 1;
    }
    return &up->servers[fx_proxy_srv_pick(w->sh->health, up, start, tried, w->loop.now_ms)];
}

void fx_proxy__srv_failed(struct fx_worker *w, const struct fx_conf_upstream *up,
                          const struct fx_conf_server *srv, const char *why)
{
    struct fx_srv_health *h = &w->sh->health[srv->pool_id];
    uint64_t now = w->loop.now_ms;
    uint64_t until = atomic_load_explicit(&h->down_until_ms, memory_order_relaxed);
    if (until > now)
        return; /* already ejected: a connect started before the ejection */
    unsigned int streak = atomic_load_explicit(&h->streak, memory_order_relaxed);
    uint64_t backoff = fx_proxy_backoff_ms(streak);
    /* Workers may see the same failure at once: the one whose CAS wins ejects. */
    if (!atomic_compare_exchange_strong_explicit(&h->down_until_ms, &until, now + backoff,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    atomic_fetch_add_explicit(&h->streak, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->ejections, 1, memory_order_relaxed);
    fx_log(&w->sh->log, FX_LOG_WARN,
           "event=upstream_server_down upstream=%s server=%s backoff_ms=%llu error=%s worker=%u",
           up->name, srv->addr.text, (unsigned long long)backoff, why, w->id);
}

void fx_proxy__srv_ok(struct fx_worker *w, const struct fx_conf_upstream *up,
                      const struct fx_conf_server *srv)
{
    struct fx_srv_health *h = &w->sh->health[srv->pool_id];
    if (atomic_load_explicit(&h->streak, memory_order_relaxed) == 0)
        return;
    unsigned int streak = atomic_exchange_explicit(&h->streak, 0, memory_order_relaxed);
    if (streak == 0)
        return; /* another worker saw it come back first */
    atomic_store_explicit(&h->down_until_ms, 0, memory_order_relaxed);
    fx_log(&w->sh->log, FX_LOG_INFO,
           "event=upstream_server_up upstream=%s server=%s ejections=%u worker=%u", up->name,
           srv->addr.text, streak, w->id);
}
