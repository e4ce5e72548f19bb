/* Per-exchange accounting: counters, histograms, the JSON access log, and the
 * Prometheus rendering of all workers' counters.
 *
 * Headers an attacker controls that reach the access log (log.fields):
 * - Host, User-Agent, Referer, traceparent: logged only, never trusted. They
 *   are read back from the upstream request head, cut (Host and User-Agent
 *   at 256 bytes, Referer at 512, the trace id at 32) and JSON-escaped ('"'
 *   and '\\' escaped, bytes below 0x20 and from 0x7f up as \u00XX), so a
 *   hostile value can neither end its string, add a key, nor split the line
 *   (tests/e2e/56-access-log-fields.test.mjs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../conf/conf.h"
#include "../control/control.h"
#include "../migrate/migrate.h"
#include "../shadow/shadow.h"
#include "../tls/tls.h"
#include "proxy_int.h"

static const double hist_bounds[FX_HIST_BUCKETS - 1] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

static inline void inc(atomic_uint_fast64_t *c, uint64_t n)
{
    /* Single writer (this worker): a plain load and store, no locked instruction. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static void count_request(struct fx_stats *st, uint64_t key)
{
    size_t h = (size_t)((key * 0x9e3779b97f4a7c15u) >> 52) & (FX_STATS_SLOTS - 1);
    for (size_t i = 0; i < FX_STATS_SLOTS; i++) {
        struct fx_stat_slot *s = &st->req[(h + i) & (FX_STATS_SLOTS - 1)];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_relaxed);
        if (k == key) {
            inc(&s->count, 1);
            return;
        }
        if (k == 0) {
            atomic_store_explicit(&s->count, 1, memory_order_relaxed);
            atomic_store_explicit(&s->key, key, memory_order_release);
            return;
        }
    }
}

static size_t json_escape(char *out, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

static const char *now_text(struct fx_worker *w, char *ms_out)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    if ((uint64_t)ts.tv_sec != w->time_cache_sec) {
        struct tm tm;
        (void)gmtime_r(&ts.tv_sec, &tm);
        (void)strftime(w->time_cache, sizeof(w->time_cache), "%Y-%m-%dT%H:%M:%S", &tm);
        w->time_cache_sec = (uint64_t)ts.tv_sec;
    }
    (void)snprintf(ms_out, 8, ".%03dZ", (int)((ts.tv_nsec / 1000000) % 1000));
    return w->time_cache;
}

void fx_proxy__alog_flush(struct fx_worker *w)
{
    if (w->alog_len == 0 || w->sh->access_fd < 0) {
        w->alog_len = 0;
        return;
    }
    size_t off = 0;
    while (off < w->alog_len) {
        ssize_t n = write(w->sh->access_fd, w->alog + off, w->alog_len - off);
        if (n <= 0)
            break; /* a full or broken log must not stop the proxy */
        off += (size_t)n;
    }
    w->alog_len = 0;
}

/* ---- configurable lines (log.fields) ---------------------------------------- */

#define ALOG_LINE_MAX 24576 /* bound of one custom line: every field at its cap, escaped */
#define UA_MAX        256   /* bytes of User-Agent logged (the rest is cut) */
#define REFERER_MAX   512
#define HOST_MAX      256

/* One line being written into the worker's buffer; nothing is committed
 * until the whole line fits. */
struct alog_out {
    char *p;
    size_t cap;
    size_t len;
    bool full;
};

