/* Admin HTTP API: metrics, health, the running config, and the migration
 * control plane (read state, change it with a bearer token, read the audit
 * log). One blocking request per connection on the admin thread; every
 * answer closes the connection, so no request framing survives a response. */
#include "admin.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../conf/conf.h"
#include "../control/control.h"
#include "../core/err.h"
#include "../core/str.h"
#include "../migrate/migrate.h"
#include "../proxy/proxy.h"
#include "../registry/registry.h"
#include "../shadow/shadow.h"
#include "../store/store.h"

#define HEAD_MAX       8192        /* request line and headers */
#define BODY_MAX       (64u << 10) /* request bodies (POST /api/v1/routes/NAME/weight) */
#define DRAIN_MAX      (1u << 20)  /* unread request bytes swallowed before closing */
#define ROUTE_NAME_MAX 64
#define EVENTS_DEFAULT 100
#define EVENTS_MAX     10000
#define MSG_MAX        256
#define REQUEST_MAX_MS 5000 /* whole request, however slowly it trickles in */

static const char ctype_json[] = "application/json";
static const char routes_prefix[] = "/api/v1/routes/";

/* A parsed request. Views point into the caller's head buffer. */
struct req {
    char method[16];
    char path[1024];
    char query[1024];
    bool head;          /* HEAD: the answer carries no body */
    bool chunked;       /* Transfer-Encoding present */
    bool has_clen;      /* Content-Length present */
    size_t clen;        /* declared body length */
    struct fx_str auth; /* borrowed: Authorization value, or empty */
    char *body;         /* owned: clen bytes plus a NUL, or NULL */
    bool body_unread;   /* request bytes may still be in the socket */
    uint64_t deadline;  /* monotonic ms by which the request must be read */
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

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

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
    case 413:
        return "Content Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

static void respond(int fd, const struct req *rq, const struct resp *r)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                     r->status, reason_phrase(r->status), r->ctype, r->blen,
                     r->extra != NULL ? r->extra : "");
    if (n <= 0 || (size_t)n >= sizeof(head))
        return;
    send_all(fd, head, (size_t)n);
    if (rq == NULL || !rq->head)
        send_all(fd, r->body, r->blen);
}

/* Answer {"error": msg} with `status` and optional extra header lines. */
__attribute__((format(printf, 5, 6))) static void
respond_error(int fd, const struct req *rq, int status, const char *extra, const char *fmt, ...)
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
    respond(fd, rq, &r);
    free(body);
}

/* Writes a document to f; returns 200, or an error status (404 means the
 * named route does not exist). */
typedef int render_fn(void *arg, FILE *f);

/* Answer 200 with what `render` wrote to a memory stream, or its error status
 * with `msg` (404) or "internal error". */
static void respond_render(int fd, const struct req *rq, const char *ctype, render_fn *render,
                           void *arg, const char *msg)
{
    char *out = NULL;
    size_t olen = 0;
    FILE *f = open_memstream(&out, &olen);
    if (f == NULL) {
        respond_error(fd, rq, 500, NULL, "out of memory");
        return;
    }
    int status = render(arg, f);
    if (fclose(f) != 0 && status == 200)
        status = 500;
    if (status == 200) {
        struct resp r = { 200, ctype, NULL, out, olen };
        respond(fd, rq, &r);
    } else {
        respond_error(fd, rq, status, NULL, "%s",
                      status == 404 && msg != NULL ? msg : "internal error");
    }
    free(out);
}

/* ---- reading -------------------------------------------------------------- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* recv() that gives up past `deadline`: the 2 s socket timeout bounds each
 * read, this bounds a client that sends one byte every second. */
static ssize_t recv_until(int fd, char *p, size_t n, uint64_t deadline)
{
    for (;;) {
        if (mono_ms() > deadline)
            return -1;
        ssize_t got = recv(fd, p, n, 0);
        if (got >= 0 || errno != EINTR)
            return got;
    }
}

/* Read until the end of the head. Returns the head length (through the empty
 * line) and the total bytes in buf (*got), or -1 (closed, timeout, too big). */
static ssize_t read_head(int fd, char *buf, size_t cap, size_t *got, uint64_t deadline)
{
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t n = recv_until(fd, buf + len, cap - 1 - len, deadline);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            *got = len;
            return end - buf + 4;
        }
    }
    return -1;
}

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
    const char *eol = strchr(buf, '\n');
    if (eol == NULL)
        return 400;
    return parse_headers(rq, eol + 1, buf + hlen);
}

