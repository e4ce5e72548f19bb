/* Client connections: request heads, the exchange pump in both directions,
 * local responses and keep-alive. Everything runs on the worker's thread.
 *
 * Headers an attacker controls, and what Ficus does with them:
 * - Content-Length, Transfer-Encoding: framing; anything ambiguous is refused
 *   by the parser (400 / 502), never repaired. Chunk extensions are checked
 *   and cut, so the upstream never has to interpret them.
 * - Connection: its hop-by-hop names are dropped before forwarding; naming
 *   Content-Length, Transfer-Encoding or Host is refused (it would strip the
 *   framing and let a body become a second message on a pooled connection).
 * - Host / absolute-form: routing input; duplicates and invalid values are a
 *   400; absolute-form replaces Host. Host wildcards (match.host
 *   "*.example.com", ".example.com", "www.example.*") route on the name the
 *   client sent, port and case ignored: any client can claim any subdomain,
 *   so a wildcard route is routing, not access control. A suffix pattern
 *   compares whole trailing labels ("a.example.com.evil" is no match).
 * - Request path: normalised (paths) before routing; match.path_regex sees
 *   that path without its query, so a client cannot steer a regex with
 *   %-spellings or the query string. Its backtracking is bounded
 *   (FX_ROUTE_MATCH_LIMIT, route_types.h): a hostile path ("^(a+)+$" on
 *   "aaaa...b") costs at most the limit, then a 500 (route_match_limit);
 *   the route walk stops there, so a later, less guarded route never gets
 *   a request an earlier regex route might have claimed. strip_prefix cuts
 *   only at a segment boundary of the normalised path ("/apiary" is not
 *   under "/api"; %2F stays encoded, so it never makes a boundary).
 * - Route rewrites (set_headers, remove_headers): every client copy of a set
 *   or removed name is dropped whatever its case or count, then the
 *   configured value is written once: a client cannot undo set_headers by
 *   sending the header twice, nor smuggle a removed one under another
 *   spelling. Framing, hop-by-hop, X-Forwarded-* and X-Ficus-* names are
 *   refused at load, so a route can never desync the upstream connection.
 *   Routing, sticky keys and the override header read the client's request,
 *   not the rewritten one (set_headers Host does not reroute). Removing
 *   X-Request-Id makes Ficus send its own id; removing traceparent starts a
 *   new trace. The upstream, a retry, both migration sides and shadow
 *   copies all get the same rewritten head (x->uhead); the access log's
 *   path is the one sent upstream.
 * - X-Forwarded-For: the client's chain is kept and Ficus appends the peer
 *   address; an upstream may trust only the last element. X-Forwarded-Proto
 *   and -Host from the client are dropped and set by Ficus.
 * - X-Request-Id, traceparent: forwarded as sent (a client may pick its id or
 *   join a trace); only the first 64 bytes of the id reach the access log,
 *   JSON-escaped. Neither is trusted for anything else.
 * - X-Ficus-*: Ficus's own names (X-Ficus-Shadow marks copies); client copies
 *   are dropped. The migration override header is honoured only from the
 *   addresses in migrate.override.from.
 * - Sticky key (header, cookie, query): a client chooses its bucket; this is
 *   stickiness, not access control.
 * - Upgrade, Expect, TE, Trailer, Keep-Alive, Proxy-*: hop-by-hop, dropped
 *   (100-continue is answered by Ficus). An Upgrade of upgrade.protocols on a
 *   bodiless HTTP/1.1 request with Connection: upgrade is the exception: it
 *   is forwarded, and a matching 101 starts a tunnel (tunnel.c says what a
 *   hostile client or upstream can do with those headers). Any other 101, or
 *   a response whose Connection names its framing, is a 502 and the upstream
 *   connection is closed. */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/err.h"
#include "../http/http.h"
#include "../loop/loop.h"
#include "../migrate/migrate.h"
#include "../net/net.h"
#include "../route/route.h"
#include "../tls/tls.h"
#include "proxy_int.h"

static bool x_step(struct fx_cconn *cc);
static bool cc_step_linger(struct fx_cconn *cc);
static void pick_side(struct fx_cconn *cc, struct fx_exch *x, const struct fx_h1_req *req);
static bool mirror_sampled(struct fx_cconn *cc, const struct fx_conf_route *r,
                           const struct fx_h1_req *req);

static const struct fx_conf_limits *cc_limits(const struct fx_cconn *cc)
{
    if (cc->x != NULL)
        return &cc->x->wc->conf->limits;
    return &cc->w->wc->conf->limits;
}

/* ---- low-level I/O ---------------------------------------------------- */

/* Read into `b` through the transport `xp`. Returns bytes read (> 0), 0 when
 * nothing could be read (no data or no room), -1 on EOF or error
 * (FX_IO_F_EOF is then set). */
static ssize_t io_read(struct fx_worker *w, struct fx_xprt *xp, struct fx_io *io,
                       unsigned int *flags, struct fx_buf *b)
{
    if (b->data == NULL && fx_proxy__buf_get(w, b) != 0)
        return 0;
    if (fx_buf_wroom(b) == 0)
        fx_buf_compact(b);
    size_t room = fx_buf_wroom(b);
    if (room == 0)
        return 0;
    ssize_t n = xp->ops->read(xp, io->fd, fx_buf_wptr(b), room);
    if (n > 0) {
        fx_buf_commit(b, (size_t)n);
        if ((size_t)n < room && !(*flags & FX_IO_F_HUP))
            *flags &= ~FX_IO_F_READABLE; /* a short read drained the socket (no EOF pending) */
        return n;
    }
    if (n == FX_IO_WANT_WRITE) {
        *flags &= ~FX_IO_F_WRITABLE; /* TLS: the read must first send; retried once writable */
        return 0;
    }
    *flags &= ~FX_IO_F_READABLE;
    if (n == FX_IO_WANT_READ)
        return 0;
    *flags |= FX_IO_F_EOF;
    return -1;
}

/* Write up to two spans through the transport `xp`. Returns bytes written,
 * 0 when the socket is full, -1 on a write error. */
static ssize_t io_write2(struct fx_xprt *xp, int fd, unsigned int *flags, const char *a,
                         size_t alen, const char *b, size_t blen)
{
    struct iovec iov[2];
    int n = 0;
    if (alen > 0)
        iov[n++] = (struct iovec){ (void *)(uintptr_t)a, alen };
    if (blen > 0)
        iov[n++] = (struct iovec){ (void *)(uintptr_t)b, blen };
    ssize_t w = xp->ops->writev(xp, fd, iov, n);
    if (w < 0) {
        if (w == FX_IO_WANT_READ) {
            *flags &= ~FX_IO_F_READABLE; /* TLS: the write must first receive */
            return 0;
        }
        if (w == FX_IO_WANT_WRITE) {
            *flags &= ~FX_IO_F_WRITABLE;
            return 0;
        }
        return -1;
    }
    if ((size_t)w < alen + blen)
        *flags &= ~FX_IO_F_WRITABLE;
    return w;
}

ssize_t fx_proxy__io_read(struct fx_worker *w, struct fx_xprt *xp, struct fx_io *io,
                          unsigned int *flags, struct fx_buf *b)
{
    return io_read(w, xp, io, flags, b);
}

ssize_t fx_proxy__io_write2(struct fx_xprt *xp, struct fx_io *io, unsigned int *flags,
                            const char *a, size_t alen, const char *b, size_t blen)
{
    return io_write2(xp, io->fd, flags, a, alen, b, blen);
}

int fx_proxy__io_shutdown_wr(struct fx_xprt *xp, struct fx_io *io)
{
    if (fx_tls_conn_is(xp))
        fx_tls_conn_shutdown(xp); /* close_notify first: a bare FIN reads as truncation */
    return shutdown(io->fd, SHUT_WR);
}

/* ---- connection lifecycle ---------------------------------------------- */

static void on_dead_io(struct fx_io *io, uint32_t events)
{
    (void)io;
    (void)events;
}

/* Arm `t` for `kind` (FX_TK_NONE stops it). The same kind is re-armed only when
 * `rearm` is set: header and idle deadlines are absolute, body/read/send ones
 * restart on progress. */
static void set_timer(struct fx_loop *l, struct fx_timer *t, int *tkind, int kind, uint64_t ms,
                      bool rearm)
{
    if (kind == FX_TK_NONE) {
        if (*tkind != FX_TK_NONE)
            fx_timer_stop(l, t);
        *tkind = FX_TK_NONE;
        return;
    }
    if (*tkind == kind && !rearm)
        return;
    *tkind = kind;
    (void)fx_timer_arm(l, t, ms);
}

static void cc_set_timer(struct fx_cconn *cc, int kind, uint64_t ms, bool rearm)
{
    set_timer(&cc->w->loop, &cc->timer, &cc->tkind, kind, ms, rearm);
}

static void uc_set_timer(struct fx_uconn *uc, int kind, uint64_t ms, bool rearm)
{
    set_timer(&uc->w->loop, &uc->timer, &uc->tkind, kind, ms, rearm);
}

