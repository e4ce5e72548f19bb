/* Workers, client and upstream connections, exchanges and statistics. */
#ifndef FX_PROXY_TYPES_H
#define FX_PROXY_TYPES_H

#include <netinet/in.h>
#include <sys/socket.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../conf/conf_types.h"
#include "../core/buf.h"
#include "../core/log.h"
#include "../http/http_types.h"
#include "../loop/loop_types.h"
#include "../migrate/migrate_types.h"
#include "../route/route_types.h"
#include "../shadow/shadow_types.h"
#include "../tls/tls_types.h"

#define FX_MAX_IDS      1024 /* distinct route, upstream and server names over the process life */
#define FX_STATS_SLOTS  4096 /* (route, upstream, code) combinations per worker */
#define FX_HIST_BUCKETS 14   /* request duration histogram buckets incl. +Inf */
#define FX_ALOG_CAP     65536

/* Names interned for the process lifetime, so ids survive reloads. */
struct fx_intern {
    char *names[FX_MAX_IDS]; /* owned; never freed before exit */
    atomic_size_t n;
};

/* Per-worker counters: written by the worker only, read by the admin thread. */
struct fx_stat_slot {
    atomic_uint_fast64_t key; /* 0 = empty; else (route_id+1)<<40 | (up_id+1)<<20 | code */
    atomic_uint_fast64_t count;
};

struct fx_stats {
    struct fx_stat_slot req[FX_STATS_SLOTS];
    atomic_uint_fast64_t hist[FX_MAX_IDS][FX_HIST_BUCKETS];
    atomic_uint_fast64_t hist_sum_us[FX_MAX_IDS];
    atomic_uint_fast64_t connect_errors[FX_MAX_IDS]; /* by upstream id */
    atomic_uint_fast64_t timeouts[FX_MAX_IDS];       /* by upstream id */
    atomic_int_fast64_t client_conns;
    atomic_int_fast64_t upstream_conns;
    atomic_uint_fast64_t rejected_conns; /* over max_connections */
    atomic_uint_fast64_t emfile_conns;   /* accepted and closed at once: out of descriptors */
    /* Migrating routes, by route id and side (FX_SIDE_LEGACY / FX_SIDE_NEW). */
    atomic_uint_fast64_t side_req[FX_MAX_IDS][2];
    atomic_uint_fast64_t side_err[FX_MAX_IDS][2]; /* 5xx, connect failures, timeouts */
    atomic_uint_fast64_t side_lat[FX_MAX_IDS][2][FX_MIG_LAT_BUCKETS];
    atomic_uint_fast64_t side_sum_us[FX_MAX_IDS][2];
    /* Upgrade tunnels (tunnel.c), by route id and side (legacy for a route
     * without migrate); bytes by direction FX_TUN_DIR_*. */
    atomic_int_fast64_t tunnels_active[FX_MAX_IDS][2];
    atomic_uint_fast64_t tunnels_total[FX_MAX_IDS][2];
    atomic_uint_fast64_t tunnel_bytes[FX_MAX_IDS][2][2];
    struct fx_tls_stats tls; /* client handshakes on tls listeners */
};

#define FX_TUN_DIR_UP   0 /* client to upstream */
#define FX_TUN_DIR_DOWN 1 /* upstream to client */

/* Live migration decision of one route, written by the control plane and read
 * by workers on every request (relaxed atomics: a change is seen within one
 * request). */
struct fx_mig_live {
    atomic_uint weight_bp; /* new side's share in basis points */
    atomic_uint status;    /* enum fx_mig_status */
};

/* Passive health of one upstream server, by server id (its interned address, so
 * it survives reloads and is shared by the upstreams listing that address).
 * Written by any worker on a connect failure or on the first success after
 * one, read by every worker at each server choice (one relaxed load) and by
 * the admin thread. */
struct fx_srv_health {
    atomic_uint_fast64_t down_until_ms; /* loop clock (CLOCK_MONOTONIC); skipped until then */
    atomic_uint streak;                 /* ejections since the last successful connect; 0 = up */
    atomic_uint_fast64_t ejections;     /* ejections over the process life */
};

#define FX_EJECT_BASE_MS 1000u  /* first back-off of an ejected server */
#define FX_EJECT_MAX_MS  30000u /* back-off cap (the back-off doubles per ejection) */

struct fx_control;