/* Read the rest of a Content-Length body; `have` bytes of it are in pre. */
static int read_body(int fd, struct req *rq, const char *pre, size_t have)
{
    rq->body = malloc(rq->clen + 1);
    if (rq->body == NULL)
        return 500;
    size_t len = have < rq->clen ? have : rq->clen;
    memcpy(rq->body, pre, len);
    while (len < rq->clen) {
        ssize_t n = recv_until(fd, rq->body + len, rq->clen - len, rq->deadline);
        if (n <= 0)
            return 400;
        len += (size_t)n;
    }
    rq->body[len] = '\0';
    return 0;
}

/* Closing a socket with unread input resets the connection, and the peer may
 * then lose our answer: stop writing, and swallow what the client still
 * sends for a short while first. */
static void drain(int fd)
{
    struct timeval tv = { 0, 500000 };
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)shutdown(fd, SHUT_WR);
    char sink[4096];
    size_t total = 0;
    while (total < DRAIN_MAX) {
        ssize_t n = recv(fd, sink, sizeof(sink), 0);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
}

/* ---- query strings and path segments ---------------------------------------- */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

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
            int hi = hex_val(src[i + 1]);
            int lo = hex_val(src[i + 2]);
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

/* Check the request's bearer token against the current config. Returns 0
 * with the token's name in actor[cap], or the status already answered. */
static int authorize(struct fx_admin *a, int fd, const struct req *rq, char *actor, size_t cap)
{
    struct fx_conf *c = fx_shared_conf(a->sh);
    int status = 0;
    struct fx_str tok = { NULL, 0 };
    long i = bearer_token(rq->auth, &tok) ? find_token(c, tok) : -1;
    if (c->nadmin_tokens == 0)
        status = 403;
    else if (i < 0)
        status = 401;
    else
        (void)snprintf(actor, cap, "%s", c->admin_token_names[i]);
    fx_conf_unref(c);
    if (status == 403)
        respond_error(fd, rq, 403, NULL, "admin.token_file is not configured");
    else if (status == 401)
        respond_error(fd, rq, 401, "WWW-Authenticate: Bearer realm=\"ficus\"\r\n",
                      rq->auth.len == 0 ? "missing bearer token" : "invalid bearer token");
    return status;
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
static void serve_routes(int fd, const struct req *rq, struct fx_control *ctl, const char *name)
{
    char msg[MSG_MAX];
    (void)snprintf(msg, sizeof(msg), "no migrating route named \"%s\"", name != NULL ? name : "");
    struct route_arg ra = { ctl, name };
    respond_render(fd, rq, ctype_json, render_routes, &ra, msg);
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
static struct fx_control *control_of(struct fx_admin *a, int fd, const struct req *rq)
{
    struct fx_control *c = a->sh->control;
    if (c == NULL)
        respond_error(fd, rq, 503, NULL, "the migration control plane is not running");
    return c;
}

static void serve_events(struct fx_admin *a, int fd, const struct req *rq)
{
    char route[ROUTE_NAME_MAX + 1];
    char limit[16];
    int has_route = query_param(rq->query, "route", route, sizeof(route));
    int has_limit = query_param(rq->query, "limit", limit, sizeof(limit));
    if (has_route < 0) {
        respond_error(fd, rq, 400, NULL, "invalid route parameter");
        return;
    }
    struct events_arg ea = { NULL, has_route > 0 && route[0] != '\0' ? route : NULL,
                             EVENTS_DEFAULT };
    if (has_limit != 0) {
        char *end = NULL;
        unsigned long n =
            has_limit > 0 && limit[0] >= '0' && limit[0] <= '9' ? strtoul(limit, &end, 10) : 0;
        if (end == NULL || *end != '\0' || n < 1 || n > EVENTS_MAX) {
            respond_error(fd, rq, 400, NULL, "limit must be an integer from 1 to %d", EVENTS_MAX);
            return;
        }
        ea.limit = n;
    }
    ea.ctl = control_of(a, fd, rq);
    if (ea.ctl != NULL)
        respond_render(fd, rq, ctype_json, render_events, &ea, NULL);
}

/* Parse {"weight": "25%"} (a JSON number means percent too). Returns 0 or
 * answers 400. */
static int body_weight(int fd, const struct req *rq, uint32_t *bp)
{
    json_error_t jerr;
    json_t *o = rq->body != NULL ? json_loadb(rq->body, rq->clen, 0, &jerr) : NULL;
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        respond_error(fd, rq, 400, NULL, "expected a JSON body like {\"weight\":\"25%%\"}");
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
        respond_error(fd, rq, 400, NULL,
                      "invalid weight: expected a percentage from 0%% to 100%% like \"25%%\"");
        return 400;
    }
    return 0;
}

static void serve_cmd(struct fx_admin *a, int fd, const struct req *rq, const char *name,
                      enum fx_ctl_cmd cmd)
{
    char actor[64];
    if (authorize(a, fd, rq, actor, sizeof(actor)) != 0)
        return;
    uint32_t bp = 0;
    if (cmd == FX_CTL_WEIGHT && body_weight(fd, rq, &bp) != 0)
        return;
    struct fx_control *ctl = control_of(a, fd, rq);
    if (ctl == NULL)
        return;
    char msg[MSG_MAX] = "";
    int rc = fx_control_cmd(ctl, name, cmd, bp, actor, msg, sizeof(msg));
    if (rc == FX_ENOTFOUND) {
        respond_error(fd, rq, 404, NULL, "%s", msg);
        return;
    }
    if (rc != 0) {
        respond_error(fd, rq, rc == FX_EINVAL ? 409 : 500, NULL, "%s", msg);
        return;
    }
    serve_routes(fd, rq, ctl, name);
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
static void serve_diffs(struct fx_admin *a, int fd, const struct req *rq, const char *name)
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
            respond_error(fd, rq, 400, NULL, "samples must be an integer from 0 to 1000");
            return;
        }
        da.samples = n;
    }
    char msg[MSG_MAX];
    (void)snprintf(msg, sizeof(msg), "no route named \"%s\" has a shadow section", name);
    respond_render(fd, rq, ctype_json, render_diffs, &da, msg);
}

