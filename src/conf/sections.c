/* The registry of schema sections: the one place that names every module's
 * table, so that the engine never includes a module. Order is the order of
 * the configuration reference. */
#include <stddef.h>

#include "conf_int.h"
#include "schema.h"

/* Tables owned by the modules. */
extern const struct fx_conf_section fx_proxy_upstream_conf;
extern const struct fx_conf_section fx_mig_guard_conf;
extern const struct fx_conf_section fx_proxy_timeouts_conf;
extern const struct fx_conf_section fx_proxy_upgrade_conf;
extern const struct fx_conf_section fx_tls_listen_section;
extern const struct fx_conf_section fx_tls_conf_section;
extern const struct fx_conf_section fx_tls_cert_section;

const struct fx_conf_section *const fx_conf_sections[] = {
    &fx_conf_top_section,    &fx_tls_listen_section, &fx_tls_conf_section,
    &fx_tls_cert_section,    &fx_conf_log_section,   &fx_conf_limits_section,
    &fx_proxy_timeouts_conf, &fx_proxy_upgrade_conf, &fx_conf_paths_section,
    &fx_proxy_upstream_conf, &fx_mig_guard_conf,     NULL,
};
