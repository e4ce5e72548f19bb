/* The keys of a migrating route's guard (`routes[].migrate.guard`): the
 * limits the control plane compares the new side against. */
#include <stddef.h>

#include "../conf/conf_types.h"
#include "../conf/schema.h"

#define GUARD(t, k, fl, member, lo, hi, d, text)                                                 \
    {                                                                                            \
        .name = (k), .type = (t), .flags = (fl), FX_CONF_MEMBER(struct fx_conf_migrate, member), \
        .min = (lo), .max = (hi), .def = (d), .doc = (text)                                      \
    }

static const struct fx_conf_key guard_keys[] = {
    GUARD(FX_CONF_T_PERCENT, "max_error_rate_increase", 0, guard_max_err_increase_bp, 0,
          FX_CONF_PCT_MAX_BP, 100,
          "Largest accepted error rate of the new side minus that of the legacy side."),
    GUARD(FX_CONF_T_DECIMAL, "max_p99_ratio", FX_CONF_K_ABOVE, guard_max_p99_ratio, 1000, 100000,
          1500, "Largest accepted p99 latency of the new side divided by the legacy one."),
    GUARD(FX_CONF_T_UINT, "min_requests", 0, guard_min_requests, 1, 1000000000, 200,
          "Requests the new side must have answered in the window before a decision."),
    GUARD(FX_CONF_T_DURATION, "window", 0, guard_window_ms, 1000, FX_CONF_DURATION_MAX_MS, 300000,
          "Period the figures are taken over."),
    GUARD(FX_CONF_T_DECIMAL, "rollback_factor", 0, guard_rollback_factor, 1000, 100000, 2000,
          "A limit exceeded by this factor rolls the weight back at once instead of holding."),
};

FX_CONF_SECTION(fx_mig_guard_conf, "routes[].migrate.guard", guard_keys, NULL);
