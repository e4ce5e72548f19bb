/* Admin HTTP API: metrics, health, the running config, and the migration
 * control plane (read state, change it with a bearer token, read the audit
 * log).
 *
 * It runs an event loop of its own on the admin thread: non-blocking
 * sockets, one request per connection (every answer closes the connection,
 * so no request framing survives a response), a deadline for each phase
 * (head, body, send) and a bounded number of connections, so a slow or idle
 * client never delays another one. Handlers render their answer into memory
 * synchronously; the loop then writes it as the socket allows.
 *
 * Headers a hostile client controls: Host is checked against an allow-list
 * (a DNS-rebinding page gets 421); Authorization is compared in constant
 * time against every token; Content-Length is capped (413) and chunked
 * bodies are refused (411). */
#include "admin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../conf/conf.h"
#include "../control/control.h"
#include "../core/err.h"
#include "../core/str.h"
#include "../http/http.h"
#include "../loop/loop.h"
#include "../migrate/migrate.h"
#include "../proxy/proxy.h"
#include "../registry/registry.h"
#include "../shadow/shadow.h"
#include "../store/store.h"

#define HEAD_MAX         8192        /* request line and headers */
#define BODY_MAX         (64u << 10) /* request bodies (POST /api/v1/routes/NAME/weight) */
#define DRAIN_MAX        (1u << 20)  /* unread request bytes swallowed before closing */
#define DRAIN_TIMEOUT_MS 500         /* how long they are swallowed */
#define TICK_MS          1000        /* longest loop wait (retries a paused accept) */
#define ROUTE_NAME_MAX   64
#define EVENTS_DEFAULT   100
#define EVENTS_MAX       10000
#define MSG_MAX          256

static const char ctype_json[] = "application/json";
static const char routes_prefix[] = "/api/v1/routes/";

/* A parsed request. Views point into the connection's head buffer. */
struct req {
    char method[16];
    char path[1024];
    char query[1024];
    bool head;          /* HEAD: the answer carries no body */
    bool http10;        /* HTTP/1.0: Host is optional */
    bool chunked;       /* Transfer-Encoding present */
    bool has_clen;      /* Content-Length present */
    bool has_host;      /* Host present */
    size_t clen;        /* declared body length */
    struct fx_str auth; /* borrowed: Authorization value, or empty */
    struct fx_str host; /* borrowed: Host value, or empty */
    char *body;         /* owned: clen bytes plus a NUL, or NULL */
    bool body_unread;   /* request bytes may still be in the socket */
};

/* What a connection is waiting for. */
enum conn_state {
    CS_HEAD = 0, /* the request head (head deadline) */
    CS_BODY,     /* the rest of a Content-Length body (body deadline) */
    CS_SEND,     /* room to write the answer (send deadline) */
    CS_DRAIN,    /* the peer to stop sending after the answer (short deadline) */
};

/* One admin connection, owned by the admin thread's list. */
struct fx_admin_conn {
    struct fx_io io;            /* first member: the loop hands back &io */
    struct fx_timer timer;      /* the deadline of the current state */
    struct fx_admin *a;         /* borrowed: outlives its connections */
    struct fx_admin_conn *prev; /* borrowed: list neighbours */
    struct fx_admin_conn *next; /* borrowed */
    enum conn_state state;
    struct req rq;
    size_t hlen;    /* bytes in head */
    size_t bgot;    /* body bytes in rq.body */
    char *out;      /* owned: the whole answer, or NULL */
    size_t olen;    /* bytes in out */
    size_t ooff;    /* bytes of out already sent */
    size_t drained; /* bytes swallowed in CS_DRAIN */
    char head[HEAD_MAX + 1];
};

/* One answer; `extra` holds complete header lines ("Allow: POST\r\n"). */
struct resp {
    int status;
    const char *ctype;
    const char *extra;
    const char *body; /* borrowed */
    size_t blen;
};

/* Commands under /api/v1/routes/NAME/. */
static const struct {
    const char *name;
    enum fx_ctl_cmd cmd;
} actions[] = {
    { "weight", FX_CTL_WEIGHT },   { "pause", FX_CTL_PAUSE },       { "resume", FX_CTL_RESUME },
    { "promote", FX_CTL_PROMOTE }, { "rollback", FX_CTL_ROLLBACK },
};

/* ---- sending -------------------------------------------------------------- */

static void conn_arm(struct fx_admin_conn *cn, enum conn_state st, uint64_t ms);

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 421:
        return "Misdirected Request";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

/* Queue the answer on cn: the head and (unless HEAD) the body are copied
 * into one buffer that the loop writes as the socket allows, under the send
 * deadline. Only the first answer of a request counts; when memory runs out
 * the connection is closed without one. */
static void respond(struct fx_admin_conn *cn, const struct req *rq, const struct resp *r)
{
    if (cn->state == CS_SEND)
        return;
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                     r->status, reason_phrase(r->status), r->ctype, r->blen,
                     r->extra != NULL ? r->extra : "");
    size_t hlen = n > 0 && (size_t)n < sizeof(head) ? (size_t)n : 0;
    size_t blen = hlen > 0 && (rq == NULL || !rq->head) ? r->blen : 0;
    cn->out = hlen > 0 ? malloc(hlen + blen) : NULL;
    if (cn->out != NULL) {
        memcpy(cn->out, head, hlen);
        if (blen > 0)
            memcpy(cn->out + hlen, r->body, blen);
        cn->olen = hlen + blen;
    }
    cn->ooff = 0;
    conn_arm(cn, CS_SEND, FX_ADMIN_SEND_TIMEOUT_MS);
}

/* Answer {"error": msg} with `status` and optional extra header lines. */
__attribute__((format(printf, 5, 6))) static void respond_error(struct fx_admin_conn *cn,
                                                                const struct req *rq, int status,
                                                                const char *extra, const char *fmt,
                                                                ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s}", "error", msg);
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    static const char oom[] = "{\"error\":\"out of memory\"}";
    struct resp r = { status, ctype_json, extra, body != NULL ? body : oom,
                      body != NULL ? strlen(body) : sizeof(oom) - 1 };
    respond(cn, rq, &r);
    free(body);
}

