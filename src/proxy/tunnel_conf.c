/* The `timeouts` and `upgrade` sections: how long an upgrade tunnel
 * (WebSocket) may stay silent, and which protocols may be tunnelled.
 * Client-side request timeouts stay in `limits`, upstream ones in
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

/* The `upgrade` section: which Upgrade protocols are forwarded and tunnelled. */
static const struct fx_conf_key upgrade_keys[] = {
    {
        .name = "protocols",
        .type = FX_CONF_T_TOKENS,
        .off = offsetof(struct fx_conf_upgrade, protocols),
        .count_off = offsetof(struct fx_conf_upgrade, nprotocols),
        .elem_size = FX_CONF_UPGRADE_LEN,
        .max = FX_CONF_UPGRADE_MAX,
        .def_list = "websocket",
        .doc = "Protocol names (the part before any `/version`) a client may switch to with "
               "`Upgrade` + `Connection: upgrade`; others are dropped as hop-by-hop and the "
               "request is forwarded as plain HTTP/1.1. `[]` tunnels nothing. Adding `h2c` lets "
               "clients speak HTTP/2 to the upstream past Ficus (h2c smuggling): keep it out.",
    },
};

FX_CONF_SECTION(fx_proxy_upgrade_conf, "upgrade", upgrade_keys, NULL);
