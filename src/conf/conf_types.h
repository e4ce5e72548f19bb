/* The configuration snapshot: immutable after load, reference-counted. */
#ifndef FX_CONF_TYPES_H
#define FX_CONF_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../net/net_types.h"

enum fx_conf_log_mode {
    FX_CONF_LOG_STDOUT = 0,
    FX_CONF_LOG_OFF,
    FX_CONF_LOG_FILE,
};

/* Access log fields (log.fields), as X(ENUM, "name"). The first
 * FX_CONF_LOG_NDEFAULT, in this order, are the default line. */
#define FX_CONF_LOG_FIELDS(X)                     \
    X(TIME, "time")                               \
    X(REQUEST_ID, "request_id")                   \
    X(CLIENT, "client")                           \
    X(METHOD, "method")                           \
    X(PATH, "path")                               \
    X(ROUTE, "route")                             \
    X(UPSTREAM, "upstream")                       \
    X(SERVER, "server")                           \
    X(SIDE, "side")                               \
    X(SHADOW, "shadow")                           \
    X(STATUS, "status")                           \
    X(BYTES_IN, "bytes_in")                       \
    X(BYTES_OUT, "bytes_out")                     \
    X(DURATION_US, "duration_us")                 \
    X(ERROR, "error")                             \
    X(HOST, "host")                               \
    X(USER_AGENT, "user_agent")                   \
    X(REFERER, "referer")                         \
    X(PROTOCOL, "protocol")                       \
    X(UPSTREAM_CONNECT_US, "upstream_connect_us") \
    X(UPSTREAM_HEADER_US, "upstream_header_us")   \
    X(TOTAL_US, "total_us")                       \
    X(OVERRIDE_USED, "override_used")             \
    X(TRACE_ID, "trace_id")                       \
    X(TLS_VERSION, "tls_version")

enum fx_conf_log_field {
#define FX_CONF_LOG_ENUM(e, name) FX_CONF_LOG_F_##e,
    FX_CONF_LOG_FIELDS(FX_CONF_LOG_ENUM)
#undef FX_CONF_LOG_ENUM
    FX_CONF_LOG_NFIELDS,
};

#define FX_CONF_LOG_NDEFAULT 15 /* time .. error */

struct fx_conf_server {
    struct fx_addr addr;
    unsigned int pool_id; /* assigned by the caller after load (0 from the loader) */
};

struct fx_conf_upstream {
    char *name;                     /* owned */
    unsigned int id;                /* assigned by the caller after load */
    struct fx_conf_server *servers; /* owned array */
    size_t nservers;
    uint64_t connect_timeout_ms; /* default 2000 */
    uint64_t read_timeout_ms;    /* default 30000: wait for response head / between reads */
    uint64_t send_timeout_ms;    /* default 30000: a blocked write to the upstream */
    unsigned int max_idle;       /* pooled idle connections per server per worker, default 512 */
    uint64_t idle_timeout_ms;    /* default 60000: a pooled connection idle longer is closed */
    unsigned int line;           /* YAML line where the upstream is defined */
};

struct fx_conf_match_header {
    char *name;  /* owned */
    char *value; /* owned; exact, case-sensitive value match */
};

/* How a migrating route finds a request's sticky key. */
enum fx_sticky {
    FX_STICKY_NONE = 0, /* each request assigned afresh by weight */
    FX_STICKY_HEADER,   /* header:NAME */
    FX_STICKY_COOKIE,   /* cookie:NAME */
    FX_STICKY_QUERY,    /* query:NAME */
    FX_STICKY_IP,       /* ip: the client address */
};

/* An address block for override.from ("10.0.0.0/8", "127.0.0.1/32", "::1/128"). */
struct fx_cidr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network bytes (4 used for IPv4), host bits zeroed */
    unsigned int prefix;    /* 0..32 or 0..128 */
};

/* route.migrate: progressive move from the route's `to` (legacy) to `migrate.to` (new). */
struct fx_conf_migrate {
    char *to_name;               /* owned: new upstream name as written */
    struct fx_conf_upstream *to; /* borrowed: element of fx_conf.upstreams */
    uint32_t weight_bp;          /* starting share of the new side, basis points 0..10000 (0.01%) */
    enum fx_sticky sticky;
    char *sticky_name;  /* owned: header/cookie/query name; NULL for none/ip */
    uint32_t *steps_bp; /* owned: ramp steps, strictly increasing, 1..10000; NULL = no ramp */
    size_t nsteps;
    uint64_t ramp_interval_ms;          /* ramp.interval (required with steps) */
    uint32_t guard_max_err_increase_bp; /* guard.max_error_rate_increase, default 100 (1%) */
    double guard_max_p99_ratio;         /* guard.max_p99_ratio, default 1.5 */
    uint64_t guard_min_requests;        /* guard.min_requests, default 200 */
    uint64_t guard_window_ms;           /* guard.window, default 5m */
    double guard_rollback_factor;  /* guard.rollback_factor, default 2: a limit times this breaks
                                      "by a clear margin" and rolls back at once */
    char *override_header;         /* owned: override.header, NULL = no override */
    struct fx_cidr *override_from; /* owned array: override.from */
    size_t noverride_from;
    char fingerprint[65]; /* hex SHA-256 of the section's canonical form: changes exactly
                             when the migrate section changes */
    unsigned int line;
};