static void x_free(struct fx_cconn *cc)
{
    struct fx_exch *x = cc->x;
    struct fx_worker *w = cc->w;
    fx_proxy__tunnel_fini(w, x);
    if (x->u != NULL) {
        x->u->owner = NULL;
        fx_proxy__uc_release(x->u, false, 0); /* a tunnel's connection is never pooled */
        x->u = NULL;
    }
    if (x->mirror != NULL) {
        bool ok = (x->flags & FX_X_F_RESP_DONE) && !(x->flags & FX_X_F_LOCAL) && x->error == NULL;
        fx_proxy__mirror_detach(x, ok);
    }
    fx_proxy__buf_put(w, &x->uhead);
    fx_proxy__buf_put(w, &x->chead);
    fx_proxy__wc_put(w, x->wc);
    FX_FREE(cc->x);
}

void fx_proxy__cc_close(struct fx_cconn *cc)
{
    if (cc->flags & FX_IO_F_CLOSED)
        return;
    struct fx_worker *w = cc->w;
    if (cc->x != NULL) {
        struct fx_exch *x = cc->x;
        fx_proxy__tunnel_fini(w, x);
        if (!(x->flags & FX_X_F_RESP_DONE) || x->chead.len > 0 || x->resp_ready > 0) {
            if (x->status == 0 || !(x->flags & FX_X_F_RESP_HEAD))
                x->status = 499;
            if (x->error == NULL)
                x->error = "client_closed";
        }
        fx_proxy__exch_account(w, cc, x);
        x_free(cc);
    }
    cc->flags |= FX_IO_F_CLOSED;
    fx_timer_del(&w->loop, &cc->timer);
    fx_loop_del(&w->loop, &cc->io);
    fx_tls_conn_shutdown(&cc->xp);
    fx_tls_conn_free(&cc->xp);
    (void)close(cc->io.fd);
    cc->io.fd = -1;
    cc->io.cb = on_dead_io;
    fx_proxy__buf_put(w, &cc->in);
    if (cc->prev != NULL)
        cc->prev->next = cc->next;
    else
        w->conns = cc->next;
    if (cc->next != NULL)
        cc->next->prev = cc->prev;
    cc->prev = NULL;
    cc->next = w->grave_c;
    w->grave_c = cc;
    atomic_fetch_sub(&w->sh->nconns, 1);
    atomic_store_explicit(&w->stats->client_conns,
                          atomic_load_explicit(&w->stats->client_conns, memory_order_relaxed) - 1,
                          memory_order_relaxed);
}

static void cc_on_timer(struct fx_timer *t);

static void cc_on_event(struct fx_io *io, uint32_t events)
{
    struct fx_cconn *cc = (struct fx_cconn *)io;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
        cc->flags |= FX_IO_F_READABLE;
    if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
        cc->flags |= FX_IO_F_HUP;
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        cc->flags |= FX_IO_F_WRITABLE;
    fx_proxy__cc_run(cc);
}

void fx_proxy__cc_accept(struct fx_worker *w, int fd, const struct sockaddr_storage *peer,
                         struct fx_tls_server *tls)
{
    struct fx_cconn *cc = calloc(1, sizeof(*cc));
    if (cc == NULL || (tls != NULL && fx_tls_conn_accept(tls, fd, &cc->xp) != 0)) {
        free(cc);
        (void)close(fd);
        atomic_fetch_sub(&w->sh->nconns, 1);
        return;
    }
    if (tls == NULL)
        cc->xp.ops = &fx_net_plain_ops;
    else
        cc->state = FX_CC_HANDSHAKE;
    cc->io.fd = fd;
    cc->io.cb = cc_on_event;
    /* Responses go out in several writes when the upstream delivers them in pieces:
     * without NODELAY, Nagle plus the client's delayed ACK stalls each one ~40 ms. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    cc->w = w;
    cc->peer = *peer;
    fx_timer_init(&cc->timer, cc_on_timer);
    if (peer->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)peer;
        (void)inet_ntop(AF_INET6, &s6->sin6_addr, cc->peer_ip, sizeof(cc->peer_ip));
        (void)snprintf(cc->peer_text, sizeof(cc->peer_text), "[%s]:%u", cc->peer_ip,
                       ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)peer;
        (void)inet_ntop(AF_INET, &s4->sin_addr, cc->peer_ip, sizeof(cc->peer_ip));
        (void)snprintf(cc->peer_text, sizeof(cc->peer_text), "%s:%u", cc->peer_ip,
                       ntohs(s4->sin_port));
    }
    if (fx_loop_add(&w->loop, &cc->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) != 0) {
        fx_tls_conn_free(&cc->xp);
        (void)close(fd);
        free(cc);
        atomic_fetch_sub(&w->sh->nconns, 1);
        return;
    }
    cc->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = cc;
    w->conns = cc;
    atomic_store_explicit(&w->stats->client_conns,
                          atomic_load_explicit(&w->stats->client_conns, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (cc->state == FX_CC_HANDSHAKE)
        cc_set_timer(cc, FX_TK_HANDSHAKE, cc_limits(cc)->handshake_timeout_ms, true);
    else
        cc_set_timer(cc, FX_TK_HEADER, cc_limits(cc)->client_header_timeout_ms, true);
    /* Data often arrives with the handshake: try at once instead of waiting for epoll. */
    cc->flags |= FX_IO_F_READABLE | FX_IO_F_WRITABLE;
    fx_proxy__cc_run(cc);
}

/* ---- local responses ---------------------------------------------------- */

static struct fx_exch *x_new(struct fx_cconn *cc)
{
    struct fx_exch *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    x->wc = fx_proxy__wc_get(cc->w);
    x->start_us = cc->w->loop.now_us;
    x->minor = 1;
    x->side = -1;
    cc->x = x;
    return x;
}

/* Queue a response generated by Ficus (after any pending 100 Continue). */
static void x_local(struct fx_cconn *cc, int status, const char *error, bool close_conn)
{
    struct fx_exch *x = cc->x;
    struct fx_worker *w = cc->w;
    if (x->u != NULL) {
        x->u->owner = NULL;
        fx_proxy__uc_release(x->u, false, 0);
        x->u = NULL;
    }
    x->resp_ready = 0;
    x->status = status;
    x->error = error;
    x->flags |= FX_X_F_LOCAL | FX_X_F_RESP_DONE | FX_X_F_RESP_HEAD;
    if (close_conn || !(x->flags & FX_X_F_REQ_DONE) || w->draining)
        x->flags |= FX_X_F_CLOSE;
    if (x->chead.data == NULL && fx_proxy__buf_get(w, &x->chead) != 0) {
        fx_proxy__cc_close(cc);
        return;
    }
    char body[128];
    int blen = snprintf(body, sizeof(body), "%d %s\n", status, fx_h1_reason(status));
    char head[512];
    int hlen =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nServer: ficus\r\nContent-Type: text/plain\r\n"
                 "Content-Length: %d\r\nX-Request-Id: %s\r\n%s\r\n",
                 status, fx_h1_reason(status), blen, x->request_id,
                 (x->flags & FX_X_F_CLOSE) ? "Connection: close\r\n"
                                           : (x->minor == 0 ? "Connection: keep-alive\r\n" : ""));
    if (hlen < 0 || blen < 0 || fx_buf_append(&x->chead, head, (size_t)hlen) != 0 ||
        (!(x->flags & FX_X_F_HEAD_REQ) && fx_buf_append(&x->chead, body, (size_t)blen) != 0)) {
        fx_proxy__cc_close(cc);
    }
}

static int reject_status(int rc)
{
    switch (rc) {
    case FX_ETOOLONG_LINE:
        return 414;
    case FX_ETOOLONG_HEAD:
    case FX_ETOOMANY:
        return 431;
    case FX_EVERSION:
        return 505;
    default:
        return 400;
    }
}

/* A request head that cannot be served: answer and close. */
static void cc_reject(struct fx_cconn *cc, int rc)
{
    if (x_new(cc) == NULL) {
        fx_proxy__cc_close(cc);
        return;
    }
    fx_proxy__rand_hex(cc->w, cc->x->request_id, 32);
    cc->x->flags |= FX_X_F_REQ_DONE;
    /* The head did not parse, but a HEAD request line is recognisable: its
     * answer must carry no body, or the client reads the body as the start of
     * the next response (RFC 9110 9.3.2). */
    if (cc->in.len >= 5 && memcmp(fx_buf_rptr(&cc->in), "HEAD ", 5) == 0)
        cc->x->flags |= FX_X_F_HEAD_REQ;
    cc->state = FX_CC_EXCH;
    x_local(cc, reject_status(rc), "bad_request", true);
}

/* ---- building the upstream request head ---------------------------------- */