/* Writes a document to f; returns 200, or an error status (404 means the
 * named route does not exist). */
typedef int render_fn(void *arg, FILE *f);

/* Answer 200 with what `render` wrote to a memory stream, or its error status
 * with `msg` (404) or "internal error". */
static void respond_render(struct fx_admin_conn *cn, const struct req *rq, const char *ctype,
                           render_fn *render, void *arg, const char *msg)
{
    char *out = NULL;
    size_t olen = 0;
    FILE *f = open_memstream(&out, &olen);
    if (f == NULL) {
        respond_error(cn, rq, 500, NULL, "out of memory");
        return;
    }
    int status = render(arg, f);
    if (fclose(f) != 0 && status == 200)
        status = 500;
    if (status == 200) {
        struct resp r = { 200, ctype, NULL, out, olen };
        respond(cn, rq, &r);
    } else {
        respond_error(cn, rq, status, NULL, "%s",
                      status == 404 && msg != NULL ? msg : "internal error");
    }
    free(out);
}

/* ---- reading -------------------------------------------------------------- */

/* Parse a Content-Length value: digits only, at most BODY_MAX * 2 kept exactly
 * (larger values saturate, which is enough to answer 413). */
static bool parse_clen(struct fx_str v, size_t *out)
{
    size_t n = 0;
    if (v.len == 0)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return false;
        if (n <= (size_t)2 * BODY_MAX)
            n = n * 10 + (size_t)(v.ptr[i] - '0');
    }
    *out = n;
    return true;
}

/* Record the headers we act on. Returns 0 or 400 for bad framing. */
static int take_header(struct req *rq, struct fx_str name, struct fx_str value)
{
    if (fx_str_eqi(name, FX_STR("content-length"))) {
        size_t n = 0;
        if (!parse_clen(value, &n) || (rq->has_clen && n != rq->clen))
            return 400;
        rq->has_clen = true;
        rq->clen = n;
    } else if (fx_str_eqi(name, FX_STR("transfer-encoding"))) {
        rq->chunked = true;
    } else if (fx_str_eqi(name, FX_STR("authorization"))) {
        rq->auth = value;
    } else if (fx_str_eqi(name, FX_STR("host"))) {
        if (rq->has_host)
            return 400; /* two Host headers: which one is the target? */
        rq->has_host = true;
        rq->host = value;
    }
    return 0;
}

static struct fx_str trim_ows(const char *p, size_t len)
{
    while (len > 0 && (p[0] == ' ' || p[0] == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    return (struct fx_str){ p, len };
}

/* Parse the header lines of buf[0..hlen) (after the request line). Returns
 * 0 or 400. */
static int parse_headers(struct req *rq, const char *p, const char *end)
{
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        size_t n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0)
            break;
        const char *colon = memchr(p, ':', n);
        if (colon == NULL || colon == p || colon[-1] == ' ' || colon[-1] == '\t')
            return 400;
        struct fx_str name = { p, (size_t)(colon - p) };
        int rc = take_header(rq, name, trim_ows(colon + 1, n - name.len - 1));
        if (rc != 0)
            return rc;
        p = eol + 1;
    }
    return 0;
}