/* The registry API (/api/v1/debt..., /api/v1/progress) on a store handle of
 * its own. Reads are open like the rest of the API; writes need a token. */
static void serve_registry(struct fx_admin *a, int fd, const struct req *rq)
{
    char actor[64] = "";
    bool write = strcmp(rq->method, "GET") != 0 && !rq->head;
    if ((write || rq->auth.len > 0) && authorize(a, fd, rq, actor, sizeof(actor)) != 0)
        return;
    struct fx_conf *c = fx_shared_conf(a->sh);
    struct fx_store *st = NULL;
    struct fx_err err = { 0 };
    int rc = fx_store_open(c->store_path, &st, &err);
    fx_conf_unref(c);
    if (rc != 0) {
        respond_error(fd, rq, 500, NULL, "%s", err.msg);
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
        respond_error(fd, rq, 500, NULL, "internal error");
    else if (rc == FX_ENOTFOUND)
        respond_error(fd, rq, 404, NULL, "not found");
    else {
        struct resp r = { status, ctype_json, NULL, out, olen };
        respond(fd, rq, &r);
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

static void serve_healthz(struct fx_admin *a, int fd, const struct req *rq)
{
    bool stopping = atomic_load(&a->sh->stopping);
    struct resp r = { stopping ? 503 : 200, "text/plain", NULL, stopping ? "draining\n" : "ok\n",
                      stopping ? 9 : 3 };
    respond(fd, rq, &r);
}

static void serve_get(struct fx_admin *a, int fd, const struct req *rq, struct where *w)
{
    struct dyn_arg da = { a };
    struct fx_control *ctl = NULL;
    switch (w->t) {
    case T_METRICS:
        respond_render(fd, rq, "text/plain; version=0.0.4; charset=utf-8", render_metrics, &da,
                       NULL);
        break;
    case T_HEALTHZ:
        serve_healthz(a, fd, rq);
        break;
    case T_CONFIG:
        respond_render(fd, rq, ctype_json, render_config, &da, NULL);
        break;
    case T_ROUTES:
    case T_ROUTE:
        ctl = control_of(a, fd, rq);
        if (ctl != NULL)
            serve_routes(fd, rq, ctl, w->t == T_ROUTE ? w->name : NULL);
        break;
    case T_EVENTS:
        serve_events(a, fd, rq);
        break;
    case T_DIFFS:
        serve_diffs(a, fd, rq, w->name);
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
        respond(fd, rq, &r);
        break;
    }
    default:
        respond_error(fd, rq, 404, NULL, "not found");
        break;
    }
}

static void dispatch(struct fx_admin *a, int fd, const struct req *rq)
{
    if (strncmp(rq->path, "/api/v1/debt", 12) == 0 || strcmp(rq->path, "/api/v1/progress") == 0) {
        serve_registry(a, fd, rq);
        return;
    }
    struct where w = { T_NONE, "", FX_CTL_WEIGHT };
    w.t = find_target(rq->path, &w);
    if (w.t == T_NONE) {
        respond_error(fd, rq, 404, NULL, "not found");
        return;
    }
    bool post = w.t == T_CMD;
    bool get = strcmp(rq->method, "GET") == 0 || rq->head;
    if (post && strcmp(rq->method, "POST") != 0) {
        respond_error(fd, rq, 405, "Allow: POST\r\n", "method %s not allowed", rq->method);
        return;
    }
    if (!post && !get) {
        respond_error(fd, rq, 405, "Allow: GET, HEAD\r\n", "method %s not allowed", rq->method);
        return;
    }
    if (post)
        serve_cmd(a, fd, rq, w.name, w.cmd);
    else
        serve_get(a, fd, rq, &w);
}

/* Check the body framing and read the body. Returns 0, or the status of an
 * error already answered. */
static int take_body(int fd, struct req *rq, const char *pre, size_t have)
{
    if (rq->chunked) {
        respond_error(fd, rq, 411, NULL,
                      "chunked request bodies are not supported: send Content-Length");
        return 411;
    }
    if (rq->has_clen && rq->clen > BODY_MAX) {
        respond_error(fd, rq, 413, NULL, "request body larger than %u bytes", BODY_MAX);
        return 413;
    }
    if (!rq->has_clen || rq->clen == 0)
        return 0;
    int status = read_body(fd, rq, pre, have);
    if (status != 0)
        respond_error(fd, rq, status, NULL, "%s",
                      status == 400 ? "incomplete request body" : "out of memory");
    return status;
}

static void serve_one(struct fx_admin *a, int fd)
{
    struct timeval tv = { 2, 0 };
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct req rq;
    memset(&rq, 0, sizeof(rq));
    rq.body_unread = true;
    rq.deadline = mono_ms() + REQUEST_MAX_MS;
    char buf[HEAD_MAX];
    size_t got = 0;
    ssize_t hlen = read_head(fd, buf, sizeof(buf), &got, rq.deadline);
    if (hlen < 0)
        return;
    int status = parse_request(&rq, buf, (size_t)hlen);
    if (status != 0)
        respond_error(fd, &rq, status, NULL, "malformed request");
    else
        status = take_body(fd, &rq, buf + hlen, got - (size_t)hlen);
    if (status == 0) {
        rq.body_unread = false;
        dispatch(a, fd, &rq);
    }
    if (rq.body_unread)
        drain(fd);
    free(rq.body);
}

static void *admin_main(void *arg)
{
    struct fx_admin *a = arg;
    for (;;) {
        struct pollfd p[2] = { { a->fd, POLLIN, 0 }, { a->stop_fd, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve_one(a, fd);
        (void)close(fd);
    }
    return NULL;
}

int fx_admin_start(struct fx_admin *a, int fd, struct fx_shared *sh, struct fx_worker *ws,
                   size_t nw, struct fx_err *err)
{
    a->fd = fd;
    a->sh = sh;
    a->ws = ws;
    a->nw = nw;
    a->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (a->stop_fd < 0)
        return FX_ERR_SET(err, FX_ESYS, "admin: eventfd failed");
    if (pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        (void)close(a->stop_fd);
        return FX_ERR_SET(err, FX_ESYS, "admin: cannot start thread");
    }
    return 0;
}

void fx_admin_stop(struct fx_admin *a)
{
    uint64_t one = 1;
    ssize_t n = write(a->stop_fd, &one, sizeof(one));
    (void)n;
    (void)pthread_join(a->thread, NULL);
    (void)close(a->stop_fd);
    (void)close(a->fd);
}