static bool is_hop_by_hop(struct fx_str n)
{
    static const struct fx_str hop[] = {
        { "connection", 10 },       { "keep-alive", 10 },       { "te", 2 },
        { "upgrade", 7 },           { "proxy-connection", 16 }, { "expect", 6 },
        { "trailer", 7 },           { "x-forwarded-for", 15 },  { "x-forwarded-proto", 17 },
        { "x-forwarded-host", 16 },
    };
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
        if (fx_str_eqi(n, hop[i]))
            return true;
    }
    return n.len > 6 && fx_str_eqi((struct fx_str){ n.ptr, 6 }, FX_STR("proxy-"));
}

/* True when `name` is listed in one of the message's Connection headers. */
static bool named_in_connection(const struct fx_h1_header *hs, size_t n, struct fx_str name)
{
    for (size_t i = 0; i < n; i++) {
        if (!fx_str_eqi(hs[i].name, FX_STR("connection")))
            continue;
        struct fx_str list = hs[i].value;
        struct fx_str item;
        while (fx_h1_list_next(&list, &item)) {
            if (fx_str_eqi(item, name))
                return true;
        }
    }
    return false;
}

static bool put(struct fx_buf *b, const char *p, size_t n)
{
    return fx_buf_append(b, p, n) == 0;
}

static bool put_s(struct fx_buf *b, struct fx_str s)
{
    return put(b, s.ptr, s.len);
}

#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

static bool put_header(struct fx_buf *b, struct fx_str name, struct fx_str value)
{
    return put_s(b, name) && PUT_LIT(b, ": ") && put_s(b, value) && PUT_LIT(b, "\r\n");
}

/* X-Ficus-* names are Ficus's own (X-Ficus-Shadow marks a shadow copy, the
 * override header usually lives there too): a client could use one to make
 * the legacy app treat a real request as a copy and skip its side effects,
 * so no client-sent one is forwarded. */
static bool is_internal(struct fx_str n)
{
    return n.len >= 8 && fx_str_eqi((struct fx_str){ n.ptr, 8 }, FX_STR("x-ficus-"));
}

/* Whether route `r` (NULL: none) sets header `n`, replacing every client copy. */
static bool route_sets(const struct fx_conf_route *r, struct fx_str n)
{
    for (size_t i = 0; r != NULL && i < r->nset_headers; i++) {
        if (fx_str_eqi(n, fx_str_c(r->set_headers[i].name)))
            return true;
    }
    return false;
}

/* Whether route `r` (NULL: none) removes header `n`. */
static bool route_removes(const struct fx_conf_route *r, struct fx_str n)
{
    for (size_t i = 0; r != NULL && i < r->nremove_headers; i++) {
        if (fx_str_eqi(n, fx_str_c(r->remove_headers[i])))
            return true;
    }
    return false;
}

/* Copy the request's end-to-end headers, remembering the ones we extend;
 * then the route's set_headers. Client copies of a set or removed name are
 * all skipped, however many were sent and however they are spelled. */
static bool copy_req_headers(struct fx_buf *b, const struct fx_h1_req *req,
                             const struct fx_conf_route *r, struct fx_str *xff, bool *has_trace)
{
    bool strip_named = (req->flags & FX_H1_F_CONN_OTHER) != 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct fx_h1_header *h = &req->headers[i];
        if (fx_str_eqi(h->name, FX_STR("x-forwarded-for"))) {
            *xff = h->value; /* RFC 7239 style chains: only the last one is kept, then extended */
            continue;
        }
        if (is_hop_by_hop(h->name) || is_internal(h->name))
            continue;
        if (route_sets(r, h->name) || route_removes(r, h->name))
            continue;
        if (strip_named && named_in_connection(req->headers, req->nheaders, h->name))
            continue;
        if ((req->flags & FX_H1_F_ABSOLUTE_FORM) && fx_str_eqi(h->name, FX_STR("host")))
            continue;
        if (fx_str_eqi(h->name, FX_STR("traceparent")))
            *has_trace = true;
        if (!put_header(b, h->name, h->value))
            return false;
    }
    for (size_t i = 0; r != NULL && i < r->nset_headers; i++) {
        struct fx_str name = fx_str_c(r->set_headers[i].name);
        if (fx_str_eqi(name, FX_STR("traceparent")))
            *has_trace = true;
        if (!put_header(b, name, fx_str_c(r->set_headers[i].value)))
            return false;
    }
    return true;
}

static bool add_proxy_headers(struct fx_cconn *cc, const struct fx_h1_req *req, struct fx_str xff,
                              bool has_trace, bool had_rid)
{
    struct fx_exch *x = cc->x;
    struct fx_buf *b = &x->uhead;
    struct fx_str host = req->authority.len ? req->authority : req->host;
    if (host.len == 0)
        host = fx_str_c(x->srv->addr.text);
    bool own_host = (req->flags & FX_H1_F_ABSOLUTE_FORM) || req->host.len == 0;
    if (own_host && !route_sets(x->route, FX_STR("host"))) {
        if (!put_header(b, FX_STR("Host"), host))
            return false;
    }
    if (!PUT_LIT(b, "X-Forwarded-For: ") || (xff.len > 0 && !(put_s(b, xff) && PUT_LIT(b, ", "))) ||
        !put_s(b, fx_str_c(cc->peer_ip)) || !PUT_LIT(b, "\r\n"))
        return false;
    if ((x->flags & FX_X_F_UPGRADE) && !(PUT_LIT(b, "Connection: upgrade\r\n") &&
                                         put_header(b, FX_STR("Upgrade"), fx_str_c(x->upgrade))))
        return false;
    if ((fx_tls_conn_is(&cc->xp) ? !PUT_LIT(b, "X-Forwarded-Proto: https\r\n")
                                 : !PUT_LIT(b, "X-Forwarded-Proto: http\r\n")) ||
        !put_header(b, FX_STR("X-Forwarded-Host"), host) || !PUT_LIT(b, "Via: 1.1 ficus\r\n"))
        return false;
    if (!had_rid && !put_header(b, FX_STR("X-Request-Id"), fx_str_c(x->request_id)))
        return false;
    if (!has_trace) {
        char tp[96];
        char trace[33];
        char span[17];
        fx_proxy__rand_hex(cc->w, trace, 32);
        fx_proxy__rand_hex(cc->w, span, 16);
        int n = snprintf(tp, sizeof(tp), "traceparent: 00-%s-%s-01\r\n", trace, span);
        if (n < 0 || !put(b, tp, (size_t)n))
            return false;
    }
    return PUT_LIT(b, "\r\n");
}

/* Build "METHOD path HTTP/1.1" and the rewritten headers into x->uhead: the
 * route's strip_prefix, set_headers and remove_headers apply here, so the
 * upstream, a retry, the other migration side and the shadow copy (both
 * built from x->uhead) all get the same rewritten request. */
static bool build_uhead(struct fx_cconn *cc, const struct fx_h1_req *req)
{
    struct fx_exch *x = cc->x;
    struct fx_buf *b = &x->uhead;
    struct fx_str path = req->path;
    if (x->route != NULL && x->route->strip_prefix != NULL)
        path = fx_route_strip_prefix(x->route, path);
    bool slash = path.len == 0 || path.ptr[0] == '?'; /* "/api" or "/api?q" stripped */
    x->method_len = (uint16_t)(req->method.len < 65535 ? req->method.len : 65535);
    x->path_off = (uint32_t)req->method.len + 1;
    x->path_len = (uint32_t)(path.len + slash);
    if (!put_s(b, req->method) || !PUT_LIT(b, " ") || (slash && !PUT_LIT(b, "/")) ||
        !put_s(b, path) || !PUT_LIT(b, " HTTP/1.1\r\n"))
        return false;
    if (x->srv == NULL)
        return true; /* no route: the request line is kept for the access log only */
    struct fx_str xff = { NULL, 0 };
    bool has_trace = false;
    bool had_rid = (x->flags & FX_X_F_HAD_RID) != 0 || route_sets(x->route, FX_STR("x-request-id"));
    if (!copy_req_headers(b, req, x->route, &xff, &has_trace))
        return false;
    return add_proxy_headers(cc, req, xff, has_trace, had_rid);
}

static bool is_idempotent(struct fx_str m)
{
    return fx_str_eq(m, FX_STR("GET")) || fx_str_eq(m, FX_STR("HEAD")) ||
           fx_str_eq(m, FX_STR("OPTIONS")) || fx_str_eq(m, FX_STR("PUT")) ||
           fx_str_eq(m, FX_STR("DELETE")) || fx_str_eq(m, FX_STR("TRACE"));
}

static void find_request_id(struct fx_exch *x, const struct fx_h1_req *req)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct fx_h1_header *h = &req->headers[i];
        if (!fx_str_eqi(h->name, FX_STR("x-request-id")))
            continue;
        x->flags |= FX_X_F_HAD_RID; /* forwarded as sent, whatever its length */
        if (h->value.len > 0 && h->value.len <= 64) {
            memcpy(x->request_id, h->value.ptr, h->value.len);
            x->request_id[h->value.len] = '\0';
        }
        return;
    }
}