/* Parse the request line and headers. Returns 0 or an HTTP status. */
static int parse_request(struct req *rq, const char *buf, size_t hlen)
{
    char target[1024];
    char version[16];
    if (sscanf(buf, "%15s %1023s %15s", rq->method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0)
        return 400;
    const char *q = strchr(target, '?');
    size_t plen = q != NULL ? (size_t)(q - target) : strlen(target);
    memcpy(rq->path, target, plen);
    rq->path[plen] = '\0';
    (void)snprintf(rq->query, sizeof(rq->query), "%s", q != NULL ? q + 1 : "");
    rq->head = strcmp(rq->method, "HEAD") == 0;
    rq->http10 = strcmp(version, "HTTP/1.0") == 0;
    const char *eol = strchr(buf, '\n');
    if (eol == NULL)
        return 400;
    return parse_headers(rq, eol + 1, buf + hlen);
}

/* ---- query strings and path segments ---------------------------------------- */

/* Percent-decode src[0..len) into out[cap]; '+' means a space when `form`.
 * Returns false on bad escapes, NUL bytes or overflow. */
static bool pct_decode(const char *src, size_t len, bool form, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            int hi = fx_h1_hex_value((unsigned char)(src[i + 1]));
            int lo = fx_h1_hex_value((unsigned char)(src[i + 2]));
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && form) {
            c = ' ';
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* Find parameter `key` in query string q and decode its value into out[cap].
 * Returns 1 when found, 0 when absent, -1 when its value is malformed. */
static int query_param(const char *q, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    while (*q != '\0') {
        size_t n = strcspn(q, "&");
        if (n > klen && strncmp(q, key, klen) == 0 && q[klen] == '=')
            return pct_decode(q + klen + 1, n - klen - 1, true, out, cap) ? 1 : -1;
        if (n == klen && strncmp(q, key, klen) == 0)
            return pct_decode("", 0, true, out, cap) ? 1 : -1;
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

/* ---- authentication --------------------------------------------------------- */

/* The token of "Bearer TOKEN" (scheme case-insensitive), or false. */
static bool bearer_token(struct fx_str auth, struct fx_str *tok)
{
    static const char scheme[] = "bearer ";
    if (auth.len <= sizeof(scheme) - 1 ||
        !fx_str_eqi((struct fx_str){ auth.ptr, sizeof(scheme) - 1 }, FX_STR(scheme)))
        return false;
    *tok = trim_ows(auth.ptr + sizeof(scheme) - 1, auth.len - (sizeof(scheme) - 1));
    return tok->len > 0;
}

/* Index of the configured token equal to tok, or -1. Every token is compared,
 * each in constant time, so timing tells neither which token matched nor
 * how much of one did. Lengths are not secret. */
static long find_token(const struct fx_conf *c, struct fx_str tok)
{
    long match = -1;
    for (size_t i = 0; i < c->nadmin_tokens; i++) {
        const char *t = c->admin_tokens[i];
        size_t tl = strlen(t);
        int differs = tl != tok.len ? 1 : CRYPTO_memcmp(t, tok.ptr, tl);
        match = differs == 0 ? (long)i : match;
    }
    return match;
}

static const char *role_name(enum fx_conf_admin_role r)
{
    switch (r) {
    case FX_CONF_ROLE_READ:
        return "read";
    case FX_CONF_ROLE_OPERATE:
        return "operate";
    default:
        return "admin";
    }
}

/* Whether token role `have` grants `need` (0: no token needed). Exposed to
 * the unit test. */
static bool role_grants(enum fx_conf_admin_role have, enum fx_conf_admin_role need)
{
    return (int)have >= (int)need;
}

/* Check the request's bearer token for `need` (0: none) against the current
 * config. Returns 0, with the token's name in actor[cap] when one matched,
 * or the status already answered. Without admin.token_file, reads stay open
 * on a loopback listener only: anyone who can reach another address would
 * read the routes, the audit log and the debt. */
static int authorize(struct fx_admin *a, struct fx_admin_conn *cn, const struct req *rq,
                     enum fx_conf_admin_role need, char *actor, size_t cap)
{
    if (need == 0)
        return 0;
    struct fx_conf *c = fx_shared_conf(a->sh);
    int status = 0;
    char msg[MSG_MAX] = "";
    struct fx_str tok = { NULL, 0 };
    long i = bearer_token(rq->auth, &tok) ? find_token(c, tok) : -1;
    if (c->nadmin_tokens == 0) {
        if (need != FX_CONF_ROLE_READ || !a->loopback) {
            status = 403;
            (void)snprintf(msg, sizeof(msg), "%s",
                           need == FX_CONF_ROLE_READ
                               ? "admin.token_file is not configured: reads need a token when "
                                 "admin.listen is not a loopback address"
                               : "admin.token_file is not configured");
        }
    } else if (i < 0) {
        status = 401;
    } else if (!role_grants(c->admin_token_roles[i], need)) {
        status = 403;
        (void)snprintf(msg, sizeof(msg), "token \"%s\" has role %s; %s %.64s needs role %s",
                       c->admin_token_names[i], role_name(c->admin_token_roles[i]), rq->method,
                       rq->path, role_name(need));
    } else if (actor != NULL) {
        (void)snprintf(actor, cap, "%s", c->admin_token_names[i]);
    }
    fx_conf_unref(c);
    if (status == 403)
        respond_error(cn, rq, 403, NULL, "%s", msg);
    else if (status == 401)
        respond_error(cn, rq, 401, "WWW-Authenticate: Bearer realm=\"ficus\"\r\n",
                      rq->auth.len == 0 ? "missing bearer token" : "invalid bearer token");
    return status;
}

/* ---- Host allow-list ---------------------------------------------------------- */

/* Whether name (no port) is an IPv4 literal or a bracketed IPv6 literal. A
 * DNS-rebinding page always reaches us under a name of its own, never under
 * an address, so address literals are safe to accept. */
static bool is_ip_literal(struct fx_str name)
{
    char buf[INET6_ADDRSTRLEN + 2];
    unsigned char bin[sizeof(struct in6_addr)];
    if (name.len < 2 || name.len >= sizeof(buf))
        return false;
    if (name.ptr[0] == '[') {
        if (name.ptr[name.len - 1] != ']')
            return false;
        memcpy(buf, name.ptr + 1, name.len - 2);
        buf[name.len - 2] = '\0';
        return inet_pton(AF_INET6, buf, bin) == 1;
    }
    memcpy(buf, name.ptr, name.len);
    buf[name.len] = '\0';
    return inet_pton(AF_INET, buf, bin) == 1;
}

/* Split a Host value into its name and check the ":PORT" after it (digits
 * only). Returns false when the value is malformed. */
static bool host_name(struct fx_str host, struct fx_str *name)
{
    size_t n = host.len;
    if (n > 0 && host.ptr[0] == '[') {
        const char *rb = memchr(host.ptr, ']', host.len);
        if (rb == NULL)
            return false;
        n = (size_t)(rb - host.ptr) + 1;
    } else {
        const char *colon = memchr(host.ptr, ':', host.len);
        if (colon != NULL)
            n = (size_t)(colon - host.ptr);
    }
    if (n == 0)
        return false;
    if (n < host.len) {
        size_t plen = host.len - n - 1;
        if (host.ptr[n] != ':' || plen == 0 || plen > 5)
            return false;
        for (size_t i = n + 1; i < host.len; i++) {
            if (host.ptr[i] < '0' || host.ptr[i] > '9')
                return false;
        }
    }
    *name = (struct fx_str){ host.ptr, n };
    return true;
}

/* Whether the admin listener answers to Host value `host`: localhost, an
 * address literal (127.0.0.1, [::1], the listen address...), or an entry of
 * admin.allowed_hosts (with a port: that port only; without: any port). */
static bool host_allowed(const struct fx_conf *c, struct fx_str host)
{
    struct fx_str name;
    if (!host_name(host, &name))
        return false;
    if (fx_str_eqi(name, FX_STR("localhost")) || is_ip_literal(name))
        return true;
    for (size_t i = 0; i < c->nadmin_allowed_hosts; i++) {
        const char *h = c->admin_allowed_hosts[i];
        struct fx_str e = { h, strlen(h) };
        struct fx_str ename;
        if (!host_name(e, &ename))
            continue;
        if (ename.len < e.len ? fx_str_eqi(host, e) : fx_str_eqi(name, e))
            return true;
    }
    return false;
}

/* Check the Host header. Returns 0 or the status already answered. */
static int check_host(struct fx_admin *a, struct fx_admin_conn *cn, const struct req *rq)
{
    if (!rq->has_host) {
        if (rq->http10)
            return 0;
        respond_error(cn, rq, 400, NULL, "missing Host header (required in HTTP/1.1)");
        return 400;
    }
    struct fx_conf *c = fx_shared_conf(a->sh);
    bool ok = host_allowed(c, rq->host);
    fx_conf_unref(c);
    if (ok)
        return 0;
    respond_error(cn, rq, 421, NULL,
                  "Host \"%.*s\" is not served by the admin listener: use localhost or an IP "
                  "address, or list the name in admin.allowed_hosts",
                  (int)(rq->host.len > 64 ? 64 : rq->host.len), rq->host.ptr);
    return 421;
}

/* ---- handlers ----------------------------------------------------------------- */

struct route_arg {
    struct fx_control *ctl;
    const char *name; /* NULL: every route */
};

static int render_routes(void *arg, FILE *f)
{
    struct route_arg *ra = arg;
    int rc = fx_control_routes_json(ra->ctl, ra->name, f);
    if (rc == FX_ENOTFOUND)
        return 404;
    return rc == 0 && fputc('\n', f) != EOF ? 200 : 500;
}

/* Answer the state of route `name` (every route when NULL). */
static void serve_routes(struct fx_admin_conn *cn, const struct req *rq, struct fx_control *ctl,
                         const char *name)
{
    char msg[MSG_MAX];
    (void)snprintf(msg, sizeof(msg), "no migrating route named \"%s\"", name != NULL ? name : "");
    struct route_arg ra = { ctl, name };
    respond_render(cn, rq, ctype_json, render_routes, &ra, msg);
}

struct events_arg {
    struct fx_control *ctl;
    const char *route; /* NULL: every route */
    size_t limit;
};

static int render_events(void *arg, FILE *f)
{
    struct events_arg *ea = arg;
    if (fputs("{\"events\":", f) == EOF)
        return 500;
    int rc = fx_control_events_json(ea->ctl, ea->route, ea->limit, f);
    return rc == 0 && fputs("}\n", f) != EOF ? 200 : 500;
}

struct dyn_arg {
    struct fx_admin *a;
};

static int render_metrics(void *arg, FILE *f)
{
    struct fx_admin *a = ((struct dyn_arg *)arg)->a;
    fx_stats_render(a->sh, a->ws, a->nw, f);
    return 200;
}

static int render_config(void *arg, FILE *f)
{
    struct fx_admin *a = ((struct dyn_arg *)arg)->a;
    struct fx_conf *c = fx_shared_conf(a->sh);
    int rc = fx_conf_dump_json(c, f);
    fx_conf_unref(c);
    return rc == 0 ? 200 : 500;
}

/* The control plane, or NULL after answering 503. */
static struct fx_control *control_of(struct fx_admin *a, struct fx_admin_conn *cn,
                                     const struct req *rq)
{
    struct fx_control *c = a->sh->control;
    if (c == NULL)
        respond_error(cn, rq, 503, NULL, "the migration control plane is not running");
    return c;
}

static void serve_events(struct fx_admin *a, struct fx_admin_conn *cn, const struct req *rq)
{
    char route[ROUTE_NAME_MAX + 1];
    char limit[16];
    int has_route = query_param(rq->query, "route", route, sizeof(route));
    int has_limit = query_param(rq->query, "limit", limit, sizeof(limit));
    if (has_route < 0) {
        respond_error(cn, rq, 400, NULL, "invalid route parameter");
        return;
    }
    struct events_arg ea = { NULL, has_route > 0 && route[0] != '\0' ? route : NULL,
                             EVENTS_DEFAULT };
    if (has_limit != 0) {
        char *end = NULL;
        unsigned long n =
            has_limit > 0 && limit[0] >= '0' && limit[0] <= '9' ? strtoul(limit, &end, 10) : 0;
        if (end == NULL || *end != '\0' || n < 1 || n > EVENTS_MAX) {
            respond_error(cn, rq, 400, NULL, "limit must be an integer from 1 to %d", EVENTS_MAX);
            return;
        }
        ea.limit = n;
    }
    ea.ctl = control_of(a, cn, rq);
    if (ea.ctl != NULL)
        respond_render(cn, rq, ctype_json, render_events, &ea, NULL);
}

/* Parse {"weight": "25%"} (a JSON number means percent too). Returns 0 or
 * answers 400. */
static int body_weight(struct fx_admin_conn *cn, const struct req *rq, uint32_t *bp)
{
    json_error_t jerr;
    json_t *o = rq->body != NULL ? json_loadb(rq->body, rq->clen, 0, &jerr) : NULL;
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        respond_error(cn, rq, 400, NULL, "expected a JSON body like {\"weight\":\"25%%\"}");
        return 400;
    }
    json_t *w = json_object_get(o, "weight");
    char text[64] = "";
    if (json_is_string(w))
        (void)snprintf(text, sizeof(text), "%s", json_string_value(w));
    else if (json_is_number(w))
        (void)snprintf(text, sizeof(text), "%.2f", json_number_value(w));
    json_decref(o);
    if (text[0] == '\0' || fx_mig_parse_weight(text, bp) != 0) {
        respond_error(cn, rq, 400, NULL,
                      "invalid weight: expected a percentage from 0%% to 100%% like \"25%%\"");
        return 400;
    }
    return 0;
}

static void serve_cmd(struct fx_admin *a, struct fx_admin_conn *cn, const struct req *rq,
                      const char *name, enum fx_ctl_cmd cmd)
{
    char actor[64];
    if (authorize(a, cn, rq, FX_CONF_ROLE_OPERATE, actor, sizeof(actor)) != 0)
        return;
    uint32_t bp = 0;
    if (cmd == FX_CTL_WEIGHT && body_weight(cn, rq, &bp) != 0)
        return;
    struct fx_control *ctl = control_of(a, cn, rq);
    if (ctl == NULL)
        return;
    char msg[MSG_MAX] = "";
    int rc = fx_control_cmd(ctl, name, cmd, bp, actor, msg, sizeof(msg));
    if (rc == FX_ENOTFOUND) {
        respond_error(cn, rq, 404, NULL, "%s", msg);
        return;
    }
    if (rc != 0) {
        respond_error(cn, rq, rc == FX_EINVAL ? 409 : 500, NULL, "%s", msg);
        return;
    }
    serve_routes(cn, rq, ctl, name);
}

/* POST /api/v1/routes/NAME/tunnels/close {"side":"new"}: close the route
 * side's open upgrade tunnels (`ficus ctl tunnels close`). Needs role
 * operate. Answers {"route","side","closing"}: the tunnels open at the call,
 * which the workers close at their next loop iteration. */
static void serve_tunnels_close(struct fx_admin *a, struct fx_admin_conn *cn, const struct req *rq,
                                const char *name)
{
    char actor[64];
    if (authorize(a, cn, rq, FX_CONF_ROLE_OPERATE, actor, sizeof(actor)) != 0)
        return;
    json_error_t jerr;
    json_t *o = rq->body != NULL ? json_loadb(rq->body, rq->clen, 0, &jerr) : NULL;
    const char *s = json_string_value(json_object_get(o, "side"));
    int side = s == NULL                  ? -1
               : strcmp(s, "legacy") == 0 ? FX_SIDE_LEGACY
               : strcmp(s, "new") == 0    ? FX_SIDE_NEW
                                          : -1;
    json_decref(o);
    if (side < 0) {
        respond_error(cn, rq, 400, NULL,
                      "expected a JSON body like {\"side\":\"new\"} (side legacy or new)");
        return;
    }
    uint64_t open = 0;
    if (fx_proxy_tunnels_close(a->sh, a->ws, a->nw, name, side, &open) != 0) {
        respond_error(cn, rq, 404, NULL, "no route named \"%s\"", name);
        return;
    }
    fx_log(&a->sh->log, FX_LOG_INFO,
           "event=admin_tunnels_close route=%s side=%s actor=%s open=%llu", name,
           side == FX_SIDE_NEW ? "new" : "legacy", actor, (unsigned long long)open);
    json_t *doc = json_pack("{s:s,s:s,s:I}", "route", name, "side",
                            side == FX_SIDE_NEW ? "new" : "legacy", "closing", (json_int_t)open);
    char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body == NULL) {
        respond_error(cn, rq, 500, NULL, "out of memory");
        return;
    }
    struct resp r = { 200, ctype_json, NULL, body, strlen(body) };
    respond(cn, rq, &r);
    free(body);
}

struct diffs_arg {
    struct fx_shadow *shadow;
    const char *route;
    size_t samples;
};

static int render_diffs(void *arg, FILE *f)
{
    struct diffs_arg *da = arg;
    int rc = fx_shadow_diffs_json(da->shadow, da->route, da->samples, f);
    if (rc == FX_ENOTFOUND)
        return 404;
    return rc == 0 && fputc('\n', f) != EOF ? 200 : 500;
}

/* GET /api/v1/routes/NAME/diffs[?samples=N]: the shadow comparison report. */
static void serve_diffs(struct fx_admin *a, struct fx_admin_conn *cn, const struct req *rq,
                        const char *name)
{
    char samples[16];
    struct diffs_arg da = { &a->sh->shadow, name, 20 };
    int has = query_param(rq->query, "samples", samples, sizeof(samples));
    if (has != 0) {
        char *end = NULL;
        unsigned long n = has > 0 && samples[0] >= '0' && samples[0] <= '9'
                              ? strtoul(samples, &end, 10)
                              : 1000000;
        if (end == NULL || *end != '\0' || n > 1000) {
            respond_error(cn, rq, 400, NULL, "samples must be an integer from 0 to 1000");
            return;
        }
        da.samples = n;
    }
    char msg[MSG_MAX];
    (void)snprintf(msg, sizeof(msg), "no route named \"%s\" has a shadow section", name);
    respond_render(cn, rq, ctype_json, render_diffs, &da, msg);
}

/* The registry API (/api/v1/debt..., /api/v1/progress) on a store handle of
 * its own. Reads need role read, writes role operate. */
static void serve_registry(struct fx_admin *a, struct fx_admin_conn *cn, const struct req *rq)
{
    char actor[64] = "";
    bool write = strcmp(rq->method, "GET") != 0 && !rq->head;
    if (authorize(a, cn, rq, write ? FX_CONF_ROLE_OPERATE : FX_CONF_ROLE_READ, actor,
                  sizeof(actor)) != 0)
        return;
    struct fx_conf *c = fx_shared_conf(a->sh);
    struct fx_store *st = NULL;
    struct fx_err err = { 0 };
    int rc = fx_store_open(c->store_path, &st, &err);
    fx_conf_unref(c);
    if (rc != 0) {
        respond_error(cn, rq, 500, NULL, "%s", err.msg);
        return;
    }
    char *out = NULL;
    size_t olen = 0;
    FILE *f = open_memstream(&out, &olen);
    int status = 500;
    if (f != NULL) {
        rc = fx_reg_http(st, rq->method, rq->path, rq->query[0] ? rq->query : NULL,
                         rq->body != NULL ? rq->body : "", rq->body != NULL ? rq->clen : 0,
                         actor[0] ? actor : NULL, &status, f);
        if (fclose(f) != 0)
            rc = FX_EIO;
    }
    fx_store_close(st);
    if (f == NULL || rc == FX_EIO)
        respond_error(cn, rq, 500, NULL, "internal error");
    else if (rc == FX_ENOTFOUND)
        respond_error(cn, rq, 404, NULL, "not found");
    else {
        struct resp r = { status, ctype_json, NULL, out, olen };
        respond(cn, rq, &r);
    }
    free(out);
}

/* ---- dispatch ------------------------------------------------------------------- */

/* What a path names: a handler kind, the route name and command it carries. */
enum target {
    T_NONE = 0,
    T_METRICS,
    T_HEALTHZ,
    T_CONFIG,
    T_ROUTES,
    T_ROUTE,
    T_EVENTS,
    T_CMD,
    T_DIFFS,
    T_DASHBOARD,
    T_TUNNELS_CLOSE,
};

struct where {
    enum target t;
    char name[ROUTE_NAME_MAX + 1];
    enum fx_ctl_cmd cmd;
};

/* Resolve /api/v1/routes/NAME[/ACTION]; NAME is percent-decoded. */
static enum target route_target(const char *rest, struct where *w)
{
    const char *slash = strchr(rest, '/');
    size_t nlen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
    if (nlen == 0 || !pct_decode(rest, nlen, false, w->name, sizeof(w->name)) ||
        strchr(w->name, '/') != NULL)
        return T_NONE;
    if (slash == NULL)
        return T_ROUTE;
    if (strcmp(slash + 1, "diffs") == 0)
        return T_DIFFS;
    if (strcmp(slash + 1, "tunnels/close") == 0)
        return T_TUNNELS_CLOSE;
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        if (strcmp(slash + 1, actions[i].name) == 0) {
            w->cmd = actions[i].cmd;
            return T_CMD;
        }
    }
    return T_NONE;
}

static enum target find_target(const char *path, struct where *w)
{
    static const struct {
        const char *path;
        enum target t;
    } fixed[] = {
        { "/metrics", T_METRICS },      { "/healthz", T_HEALTHZ },
        { "/api/v1/config", T_CONFIG }, { "/api/v1/routes", T_ROUTES },
        { "/api/v1/events", T_EVENTS }, { "/dashboard", T_DASHBOARD },
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcmp(path, fixed[i].path) == 0)
            return fixed[i].t;
    }
    if (strncmp(path, routes_prefix, sizeof(routes_prefix) - 1) == 0)
        return route_target(path + sizeof(routes_prefix) - 1, w);
    return T_NONE;
}

