/* The `timeouts` section: how long an upgrade tunnel (WebSocket) may stay
 * silent. Client-side request timeouts stay in `limits`, upstream ones in
 * `upstreams.NAME`. */
#include <stddef.h>

#include "../conf/conf_types.h"
#include "../conf/schema.h"

static const struct fx_conf_key timeouts_keys[] = {
    {
        .name = "tunnel",
        .type = FX_CONF_T_DURATION,
        FX_CONF_MEMBER(struct fx_conf_timeouts, tunnel_ms),
        .min = 1000,
        .max = FX_CONF_DURATION_MAX_MS,
        .def = 3600000,
        .doc = "An upgrade tunnel (WebSocket) in which no byte moved either way for this long "
               "is closed; its access-log line says `tunnel_idle_timeout`.",
    },
};

FX_CONF_SECTION(fx_proxy_timeouts_conf, "timeouts", timeouts_keys, NULL);