static void x_init_from_req(struct fx_cconn *cc, struct fx_exch *x, const struct fx_h1_req *req,
                            size_t head_len)
{
    x->bytes_in = head_len;
    x->minor = req->minor;
    if (fx_str_eq(req->method, FX_STR("HEAD")))
        x->flags |= FX_X_F_HEAD_REQ;
    if (is_idempotent(req->method))
        x->flags |= FX_X_F_IDEMPOTENT;
    if ((req->minor == 1 && (req->flags & FX_H1_F_CONN_CLOSE)) ||
        (req->minor == 0 && !(req->flags & FX_H1_F_CONN_KEEPALIVE)) || cc->w->draining)
        x->flags |= FX_X_F_CLOSE;
    x->req_mode = req->body;
    x->req_left = req->content_length;
    if (x->req_mode == FX_H1_BODY_CHUNKED)
        fx_h1_chunked_init(&x->req_ch);
    if (x->req_mode == FX_H1_BODY_NONE || (x->req_mode == FX_H1_BODY_LENGTH && x->req_left == 0)) {
        x->req_mode = FX_H1_BODY_NONE;
        x->flags |= FX_X_F_REQ_DONE;
    }
    find_request_id(x, req);
    if (fx_proxy_upgrade_filter(req, &x->wc->conf->upgrade, x->upgrade, sizeof(x->upgrade)) > 0)
        x->flags |= FX_X_F_UPGRADE;
}

/* Whether a failed connect() is the server's fault (it refused, or cannot be
 * reached), as opposed to this host running out of sockets or ports. */
static bool connect_errno_is_server(int e)
{
    return e == ECONNREFUSED || e == ENETUNREACH || e == EHOSTUNREACH || e == ETIMEDOUT ||
           e == ECONNRESET || e == ENETDOWN || e == EHOSTDOWN;
}

/* x->srv could not be connected (`why`): nothing was sent, so any method may go
 * to another server. Ejects the server; returns true with x->srv set to the
 * next server to try, false once every server of the upstream failed. */
static bool x_next_server(struct fx_cconn *cc, const char *why)
{
    struct fx_exch *x = cc->x;
    size_t i = (size_t)(x->srv - x->up->servers);
    fx_proxy__srv_failed(cc->w, x->up, x->srv, why);
    x->srv_tried |= (uint64_t)1 << (i % 64);
    x->connect_fails++;
    if ((size_t)x->connect_fails >= x->up->nservers || x->connect_fails >= 64)
        return false;
    x->srv = fx_proxy__srv_pick(cc->w, x->up, x->srv, x->srv_tried);
    return true;
}

static struct fx_uconn *x_connect(struct fx_cconn *cc, bool fresh)
{
    struct fx_exch *x = cc->x;
    struct fx_uconn *uc;
    while ((uc = fx_proxy__uc_get(cc->w, x->srv, x->up, cc, fresh)) == NULL) {
        int e = errno;
        atomic_fetch_add_explicit(&cc->w->stats->connect_errors[x->up->id], 1,
                                  memory_order_relaxed);
        if (!connect_errno_is_server(e) || !x_next_server(cc, strerrorname_np(e)))
            return NULL;
        fresh = true;
    }
    if (uc->flags & FX_UCONN_F_CONNECTING)
        uc_set_timer(uc, FX_TK_CONNECT, x->up->connect_timeout_ms, true);
    else
        uc_set_timer(uc, FX_TK_READ, x->up->read_timeout_ms, true);
    x->u = uc;
    return uc;
}

/* Normalise req->path (configuration `paths`) in place in cc->in, where it
 * was parsed: the result is never longer, and the head is consumed once the
 * exchange starts, so no copy is needed. Routing, the sticky key, the
 * upstream request line, the shadow copy and the access log then all see the
 * same bytes. req->target keeps the stale view. "/" (also absolute-form
 * without a path, a static string), "*" and CONNECT's authority-form are left
 * alone. Returns 0 or FX_EPARSE (malformed %XX, above the root: 400). */
static int normalize_req_path(struct fx_cconn *cc, struct fx_h1_req *req)
{
    unsigned int flags = cc->w->wc->conf->paths.flags;
    if (flags == 0 || req->path.len < 2 || req->path.ptr[0] != '/')
        return 0;
    char *p = fx_buf_rptr(&cc->in) + (req->path.ptr - fx_buf_rptr(&cc->in));
    size_t n = req->path.len;
    int rc = fx_h1_path_normalize(p, req->path.len, p, req->path.len, flags, &n);
    if (rc != 0)
        return FX_EPARSE;
    req->path.len = n;
    return 0;
}

/* A complete request head of `head_len` bytes is at the front of cc->in. */
static void cc_start_exchange(struct fx_cconn *cc, size_t head_len)
{
    struct fx_worker *w = cc->w;
    const struct fx_h1_req *req = &w->req;
    int rc = normalize_req_path(cc, &w->req);
    if (rc != 0) {
        cc_reject(cc, rc);
        return;
    }
    struct fx_exch *x = x_new(cc);
    if (x == NULL || fx_proxy__buf_get(w, &x->uhead) != 0) {
        fx_proxy__cc_close(cc);
        return;
    }
    cc->state = FX_CC_EXCH;
    cc_set_timer(cc, FX_TK_NONE, 0, false);
    x_init_from_req(cc, x, req, head_len);
    if (x->request_id[0] == '\0')
        fx_proxy__rand_hex(w, x->request_id, 32);
    x->route = fx_route_pick(x->wc->conf, req, &w->route);
    if (x->route != NULL && (x->flags & FX_X_F_HAD_RID) &&
        route_removes(x->route, FX_STR("x-request-id"))) {
        x->flags &= ~FX_X_F_HAD_RID; /* the client's id is dropped: Ficus makes its own */
        fx_proxy__rand_hex(w, x->request_id, 32);
    }
    if (x->route != NULL) {
        x->up = x->route->to;
        if (x->route->migrate != NULL)
            pick_side(cc, x, req);
        x->srv = fx_proxy__srv_pick(w, x->up, NULL, 0);
    }
    bool mirror = x->route != NULL && x->route->shadow != NULL && mirror_sampled(cc, x->route, req);
    bool ok = build_uhead(cc, req);
    bool expect =
        (req->flags & FX_H1_F_EXPECT_100) && req->minor == 1 && !(x->flags & FX_X_F_REQ_DONE);
    fx_buf_consume(&cc->in, head_len);
    cc->scanned = 0;
    if (!ok) {
        x_local(cc, 431, "bad_request", true);
        return;
    }
    if (fx_str_eq(req->method, FX_STR("CONNECT"))) {
        x_local(cc, 405, "method_not_allowed", true);
        return;
    }
    if (x->route == NULL && w->route.error != 0) {
        /* A path_regex hit its match limit: which route claims this request is
         * unknown, so no later (perhaps less guarded) route may take it. */
        x_local(cc, 500, "route_match_limit", false);
        return;
    }
    if (x->route == NULL) {
        x_local(cc, 404, "no_route", false);
        return;
    }
    if (expect && (fx_proxy__buf_get(w, &x->chead) != 0 ||
                   !PUT_LIT(&x->chead, "HTTP/1.1 100 Continue\r\n\r\n"))) {
        fx_proxy__cc_close(cc);
        return;
    }
    if (mirror)
        fx_proxy__mirror_begin(cc, x);
    if (x_connect(cc, false) == NULL)
        x_local(cc, 502, "upstream_connect_failed", false);
}

/* ---- migration: which side serves the request ---------------------------------- */

static bool cidr_match(const struct fx_cidr *c, const struct sockaddr_storage *peer)
{
    const unsigned char *a;
    if (peer->ss_family == AF_INET && c->family == AF_INET)
        a = (const unsigned char *)&((const struct sockaddr_in *)(const void *)peer)->sin_addr;
    else if (peer->ss_family == AF_INET6 && c->family == AF_INET6)
        a = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr;
    else
        return false;
    unsigned int full = c->prefix / 8;
    unsigned int rest = c->prefix % 8;
    if (memcmp(a, c->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (a[full] & mask) == (c->addr[full] & mask);
}

static struct fx_str find_header(const struct fx_h1_req *req, struct fx_str name)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (fx_str_eqi(req->headers[i].name, name))
            return req->headers[i].value;
    }
    return (struct fx_str){ NULL, 0 };
}

/* Value of `name` in a "k=v<sep>k=v" list (cookies with ';', query with '&'). */
static struct fx_str find_pair(struct fx_str list, struct fx_str name, char sep)
{
    size_t i = 0;
    while (i < list.len) {
        while (i < list.len && (list.ptr[i] == ' ' || list.ptr[i] == sep))
            i++;
        size_t start = i;
        while (i < list.len && list.ptr[i] != sep)
            i++;
        struct fx_str item = { list.ptr + start, i - start };
        const char *eq = memchr(item.ptr, '=', item.len);
        if (eq != NULL && fx_str_eq((struct fx_str){ item.ptr, (size_t)(eq - item.ptr) }, name))
            return (struct fx_str){ eq + 1, item.len - (size_t)(eq - item.ptr) - 1 };
    }
    return (struct fx_str){ NULL, 0 };
}

