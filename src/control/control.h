/* Control plane contract. All functions are thread-safe (they take c->lock)
 * unless noted; none runs on a worker's loop. */
#ifndef FX_CONTROL_H
#define FX_CONTROL_H

#include <stdio.h>

#include "../core/err_types.h"
#include "control_types.h"

/* Open the store at conf->store_path, load or initialise the state of every
 * migrating route of `conf` (persisted state wins while the route's migrate
 * fingerprint is unchanged), publish weights to the workers, start the
 * thread. Takes its own reference to conf. Returns 0, or FX_EIO/FX_ESYS with
 * err set. Main thread. */
int fx_control_start(struct fx_control *c, struct fx_shared *sh, struct fx_worker *ws, size_t nw,
                     struct fx_conf *conf, struct fx_err *err);

/* Switch to a reloaded config (new reference taken): routes whose migrate
 * section changed are re-initialised from it (audited, actor "config");
 * others keep their state. Returns 0, or FX_EIO/FX_ENOMEM with err set (the
 * store could not be opened): the caller must then reject the reload. Main
 * thread, before the workers see `conf`. */
int fx_control_reload(struct fx_control *c, struct fx_conf *conf, struct fx_err *err);

/* Stop the thread, close the store, release everything. Main thread. */
void fx_control_stop(struct fx_control *c);

/* Apply an operator command to `route`. weight_bp is used by FX_CTL_WEIGHT.
 * `actor` is the admin token's name. On success returns 0 and the route's
 * new state is published at once; otherwise FX_ENOTFOUND (no such migrating
 * route) or FX_EINVAL (not allowed in the current status), with a reason in
 * msg[cap]. */
int fx_control_cmd(struct fx_control *c, const char *route, enum fx_ctl_cmd cmd, uint32_t weight_bp,
                   const char *actor, char *msg, size_t cap);

/* Write {"routes":[{name, legacy, new, weight ("5.00%"), weight_bp, step,
 * steps [...], status, rollbacks, window_seconds, sides: {legacy: {requests,
 * errors, error_rate, p50_ms, p99_ms}, new: {...}}}]} for every migrating
 * route (or only `route` when not NULL: then a single object, and
 * FX_ENOTFOUND when unknown). Figures are over the guard window. Returns 0,
 * FX_ENOTFOUND or FX_EIO. */
int fx_control_routes_json(struct fx_control *c, const char *route, FILE *f);

/* Write the audit log (see fx_store_events_json). Returns 0 or FX_EIO. */
int fx_control_events_json(struct fx_control *c, const char *route, size_t limit, FILE *f);

/* Guard rollbacks since start for the route with id `route_id` (metrics). */
uint64_t fx_control_rollbacks(struct fx_control *c, unsigned int route_id);

/* ---- ficus plan (plan.c): pure functions, any thread ------------------- */

#include <jansson.h>

/* Live migration state of the running process for fx_plan_build(): one
 * state per migrating route (st.route, weight_bp, step, status, fingerprint
 * filled), borrowed. known = false offline (--current FILE): the running
 * section's fingerprint then stands for the state. */
struct fx_plan_live {
    const struct fx_mig_state *v; /* borrowed array */
    size_t n;
    bool known;
};

/* What reloading into `next` would change, compared with `running` (the
 * running config's canonical dump, as GET /api/v1/config or fx_plan_dump()
 * gives it) and `live`: a new JSON object {global: [{key, restart, why,
 * keys}], upstreams: [{name, change, servers_added, servers_removed, keys}],
 * routes: [{name, change: added|removed|changed|unchanged, position, was,
 * keys, migration: null | {action, before, after, reason}}], live_state,
 * changes (count)}. The migration effect is fx_mig_carry()'s decision, as
 * in fx_control_reload(). Returns NULL on a NULL argument or out of memory.
 * Arguments are borrowed. */
json_t *fx_plan_build(const json_t *running, const struct fx_conf *next,
                      const struct fx_plan_live *live);

/* The canonical dump of `c` as a new JSON value (NULL when out of memory). */
json_t *fx_plan_dump(const struct fx_conf *c);

/* Print a plan from fx_plan_build() for people, one line per change.
 * Returns 0 or FX_EIO. */
int fx_plan_print_text(const json_t *plan, FILE *f);

#endif
