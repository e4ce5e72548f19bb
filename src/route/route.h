/* Route matching: first match wins, in configuration order. */
#ifndef FX_ROUTE_H
#define FX_ROUTE_H

#include "../conf/conf_types.h"
#include "../http/http_types.h"

/* Return the first route of `c` matching `req` (path prefix, method, host
 * ignoring case and any ":port", headers by exact value), or NULL when none.
 * For absolute-form requests the target's authority is the host. The result
 * is borrowed from `c`. Any thread; no allocation. */
const struct fx_conf_route *fx_route_pick(const struct fx_conf *c, const struct fx_h1_req *req);

#endif