static struct fx_str sticky_key(const struct fx_cconn *cc, const struct fx_h1_req *req,
                                const struct fx_conf_migrate *m)
{
    struct fx_str name = fx_str_c(m->sticky_name);
    switch (m->sticky) {
    case FX_STICKY_HEADER:
        return find_header(req, name);
    case FX_STICKY_COOKIE:
        for (size_t i = 0; i < req->nheaders; i++) {
            if (!fx_str_eqi(req->headers[i].name, FX_STR("cookie")))
                continue;
            struct fx_str v = find_pair(req->headers[i].value, name, ';');
            if (v.len > 0)
                return v;
        }
        return (struct fx_str){ NULL, 0 };
    case FX_STICKY_QUERY: {
        const char *q = memchr(req->path.ptr, '?', req->path.len);
        if (q == NULL)
            return (struct fx_str){ NULL, 0 };
        size_t off = (size_t)(q - req->path.ptr) + 1;
        return find_pair((struct fx_str){ q + 1, req->path.len - off }, name, '&');
    }
    case FX_STICKY_IP:
        return fx_str_c(cc->peer_ip);
    default:
        return (struct fx_str){ NULL, 0 };
    }
}

/* Pinned side from the override header, or -1. */
static int override_side(const struct fx_cconn *cc, const struct fx_h1_req *req,
                         const struct fx_conf_route *r)
{
    const struct fx_conf_migrate *m = r->migrate;
    if (m->override_header == NULL)
        return -1;
    struct fx_str v = find_header(req, fx_str_c(m->override_header));
    if (v.len == 0)
        return -1;
    bool allowed = false;
    for (size_t i = 0; i < m->noverride_from && !allowed; i++)
        allowed = cidr_match(&m->override_from[i], &cc->peer);
    if (!allowed)
        return -1;
    if (fx_str_eqi(v, FX_STR("new")) || fx_str_eq(v, fx_str_c(m->to_name)))
        return FX_SIDE_NEW;
    if (fx_str_eqi(v, FX_STR("legacy")) || fx_str_eq(v, fx_str_c(r->to_name)))
        return FX_SIDE_LEGACY;
    return -1;
}

/* Whether this request is copied to the route's shadow: by the sticky key when
 * the route has one (a user is always or never copied), else at random. The
 * key's bucket is permuted first (6151 is coprime with 10000) so that the
 * copied users are not the ones the migration moved first. */
static bool mirror_sampled(struct fx_cconn *cc, const struct fx_conf_route *r,
                           const struct fx_h1_req *req)
{
    uint32_t bp = r->shadow->sample_bp;
    if (bp >= FX_MIG_BUCKETS)
        return true;
    if (bp == 0)
        return false;
    struct fx_str key = { NULL, 0 };
    if (r->migrate != NULL)
        key = sticky_key(cc, req, r->migrate);
    uint32_t b;
    if (key.len > 0)
        b = (uint32_t)(((uint64_t)fx_mig_bucket(key.ptr, key.len) * 6151u + 3001u) %
                       FX_MIG_BUCKETS);
    else
        b = (uint32_t)(fx_proxy__rand_u64(cc->w) % FX_MIG_BUCKETS);
    return b < bp;
}

static void pick_side(struct fx_cconn *cc, struct fx_exch *x, const struct fx_h1_req *req)
{
    const struct fx_conf_route *r = x->route;
    int side = override_side(cc, req, r);
    x->pinned = side >= 0;
    if (side < 0) {
        uint32_t w = atomic_load_explicit(&cc->w->sh->mig[r->id].weight_bp, memory_order_relaxed);
        struct fx_str key = sticky_key(cc, req, r->migrate);
        uint32_t b;
        if (key.len > 0) {
            b = fx_mig_bucket(key.ptr, key.len);
        } else {
            b = (uint32_t)(fx_proxy__rand_u64(cc->w) % FX_MIG_BUCKETS);
        }
        side = fx_mig_is_new(b, w) ? FX_SIDE_NEW : FX_SIDE_LEGACY;
    }
    x->side = side;
    x->up = side == FX_SIDE_NEW ? r->migrate->to : r->to;
}

/* ---- the head state ----------------------------------------------------- */

static bool cc_step_head(struct fx_cconn *cc)
{
    struct fx_worker *w = cc->w;
    if (cc->in.len > 0) {
        const struct fx_conf_limits *lim = cc_limits(cc);
        struct fx_h1_limits hl = { lim->header_bytes, lim->header_bytes, lim->max_headers };
        int rc = fx_h1_parse_req(fx_buf_rptr(&cc->in), cc->in.len, &w->req, &cc->scanned, &hl);
        if (rc > 0) {
            cc_start_exchange(cc, (size_t)rc);
            return true;
        }
        if (rc != FX_EAGAIN) {
            cc_reject(cc, rc);
            return true;
        }
        cc_set_timer(cc, FX_TK_HEADER, lim->client_header_timeout_ms, false);
    } else if (w->draining && fx_proxy__cc_drain_idle(cc)) {
        fx_proxy__cc_close(cc);
        return false;
    }
    if (!(cc->flags & FX_IO_F_READABLE))
        return false;
    ssize_t n = io_read(w, &cc->xp, &cc->io, &cc->flags, &cc->in);
    if (n < 0) {
        fx_proxy__cc_close(cc);
        return false;
    }
    return n > 0;
}

/* TLS listener: drive the handshake; the request-head deadline starts once
 * it completes (limits.handshake_timeout bounds the handshake alone). */
static bool cc_step_handshake(struct fx_cconn *cc)
{
    if (!(cc->flags & (FX_IO_F_READABLE | FX_IO_F_WRITABLE)))
        return false;
    enum fx_tls_fail why = FX_TLS_FAIL_BAD_MESSAGE;
    int rc = fx_tls_conn_handshake(&cc->xp, &why);
    if (rc == FX_IO_WANT_READ) {
        cc->flags &= ~FX_IO_F_READABLE;
        return false;
    }
    if (rc == FX_IO_WANT_WRITE) {
        cc->flags &= ~FX_IO_F_WRITABLE;
        return false;
    }
    if (rc != 0) {
        fx_tls_stats_fail(&cc->w->stats->tls, why);
        fx_proxy__cc_close(cc);
        return false;
    }
    fx_tls_stats_handshake(&cc->w->stats->tls, &cc->xp);
    cc->state = FX_CC_HEAD;
    cc_set_timer(cc, FX_TK_HEADER, cc_limits(cc)->client_header_timeout_ms, true);
    cc->flags |= FX_IO_F_READABLE; /* the request may have come with the last flight */
    return true;
}

void fx_proxy__cc_run(struct fx_cconn *cc)
{
    for (int i = 0; i < 10000; i++) {
        if (cc->flags & FX_IO_F_CLOSED)
            return;
        bool progress = cc->state == FX_CC_HEAD        ? cc_step_head(cc)
                        : cc->state == FX_CC_LINGER    ? cc_step_linger(cc)
                        : cc->state == FX_CC_HANDSHAKE ? cc_step_handshake(cc)
                        : cc->state == FX_CC_TUNNEL    ? fx_proxy__tunnel_step(cc)
                                                       : x_step(cc);
        if (!progress)
            break;
    }
    if (!(cc->flags & FX_IO_F_CLOSED) && cc->state == FX_CC_HEAD && cc->in.len == 0 &&
        cc->in.data != NULL)
        fx_proxy__buf_put(cc->w, &cc->in); /* idle keep-alive connections hold no buffer */
}

/* ---- the exchange: client -> upstream ------------------------------------ */

typedef void body_sink_fn(struct fx_exch *x, const char *p, size_t n);

/* Run the chunked decoder `ch` over b's readable bytes from offset *ready on.
 * The bytes to forward are compacted in one pass so that they end at the new
 * *ready: chunk extensions are always dropped (never forwarded, as HAProxy
 * does, so no recipient's reading of them matters), and with `payload_only`
 * all framing is dropped too (de-chunking for HTTP/1.0 clients). Payload
 * spans go to `sink` when set. Each byte moves at most once per call, so a
 * body of tiny chunks costs linear time. *raw gets the bytes consumed from
 * the wire. Returns the decoder's last code (1 done, 0 more, FX_ECHUNK). */
static int chunked_pass(struct fx_exch *x, struct fx_h1_chunked *ch, struct fx_buf *b,
                        size_t *ready, bool payload_only, body_sink_fn *sink, size_t *raw)
{
    char *base = fx_buf_rptr(b);
    size_t r = *ready;
    size_t wr = *ready;
    int rc = 0;
    while (rc == 0 && r < b->len) {
        size_t used = 0;
        struct fx_str data = { NULL, 0 };
        rc = fx_h1_chunked_step(ch, base + r, b->len - r, &used, &data);
        if (rc < 0)
            break;
        if (sink != NULL && data.len > 0)
            sink(x, data.ptr, data.len);
        const char *keep = payload_only ? data.ptr : base + r;
        size_t klen = payload_only ? data.len : used - ch->ext_span;
        if (klen > 0 && keep != base + wr)
            memmove(base + wr, keep, klen);
        wr += klen;
        r += used;
    }
    *raw = r - *ready;
    if (r > wr) {
        memmove(base + wr, base + r, b->len - r);
        b->len -= r - wr;
    }
    *ready = wr;
    return rc;
}