static void serve_healthz(struct fx_admin *a, struct fx_admin_conn *cn, const struct req *rq)
{
    bool stopping = atomic_load(&a->sh->stopping);
    struct resp r = { stopping ? 503 : 200, "text/plain", NULL, stopping ? "draining\n" : "ok\n",
                      stopping ? 9 : 3 };
    respond(cn, rq, &r);
}

static void serve_get(struct fx_admin *a, struct fx_admin_conn *cn, const struct req *rq,
                      struct where *w)
{
    struct dyn_arg da = { a };
    struct fx_control *ctl = NULL;
    switch (w->t) {
    case T_METRICS:
        respond_render(cn, rq, "text/plain; version=0.0.4; charset=utf-8", render_metrics, &da,
                       NULL);
        break;
    case T_HEALTHZ:
        serve_healthz(a, cn, rq);
        break;
    case T_CONFIG:
        respond_render(cn, rq, ctype_json, render_config, &da, NULL);
        break;
    case T_ROUTES:
    case T_ROUTE:
        ctl = control_of(a, cn, rq);
        if (ctl != NULL)
            serve_routes(cn, rq, ctl, w->t == T_ROUTE ? w->name : NULL);
        break;
    case T_EVENTS:
        serve_events(a, cn, rq);
        break;
    case T_DIFFS:
        serve_diffs(a, cn, rq, w->name);
        break;
    case T_DASHBOARD: {
        size_t len = 0;
        const char *html = fx_reg_dashboard_html(&len);
        struct resp r = {
            200, "text/html; charset=utf-8",
            "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; img-src data:\r\n",
            html, len
        };
        respond(cn, rq, &r);
        break;
    }
    default:
        respond_error(cn, rq, 404, NULL, "not found");
        break;
    }
}

