/* Event loop: epoll (edge-triggered) plus a lazy binary-heap timer queue. */
#ifndef FX_LOOP_TYPES_H
#define FX_LOOP_TYPES_H

#include <stddef.h>
#include <stdint.h>

struct fx_io;
struct fx_timer;

/* Called with the epoll event bits (EPOLLIN, EPOLLOUT, EPOLLERR, ...). */
typedef void fx_io_fn(struct fx_io *io, uint32_t events);
typedef void fx_timer_fn(struct fx_timer *t);

/* A file descriptor watched by a loop; embedded in its owner. */
struct fx_io {
    int fd;
    fx_io_fn *cb;
};

#define FX_TIMER_IDLE ((size_t)-1)

/* A one-shot timer embedded in its owner. Re-arming to a later time is O(1):
 * the heap keeps the old key and the timer is re-queued when that key fires. */
struct fx_timer {
    uint64_t due;    /* ms on the loop clock; 0 = disarmed */
    uint64_t key;    /* position key in the heap */
    size_t heap_idx; /* FX_TIMER_IDLE when not in the heap */
    fx_timer_fn *cb;
    struct fx_timer *next_due; /* borrowed: list of timers firing in this iteration */
};

struct fx_loop {
    int epfd;
    uint64_t now_ms;        /* monotonic, updated each iteration */
    uint64_t now_us;        /* monotonic microseconds */
    struct fx_timer **heap; /* owned array of borrowed timers */
    size_t nheap;
    size_t capheap;
};

#endif