/* A malformed request chunk: a 400 and close, unless the upstream answered
 * early and its response is being relayed: a 400 now would land inside it,
 * so the connection is cut instead. */
static void x_req_bad_chunk(struct fx_cconn *cc)
{
    if (cc->x->flags & FX_X_F_RESP_HEAD) {
        cc->x->error = "bad_request";
        fx_proxy__cc_close(cc);
        return;
    }
    x_local(cc, 400, "bad_request", true);
}

/* Validate body bytes already buffered; read more when useful. */
static bool x_req_recv(struct fx_cconn *cc)
{
    struct fx_exch *x = cc->x;
    bool progress = false;
    if (x->flags & FX_X_F_REQ_DONE)
        return false;
    size_t avail = cc->in.len - x->req_ready;
    if (avail > 0 && x->req_mode == FX_H1_BODY_LENGTH) {
        size_t n = avail < x->req_left ? avail : (size_t)x->req_left;
        if (x->mirror != NULL)
            fx_proxy__mirror_req_body(x, fx_buf_rptr(&cc->in) + x->req_ready, n);
        x->req_ready += n;
        x->req_left -= n;
        x->bytes_in += n;
        if (x->req_left == 0)
            x->flags |= FX_X_F_REQ_DONE;
    } else if (avail > 0) {
        size_t raw = 0;
        int rc = chunked_pass(x, &x->req_ch, &cc->in, &x->req_ready, false,
                              x->mirror != NULL ? fx_proxy__mirror_req_body : NULL, &raw);
        x->bytes_in += raw;
        if (rc < 0) {
            x_req_bad_chunk(cc);
            return true;
        }
        if (rc == 1)
            x->flags |= FX_X_F_REQ_DONE;
    }
    if (x->flags & FX_X_F_REQ_DONE)
        return true;
    const struct fx_conf_limits *lim = &x->wc->conf->limits;
    if (cc->in.data != NULL && cc->in.len == cc->in.cap)
        cc_set_timer(cc, FX_TK_NONE, 0, false); /* waiting for the upstream to take the body */
    else if (cc->tkind == FX_TK_NONE)
        cc_set_timer(cc, FX_TK_BODY, lim->client_body_timeout_ms, true);
    if (!(cc->flags & FX_IO_F_READABLE))
        return progress;
    ssize_t n = io_read(cc->w, &cc->xp, &cc->io, &cc->flags, &cc->in);
    if (n < 0) {
        x->error = "client_closed";
        fx_proxy__cc_close(cc);
        return false;
    }
    if (n > 0)
        cc_set_timer(cc, FX_TK_BODY, lim->client_body_timeout_ms, true);
    return n > 0;
}

/* The connect of x->u failed (`why`): start one to the next server of the
 * upstream. False when none is left or it cannot start (the caller answers). */
static bool x_connect_retry(struct fx_cconn *cc, const char *why)
{
    struct fx_exch *x = cc->x;
    if (!x_next_server(cc, why))
        return false;
    if (x->u != NULL) {
        x->u->owner = NULL;
        fx_proxy__uc_release(x->u, false, 0);
        x->u = NULL;
    }
    x->uhead_sent = 0;
    return x_connect(cc, true) != NULL;
}

static void x_upstream_failed(struct fx_cconn *cc, int status, const char *error)
{
    struct fx_exch *x = cc->x;
    if (x->flags & FX_X_F_RESP_HEAD) {
        x->error = error;
        fx_proxy__cc_close(cc); /* mid-response: cut the client cleanly */
        return;
    }
    x_local(cc, status, error, false);
}

static bool uc_check_connected(struct fx_cconn *cc, struct fx_uconn *uc)
{
    if (!(uc->flags & FX_UCONN_F_CONNECTING))
        return true;
    if (!(uc->flags & (FX_IO_F_WRITABLE | FX_IO_F_READABLE)))
        return false;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    struct fx_exch *x = cc->x;
    if (getsockopt(uc->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        atomic_fetch_add_explicit(&cc->w->stats->connect_errors[x->up->id], 1,
                                  memory_order_relaxed);
        if (!x_connect_retry(cc, soerr != 0 ? strerrorname_np(soerr) : "getsockopt"))
            x_upstream_failed(cc, 502, "upstream_connect_failed");
        return false;
    }
    fx_proxy__srv_ok(cc->w, x->up, x->srv);
    uc->flags &= ~FX_UCONN_F_CONNECTING;
    uc_set_timer(uc, FX_TK_READ, cc->x->up->read_timeout_ms, true);
    return true;
}

static bool x_req_send(struct fx_cconn *cc)
{
    struct fx_exch *x = cc->x;
    struct fx_uconn *uc = x->u;
    if (uc == NULL || (x->flags & FX_X_F_REQ_SENT) || !uc_check_connected(cc, uc))
        return false;
    x->connect_us = x->connect_us ? x->connect_us : cc->w->loop.now_us; /* access log */
    if (cc->flags & FX_IO_F_CLOSED || x->u == NULL)
        return true;
    size_t hl = x->uhead.len - x->uhead_sent;
    if (hl == 0 && x->req_ready == 0) {
        if (x->flags & FX_X_F_REQ_DONE)
            x->flags |= FX_X_F_REQ_SENT;
        return false;
    }
    if (!(uc->flags & FX_IO_F_WRITABLE))
        return false;
    ssize_t n = io_write2(&uc->xp, uc->io.fd, &uc->flags, fx_buf_rptr(&x->uhead) + x->uhead_sent,
                          hl, fx_buf_rptr(&cc->in), x->req_ready);
    if (n < 0) {
        uc->flags |= FX_IO_F_EOF;
        return true; /* the response side reports the reset (or retries) */
    }
    size_t sent = (size_t)n;
    size_t h = sent < hl ? sent : hl;
    x->uhead_sent += h;
    sent -= h;
    if (sent > 0) {
        fx_buf_consume(&cc->in, sent);
        x->req_ready -= sent;
    }
    if (x->uhead_sent == x->uhead.len && x->req_ready == 0 && (x->flags & FX_X_F_REQ_DONE))
        x->flags |= FX_X_F_REQ_SENT;
    if (!(uc->flags & FX_IO_F_WRITABLE))
        uc_set_timer(uc, FX_TK_SEND, x->up->send_timeout_ms, n > 0);
    else if (uc->tkind == FX_TK_SEND)
        uc_set_timer(uc, FX_TK_READ, x->up->read_timeout_ms, true);
    return n > 0;
}

/* ---- the exchange: upstream -> client ------------------------------------ */

static bool resp_header_keep(const struct fx_h1_resp *r, struct fx_str n, bool dechunk)
{
    if (fx_str_eqi(n, FX_STR("connection")) || fx_str_eqi(n, FX_STR("keep-alive")) ||
        fx_str_eqi(n, FX_STR("te")) || fx_str_eqi(n, FX_STR("upgrade")) ||
        fx_str_eqi(n, FX_STR("proxy-connection")))
        return false;
    if (dechunk && fx_str_eqi(n, FX_STR("transfer-encoding")))
        return false;
    if (n.len > 6 && fx_str_eqi((struct fx_str){ n.ptr, 6 }, FX_STR("proxy-")))
        return false;
    if ((r->flags & FX_H1_F_CONN_OTHER) && named_in_connection(r->headers, r->nheaders, n))
        return false;
    return true;
}

static bool build_chead(struct fx_cconn *cc, const struct fx_h1_resp *r)
{
    struct fx_exch *x = cc->x;
    struct fx_buf *b = &x->chead;
    if (b->data == NULL && fx_proxy__buf_get(cc->w, b) != 0)
        return false;
    char line[64];
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %d ", r->status);
    if (n < 0 || !put(b, line, (size_t)n) || !put_s(b, r->reason) || !PUT_LIT(b, "\r\n"))
        return false;
    bool dechunk = (x->flags & FX_X_F_DECHUNK) != 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        bool up = r->status == 101 && fx_str_eqi(r->headers[i].name, FX_STR("upgrade"));
        if ((up || resp_header_keep(r, r->headers[i].name, dechunk)) &&
            !put_header(b, r->headers[i].name, r->headers[i].value))
            return false;
    }
    if (r->status == 101) {
        if (!PUT_LIT(b, "Connection: upgrade\r\n"))
            return false;
    } else if (x->flags & FX_X_F_CLOSE) {
        if (!PUT_LIT(b, "Connection: close\r\n"))
            return false;
    } else if (x->minor == 0 && !PUT_LIT(b, "Connection: keep-alive\r\n")) {
        return false;
    }
    return PUT_LIT(b, "\r\n");
}