static void out_raw(struct alog_out *o, const char *s, size_t n)
{
    if (o->full || o->cap - o->len < n + 2) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

#define OUT_LIT(o, lit) out_raw((o), (lit), sizeof(lit) - 1)

/* A JSON string of at most `max` input bytes of s[0..n), escaped. */
static void out_str(struct alog_out *o, const char *s, size_t n, size_t max)
{
    n = n < max ? n : max;
    if (o->full || o->cap - o->len < n * 6 + 4) {
        o->full = true;
        return;
    }
    o->p[o->len++] = '"';
    o->len += json_escape(o->p + o->len, n * 6 + 8, s, n);
    o->p[o->len++] = '"';
}

/* A string field, or null when absent (s == NULL). */
static void out_opt(struct alog_out *o, const char *s, size_t n, size_t max)
{
    if (s == NULL)
        OUT_LIT(o, "null");
    else
        out_str(o, s, n, max);
}

static void out_u64(struct alog_out *o, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    out_raw(o, num, n > 0 ? (size_t)n : 0);
}

/* Microseconds from the exchange's start to loop time `at`, or null (0: never reached). */
static void out_since(struct alog_out *o, const struct fx_exch *x, uint64_t at)
{
    if (at == 0)
        OUT_LIT(o, "null");
    else
        out_u64(o, at >= x->start_us ? at - x->start_us : 0);
}

/* The value of the first header `name` (lower case) of the upstream request
 * head x->uhead, which holds the client's end-to-end headers as sent (Host
 * included). Absent (ptr NULL) when the exchange had no route: its head then
 * holds the request line only. */
static struct fx_str uhead_header(const struct fx_exch *x, const char *name)
{
    struct fx_str none = { NULL, 0 };
    if (x->uhead.data == NULL)
        return none;
    const char *p = fx_buf_rptr(&x->uhead);
    const char *end = p + x->uhead.len;
    size_t nlen = strlen(name);
    const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    while (eol != NULL) {
        const char *line = eol + 2;
        eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (eol == NULL || eol == line)
            break;
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
            strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            return (struct fx_str){ v, (size_t)(eol - v) };
        }
    }
    return none;
}

static void out_header(struct alog_out *o, const struct fx_exch *x, const char *name, size_t max)
{
    struct fx_str v = uhead_header(x, name);
    out_opt(o, v.ptr, v.len, max);
}

/* The trace id of the traceparent sent upstream ("00-TRACE-SPAN-FLAGS"). */
static void out_trace_id(struct alog_out *o, const struct fx_exch *x)
{
    struct fx_str v = uhead_header(x, "traceparent");
    if (v.ptr == NULL || v.len < 35 || v.ptr[2] != '-')
        OUT_LIT(o, "null");
    else
        out_str(o, v.ptr + 3, 32, 32);
}

static void out_cstr(struct alog_out *o, const char *s, size_t max)
{
    out_str(o, s != NULL ? s : "", s != NULL ? strlen(s) : 0, max);
}

static void out_lit_c(struct alog_out *o, const char *lit)
{
    out_raw(o, lit, strlen(lit));
}

/* The fields added with log.fields (every one after FX_CONF_LOG_F_ERROR). */
static void out_field_extra(struct alog_out *o, const struct fx_exch *x, uint64_t dur_us,
                            enum fx_conf_log_field f)
{
    switch (f) {
    case FX_CONF_LOG_F_HOST:
        out_header(o, x, "host", HOST_MAX);
        break;
    case FX_CONF_LOG_F_USER_AGENT:
        out_header(o, x, "user-agent", UA_MAX);
        break;
    case FX_CONF_LOG_F_REFERER:
        out_header(o, x, "referer", REFERER_MAX);
        break;
    case FX_CONF_LOG_F_PROTOCOL:
        out_lit_c(o, x->minor == 0 ? "\"HTTP/1.0\"" : "\"HTTP/1.1\"");
        break;
    case FX_CONF_LOG_F_UPSTREAM_CONNECT_US:
        out_since(o, x, x->connect_us);
        break;
    case FX_CONF_LOG_F_UPSTREAM_HEADER_US:
        out_since(o, x, x->header_us);
        break;
    case FX_CONF_LOG_F_TOTAL_US:
        out_u64(o, dur_us);
        break;
    case FX_CONF_LOG_F_OVERRIDE_USED:
        out_lit_c(o, x->pinned ? "true" : "false");
        break;
    case FX_CONF_LOG_F_TRACE_ID:
        out_trace_id(o, x);
        break;
    default:
        OUT_LIT(o, "null");
        break;
    }
}

/* The method (or the path) from the upstream request head. */
static void out_req_part(struct alog_out *o, const struct fx_exch *x, bool path)
{
    if (x->uhead.data == NULL) {
        OUT_LIT(o, "\"\"");
        return;
    }
    const char *base = fx_buf_rptr(&x->uhead);
    if (path)
        out_str(o, base + x->path_off, x->path_len, 2048);
    else
        out_str(o, base, x->method_len, 32);
}