/* route.shadow: mirror a sample of the route's requests to another upstream and
 * compare its answers with the primary's (the side that serves the client). */
struct fx_conf_shadow {
    char *to_name;               /* owned: candidate upstream name as written */
    struct fx_conf_upstream *to; /* borrowed: element of fx_conf.upstreams */
    uint32_t sample_bp; /* share of matching requests mirrored, basis points; default 10000 */
    char **methods;     /* owned: methods mirrored (upper case); default GET, HEAD */
    size_t nmethods;
    uint64_t max_body;         /* request bodies above this are not mirrored; default 64 KiB */
    unsigned int max_inflight; /* copies in flight per worker; default 256 */
    char *secondary_name;      /* owned or NULL: a second legacy instance (noise learning) */
    struct fx_conf_upstream *secondary; /* borrowed or NULL */
    char **ignore_headers;              /* owned: header names never compared (case-insensitive) */
    size_t nignore_headers;
    char **ignore_json; /* owned: JSON paths never compared ("$.a", "$.items[*].etag") */
    size_t nignore_json;
    char **redact; /* owned: header names whose values are masked in stored samples, in
                      addition to Authorization, Cookie and Set-Cookie */
    size_t nredact;
    uint32_t block_bp; /* block_promotion_above in basis points; FX_SHADOW_NO_BLOCK = unset */
    unsigned int line;
};

#define FX_SHADOW_NO_BLOCK UINT32_MAX

/* How match.host is compared with the request's host (case-insensitively,
 * without its ":port"); host_pat holds the bytes compared. */
enum fx_conf_host_kind {
    FX_CONF_HOST_EXACT = 0,  /* "api.example.com": that name only */
    FX_CONF_HOST_SUBDOMAINS, /* "*.example.com": any name ending in ".example.com" */
    FX_CONF_HOST_DOMAIN,     /* ".example.com": example.com and any name below it */
    FX_CONF_HOST_PREFIX,     /* "www.example.*": any name starting with "www.example." */
};

struct pcre2_real_code_8; /* pcre2.h's pcre2_code (8-bit) */

struct fx_conf_route {
    char *name;        /* owned */
    unsigned int id;   /* assigned by the caller after load */
    char *path_prefix; /* owned; default "/" */
    size_t path_prefix_len;
    char *path_regex;                  /* owned or NULL: match.path_regex as written */
    struct pcre2_real_code_8 *path_re; /* owned (pcre2_code_free) or NULL: compiled path_regex,
                                          JIT-compiled when the platform allows */
    char **methods;                    /* owned array of owned strings; empty = any method */
    size_t nmethods;
    char *host; /* owned or NULL = any host; compared case-insensitively,
                   ignoring a ":port" suffix in the request */
    enum fx_conf_host_kind host_kind;
    const char *host_pat; /* borrowed: points into host; the bytes compared per host_kind */
    size_t host_pat_len;
    struct fx_conf_match_header *headers; /* owned array; all must match */
    size_t nheaders;
    char *to_name;                   /* owned: upstream name as written */
    struct fx_conf_upstream *to;     /* borrowed: element of fx_conf.upstreams */
    struct fx_conf_migrate *migrate; /* owned or NULL */
    struct fx_conf_shadow *shadow;   /* owned or NULL */
    char *strip_prefix; /* owned or NULL: removed from the upstream path at a segment boundary */
    size_t strip_prefix_len;
    struct fx_conf_match_header *set_headers; /* owned array: request headers set upstream,
                                                 replacing every client copy, in file order */
    size_t nset_headers;
    char **remove_headers; /* owned array: request headers never forwarded (any case) */
    size_t nremove_headers;
    unsigned int line;
};

struct fx_conf_limits {
    size_t header_bytes;               /* default 16384; also the request-line limit */
    size_t max_headers;                /* default 100 (<= FX_H1_MAX_HEADERS) */
    uint64_t client_header_timeout_ms; /* default 10000 */
    uint64_t handshake_timeout_ms;     /* default 10000: a TLS handshake */
    uint64_t client_body_timeout_ms;   /* default 60000: gap between body reads */
    uint64_t send_timeout_ms;          /* default 60000: a blocked write to the client */
    uint64_t idle_timeout_ms;          /* default 60000: keep-alive idle */
    uint64_t drain_timeout_ms;         /* default 30000: SIGTERM grace period */
    unsigned int max_connections;      /* default 10000, per process */
    uint64_t shadow_queue_bytes;       /* default 64 MiB: shadow jobs waiting for comparison */
    uint64_t shadow_inflight_bytes;    /* default 64 MiB: captures of shadow copies in flight */
};