static void x_resp_head(struct fx_cconn *cc, const struct fx_h1_resp *r)
{
    struct fx_exch *x = cc->x;
    struct fx_str method = { fx_buf_rptr(&x->uhead), x->method_len };
    x->header_us = cc->w->loop.now_us; /* access log */
    x->status = r->status;
    x->resp_mode = fx_h1_resp_body(r, method);
    x->resp_left = r->content_length;
    if (r->minor == 1 && !(r->flags & FX_H1_F_CONN_CLOSE) && x->resp_mode != FX_H1_BODY_EOF)
        x->flags |= FX_X_F_UP_REUSABLE;
    if (x->resp_mode == FX_H1_BODY_CHUNKED) {
        fx_h1_chunked_init(&x->resp_ch);
        if (x->minor == 0)
            x->flags |= FX_X_F_DECHUNK | FX_X_F_CLOSE;
    }
    if (x->resp_mode == FX_H1_BODY_EOF || !(x->flags & FX_X_F_REQ_DONE) || cc->w->draining)
        x->flags |= FX_X_F_CLOSE;
    if (x->resp_mode == FX_H1_BODY_NONE || (x->resp_mode == FX_H1_BODY_LENGTH && x->resp_left == 0))
        x->flags |= FX_X_F_RESP_DONE;
    if (!build_chead(cc, r)) {
        x_upstream_failed(cc, 502, "upstream_bad_response");
        return;
    }
    x->flags |= FX_X_F_RESP_HEAD;
    if (x->mirror != NULL)
        fx_proxy__mirror_resp_head(x, r);
}

/* A 101: a tunnel when it answers the Upgrade the request forwarded; else a
 * 502 and the upstream connection is closed (closing the client too when it
 * asked for an upgrade: it may already be sending the new protocol). */
static void x_resp_switch(struct fx_cconn *cc, struct fx_uconn *uc, const struct fx_h1_resp *r,
                          size_t head_len)
{
    struct fx_exch *x = cc->x;
    bool asked = (x->flags & FX_X_F_UPGRADE) != 0;
    if (!fx_proxy_upgrade_answer_ok(x->upgrade, r)) {
        x_local(cc, 502, asked ? "upstream_bad_upgrade" : "upstream_unexpected_101", asked);
        return;
    }
    x->header_us = cc->w->loop.now_us;
    x->status = 101;
    if (!build_chead(cc, r)) {
        x_local(cc, 502, "upstream_bad_response", true);
        return;
    }
    fx_buf_consume(&uc->in, head_len);
    fx_proxy__tunnel_start(cc);
}

static bool x_retry(struct fx_cconn *cc)
{
    struct fx_exch *x = cc->x;
    if ((x->flags & FX_X_F_RETRIED) || !(x->u->flags & FX_UCONN_F_REUSED) ||
        !(x->flags & FX_X_F_IDEMPOTENT) || x->req_mode != FX_H1_BODY_NONE)
        return false;
    x->u->owner = NULL;
    fx_proxy__uc_release(x->u, false, 0);
    x->u = NULL;
    x->flags |= FX_X_F_RETRIED;
    x->flags &= ~FX_X_F_REQ_SENT;
    x->uhead_sent = 0;
    x->resp_scanned = 0;
    if (x_connect(cc, true) == NULL)
        x_local(cc, 502, "upstream_connect_failed", false);
    return true;
}

/* Parse the response head from u->in; 1xx interim responses are dropped. */
static bool x_resp_parse(struct fx_cconn *cc, struct fx_uconn *uc)
{
    struct fx_exch *x = cc->x;
    struct fx_h1_resp *r = &cc->w->resp;
    const struct fx_conf_limits *lim = &x->wc->conf->limits;
    struct fx_h1_limits hl = { uc->in.cap - 2048, uc->in.cap, lim->max_headers };
    while (uc->in.len > 0) {
        int rc = fx_h1_parse_resp(fx_buf_rptr(&uc->in), uc->in.len, r, &x->resp_scanned, &hl);
        if (rc == FX_EAGAIN)
            break;
        if (rc == FX_ESMUGGLE) {
            /* Ambiguous framing: nothing of this connection can be trusted. The
             * client gets a 502 and a fresh connection for what follows. */
            x_local(cc, 502, "upstream_bad_response", true);
            return true;
        }
        if (rc < 0) {
            x_upstream_failed(cc, 502, "upstream_bad_response");
            return true;
        }
        if (r->status == 101) {
            x_resp_switch(cc, uc, r, (size_t)rc);
            return true;
        }
        x->resp_scanned = 0;
        if (r->status >= 100 && r->status < 200) {
            fx_buf_consume(&uc->in, (size_t)rc);
            continue;
        }
        x_resp_head(cc, r);
        if (!(cc->flags & FX_IO_F_CLOSED) && !(x->flags & FX_X_F_LOCAL))
            fx_buf_consume(&uc->in, (size_t)rc);
        return true;
    }
    if (!(uc->flags & FX_IO_F_EOF))
        return false;
    if (uc->in.len == 0 && x_retry(cc))
        return true;
    x_upstream_failed(cc, 502, uc->in.len ? "upstream_bad_response" : "upstream_reset");
    return true;
}

static void resp_chunked(struct fx_cconn *cc, struct fx_uconn *uc)
{
    struct fx_exch *x = cc->x;
    bool dechunk = (x->flags & FX_X_F_DECHUNK) != 0;
    size_t raw = 0;
    int rc = chunked_pass(x, &x->resp_ch, &uc->in, &x->resp_ready, dechunk,
                          x->mirror != NULL ? fx_proxy__mirror_resp_body : NULL, &raw);
    if (rc < 0) {
        x->error = "upstream_bad_response";
        x->flags &= ~FX_X_F_UP_REUSABLE;
        uc->flags |= FX_IO_F_EOF;
    }
    if (rc == 1) {
        x->flags |= FX_X_F_RESP_DONE;
        if (uc->in.len > x->resp_ready) {
            uc->in.len = x->resp_ready; /* bytes after the message: the connection is unusable */
            x->flags &= ~FX_X_F_UP_REUSABLE;
        }
    }
}

static void x_resp_body(struct fx_cconn *cc, struct fx_uconn *uc)
{
    struct fx_exch *x = cc->x;
    if (x->flags & FX_X_F_RESP_DONE) {
        if (uc->in.len > x->resp_ready) {
            uc->in.len = x->resp_ready;
            x->flags &= ~FX_X_F_UP_REUSABLE;
        }
        return;
    }
    size_t avail = uc->in.len - x->resp_ready;
    if (x->resp_mode == FX_H1_BODY_LENGTH) {
        if (avail > x->resp_left) {
            uc->in.len = x->resp_ready + (size_t)x->resp_left; /* larger than declared */
            x->flags &= ~FX_X_F_UP_REUSABLE;
            avail = (size_t)x->resp_left;
        }
        if (x->mirror != NULL)
            fx_proxy__mirror_resp_body(x, fx_buf_rptr(&uc->in) + x->resp_ready, avail);
        x->resp_ready += avail;
        x->resp_left -= avail;
        if (x->resp_left == 0)
            x->flags |= FX_X_F_RESP_DONE;
    } else if (x->resp_mode == FX_H1_BODY_CHUNKED) {
        resp_chunked(cc, uc);
    } else {
        if (x->mirror != NULL)
            fx_proxy__mirror_resp_body(x, fx_buf_rptr(&uc->in) + x->resp_ready, avail);
        x->resp_ready += avail;
        if (uc->flags & FX_IO_F_EOF)
            x->flags |= FX_X_F_RESP_DONE;
    }
    if (!(x->flags & FX_X_F_RESP_DONE) && (uc->flags & FX_IO_F_EOF)) {
        /* Truncated: send what we have, then cut the client connection. */
        x->error = x->error ? x->error : "upstream_reset";
        x->flags |= FX_X_F_RESP_DONE | FX_X_F_CLOSE;
        x->flags &= ~FX_X_F_UP_REUSABLE;
    }
}

static bool x_resp_recv(struct fx_cconn *cc)
{
    struct fx_exch *x = cc->x;
    struct fx_uconn *uc = x->u;
    if (uc == NULL || (uc->flags & FX_UCONN_F_CONNECTING))
        return false;
    bool progress = false;
    if (!(x->flags & FX_X_F_RESP_DONE) && (uc->flags & FX_IO_F_READABLE) &&
        !(uc->flags & FX_IO_F_EOF)) {
        ssize_t n = io_read(cc->w, &uc->xp, &uc->io, &uc->flags, &uc->in);
        if (n != 0) {
            progress = true;
            uc_set_timer(uc, FX_TK_READ, x->up->read_timeout_ms, true);
        }
    }
    if (!(x->flags & FX_X_F_RESP_DONE)) {
        /* read_timeout measures the upstream only: pause it while we wait for the client. */
        if (uc->in.data != NULL && uc->in.len == uc->in.cap)
            uc_set_timer(uc, FX_TK_NONE, 0, false);
        else if (uc->tkind == FX_TK_NONE)
            uc_set_timer(uc, FX_TK_READ, x->up->read_timeout_ms, true);
    }
    if (!(x->flags & FX_X_F_RESP_HEAD)) {
        if (uc->in.len == 0 && !(uc->flags & FX_IO_F_EOF))
            return progress;
        progress |= x_resp_parse(cc, uc);
        if ((cc->flags & FX_IO_F_CLOSED) || x->u == NULL || !(x->flags & FX_X_F_RESP_HEAD) ||
            cc->state == FX_CC_TUNNEL)
            return progress;
    }
    size_t before = x->resp_ready;
    x_resp_body(cc, uc);
    return progress || x->resp_ready != before;
}

