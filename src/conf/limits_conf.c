/* The `limits` section: client-side limits and timeouts, per process. */
#include <stddef.h>

#include "../http/http_types.h"
#include "conf_int.h"
#include "conf_types.h"
#include "schema.h"

#define LIM(t, k, member, lo, hi, d, text)                                                    \
    {                                                                                         \
        .name = (k), .type = (t), FX_CONF_MEMBER(struct fx_conf_limits, member), .min = (lo), \
        .max = (hi), .def = (d), .doc = (text)                                                \
    }

static const struct fx_conf_key limits_keys[] = {
    LIM(FX_CONF_T_SIZE, "header_bytes", header_bytes, 1024, 1048576, 16384,
        "Largest request head (request line and headers); also the request-line limit."),
    LIM(FX_CONF_T_UINT, "max_headers", max_headers, 1, FX_H1_MAX_HEADERS, 100,
        "Most header lines in one request."),
    LIM(FX_CONF_T_DURATION, "client_header_timeout", client_header_timeout_ms, 1,
        FX_CONF_DURATION_MAX_MS, 10000, "Time allowed to receive a whole request head."),
    LIM(FX_CONF_T_DURATION, "handshake_timeout", handshake_timeout_ms, 1, FX_CONF_DURATION_MAX_MS,
        10000,
        "Time allowed for a TLS handshake on a `tls` listener; the request-head time "
        "starts after it."),
    LIM(FX_CONF_T_DURATION, "client_body_timeout", client_body_timeout_ms, 1,
        FX_CONF_DURATION_MAX_MS, 60000, "Longest gap between two reads of a request body."),
    LIM(FX_CONF_T_DURATION, "send_timeout", send_timeout_ms, 1, FX_CONF_DURATION_MAX_MS, 60000,
        "Longest time a write to the client may stay blocked."),
    LIM(FX_CONF_T_DURATION, "idle_timeout", idle_timeout_ms, 1, FX_CONF_DURATION_MAX_MS, 60000,
        "Keep-alive idle time between two requests."),
    LIM(FX_CONF_T_DURATION, "drain_timeout", drain_timeout_ms, 0, FX_CONF_DURATION_MAX_MS, 30000,
        "On SIGTERM, how long in-flight requests may run before the process exits. The shadow "
        "comparison thread then gets at most as long to finish the copy it is comparing (queued "
        "copies are discarded and counted as `shutdown`)."),
    LIM(FX_CONF_T_UINT, "max_connections", max_connections, 1, 1000000, 10000,
        "Client connections per process."),
    LIM(FX_CONF_T_SIZE, "shadow_queue_bytes", shadow_queue_bytes, 1u << 20, 64ull << 30, 64u << 20,
        "Memory budget of the shadow comparison queue, per process: a copy whose captured "
        "request and answers would push the queued bytes past it is dropped (`queue_full`). The "
        "queue also holds at most 4096 jobs. See [shadow.md](shadow.md#memory)."),
    LIM(FX_CONF_T_SIZE, "shadow_inflight_bytes", shadow_inflight_bytes, 1u << 20, 64ull << 30,
        64u << 20,
        "Memory budget of the shadow copies still in flight (request body, primary answer and "
        "the copies' answers being captured), per process over all workers: a copy that would "
        "push past it is dropped (`inflight`)."),
};

FX_CONF_SECTION(fx_conf_limits_section, "limits", limits_keys, NULL);