static void out_field(struct alog_out *o, struct fx_worker *w, const struct fx_cconn *cc,
                      const struct fx_exch *x, uint64_t dur_us, enum fx_conf_log_field f)
{
    char ms[8];
    switch (f) {
    case FX_CONF_LOG_F_TIME: {
        const char *t = now_text(w, ms);
        OUT_LIT(o, "\"");
        out_lit_c(o, t);
        out_lit_c(o, ms);
        OUT_LIT(o, "\"");
        break;
    }
    case FX_CONF_LOG_F_REQUEST_ID:
        out_cstr(o, x->request_id, 64);
        break;
    case FX_CONF_LOG_F_CLIENT:
        out_cstr(o, cc->peer_text, sizeof(cc->peer_text));
        break;
    case FX_CONF_LOG_F_METHOD:
    case FX_CONF_LOG_F_PATH:
        out_req_part(o, x, f == FX_CONF_LOG_F_PATH);
        break;
    case FX_CONF_LOG_F_ROUTE:
        out_cstr(o, x->route ? x->route->name : NULL, 256);
        break;
    case FX_CONF_LOG_F_UPSTREAM:
        out_cstr(o, x->up ? x->up->name : NULL, 256);
        break;
    case FX_CONF_LOG_F_SERVER:
        out_cstr(o, x->srv ? x->srv->addr.text : NULL, 128);
        break;
    case FX_CONF_LOG_F_SIDE:
        out_lit_c(o, x->side < 0 ? "null" : (x->side == FX_SIDE_NEW ? "\"new\"" : "\"legacy\""));
        break;
    case FX_CONF_LOG_F_SHADOW:
        out_lit_c(o, x->mirror != NULL ? "true" : "false");
        break;
    case FX_CONF_LOG_F_STATUS:
        out_u64(o, x->status > 0 ? (uint64_t)x->status : 0);
        break;
    case FX_CONF_LOG_F_BYTES_IN:
        out_u64(o, x->bytes_in);
        break;
    case FX_CONF_LOG_F_BYTES_OUT:
        out_u64(o, x->bytes_out);
        break;
    case FX_CONF_LOG_F_DURATION_US:
        out_u64(o, dur_us);
        break;
    case FX_CONF_LOG_F_ERROR:
        out_opt(o, x->error, x->error ? strlen(x->error) : 0, 128);
        break;
    case FX_CONF_LOG_F_TLS_VERSION: {
        const char *v = fx_tls_conn_version(&cc->xp);
        out_opt(o, v[0] != '\0' ? v : NULL, strlen(v), 16);
        break;
    }
    default:
        out_field_extra(o, x, dur_us, f);
        break;
    }
}

/* The line of log.fields: the keys in the configured order. Written in place
 * into the worker's buffer (no allocation); a line that would not fit is
 * dropped whole rather than cut. */
static void alog_custom(struct fx_worker *w, struct fx_cconn *cc, struct fx_exch *x,
                        uint64_t dur_us)
{
    const struct fx_conf *c = x->wc->conf;
    if (FX_ALOG_CAP - w->alog_len < ALOG_LINE_MAX)
        fx_proxy__alog_flush(w);
    struct alog_out o = { w->alog + w->alog_len, FX_ALOG_CAP - w->alog_len, 0, false };
    OUT_LIT(&o, "{");
    for (size_t i = 0; i < c->nlog_fields; i++) {
        const char *name = fx_conf_log_field_name(c->log_fields[i]);
        if (i > 0)
            OUT_LIT(&o, ",");
        OUT_LIT(&o, "\"");
        out_raw(&o, name, strlen(name));
        OUT_LIT(&o, "\":");
        out_field(&o, w, cc, x, dur_us, c->log_fields[i]);
    }
    OUT_LIT(&o, "}\n");
    if (!o.full)
        w->alog_len += o.len;
}