static bool x_resp_send(struct fx_cconn *cc)
{
    struct fx_exch *x = cc->x;
    struct fx_uconn *uc = x->u;
    size_t body = uc != NULL && (x->flags & FX_X_F_RESP_HEAD) ? x->resp_ready : 0;
    if (x->chead.len == 0 && body == 0)
        return false;
    if (!(cc->flags & FX_IO_F_WRITABLE))
        return false;
    ssize_t n = io_write2(&cc->xp, cc->io.fd, &cc->flags, fx_buf_rptr(&x->chead), x->chead.len,
                          body ? fx_buf_rptr(&uc->in) : NULL, body);
    if (n < 0) {
        x->error = "client_closed";
        fx_proxy__cc_close(cc);
        return false;
    }
    size_t sent = (size_t)n;
    x->bytes_out += sent;
    size_t h = sent < x->chead.len ? sent : x->chead.len;
    fx_buf_consume(&x->chead, h);
    sent -= h;
    if (sent > 0 && uc != NULL) {
        fx_buf_consume(&uc->in, sent);
        x->resp_ready -= sent;
    }
    if (!(cc->flags & FX_IO_F_WRITABLE))
        cc_set_timer(cc, FX_TK_SEND, x->wc->conf->limits.send_timeout_ms, n > 0);
    return n > 0;
}

/* ---- finishing ------------------------------------------------------------ */

static bool x_finished(const struct fx_exch *x)
{
    return (x->flags & FX_X_F_RESP_DONE) && x->chead.len == 0 && x->resp_ready == 0 &&
           ((x->flags & FX_X_F_REQ_DONE) || (x->flags & FX_X_F_CLOSE));
}

/* Lingering close (nginx's lingering_close): after the last response the client
 * may still be sending (a body after an error, pipelined requests); closing at
 * once would turn that into a TCP reset that can destroy the response in flight.
 * Shut the write side, discard input for up to a second or 1 MiB, then close. */
#define FX_LINGER_MS    1000u
#define FX_LINGER_BYTES ((uint64_t)1 << 20)

static void cc_linger(struct fx_cconn *cc)
{
    /* TLS: close_notify first; what the client still sends is then discarded
     * as raw bytes, without decrypting it. */
    fx_tls_conn_shutdown(&cc->xp);
    fx_tls_conn_free(&cc->xp);
    if (shutdown(cc->io.fd, SHUT_WR) != 0) {
        fx_proxy__cc_close(cc);
        return;
    }
    cc->state = FX_CC_LINGER;
    cc->nreq = 0; /* reused as the count of discarded bytes */
    cc_set_timer(cc, FX_TK_LINGER, FX_LINGER_MS, true);
    cc->flags |= FX_IO_F_READABLE;
}

static bool cc_step_linger(struct fx_cconn *cc)
{
    if (!(cc->flags & FX_IO_F_READABLE))
        return false;
    cc->in.off = 0;
    cc->in.len = 0;
    ssize_t n = io_read(cc->w, &cc->xp, &cc->io, &cc->flags, &cc->in);
    if (n < 0 || cc->nreq + (uint64_t)(n > 0 ? n : 0) > FX_LINGER_BYTES) {
        fx_proxy__cc_close(cc);
        return false;
    }
    cc->nreq += (uint64_t)n;
    return n > 0;
}

static void x_finish(struct fx_cconn *cc)
{
    struct fx_exch *x = cc->x;
    struct fx_worker *w = cc->w;
    fx_proxy__exch_account(w, cc, x);
    if (x->u != NULL) {
        bool reusable = (x->flags & FX_X_F_UP_REUSABLE) && (x->flags & FX_X_F_REQ_SENT) &&
                        x->u->in.len == 0 && !(x->u->flags & FX_IO_F_EOF);
        struct fx_uconn *uc = x->u;
        x->u = NULL;
        uc->owner = NULL;
        uc_set_timer(uc, FX_TK_NONE, 0, false);
        fx_proxy__uc_release(uc, reusable, x->up->max_idle);
    }
    bool close_conn = (x->flags & FX_X_F_CLOSE) || !(x->flags & FX_X_F_REQ_DONE) || w->draining;
    /* Any close may leave pipelined client bytes unread in the socket (the
     * upstream delimited its body by closing, the client asked to close and
     * sent more anyway): close() would then send a reset that can destroy
     * the response in flight (RFC 9112 9.6), so every close lingers. */
    bool linger = close_conn && !w->draining;
    if (x->req_ready > 0)
        fx_buf_consume(&cc->in, x->req_ready); /* body the upstream did not wait for */
    x_free(cc);
    if (linger) {
        cc_linger(cc);
        return;
    }
    if (close_conn) {
        fx_proxy__cc_close(cc);
        return;
    }
    cc->nreq++;
    cc->state = FX_CC_HEAD;
    cc->scanned = 0;
    const struct fx_conf_limits *lim = cc_limits(cc);
    if (cc->in.len > 0)
        cc_set_timer(cc, FX_TK_HEADER, lim->client_header_timeout_ms, true);
    else
        cc_set_timer(cc, FX_TK_IDLE, lim->idle_timeout_ms, true);
}

static bool x_step(struct fx_cconn *cc)
{
    struct fx_exch *x = cc->x;
    bool p = false;
    if (!(x->flags & FX_X_F_LOCAL)) {
        p |= x_req_recv(cc);
        if (cc->flags & FX_IO_F_CLOSED)
            return false;
        if (x->mirror != NULL && (x->flags & FX_X_F_REQ_DONE))
            fx_proxy__mirror_launch(x);
        p |= x_req_send(cc);
        if (cc->flags & FX_IO_F_CLOSED)
            return false;
        p |= x_resp_recv(cc);
        if (cc->flags & FX_IO_F_CLOSED)
            return false;
        if (cc->state == FX_CC_TUNNEL)
            return true;
    }
    p |= x_resp_send(cc);
    if (cc->flags & FX_IO_F_CLOSED)
        return false;
    if (x_finished(x)) {
        x_finish(cc);
        return true;
    }
    return p;
}

/* ---- timers ----------------------------------------------------------------- */

static void cc_on_timer(struct fx_timer *t)
{
    struct fx_cconn *cc = (struct fx_cconn *)(void *)((char *)t - offsetof(struct fx_cconn, timer));
    int kind = cc->tkind;
    cc->tkind = FX_TK_NONE;
    if (kind == FX_TK_TUNNEL && cc->state == FX_CC_TUNNEL) {
        fx_proxy__tunnel_timeout(cc);
        return;
    }
    if (kind == FX_TK_HEADER && cc->state == FX_CC_HEAD && cc->in.len > 0 && cc->x == NULL &&
        x_new(cc) != NULL) {
        fx_proxy__rand_hex(cc->w, cc->x->request_id, 32);
        cc->x->flags |= FX_X_F_REQ_DONE;
        cc->state = FX_CC_EXCH;
        x_local(cc, 408, "client_timeout", true);
        cc->flags |= FX_IO_F_WRITABLE;
        fx_proxy__cc_run(cc);
        return;
    }
    if (kind == FX_TK_BODY && cc->x != NULL && !(cc->x->flags & FX_X_F_RESP_HEAD)) {
        x_local(cc, 408, "client_timeout", true);
        fx_proxy__cc_run(cc);
        return;
    }
    if (kind == FX_TK_HANDSHAKE)
        fx_tls_stats_fail(&cc->w->stats->tls, FX_TLS_FAIL_TIMEOUT);
    if (cc->x != NULL && cc->x->error == NULL)
        cc->x->error = "client_timeout";
    fx_proxy__cc_close(cc);
}

void fx_proxy__uc_timeout(struct fx_uconn *uc)
{
    struct fx_cconn *cc = uc->owner;
    int kind = uc->tkind;
    uc->tkind = FX_TK_NONE;
    if (cc == NULL || cc->x == NULL) {
        fx_proxy__uc_release(uc, false, 0);
        return;
    }
    struct fx_exch *x = cc->x;
    atomic_fetch_add_explicit(&cc->w->stats->timeouts[x->up->id], 1, memory_order_relaxed);
    if (kind == FX_TK_CONNECT && x_connect_retry(cc, "connect_timeout")) {
        fx_proxy__cc_run(cc);
        return;
    }
    x_upstream_failed(cc, 504,
                      kind == FX_TK_CONNECT ? "upstream_connect_timeout" : "upstream_timeout");
    fx_proxy__cc_run(cc);
}
