/* The top level of the file and the `log` section: process-wide keys,
 * parsed by conf.c's hooks (their values have shapes of their own). */
#include <stddef.h>

#include "conf_int.h"
#include "schema.h"

#define TOP(k, fn, fl, type, def, text)                                                  \
    {                                                                                    \
        .name = (k), .parse = (fn), .flags = (fl), .type_doc = (type), .def_doc = (def), \
        .doc = (text)                                                                    \
    }

static const struct fx_conf_key top_keys[] = {
    TOP("listen", fx_conf__top_listen, FX_CONF_K_REQUIRED,
        "address or `{address, tls}`, or a list of them", NULL,
        "Client listeners, at least one. A single entry is accepted. The same non-zero "
        "address may not appear twice. A mapping entry may serve TLS (see `listen[]`)."),
    TOP("admin", fx_conf__top_admin, 0, "mapping", "absent",
        "Admin listener (see below). Absent: no admin listener."),
    TOP("workers", fx_conf__top_workers, 0, "integer 1..256 or `auto`", "`auto`",
        "Worker threads, one event loop each. `auto` = number of online CPUs (stored as 0)."),
    TOP("log", fx_conf__top_log, 0, "mapping", "see below", "Access log."),
    TOP("limits", fx_conf__top_limits, 0, "mapping", "see below",
        "Client-side limits and timeouts."),
    TOP("timeouts", fx_conf__top_timeouts, 0, "mapping", "see below",
        "Timeouts of upgrade tunnels (WebSocket)."),
    TOP("upgrade", fx_conf__top_upgrade, 0, "mapping", "see below",
        "Which `Upgrade` protocols are tunnelled (WebSocket)."),
    TOP("store", fx_conf__top_store, 0, "`sqlite:PATH`", "`sqlite:ficus.db`",
        "Where migration state and the audit log are kept (see below)."),
    TOP("upstreams", fx_conf__top_upstreams, FX_CONF_K_REQUIRED, "mapping of name → upstream", NULL,
        "Backend groups, at least one."),
    TOP("routes", fx_conf__top_routes, FX_CONF_K_REQUIRED, "list of routes", NULL,
        "Routing table, at least one route, tried in file order."),
    TOP("paths", fx_conf__top_paths, 0, "mapping", "all on",
        "Request-path normalisation before routing (see below)."),
    TOP("user", fx_conf__top_process, 0, "name or numeric uid", "absent",
        "Account `ficus serve` switches to once every listener is bound and the access log and "
        "the store are open (see below). Needs a start as root."),
    TOP("group", fx_conf__top_process, 0, "name or numeric gid", "the user's primary group",
        "Group for `user`. Only with `user`."),
    TOP("pidfile", fx_conf__top_process, 0, "file path", "absent",
        "File `ficus serve` writes its pid to after start and removes at exit (see below). "
        "Relative to the directory of the configuration file."),
};

FX_CONF_SECTION(fx_conf_top_section, "top level", top_keys, NULL);

static const struct fx_conf_key log_keys[] = {
    TOP("access", fx_conf__log_access, 0, "`stdout`, `off` or a file path", "`stdout`",
        "Where the JSON access log goes, one object per exchange. Any other string is a file "
        "path, opened for appending. `off` may be written plain or quoted."),
    TOP("format", fx_conf__log_format, 0, "`json`", "`json`", "The only supported format."),
    TOP("fields", fx_conf__log_fields, 0, "list of field names", "today's 15 fields",
        "The keys of each access log line, in this order (see *Access log fields*)."),
};

FX_CONF_SECTION(fx_conf_log_section, "log", log_keys, NULL);