static void alog_line(struct fx_worker *w, struct fx_cconn *cc, struct fx_exch *x, uint64_t dur_us)
{
    if (x->wc->conf->nlog_fields > 0) {
        alog_custom(w, cc, x, dur_us);
        return;
    }
    if (FX_ALOG_CAP - w->alog_len < 4096 + 64)
        fx_proxy__alog_flush(w);
    char path[2048];
    size_t plen = 0;
    char method[64];
    size_t mlen = 0;
    path[0] = '\0';
    method[0] = '\0';
    if (x->uhead.data != NULL) {
        const char *base = fx_buf_rptr(&x->uhead);
        mlen = json_escape(method, sizeof(method), base, x->method_len);
        plen = json_escape(path, sizeof(path), base + x->path_off, x->path_len);
    }
    char rid[140];
    size_t rlen = json_escape(rid, sizeof(rid), x->request_id, strlen(x->request_id));
    char ms[8];
    const char *t = now_text(w, ms);
    int n = snprintf(
        w->alog + w->alog_len, FX_ALOG_CAP - w->alog_len,
        "{\"time\":\"%s%s\",\"request_id\":\"%.*s\",\"client\":\"%s\",\"method\":\"%.*s\","
        "\"path\":\"%.*s\",\"route\":\"%s\",\"upstream\":\"%s\",\"server\":\"%s\","
        "\"side\":%s,\"shadow\":%s,\"status\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu,"
        "\"duration_us\":%llu,\"error\":%s%s%s}\n",
        t, ms, (int)rlen, rid, cc->peer_text, (int)mlen, method, (int)plen, path,
        x->route ? x->route->name : "", x->up ? x->up->name : "", x->srv ? x->srv->addr.text : "",
        x->side < 0 ? "null" : (x->side == FX_SIDE_NEW ? "\"new\"" : "\"legacy\""),
        x->mirror != NULL ? "true" : "false", x->status, (unsigned long long)x->bytes_in,
        (unsigned long long)x->bytes_out, (unsigned long long)dur_us, x->error ? "\"" : "",
        x->error ? x->error : "null", x->error ? "\"" : "");
    if (n > 0 && (size_t)n < FX_ALOG_CAP - w->alog_len)
        w->alog_len += (size_t)n;
}

void fx_proxy__exch_account(struct fx_worker *w, struct fx_cconn *cc, struct fx_exch *x)
{
    uint64_t dur_us = w->loop.now_us - x->start_us;
    struct fx_stats *st = w->stats;
    uint64_t rid = x->route ? x->route->id + 1u : 0;
    uint64_t uid = x->up ? x->up->id + 1u : 0;
    count_request(st, (rid << 40) | (uid << 20) | (uint64_t)(x->status & 0xfffff));
    if (x->route != NULL) {
        double s = (double)dur_us / 1e6;
        size_t b = 0;
        while (b < FX_HIST_BUCKETS - 1 && s > hist_bounds[b])
            b++;
        inc(&st->hist[x->route->id][b], 1);
        inc(&st->hist_sum_us[x->route->id], dur_us);
    }
    if (x->route != NULL) {
        /* Every routed exchange counts by side (a route without migrate is all
         * legacy): the control plane records per-route progress from these. */
        unsigned int id = x->route->id;
        int side = x->side >= 0 ? x->side : FX_SIDE_LEGACY;
        inc(&st->side_req[id][side], 1);
        if (x->status >= 500)
            inc(&st->side_err[id][side], 1);
        inc(&st->side_lat[id][side][fx_mig_lat_bucket(dur_us)], 1);
        inc(&st->side_sum_us[id][side], dur_us);
    }
    if (w->sh->access_fd >= 0)
        alog_line(w, cc, x, dur_us);
}

/* ---- Prometheus exposition (admin thread) ---------------------------------- */