/* The `timeouts` section (src/proxy/tunnel_conf.c). */
struct fx_conf_timeouts {
    uint64_t tunnel_ms; /* default 3600000: an upgrade tunnel with no byte either way is closed */
};

/* The `upgrade` section (src/proxy/tunnel_conf.c). */
#define FX_CONF_UPGRADE_MAX 8  /* protocols in upgrade.protocols */
#define FX_CONF_UPGRADE_LEN 32 /* bytes of one protocol name, NUL included */
struct fx_conf_upgrade {
    char protocols[FX_CONF_UPGRADE_MAX][FX_CONF_UPGRADE_LEN]; /* default {"websocket"} */
    size_t nprotocols;
};

/* The `paths` section: how request paths are normalised before routing. */
struct fx_conf_paths {
    bool merge_slashes;     /* default true: "//" becomes "/" */
    bool decode_unreserved; /* default true: %XX of unreserved bytes decoded, others upper-cased;
                               malformed %-encoding refused (400) */
    bool resolve_dots;      /* default true: "." and ".." removed; above the root refused (400) */
    unsigned int flags;     /* FX_H1_PATH_* bits of the three above, for fx_h1_path_normalize() */
};

/* Rights of an admin token (admin.token_file "NAME:TOKEN ROLE"); each role
 * includes the ones before it. */
enum fx_conf_admin_role {
    FX_CONF_ROLE_READ = 1, /* every GET */
    FX_CONF_ROLE_OPERATE,  /* state changes: weight, pause, resume, rollback, promote, debt,
                              tunnels close */
    FX_CONF_ROLE_ADMIN,    /* everything; the role of a line without one */
};

/* admin.open: endpoints served without a token (default both). */
#define FX_CONF_ADMIN_OPEN_HEALTHZ 0x1u
#define FX_CONF_ADMIN_OPEN_METRICS 0x2u

/* Top-level `user:`, `group:`, `pidfile:` (process identity; see main.c). */
struct fx_conf_process {
    char *user;    /* owned or NULL: name or numeric uid to switch to after binding */
    char *group;   /* owned or NULL: name or numeric gid; default the user's group */
    char *pidfile; /* owned or NULL: path (relative to the config's directory) */
};

struct fx_tls_conf; /* tls/tls_types.h */

/* A listener given as a mapping (section "listen[]", parsed by tls_conf.c). */
struct fx_conf_listen {
    struct fx_addr addr;
    struct fx_tls_conf *tls; /* owned or NULL: plain HTTP */
};

struct fx_conf {
    char *path;             /* owned: file it was loaded from */
    struct fx_addr *listen; /* owned array */
    size_t nlisten;
    struct fx_tls_conf **listen_tls; /* owned array of nlisten owned entries (NULL: plain), or
                                        NULL when every listener is plain */
    bool admin_enabled;              /* true when admin.listen is set */
    struct fx_addr admin_listen;
    char *admin_token_file;   /* owned or NULL: admin.token_file as written */
    char **admin_tokens;      /* owned: tokens read from the file, one per non-empty line */
    char **admin_token_names; /* owned: "NAME" of a "NAME:TOKEN" line, else "admin" */
    enum fx_conf_admin_role *admin_token_roles; /* owned: role of each token */
    size_t nadmin_tokens;
    char **admin_allowed_hosts; /* owned: admin.allowed_hosts, extra Host values accepted */
    size_t nadmin_allowed_hosts;
    unsigned int admin_open; /* FX_CONF_ADMIN_OPEN_* bits: answered without a token */
    char *store_path;        /* owned: from `store: sqlite:PATH` (relative to the config's
                                directory); default "ficus.db" beside the config */
    unsigned int workers;    /* 0 = auto (number of online CPUs) */
    enum fx_conf_log_mode access_mode;
    char *access_path;                             /* owned, when access_mode == FX_CONF_LOG_FILE */
    unsigned char log_fields[FX_CONF_LOG_NFIELDS]; /* enum fx_conf_log_field, in line order */
    size_t nlog_fields; /* 0: the default line (the first FX_CONF_LOG_NDEFAULT fields) */
    struct fx_conf_limits limits;
    struct fx_conf_timeouts timeouts;
    struct fx_conf_upgrade upgrade;
    struct fx_conf_paths paths;
    struct fx_conf_process proc;
    struct fx_conf_upstream *upstreams; /* owned array */
    size_t nupstreams;
    struct fx_conf_route *routes; /* owned array, in file order (first match wins) */
    size_t nroutes;
    atomic_uint refcnt; /* 1 after load */
};

#endif