/* The role a GET of target t needs (0: none). */
static enum fx_conf_admin_role get_role(const struct fx_conf *c, enum target t)
{
    switch (t) {
    case T_HEALTHZ:
        return (c->admin_open & FX_CONF_ADMIN_OPEN_HEALTHZ) != 0 ? 0 : FX_CONF_ROLE_READ;
    case T_METRICS:
        return (c->admin_open & FX_CONF_ADMIN_OPEN_METRICS) != 0 ? 0 : FX_CONF_ROLE_READ;
    case T_DASHBOARD:
        return 0; /* the page holds no data; what it fetches needs read */
    default:
        return FX_CONF_ROLE_READ;
    }
}

static void dispatch(struct fx_admin *a, struct fx_admin_conn *cn, const struct req *rq)
{
    if (check_host(a, cn, rq) != 0)
        return;
    if (strncmp(rq->path, "/api/v1/debt", 12) == 0 || strcmp(rq->path, "/api/v1/progress") == 0) {
        serve_registry(a, cn, rq);
        return;
    }
    struct where w = { T_NONE, "", FX_CTL_WEIGHT };
    w.t = find_target(rq->path, &w);
    if (w.t == T_NONE) {
        respond_error(cn, rq, 404, NULL, "not found");
        return;
    }
    bool post = w.t == T_CMD || w.t == T_TUNNELS_CLOSE;
    bool get = strcmp(rq->method, "GET") == 0 || rq->head;
    if (post && strcmp(rq->method, "POST") != 0) {
        respond_error(cn, rq, 405, "Allow: POST\r\n", "method %s not allowed", rq->method);
        return;
    }
    if (!post && !get) {
        respond_error(cn, rq, 405, "Allow: GET, HEAD\r\n", "method %s not allowed", rq->method);
        return;
    }
    if (w.t == T_TUNNELS_CLOSE) {
        serve_tunnels_close(a, cn, rq, w.name);
        return;
    }
    if (post) {
        serve_cmd(a, cn, rq, w.name, w.cmd);
        return;
    }
    struct fx_conf *c = fx_shared_conf(a->sh);
    enum fx_conf_admin_role need = get_role(c, w.t);
    fx_conf_unref(c);
    if (authorize(a, cn, rq, need, NULL, 0) == 0)
        serve_get(a, cn, rq, &w);
}