static uint64_t ld(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static const char *iname(struct fx_intern *in, uint64_t id1)
{
    if (id1 == 0 || id1 > atomic_load(&in->n))
        return "";
    return in->names[id1 - 1];
}

struct kv {
    uint64_t key;
    uint64_t count;
};

static int kv_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct kv *)a)->key;
    uint64_t y = ((const struct kv *)b)->key;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static void render_requests(struct fx_shared *sh, struct fx_worker *ws, size_t nw, FILE *f)
{
    (void)fputs("# HELP ficus_requests_total Requests answered, by route, upstream and status.\n"
                "# TYPE ficus_requests_total counter\n",
                f);
    struct kv *all = malloc(nw * FX_STATS_SLOTS * sizeof(*all));
    if (all == NULL)
        return;
    size_t n = 0;
    for (size_t i = 0; i < nw; i++) {
        for (size_t s = 0; s < FX_STATS_SLOTS; s++) {
            uint64_t key = atomic_load_explicit(&ws[i].stats->req[s].key, memory_order_acquire);
            if (key != 0)
                all[n++] = (struct kv){ key, ld(&ws[i].stats->req[s].count) };
        }
    }
    qsort(all, n, sizeof(*all), kv_cmp);
    for (size_t i = 0; i < n;) {
        uint64_t key = all[i].key;
        uint64_t total = 0;
        for (; i < n && all[i].key == key; i++)
            total += all[i].count;
        (void)fprintf(f, "ficus_requests_total{route=\"%s\",upstream=\"%s\",code=\"%u\"} %llu\n",
                      iname(&sh->routes, key >> 40), iname(&sh->upstreams, (key >> 20) & 0xfffff),
                      (unsigned)(key & 0xfffff), (unsigned long long)total);
    }
    free(all);
}

static void render_hist(struct fx_shared *sh, struct fx_worker *ws, size_t nw, FILE *f)
{
    (void)fputs("# HELP ficus_request_duration_seconds Time from request head to last response "
                "byte, by route.\n# TYPE ficus_request_duration_seconds histogram\n",
                f);
    size_t nr = atomic_load(&sh->routes.n);
    for (size_t r = 0; r < nr; r++) {
        uint64_t b[FX_HIST_BUCKETS] = { 0 };
        uint64_t sum = 0;
        for (size_t i = 0; i < nw; i++) {
            for (size_t k = 0; k < FX_HIST_BUCKETS; k++)
                b[k] += ld(&ws[i].stats->hist[r][k]);
            sum += ld(&ws[i].stats->hist_sum_us[r]);
        }
        uint64_t cum = 0;
        for (size_t k = 0; k < FX_HIST_BUCKETS; k++) {
            cum += b[k];
            if (k < FX_HIST_BUCKETS - 1)
                (void)fprintf(f,
                              "ficus_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                              "%llu\n",
                              sh->routes.names[r], hist_bounds[k], (unsigned long long)cum);
            else
                (void)fprintf(f,
                              "ficus_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                              "%llu\n",
                              sh->routes.names[r], (unsigned long long)cum);
        }
        (void)fprintf(f, "ficus_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                      sh->routes.names[r], (double)sum / 1e6);
        (void)fprintf(f, "ficus_request_duration_seconds_count{route=\"%s\"} %llu\n",
                      sh->routes.names[r], (unsigned long long)cum);
    }
}

/* One counter per upstream id, summed over the workers (`timeouts` picks the array). */
static void render_per_upstream(struct fx_shared *sh, struct fx_worker *ws, size_t nw, FILE *f,
                                const char *name, const char *help, bool timeouts)
{
    size_t nu = atomic_load(&sh->upstreams.n);
    (void)fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t u = 0; u < nu; u++) {
        uint64_t n = 0;
        for (size_t i = 0; i < nw; i++)
            n += ld(timeouts ? &ws[i].stats->timeouts[u] : &ws[i].stats->connect_errors[u]);
        (void)fprintf(f, "%s{upstream=\"%s\"} %llu\n", name, sh->upstreams.names[u],
                      (unsigned long long)n);
    }
}

