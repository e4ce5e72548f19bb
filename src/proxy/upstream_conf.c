/* The keys of one upstream (`upstreams: {NAME: {...}}`): its servers and
 * the timeouts and pool size the proxy uses for them. */
#include <stddef.h>

#include "../conf/conf_types.h"
#include "../conf/schema.h"

#define UPKEY(t, k, member, lo, hi, d, text)                                                    \
    {                                                                                           \
        .name = (k), .type = (t), FX_CONF_MEMBER(struct fx_conf_upstream, member), .min = (lo), \
        .max = (hi), .def = (d), .doc = (text)                                                  \
    }

static const struct fx_conf_key upstream_keys[] = {
    {
        .name = "servers",
        .type = FX_CONF_T_ADDRS,
        .flags = FX_CONF_K_REQUIRED,
        .off = offsetof(struct fx_conf_upstream, servers),
        .count_off = offsetof(struct fx_conf_upstream, nservers),
        .elem_size = sizeof(struct fx_conf_server),
        .doc = "Backend servers, at least one; requests are spread over them.",
    },
    UPKEY(FX_CONF_T_DURATION, "connect_timeout", connect_timeout_ms, 1, FX_CONF_DURATION_MAX_MS,
          2000, "Time allowed for a TCP connect."),
    UPKEY(FX_CONF_T_DURATION, "read_timeout", read_timeout_ms, 1, FX_CONF_DURATION_MAX_MS, 30000,
          "Time to wait for the response head, and between two reads of the response."),
    UPKEY(FX_CONF_T_DURATION, "send_timeout", send_timeout_ms, 1, FX_CONF_DURATION_MAX_MS, 30000,
          "Longest time a write to the upstream may stay blocked."),
    UPKEY(FX_CONF_T_UINT, "max_idle", max_idle, 0, 10000, 512,
          "Idle keep-alive connections pooled per server and per worker. 0 disables pooling."),
    UPKEY(FX_CONF_T_DURATION, "idle_timeout", idle_timeout_ms, 1, FX_CONF_DURATION_MAX_MS, 60000,
          "A pooled connection left idle this long is closed by Ficus. Keep it below the "
          "servers' own keep-alive timeout, so that Ficus never reuses a connection the server "
          "is closing."),
};

FX_CONF_SECTION(fx_proxy_upstream_conf, "upstreams.NAME", upstream_keys, NULL);