/* ---- connections ------------------------------------------------------------------ */

/* Enter state st with a deadline `ms` from now (on the loop clock). */
static void conn_arm(struct fx_admin_conn *cn, enum conn_state st, uint64_t ms)
{
    cn->state = st;
    if (fx_timer_arm(&cn->a->loop, &cn->timer, ms) != 0) {
        /* No deadline possible (out of memory): close through step_send. */
        FX_FREE(cn->out);
        cn->olen = 0;
        cn->state = CS_SEND;
    }
}

/* Close and free cn; `a` is cn->a (passed so that the analyzer sees the
 * list it is unlinked from). */
static void conn_close(struct fx_admin *a, struct fx_admin_conn *cn)
{
    fx_timer_del(&a->loop, &cn->timer);
    fx_loop_del(&a->loop, &cn->io);
    (void)close(cn->io.fd);
    if (cn->prev != NULL)
        cn->prev->next = cn->next;
    else
        a->conns_head = cn->next;
    if (cn->next != NULL)
        cn->next->prev = cn->prev;
    else
        a->conns_tail = cn->prev;
    a->nconns--;
    FX_FREE(cn->rq.body);
    FX_FREE(cn->out);
    free(cn);
}

/* What a step did. */
enum step {
    STEP_WAIT = 0, /* wait for the socket or the deadline */
    STEP_NEXT,     /* the state changed: run the next one now */
    STEP_CLOSE,    /* done, or the peer failed: close */
};