static void render_upstreams(struct fx_shared *sh, struct fx_worker *ws, size_t nw, FILE *f)
{
    render_per_upstream(sh, ws, nw, f, "ficus_upstream_connect_errors_total",
                        "Failed connects to upstream servers.", false);
    render_per_upstream(sh, ws, nw, f, "ficus_upstream_timeouts_total",
                        "Upstream connect, send and read timeouts.", true);
    /* Health is kept per server address: an address listed by two upstreams shows
     * the same state under both. */
    struct fx_conf *c = fx_shared_conf(sh);
    (void)fputs("# HELP ficus_upstream_server_up 1 when the server takes connects, 0 while it "
                "is ejected after a failed connect (until a connect succeeds again).\n"
                "# TYPE ficus_upstream_server_up gauge\n",
                f);
    for (size_t u = 0; u < c->nupstreams; u++) {
        const struct fx_conf_upstream *up = &c->upstreams[u];
        for (size_t i = 0; i < up->nservers; i++) {
            const struct fx_srv_health *h = &sh->health[up->servers[i].pool_id];
            (void)fprintf(f, "ficus_upstream_server_up{upstream=\"%s\",server=\"%s\"} %d\n",
                          up->name, up->servers[i].addr.text,
                          atomic_load_explicit(&h->streak, memory_order_relaxed) == 0 ? 1 : 0);
        }
    }
    (void)fputs("# HELP ficus_upstream_server_ejections_total Times a server was ejected after a "
                "failed connect.\n"
                "# TYPE ficus_upstream_server_ejections_total counter\n",
                f);
    for (size_t u = 0; u < c->nupstreams; u++) {
        const struct fx_conf_upstream *up = &c->upstreams[u];
        for (size_t i = 0; i < up->nservers; i++) {
            struct fx_srv_health *h = &sh->health[up->servers[i].pool_id];
            (void)fprintf(f,
                          "ficus_upstream_server_ejections_total{upstream=\"%s\",server=\"%s\"} "
                          "%llu\n",
                          up->name, up->servers[i].addr.text,
                          (unsigned long long)ld(&h->ejections));
        }
    }
    fx_conf_unref(c);
}

static void render_side_hist(const struct fx_conf *c, struct fx_worker *ws, size_t nw, FILE *f)
{
    (void)fputs("# HELP ficus_migration_duration_seconds Request duration on migrating routes by "
                "side.\n# TYPE ficus_migration_duration_seconds histogram\n",
                f);
    static const char *const sides[2] = { "legacy", "new" };
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct fx_conf_route *r = &c->routes[i];
        if (r->migrate == NULL)
            continue;
        for (int side = 0; side < 2; side++) {
            uint64_t cum = 0;
            for (size_t b = 0; b < FX_MIG_LAT_BUCKETS; b++) {
                for (size_t k = 0; k < nw; k++)
                    cum += ld(&ws[k].stats->side_lat[r->id][side][b]);
                if (b + 1 < FX_MIG_LAT_BUCKETS && b % 3 != 2)
                    continue; /* every third bucket keeps the series count reasonable */
                if (b + 1 < FX_MIG_LAT_BUCKETS)
                    (void)fprintf(
                        f,
                        "ficus_migration_duration_seconds_bucket{route=\"%s\",side=\"%s\","
                        "le=\"%g\"} %llu\n",
                        r->name, sides[side], (double)fx_mig_lat_upper_us(b) / 1e6,
                        (unsigned long long)cum);
            }
            uint64_t sum = 0;
            for (size_t k = 0; k < nw; k++)
                sum += ld(&ws[k].stats->side_sum_us[r->id][side]);
            /* The +Inf bucket closes the buckets; _sum and _count follow them. */
            (void)fprintf(f,
                          "ficus_migration_duration_seconds_bucket{route=\"%s\",side=\"%s\","
                          "le=\"+Inf\"} %llu\n"
                          "ficus_migration_duration_seconds_sum{route=\"%s\",side=\"%s\"} %.6f\n"
                          "ficus_migration_duration_seconds_count{route=\"%s\",side=\"%s\"} "
                          "%llu\n",
                          r->name, sides[side], (unsigned long long)cum, r->name, sides[side],
                          (double)sum / 1e6, r->name, sides[side], (unsigned long long)cum);
        }
    }
}

/* One counter family by (route, side) over the migrating routes: `err` picks
 * side_err instead of side_req. */
static void render_side_counter(const struct fx_conf *c, struct fx_worker *ws, size_t nw, FILE *f,
                                const char *name, const char *help, bool err)
{
    static const char *const sides[2] = { "legacy", "new" };
    (void)fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct fx_conf_route *r = &c->routes[i];
        if (r->migrate == NULL)
            continue;
        for (int side = 0; side < 2; side++) {
            uint64_t n = 0;
            for (size_t k = 0; k < nw; k++)
                n += ld(err ? &ws[k].stats->side_err[r->id][side]
                            : &ws[k].stats->side_req[r->id][side]);
            (void)fprintf(f, "%s{route=\"%s\",side=\"%s\"} %llu\n", name, r->name, sides[side],
                          (unsigned long long)n);
        }
    }
}

