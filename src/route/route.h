/* Route matching: first match wins, in configuration order. */
#ifndef FX_ROUTE_H
#define FX_ROUTE_H

#include "../conf/conf_types.h"
#include "../core/str.h"
#include "../http/http_types.h"
#include "route_types.h"

/* Prepare `s` (caller's storage) for fx_route_pick. Returns 0 or FX_ENOMEM
 * (nothing to release then). Any thread, once per worker; pair with
 * fx_route_scratch_fini. */
int fx_route_scratch_init(struct fx_route_scratch *s);

/* Release what fx_route_scratch_init made; `s` may be zeroed or already
 * finished (no-op). */
void fx_route_scratch_fini(struct fx_route_scratch *s);

/* Return the first route of `c` matching `req` (path prefix or path regex,
 * method, host, headers by exact value), or NULL when none. The host ignores
 * case and any ":port" and follows the route's host_kind (wildcards); for
 * absolute-form requests the target's authority is the host. path_regex is
 * matched against req->path up to its '?' (the normalised path, no query).
 * When a regex cannot be evaluated (a FX_ROUTE_* limit is reached) the walk
 * stops there: NULL with s->error set to the PCRE2 code (< 0), so no later
 * route is picked for a request the earlier one might have claimed.
 * s->error is 0 otherwise. The result is borrowed from `c`. The thread
 * owning `s`; no allocation. */
const struct fx_conf_route *fx_route_pick(const struct fx_conf *c, const struct fx_h1_req *req,
                                          struct fx_route_scratch *s);

/* True when `host` (no port) matches pattern `pat` of kind `kind` (see
 * enum fx_conf_host_kind), ignoring ASCII case. Pure; any thread. */
bool fx_route_host_match(enum fx_conf_host_kind kind, struct fx_str pat, struct fx_str host);

/* The request path to send upstream for route `r`: `path` (the normalised
 * path with its query) without r->strip_prefix when it starts with the
 * prefix at a segment boundary (followed by '/', '?' or the end), else
 * `path` unchanged. The result is a view into `path`; when it is empty or
 * starts with '?', the caller writes "/" before it. Pure; any thread. */
struct fx_str fx_route_strip_prefix(const struct fx_conf_route *r, struct fx_str path);

#endif