/* Process-wide state shared by workers, the admin thread and main. */
struct fx_shared {
    pthread_mutex_t lock;     /* guards conf swaps and interning */
    struct fx_conf *conf;     /* owned reference: the current snapshot */
    atomic_uint_fast64_t gen; /* bumped on every successful reload */
    atomic_int nconns;        /* open client connections, all workers */
    atomic_bool stopping;
    atomic_uint_fast64_t reloads_ok;
    atomic_uint_fast64_t reloads_failed;
    struct fx_intern routes;
    struct fx_intern upstreams;
    struct fx_intern servers;
    struct fx_mig_live mig[FX_MAX_IDS]; /* by route id */
    struct fx_control *control;         /* borrowed: the control plane (admin API, metrics) */
    struct fx_shadow shadow;            /* comparison engine of mirrored requests */
    struct fx_log log;
    int access_fd; /* -1 when the access log is off */
    uint64_t start_ms;
    struct fx_srv_health health[FX_MAX_IDS]; /* by server (pool) id */
    /* `ficus ctl tunnels close ROUTE SIDE`: bumped per (route id, side) by the
     * admin thread; a tunnel opened at an older value is closed by its worker.
     * tunnel_close_seq tells workers that some entry changed. */
    atomic_uint_fast64_t tunnel_close_gen[FX_MAX_IDS][2];
    atomic_uint_fast64_t tunnel_close_seq;
};

/* A worker's reference holder for one config snapshot. */
struct fx_wconf {
    struct fx_conf *conf; /* owned reference */
    unsigned int users;   /* exchanges using it, plus 1 while it is current */
    struct fx_wconf *next;
};

struct fx_worker;
struct fx_cconn;
struct fx_mjob;

#define FX_IO_F_READABLE 0x01u
#define FX_IO_F_WRITABLE 0x02u
#define FX_IO_F_EOF      0x04u /* read returned 0 */
#define FX_IO_F_CLOSED   0x08u /* fd closed, object waits in the graveyard */
#define FX_IO_F_HUP      0x40u /* epoll reported RDHUP/HUP/ERR: EOF is pending */

#define FX_UCONN_F_CONNECTING 0x10u
#define FX_UCONN_F_REUSED     0x20u

struct fx_uconn {
    struct fx_io io;
    struct fx_xprt xp; /* transport: plain TCP */
    struct fx_timer timer;
    struct fx_worker *w;    /* borrowed: worker outlives conn */
    struct fx_cconn *owner; /* borrowed: NULL while idle in the pool */
    unsigned int flags;
    unsigned int pool_id;
    struct fx_buf in;      /* owned storage from the worker's free list */
    struct fx_uconn *next; /* pool idle list / graveyard link */
    int tkind;             /* FX_TK_* the timer is armed for */
    uint64_t idle_since_ms;
    uint64_t idle_timeout_ms; /* the upstream's idle_timeout, from its last use */
};

enum fx_cc_state {
    FX_CC_HEAD = 0,  /* waiting for a request head */
    FX_CC_HANDSHAKE, /* TLS listener: handshake in progress */
    FX_CC_EXCH,      /* an exchange is in progress */
    FX_CC_LINGER,    /* error answered and write side shut: discarding input until EOF */
    FX_CC_TUNNEL,    /* after a 101: bytes relayed both ways (tunnel.c) */
};

#define FX_UPGRADE_MAX 128 /* bytes of the Upgrade value forwarded for one request */

#define FX_TUN_F_ACTIVE 0x01u /* counted in tunnels_active */
#define FX_TUN_F_C_EOF  0x02u /* the client finished sending (EOF or read error) */
#define FX_TUN_F_U_EOF  0x04u /* the upstream finished sending */
#define FX_TUN_F_U_SHUT 0x08u /* shutdown(SHUT_WR) sent to the upstream */
#define FX_TUN_F_C_SHUT 0x10u /* shutdown(SHUT_WR) sent to the client */

/* The byte tunnel of an exchange answered 101 (embedded in fx_exch). Each
 * direction's budget is the buffer it is read into: cc->in (client to
 * upstream) and u->in (upstream to client); a full buffer stops reads of its
 * side until the other side takes bytes (backpressure by TCP). */
struct fx_tunnel {
    unsigned int flags; /* FX_TUN_F_* */
    unsigned int route_id;
    int side;           /* FX_SIDE_*: legacy on a route without migrate */
    uint64_t close_gen; /* sh->tunnel_close_gen[route_id][side] when it opened */
    uint64_t start_us;
    uint64_t bytes[2]; /* relayed payload by FX_TUN_DIR_* */
};