/* Every family is written whole (HELP, TYPE, then all its samples) before the
 * next one starts: the exposition format does not allow families to interleave. */
static void render_migration(struct fx_shared *sh, struct fx_worker *ws, size_t nw, FILE *f)
{
    struct fx_conf *c = fx_shared_conf(sh);
    render_side_counter(c, ws, nw, f, "ficus_migration_requests_total",
                        "Requests on migrating routes by side.", false);
    render_side_counter(c, ws, nw, f, "ficus_migration_errors_total",
                        "5xx answers, connect failures and timeouts on migrating routes by side.",
                        true);
    (void)fputs("# HELP ficus_migration_weight_ratio Share of the new side (0..1).\n"
                "# TYPE ficus_migration_weight_ratio gauge\n",
                f);
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct fx_conf_route *r = &c->routes[i];
        if (r->migrate == NULL)
            continue;
        unsigned int bp = atomic_load(&sh->mig[r->id].weight_bp);
        (void)fprintf(f, "ficus_migration_weight_ratio{route=\"%s\"} %.4f\n", r->name,
                      (double)bp / 10000.0);
    }
    (void)fputs("# HELP ficus_migration_guard_rollbacks_total Automatic rollbacks by the guard.\n"
                "# TYPE ficus_migration_guard_rollbacks_total counter\n",
                f);
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct fx_conf_route *r = &c->routes[i];
        if (r->migrate == NULL)
            continue;
        (void)fprintf(
            f, "ficus_migration_guard_rollbacks_total{route=\"%s\"} %llu\n", r->name,
            (unsigned long long)(sh->control ? fx_control_rollbacks(sh->control, r->id) : 0));
    }
    render_side_hist(c, ws, nw, f);
    fx_conf_unref(c);
}

/* Upgrade tunnels by (route, side): open now, opened in total, and bytes by
 * direction. Every route is listed (any route may carry a WebSocket); a
 * route without migrate shows its tunnels under side="legacy". */
static void render_tunnels(struct fx_shared *sh, struct fx_worker *ws, size_t nw, FILE *f)
{
    static const char *const sides[2] = { "legacy", "new" };
    static const char *const dirs[2] = { "client_to_upstream", "upstream_to_client" };
    struct fx_conf *c = fx_shared_conf(sh);
    (void)fputs("# HELP ficus_tunnels_active Open upgrade tunnels (WebSocket) by route and side.\n"
                "# TYPE ficus_tunnels_active gauge\n",
                f);
    for (size_t i = 0; i < c->nroutes; i++) {
        for (int side = 0; side < 2; side++) {
            long long n = 0;
            for (size_t k = 0; k < nw; k++)
                n += (long long)atomic_load_explicit(
                    &ws[k].stats->tunnels_active[c->routes[i].id][side], memory_order_relaxed);
            (void)fprintf(f, "ficus_tunnels_active{route=\"%s\",side=\"%s\"} %lld\n",
                          c->routes[i].name, sides[side], n);
        }
    }
    (void)fputs("# HELP ficus_tunnels_total Upgrade tunnels opened (valid 101 relayed).\n"
                "# TYPE ficus_tunnels_total counter\n",
                f);
    for (size_t i = 0; i < c->nroutes; i++) {
        for (int side = 0; side < 2; side++) {
            uint64_t n = 0;
            for (size_t k = 0; k < nw; k++)
                n += ld(&ws[k].stats->tunnels_total[c->routes[i].id][side]);
            (void)fprintf(f, "ficus_tunnels_total{route=\"%s\",side=\"%s\"} %llu\n",
                          c->routes[i].name, sides[side], (unsigned long long)n);
        }
    }
    (void)fputs("# HELP ficus_tunnel_bytes_total Bytes relayed through upgrade tunnels by "
                "direction.\n# TYPE ficus_tunnel_bytes_total counter\n",
                f);
    for (size_t i = 0; i < c->nroutes; i++) {
        for (int side = 0; side < 2; side++) {
            for (int d = 0; d < 2; d++) {
                uint64_t n = 0;
                for (size_t k = 0; k < nw; k++)
                    n += ld(&ws[k].stats->tunnel_bytes[c->routes[i].id][side][d]);
                (void)fprintf(f,
                              "ficus_tunnel_bytes_total{route=\"%s\",side=\"%s\","
                              "direction=\"%s\"} %llu\n",
                              c->routes[i].name, sides[side], dirs[d], (unsigned long long)n);
            }
        }
    }
    fx_conf_unref(c);
}

