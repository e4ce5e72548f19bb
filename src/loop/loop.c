#include "loop.h"

#include <sys/epoll.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../core/err.h"

int fx_loop_init(struct fx_loop *l)
{
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        return FX_ESYS;
    l->heap = NULL;
    l->nheap = 0;
    l->capheap = 0;
    fx_loop_update_time(l);
    return 0;
}

void fx_loop_fini(struct fx_loop *l)
{
    if (l->epfd >= 0)
        (void)close(l->epfd);
    l->epfd = -1;
    FX_FREE(l->heap);
    l->nheap = 0;
    l->capheap = 0;
}

void fx_loop_update_time(struct fx_loop *l)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    l->now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    l->now_ms = l->now_us / 1000u;
}

int fx_loop_add(struct fx_loop *l, struct fx_io *io, uint32_t events)
{
    struct epoll_event ev = { .events = events | EPOLLET, .data.ptr = io };
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) == 0 ? 0 : FX_ESYS;
}

void fx_loop_del(struct fx_loop *l, struct fx_io *io)
{
    (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void fx_timer_init(struct fx_timer *t, fx_timer_fn *cb)
{
    t->due = 0;
    t->key = 0;
    t->heap_idx = FX_TIMER_IDLE;
    t->cb = cb;
    t->next_due = NULL;
}

static void heap_swap(struct fx_loop *l, size_t a, size_t b)
{
    struct fx_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

static void heap_up(struct fx_loop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->key <= l->heap[i]->key)
            break;
        heap_swap(l, p, i);
        i = p;
    }
}

static void heap_down(struct fx_loop *l, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->nheap)
            break;
        if (c + 1 < l->nheap && l->heap[c + 1]->key < l->heap[c]->key)
            c++;
        if (l->heap[i]->key <= l->heap[c]->key)
            break;
        heap_swap(l, i, c);
        i = c;
    }
}

static void heap_remove(struct fx_loop *l, struct fx_timer *t)
{
    size_t i = t->heap_idx;
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->heap_idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->heap_idx = FX_TIMER_IDLE;
}

static int heap_push(struct fx_loop *l, struct fx_timer *t)
{
    if (l->nheap == l->capheap) {
        size_t ncap = l->capheap ? l->capheap * 2 : 256;
        struct fx_timer **nh = realloc(l->heap, ncap * sizeof(struct fx_timer *));
        if (nh == NULL)
            return FX_ENOMEM;
        l->heap = nh;
        l->capheap = ncap;
    }
    t->key = t->due;
    t->heap_idx = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_idx);
    return 0;
}

int fx_timer_arm(struct fx_loop *l, struct fx_timer *t, uint64_t ms)
{
    t->due = l->now_ms + ms;
    if (t->due == 0)
        t->due = 1;
    if (t->heap_idx != FX_TIMER_IDLE) {
        if (t->key <= t->due)
            return 0; /* lazily re-queued when the old key fires */
        t->key = t->due;
        heap_up(l, t->heap_idx);
        return 0;
    }
    int rc = heap_push(l, t);
    if (rc != 0)
        t->due = 0;
    return rc;
}

void fx_timer_stop(struct fx_loop *l, struct fx_timer *t)
{
    (void)l;
    t->due = 0; /* stays queued; skipped when its key comes up, or re-used by a re-arm */
}

void fx_timer_del(struct fx_loop *l, struct fx_timer *t)
{
    t->due = 0;
    if (t->heap_idx != FX_TIMER_IDLE)
        heap_remove(l, t);
}

static int next_timeout(const struct fx_loop *l, int max_wait_ms)
{
    if (l->nheap == 0)
        return max_wait_ms;
    uint64_t key = l->heap[0]->key;
    if (key <= l->now_ms)
        return 0;
    uint64_t d = key - l->now_ms;
    return d < (uint64_t)max_wait_ms ? (int)d : max_wait_ms;
}

static void run_timers(struct fx_loop *l)
{
    /* Collect what is due first, so a timer armed by a callback (even for 0 ms)
     * waits for the next iteration and io is never starved. */
    struct fx_timer *due = NULL;
    struct fx_timer **tail = &due;
    while (l->nheap > 0 && l->heap[0]->key <= l->now_ms) {
        struct fx_timer *t = l->heap[0];
        heap_remove(l, t);
        if (t->due == 0)
            continue;
        if (t->due > t->key) {
            (void)heap_push(l, t); /* re-armed later: re-queue at the real deadline */
            continue;
        }
        t->next_due = NULL;
        *tail = t;
        tail = &t->next_due;
    }
    while (due != NULL) {
        struct fx_timer *t = due;
        due = t->next_due;
        if (t->due == 0 || t->heap_idx != FX_TIMER_IDLE)
            continue; /* stopped or re-armed by an earlier callback */
        t->due = 0;
        t->cb(t);
    }
}

int fx_loop_run_once(struct fx_loop *l, int max_wait_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(l->epfd, evs, 256, next_timeout(l, max_wait_ms));
    if (n < 0 && errno != EINTR)
        return FX_ESYS;
    fx_loop_update_time(l);
    for (int i = 0; i < n; i++) {
        struct fx_io *io = evs[i].data.ptr;
        io->cb(io, evs[i].events);
    }
    run_timers(l);
    return n < 0 ? 0 : n;
}