/* One request/response exchange on a client connection. */
struct fx_exch {
    struct fx_wconf *wc;               /* borrowed holder (users counted) */
    const struct fx_conf_route *route; /* borrowed from wc->conf, NULL if none */
    const struct fx_conf_upstream *up; /* borrowed from wc->conf */
    const struct fx_conf_server *srv;  /* borrowed from wc->conf */
    int side;                          /* FX_SIDE_* on a migrating route, -1 otherwise */
    bool pinned;                       /* side chosen by the override header */
    struct fx_uconn *u;                /* borrowed: upstream conn in use */
    struct fx_buf uhead;               /* owned: upstream request head (kept for a retry) */
    size_t uhead_sent;
    struct fx_buf chead; /* owned: bytes for the client before body bytes */
    enum fx_h1_body req_mode;
    uint64_t req_left; /* LENGTH: body bytes not yet validated */
    size_t req_ready;  /* validated body bytes at the front of cc->in */
    struct fx_h1_chunked req_ch;
    enum fx_h1_body resp_mode;
    uint64_t resp_left;
    size_t resp_ready; /* bytes at the front of u->in ready for the client */
    size_t resp_scanned;
    struct fx_h1_chunked resp_ch;
    unsigned int flags; /* FX_X_F_* */
    int status;
    int minor;           /* client's HTTP minor version */
    int connect_fails;   /* failed connects of this exchange (at most nservers, 64) */
    const char *error;   /* static reason for the access log, or NULL */
    uint16_t method_len; /* method is uhead[0..method_len) */
    uint32_t path_off;   /* path is uhead[path_off..path_off+path_len) */
    uint32_t path_len;
    uint64_t start_us;
    uint64_t connect_us; /* loop time the upstream connection was ready to send (0: never) */
    uint64_t header_us;  /* loop time the final response head was parsed (0: never) */
    uint64_t srv_tried;  /* bit i % 64: server i of `up` failed to connect */
    uint64_t bytes_in;
    uint64_t bytes_out;
    char request_id[65];
    struct fx_mjob *mirror;       /* owned while attached: the shadow copy of this request */
    char upgrade[FX_UPGRADE_MAX]; /* Upgrade value forwarded (allowed tokens only, NUL-ended);
                                     empty unless FX_X_F_UPGRADE */
    struct fx_tunnel tun;         /* in use once the state is FX_CC_TUNNEL */
};

#define FX_X_F_REQ_DONE    0x0001u /* request body fully received */
#define FX_X_F_RESP_HEAD   0x0002u /* response head sent or queued for the client */
#define FX_X_F_RESP_DONE   0x0004u /* response fully received (or local) */
#define FX_X_F_CLOSE       0x0008u /* close the client after this exchange */
#define FX_X_F_UP_REUSABLE 0x0010u /* upstream conn may go back to the pool */
#define FX_X_F_RETRIED     0x0020u
#define FX_X_F_DECHUNK     0x0040u /* de-chunk the response for an HTTP/1.0 client */
#define FX_X_F_IDEMPOTENT  0x0080u
#define FX_X_F_LOCAL       0x0100u /* response generated by Ficus */
#define FX_X_F_HEAD_REQ    0x0200u
#define FX_X_F_REQ_SENT    0x0400u /* whole request written to the upstream */
#define FX_X_F_HAD_RID     0x0800u /* the client sent an X-Request-Id */
#define FX_X_F_UPGRADE     0x1000u /* an allowed Upgrade was forwarded: a 101 may follow */

struct fx_cconn {
    struct fx_io io;
    struct fx_xprt xp; /* transport: plain TCP, or TLS on a tls listener */
    struct fx_timer timer;
    struct fx_worker *w; /* borrowed: worker outlives conn */
    unsigned int flags;
    enum fx_cc_state state;
    struct fx_buf in;  /* owned storage from the worker's free list (none while idle) */
    size_t scanned;    /* parser resume state */
    struct fx_exch *x; /* owned, NULL between requests */
    uint64_t nreq;
    int tkind;                    /* FX_TK_* the timer is armed for */
    struct fx_cconn *prev, *next; /* worker's connection list */
    struct sockaddr_storage peer;
    char peer_ip[48];
    char peer_text[64];
};

/* What a connection timer currently measures. */
enum fx_tkind {
    FX_TK_NONE = 0,
    FX_TK_IDLE,      /* client keep-alive idle; upstream conn idle in the pool */
    FX_TK_HEADER,    /* client request head (absolute) */
    FX_TK_BODY,      /* client request body, between reads */
    FX_TK_SEND,      /* a blocked write */
    FX_TK_CONNECT,   /* upstream connect */
    FX_TK_READ,      /* upstream response, between reads */
    FX_TK_LINGER,    /* lingering close of a client after an error response */
    FX_TK_TUNNEL,    /* no byte moved either way in a tunnel for timeouts.tunnel */
    FX_TK_HANDSHAKE, /* client TLS handshake (absolute) */
};

#define FX_MCONN_F_HEAD 0x100u /* response head parsed */
#define FX_MCONN_F_DONE 0x200u /* answer complete (or failed) */

/* One shadow copy in flight to one upstream (the candidate or the secondary).
 * Fresh connection per copy, "Connection: close". */