/* Client handshakes summed over workers, and the expiry of every listener
 * certificate of the current config. */
static void render_tls(struct fx_shared *sh, struct fx_worker *ws, size_t nw, FILE *f)
{
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    const struct fx_tls_stats **st = calloc(nw ? nw : 1, sizeof(*st));
    if (st != NULL) {
        for (size_t i = 0; i < nw; i++)
            st[i] = &ws[i].stats->tls;
        fx_tls_stats_render(st, nw, f);
        free(st);
    }
    struct fx_conf *c = fx_shared_conf(sh);
    (void)fputs("# HELP ficus_tls_cert_not_after_seconds Expiry (Unix time) of each listener "
                "certificate, by name and key type.\n"
                "# TYPE ficus_tls_cert_not_after_seconds gauge\n",
                f);
    for (size_t i = 0; c->listen_tls != NULL && i < c->nlisten; i++) {
        if (c->listen_tls[i] != NULL)
            fx_tls_server_render(c->listen_tls[i]->srv, f);
    }
    fx_conf_unref(c);
}

void fx_stats_render(struct fx_shared *sh, struct fx_worker *ws, size_t nw, FILE *f)
{
    render_tunnels(sh, ws, nw, f);
    render_requests(sh, ws, nw, f);
    render_hist(sh, ws, nw, f);
    render_upstreams(sh, ws, nw, f);
    render_migration(sh, ws, nw, f);
    long long cc = 0;
    long long uc = 0;
    uint64_t rej = 0;
    for (size_t i = 0; i < nw; i++) {
        cc += (long long)atomic_load_explicit(&ws[i].stats->client_conns, memory_order_relaxed);
        uc += (long long)atomic_load_explicit(&ws[i].stats->upstream_conns, memory_order_relaxed);
        rej += ld(&ws[i].stats->rejected_conns);
    }
    (void)fprintf(f,
                  "# HELP ficus_client_connections Open client connections.\n"
                  "# TYPE ficus_client_connections gauge\nficus_client_connections %lld\n"
                  "# HELP ficus_upstream_connections Open upstream connections (busy and idle).\n"
                  "# TYPE ficus_upstream_connections gauge\nficus_upstream_connections %lld\n"
                  "# HELP ficus_rejected_connections_total Connections refused over "
                  "max_connections.\n"
                  "# TYPE ficus_rejected_connections_total counter\n"
                  "ficus_rejected_connections_total %llu\n"
                  "# HELP ficus_config_reloads_total Configuration reloads by result.\n"
                  "# TYPE ficus_config_reloads_total counter\n"
                  "ficus_config_reloads_total{result=\"success\"} %llu\n"
                  "ficus_config_reloads_total{result=\"failure\"} %llu\n",
                  cc, uc, (unsigned long long)rej, (unsigned long long)ld(&sh->reloads_ok),
                  (unsigned long long)ld(&sh->reloads_failed));
    uint64_t emfile = 0;
    for (size_t i = 0; i < nw; i++)
        emfile += ld(&ws[i].stats->emfile_conns);
    (void)fprintf(f,
                  "# HELP ficus_accept_fd_exhausted_total Connections accepted and closed at once "
                  "because the process was out of file descriptors.\n"
                  "# TYPE ficus_accept_fd_exhausted_total counter\n"
                  "ficus_accept_fd_exhausted_total %llu\n",
                  (unsigned long long)emfile);
    render_tls(sh, ws, nw, f);
    fx_shadow_render_metrics(&sh->shadow, f);
}
