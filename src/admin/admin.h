/* Admin HTTP API. Runs on its own thread with blocking I/O: one short request
 * per connection (Connection: close), so it never touches a worker's loop. */
#ifndef FX_ADMIN_H
#define FX_ADMIN_H

#include "../core/err_types.h"
#include "admin_types.h"

/* Start serving on listening socket `fd` (taken over). Returns 0 or FX_ESYS
 * with err set. Main thread. */
int fx_admin_start(struct fx_admin *a, int fd, struct fx_shared *sh, struct fx_worker *ws,
                   size_t nw, struct fx_err *err);

/* Stop the thread and close the socket. Main thread. */
void fx_admin_stop(struct fx_admin *a);

#endif
