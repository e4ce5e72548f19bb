/* Admin HTTP API. Runs an event loop on its own thread (non-blocking
 * sockets, one request per connection, Connection: close), so it never
 * touches a worker's loop and a slow admin client never delays another. */
#ifndef FX_ADMIN_H
#define FX_ADMIN_H

#include "../core/err_types.h"
#include "admin_types.h"

/* Start serving on listening socket `fd` (taken over; made non-blocking).
 * At most FX_ADMIN_CONN_MAX connections are open at once: past that, the
 * oldest one still sending its head is closed to make room, or the new one
 * when none is. `sh` and `ws` are borrowed until fx_admin_stop() returns.
 * Returns 0 or FX_ESYS with err set (fd is then not closed). Main thread. */
int fx_admin_start(struct fx_admin *a, int fd, struct fx_shared *sh, struct fx_worker *ws,
                   size_t nw, struct fx_err *err);

/* Stop promptly, whatever the clients do: wake the loop through its
 * eventfd, close every connection, join the thread, close the listener.
 * After it returns the admin thread touches nothing. Main thread. */
void fx_admin_stop(struct fx_admin *a);

#endif