struct fx_mconn {
    struct fx_io io;
    struct fx_timer timer;
    struct fx_mjob *job;               /* borrowed: the job outlives its connections */
    struct fx_shadow_resp *out;        /* borrowed: where the answer goes (in job->job) */
    const struct fx_conf_upstream *up; /* borrowed from job->wc */
    unsigned int flags;                /* FX_IO_F_*, FX_UCONN_F_CONNECTING, FX_MCONN_F_* */
    size_t sent;                       /* request bytes written */
    char *in;                          /* owned: FX_MCONN_IN bytes of response input */
    size_t in_len;
    size_t scanned;          /* head parser resume state */
    enum fx_h1_body mode;    /* body framing once the head is parsed */
    uint64_t left;           /* LENGTH: body bytes still expected */
    struct fx_h1_chunked ch; /* CHUNKED decoder */
    size_t body_cap;         /* allocated size of out->body */
    struct fx_mconn *next;   /* graveyard link */
};

#define FX_MCONN_IN (64u << 10)

/* A mirrored request: captured from the client exchange, sent to the shadow
 * upstream(s) once the request is complete, submitted for comparison once
 * the primary answer and every copy are complete. */
struct fx_mjob {
    struct fx_worker *w;               /* borrowed */
    struct fx_wconf *wc;               /* borrowed holder (users counted) */
    const struct fx_conf_route *route; /* borrowed from wc->conf */
    struct fx_shadow_job *job;         /* owned until submitted */
    char *body;                        /* owned: captured request body */
    size_t body_len, body_cap;
    char *req; /* owned: request bytes sent to each copy */
    size_t req_len;
    size_t phead_cap, pbody_cap; /* allocated sizes of job->primary.head/body */
    struct fx_mconn *conns[2];   /* borrowed: running copies (candidate, secondary) */
    unsigned int running;        /* copies not finished */
    bool launched;               /* copies started */
    bool attached;               /* still owned by the client exchange */
    bool primary_ok;             /* the primary answer was captured whole */
    bool over_budget;            /* limits.shadow_inflight_bytes hit: dropped at the end */
    size_t charged;              /* bytes charged against limits.shadow_inflight_bytes */
    struct fx_mjob *prev, *next; /* worker's list */
};

/* A free-list buffer block. */
struct fx_blk {
    struct fx_blk *next;
};

struct fx_listener {
    struct fx_io io;
    struct fx_worker *w;
    char text[64];             /* configured address (listen[idx] at start) */
    unsigned int idx;          /* position in `listen` at start */
    struct fx_tls_server *tls; /* borrowed from the current config; NULL: plain HTTP */
};

struct fx_worker {
    unsigned int id;
    pthread_t thread;
    struct fx_loop loop;
    struct fx_shared *sh;    /* borrowed: lives for the process */
    struct fx_listener *lsn; /* owned array */
    size_t nlsn;
    struct fx_io wake;       /* eventfd to interrupt epoll_wait */
    int spare_fd;            /* owned: /dev/null, given up to accept-and-close on EMFILE */
    struct fx_wconf *wc;     /* current holder */
    struct fx_wconf *old_wc; /* retired holders still in use */
    uint64_t conf_gen;
    atomic_uint_fast64_t seen_gen;     /* conf_gen published for main (reload acknowledgement) */
    struct fx_cconn *conns;            /* list of open client conns */
    struct fx_uconn *pool[FX_MAX_IDS]; /* idle upstream conns by server pool id */
    unsigned int pool_n[FX_MAX_IDS];
    unsigned int rr[FX_MAX_IDS]; /* round-robin position by upstream id */
    struct fx_cconn *grave_c;    /* closed, freed after the event batch */
    struct fx_uconn *grave_u;
    struct fx_mconn *grave_m;
    struct fx_mjob *mjobs;                    /* shadow copies in progress */
    unsigned int mirror_inflight[FX_MAX_IDS]; /* by route id */
    struct fx_blk *free_bufs;
    size_t nfree_bufs;
    size_t bufsize;
    struct fx_h1_req req;          /* parse scratch: one parse at a time per worker */
    struct fx_route_scratch route; /* owned: regex match data for fx_route_pick */
    struct fx_h1_resp resp;
    struct fx_stats *stats; /* owned */
    char *alog;             /* owned access-log batch buffer */
    size_t alog_len;
    uint64_t rng[2];
    bool draining;
    uint64_t drain_deadline_ms;
    uint64_t drain_start_ms;   /* fresh connections get FX_DRAIN_FRESH_MS from here */
    uint64_t tunnel_close_seq; /* sh->tunnel_close_seq last acted on */
    char time_cache[32];
    uint64_t time_cache_sec;
};

#endif