/* recv() on cn: > 0 bytes, 0 at EOF, -1 with errno (EAGAIN: wait). */
static ssize_t conn_recv(struct fx_admin_conn *cn, char *p, size_t n)
{
    for (;;) {
        ssize_t got = recv(cn->io.fd, p, n, 0);
        if (got >= 0 || errno != EINTR)
            return got;
    }
}

/* The whole request is in: answer it (the handler calls respond()). */
static enum step run_request(struct fx_admin_conn *cn)
{
    cn->rq.body_unread = false;
    dispatch(cn->a, cn, &cn->rq);
    if (cn->state != CS_SEND)
        respond_error(cn, &cn->rq, 500, NULL, "internal error: no answer");
    return STEP_NEXT;
}

/* Check the body framing once the head is parsed; keep the body bytes that
 * came with the head. */
static enum step start_body(struct fx_admin_conn *cn, size_t hlen)
{
    struct req *rq = &cn->rq;
    if (rq->chunked) {
        respond_error(cn, rq, 411, NULL,
                      "chunked request bodies are not supported: send Content-Length");
        return STEP_NEXT;
    }
    if (rq->has_clen && rq->clen > BODY_MAX) {
        respond_error(cn, rq, 413, NULL, "request body larger than %u bytes", BODY_MAX);
        return STEP_NEXT;
    }
    if (!rq->has_clen || rq->clen == 0)
        return run_request(cn);
    rq->body = malloc(rq->clen + 1);
    if (rq->body == NULL) {
        respond_error(cn, rq, 500, NULL, "out of memory");
        return STEP_NEXT;
    }
    size_t have = cn->hlen - hlen;
    cn->bgot = have < rq->clen ? have : rq->clen;
    memcpy(rq->body, cn->head + hlen, cn->bgot);
    rq->body[cn->bgot] = '\0';
    if (cn->bgot == rq->clen)
        return run_request(cn);
    conn_arm(cn, CS_BODY, FX_ADMIN_BODY_TIMEOUT_MS);
    return STEP_NEXT;
}

static enum step step_head(struct fx_admin_conn *cn)
{
    for (;;) {
        const char *end = strstr(cn->head, "\r\n\r\n");
        if (end != NULL) {
            size_t hlen = (size_t)(end - cn->head) + 4;
            int status = parse_request(&cn->rq, cn->head, hlen);
            if (status != 0) {
                respond_error(cn, &cn->rq, status, NULL, "malformed request");
                return STEP_NEXT;
            }
            return start_body(cn, hlen);
        }
        if (cn->hlen >= HEAD_MAX) {
            respond_error(cn, &cn->rq, 431, NULL, "request head larger than %d bytes", HEAD_MAX);
            return STEP_NEXT;
        }
        ssize_t n = conn_recv(cn, cn->head + cn->hlen, HEAD_MAX - cn->hlen);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return STEP_WAIT;
        if (n <= 0)
            return STEP_CLOSE;
        cn->hlen += (size_t)n;
        cn->head[cn->hlen] = '\0';
    }
}

static enum step step_body(struct fx_admin_conn *cn)
{
    struct req *rq = &cn->rq;
    while (cn->bgot < rq->clen) {
        ssize_t n = conn_recv(cn, rq->body + cn->bgot, rq->clen - cn->bgot);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return STEP_WAIT;
        if (n <= 0)
            return STEP_CLOSE; /* the client gave up: nobody to answer */
        cn->bgot += (size_t)n;
    }
    rq->body[cn->bgot] = '\0';
    return run_request(cn);
}

/* Closing a socket with unread input resets the connection, and the peer may
 * then lose our answer: after the answer, stop writing and swallow what the
 * client still sends for a short while. */
