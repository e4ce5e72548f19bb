/* Proxy contract: workers (one epoll loop per thread) and shared state. */
#ifndef FX_PROXY_H
#define FX_PROXY_H

#include <stdbool.h>
#include <stdio.h>

#include "../core/err_types.h"
#include "proxy_types.h"

/* Initialise process-wide state with the first config (takes over the
 * caller's reference). Returns 0 or FX_ESYS. Main thread, before workers. */
int fx_shared_init(struct fx_shared *sh, struct fx_conf *conf);

/* Release the current config and interned names. Main thread, after workers. */
void fx_shared_fini(struct fx_shared *sh);

/* Assign process-stable ids to c's routes, upstreams and servers. Returns 0,
 * or FX_ELIMIT with err set when more than FX_MAX_IDS distinct names were
 * seen in the life of the process. Caller holds sh->lock. */
int fx_shared_assign_ids(struct fx_shared *sh, struct fx_conf *c, struct fx_err *err);

/* Publish `c` as the current config (takes over the caller's reference); workers switch
 * at their next loop iteration, in-flight requests finish on the old one. Main thread. */
void fx_shared_swap(struct fx_shared *sh, struct fx_conf *c);

/* Return a new reference to the current config. Any thread. */
struct fx_conf *fx_shared_conf(struct fx_shared *sh);

/* Prepare worker `id` with its own listening fds (taken over); lidx[i] is
 * the position in the current config's `listen` of fds[i] (its TLS settings
 * follow the config on reload). Returns 0 or FX_ESYS/FX_ENOMEM with err set.
 * Main thread. */
int fx_worker_init(struct fx_worker *w, struct fx_shared *sh, unsigned int id, const int *fds,
                   const unsigned int *lidx, size_t nfds, struct fx_err *err);

/* Start the worker thread. Returns 0 or FX_ESYS. */
int fx_worker_start(struct fx_worker *w);

/* Interrupt the worker's epoll_wait (after a reload or a stop request). Any thread. */
void fx_worker_wake(struct fx_worker *w);

/* True once the worker switched to generation `gen` or later. Any thread. */
static inline bool fx_worker_has_gen(struct fx_worker *w, uint64_t gen)
{
    return atomic_load_explicit(&w->seen_gen, memory_order_acquire) >= gen;
}

/* Wait for the worker thread to exit and release everything it owns except
 * its statistics, which the admin and control threads may still read: those
 * go with fx_worker_fini(). Main thread. */
void fx_worker_join(struct fx_worker *w);

/* Release the worker's statistics. Call only once no thread reads them any
 * more (the admin and control threads are stopped). Safe on a worker that
 * failed to initialise. Main thread. */
void fx_worker_fini(struct fx_worker *w);

/* Back-off in ms of a server ejected for the (streak + 1)th time in a row:
 * FX_EJECT_BASE_MS doubled per earlier ejection, capped at FX_EJECT_MAX_MS. Pure. */
uint64_t fx_proxy_backoff_ms(unsigned int streak);

/* Index of the server of `up` to try, scanning from `start` (taken modulo
 * nservers): the first one neither in `tried` (bit i % 64) nor ejected at
 * `now_ms` per `health` (indexed by server pool id); when every candidate is
 * ejected, the untried one whose ejection ends soonest; when every server was
 * tried, start % nservers. up->nservers must be > 0. Lock-free: relaxed loads
 * only. Any thread. */
size_t fx_proxy_srv_pick(const struct fx_srv_health *health, const struct fx_conf_upstream *up,
                         size_t start, uint64_t tried, uint64_t now_ms);

/* `ficus ctl tunnels close ROUTE SIDE`: close every open upgrade tunnel of
 * route `route` (borrowed name) on `side` (FX_SIDE_*; a route without
 * migrate has only legacy tunnels) in all `nw` workers of `ws`. Tunnels
 * opened afterwards are not affected. Asynchronous: each worker closes its
 * tunnels at its next loop iteration (it is woken). *open gets the number of
 * such tunnels open when called. Returns 0 or FX_ENOTFOUND (no such route
 * in the current config). Any thread (the admin thread). */
int fx_proxy_tunnels_close(struct fx_shared *sh, struct fx_worker *ws, size_t nw, const char *route,
                           int side, uint64_t *open);

/* Write all metrics in Prometheus text format. Admin thread. */
void fx_stats_render(struct fx_shared *sh, struct fx_worker *ws, size_t nw, FILE *f);

#endif
