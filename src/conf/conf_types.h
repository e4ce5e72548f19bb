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
    unsigned int max_idle;       /* pooled idle connections per server per worker, default 64 */
    unsigned int line;           /* YAML line where the upstream is defined */
};

struct fx_conf_match_header {
    char *name;  /* owned */
    char *value; /* owned; exact, case-sensitive value match */
};

struct fx_conf_route {
    char *name;        /* owned */
    unsigned int id;   /* assigned by the caller after load */
    char *path_prefix; /* owned; default "/" */
    size_t path_prefix_len;
    char **methods; /* owned array of owned strings; empty = any method */
    size_t nmethods;
    char *host;                           /* owned or NULL = any host; compared case-insensitively,
                                             ignoring a ":port" suffix in the request */
    struct fx_conf_match_header *headers; /* owned array; all must match */
    size_t nheaders;
    char *to_name;               /* owned: upstream name as written */
    struct fx_conf_upstream *to; /* borrowed: element of fx_conf.upstreams */
    unsigned int line;
};

struct fx_conf_limits {
    size_t header_bytes;               /* default 16384; also the request-line limit */
    size_t max_headers;                /* default 100 (<= FX_H1_MAX_HEADERS) */
    uint64_t client_header_timeout_ms; /* default 10000 */
    uint64_t client_body_timeout_ms;   /* default 60000: gap between body reads */
    uint64_t send_timeout_ms;          /* default 60000: a blocked write to the client */
    uint64_t idle_timeout_ms;          /* default 60000: keep-alive idle */
    uint64_t drain_timeout_ms;         /* default 30000: SIGTERM grace period */
    unsigned int max_connections;      /* default 10000, per process */
};

struct fx_conf {
    char *path;             /* owned: file it was loaded from */
    struct fx_addr *listen; /* owned array */
    size_t nlisten;
    bool admin_enabled; /* true when admin.listen is set */
    struct fx_addr admin_listen;
    unsigned int workers; /* 0 = auto (number of online CPUs) */
    enum fx_conf_log_mode access_mode;
    char *access_path; /* owned, when access_mode == FX_CONF_LOG_FILE */
    struct fx_conf_limits limits;
    struct fx_conf_upstream *upstreams; /* owned array */
    size_t nupstreams;
    struct fx_conf_route *routes; /* owned array, in file order (first match wins) */
    size_t nroutes;
    atomic_uint refcnt; /* 1 after load */
};

#endif