static enum step step_send(struct fx_admin_conn *cn)
{
    while (cn->ooff < cn->olen) {
        ssize_t w = send(cn->io.fd, cn->out + cn->ooff, cn->olen - cn->ooff, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return STEP_WAIT;
        if (w <= 0)
            return STEP_CLOSE;
        cn->ooff += (size_t)w;
    }
    if (cn->out == NULL || !cn->rq.body_unread)
        return STEP_CLOSE;
    (void)shutdown(cn->io.fd, SHUT_WR);
    conn_arm(cn, CS_DRAIN, DRAIN_TIMEOUT_MS);
    return STEP_NEXT;
}

static enum step step_drain(struct fx_admin_conn *cn)
{
    char sink[4096];
    while (cn->drained < DRAIN_MAX) {
        ssize_t n = conn_recv(cn, sink, sizeof(sink));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return STEP_WAIT;
        if (n <= 0)
            return STEP_CLOSE;
        cn->drained += (size_t)n;
    }
    return STEP_CLOSE;
}

/* Run cn's state machine until it must wait; may close (free) cn. */
static void conn_run(struct fx_admin_conn *cn)
{
    for (;;) {
        enum step st = STEP_CLOSE;
        switch (cn->state) {
        case CS_HEAD: /* request line and headers, under the head deadline */
            st = step_head(cn);
            break;
        case CS_BODY: /* the rest of the body, under the body deadline */
            st = step_body(cn);
            break;
        case CS_SEND: /* the answer, under the send deadline */
            st = step_send(cn);
            break;
        case CS_DRAIN: /* the client's leftovers, briefly */
            st = step_drain(cn);
            break;
        }
        if (st == STEP_WAIT)
            return;
        if (st == STEP_CLOSE) {
            conn_close(cn->a, cn);
            return;
        }
    }
}

static void on_conn_io(struct fx_io *io, uint32_t events)
{
    (void)events;
    conn_run((struct fx_admin_conn *)io);
}

/* A deadline passed: a slow request gets 408 (written under the send
 * deadline), anything else is closed. */
static void on_conn_timer(struct fx_timer *t)
{
    struct fx_admin_conn *cn =
        (struct fx_admin_conn *)(void *)((char *)t - offsetof(struct fx_admin_conn, timer));
    if (cn->state == CS_HEAD || cn->state == CS_BODY) {
        cn->rq.body_unread = true;
        bool head = cn->state == CS_HEAD;
        int ms = FX_ADMIN_BODY_TIMEOUT_MS;
        if (head)
            ms = FX_ADMIN_HEAD_TIMEOUT_MS;
        respond_error(cn, NULL, 408, NULL, "request %s not received within %d ms",
                      head ? "head" : "body", ms);
        conn_run(cn);
        return;
    }
    conn_close(cn->a, cn);
}

/* At the connection limit, make room by closing the oldest connection still
 * reading its head: a request being answered finishes, an idle or trickling
 * client loses its place. Returns false when every connection is busy. */
static bool make_room(struct fx_admin *a)
{
    for (struct fx_admin_conn *cn = a->conns_head; cn != NULL; cn = cn->next) {
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): cn->a == a, closed conns are unlinked */
        if (cn->state == CS_HEAD) {
            conn_close(a, cn);
            a->evicted++;
            return true;
        }
    }
    return false;
}

static void conn_open(struct fx_admin *a, int fd)
{
    if (a->nconns >= FX_ADMIN_CONN_MAX && !make_room(a)) {
        (void)close(fd);
        return;
    }
    struct fx_admin_conn *cn = calloc(1, sizeof(*cn));
    if (cn == NULL) {
        (void)close(fd);
        return;
    }
    cn->io = (struct fx_io){ fd, on_conn_io };
    cn->a = a;
    fx_timer_init(&cn->timer, on_conn_timer);
    cn->rq.body_unread = true;
    if (fx_loop_add(&a->loop, &cn->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) != 0 ||
        fx_timer_arm(&a->loop, &cn->timer, FX_ADMIN_HEAD_TIMEOUT_MS) != 0) {
        fx_timer_del(&a->loop, &cn->timer);
        (void)close(fd);
        free(cn);
        return;
    }
    cn->prev = a->conns_tail;
    if (a->conns_tail != NULL)
        a->conns_tail->next = cn;
    else
        a->conns_head = cn;
    a->conns_tail = cn;
    a->nconns++;
    conn_run(cn); /* the request may already be there */
}

static void accept_all(struct fx_admin *a)
{
    a->accept_paused = false;
    for (;;) {
        int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            conn_open(a, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        /* EMFILE and friends consume the edge: retry on the next tick. */
        a->accept_paused = errno != EAGAIN && errno != EWOULDBLOCK;
        return;
    }
}

static void on_listen_io(struct fx_io *io, uint32_t events)
{
    (void)events;
    accept_all((struct fx_admin *)(void *)((char *)io - offsetof(struct fx_admin, lio)));
}

static void on_stop_io(struct fx_io *io, uint32_t events)
{
    (void)events;
    ((struct fx_admin *)(void *)((char *)io - offsetof(struct fx_admin, sio)))->quit = true;
}

static void *admin_main(void *arg)
{
    struct fx_admin *a = arg;
    while (!a->quit) {
        if (fx_loop_run_once(&a->loop, TICK_MS) < 0)
            break;
        if (a->accept_paused)
            accept_all(a);
    }
    while (a->conns_head != NULL)
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): cn->a == a, closed conns are unlinked */
        conn_close(a, a->conns_head);
    return NULL;
}

/* Whether the listener is bound to 127.0.0.0/8 or ::1 (or ::ffff:127.x). */
static bool bound_to_loopback(int fd)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)&ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)&ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
    }
    return false;
}

int fx_admin_start(struct fx_admin *a, int fd, struct fx_shared *sh, struct fx_worker *ws,
                   size_t nw, struct fx_err *err)
{
    memset(a, 0, sizeof(*a));
    a->fd = fd;
    a->sh = sh;
    a->ws = ws;
    a->nw = nw;
    a->loopback = bound_to_loopback(fd);
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return FX_ERR_SET(err, FX_ESYS, "admin: cannot make the listener non-blocking");
    if (fx_loop_init(&a->loop) != 0)
        return FX_ERR_SET(err, FX_ESYS, "admin: cannot create the event loop");
    a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (a->stop_fd < 0) {
        fx_loop_fini(&a->loop);
        return FX_ERR_SET(err, FX_ESYS, "admin: eventfd failed");
    }
    a->lio = (struct fx_io){ fd, on_listen_io };
    a->sio = (struct fx_io){ a->stop_fd, on_stop_io };
    if (fx_loop_add(&a->loop, &a->lio, EPOLLIN) != 0 ||
        fx_loop_add(&a->loop, &a->sio, EPOLLIN) != 0) {
        (void)FX_ERR_SET(err, FX_ESYS, "admin: cannot watch the listener");
        goto fail;
    }
    if (pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        (void)FX_ERR_SET(err, FX_ESYS, "admin: cannot start thread");
        goto fail;
    }
    return 0;
fail:
    (void)close(a->stop_fd);
    fx_loop_fini(&a->loop);
    return FX_ESYS;
}

void fx_admin_stop(struct fx_admin *a)
{
    uint64_t one = 1;
    ssize_t n = write(a->stop_fd, &one, sizeof(one));
    (void)n;
    (void)pthread_join(a->thread, NULL);
    fx_loop_fini(&a->loop);
    (void)close(a->stop_fd);
    (void)close(a->fd);
}
