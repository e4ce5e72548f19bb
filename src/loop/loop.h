/* Event loop contract. A loop and everything registered on it belong to one
 * thread; no function here is thread-safe. */
#ifndef FX_LOOP_H
#define FX_LOOP_H

#include <stdbool.h>

#include "loop_types.h"

/* Create the epoll instance. Returns 0 or FX_ESYS. */
int fx_loop_init(struct fx_loop *l);

/* Close the epoll fd and free the heap (registered fds are not closed). */
void fx_loop_fini(struct fx_loop *l);

/* Refresh now_ms / now_us from CLOCK_MONOTONIC. */
void fx_loop_update_time(struct fx_loop *l);

/* Register io->fd with the given epoll events (EPOLLET is added). Returns 0 or FX_ESYS. */
int fx_loop_add(struct fx_loop *l, struct fx_io *io, uint32_t events);

/* Remove io->fd from the loop (before closing it). */
void fx_loop_del(struct fx_loop *l, struct fx_io *io);

/* Initialise a timer with its callback (disarmed). */
void fx_timer_init(struct fx_timer *t, fx_timer_fn *cb);

/* Arm `t` to fire `ms` from now (replacing any earlier arming). Returns 0 or
 * FX_ENOMEM (the timer is then not armed). */
int fx_timer_arm(struct fx_loop *l, struct fx_timer *t, uint64_t ms);

/* Disarm `t` in O(1): it may stay queued until its old key comes up. */
void fx_timer_stop(struct fx_loop *l, struct fx_timer *t);

/* Disarm and unqueue `t`; must be called before the timer's owner is freed. */
void fx_timer_del(struct fx_loop *l, struct fx_timer *t);

/* Wait up to max_wait_ms for events, dispatch io and timer callbacks.
 * Returns the number of io events handled or FX_ESYS. */
int fx_loop_run_once(struct fx_loop *l, int max_wait_ms);

#endif
