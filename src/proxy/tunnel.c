/* Upgrade tunnels (WebSocket and the other protocols of the allow-list):
 * which Upgrade requests are forwarded, which 101 answers are accepted, and
 * the byte relay between client and upstream once one was.
 *
 * Headers an attacker controls, and what Ficus does with them:
 * - Upgrade (request): only protocols whose name is in the allow-list
 *   (upgrade.protocols, default websocket) are forwarded, with
 *   "Connection: upgrade"; every other one is dropped as hop-by-hop, so a
 *   client cannot make the upstream switch to a protocol Ficus does not
 *   relay. h2c is not on the default list: an "Upgrade: h2c" tunnel would
 *   let a client speak HTTP/2 straight to the upstream past Ficus's routing,
 *   limits and logging (h2c smuggling), so it is forwarded as a plain
 *   HTTP/1.1 request without Upgrade. Upgrade is ignored on HTTP/1.0 (RFC
 *   9110 7.8) and on requests with a body (see fx_proxy_upgrade_filter): a
 *   switch in the middle of a body would leave the rest of it to be read as
 *   the new protocol.
 * - Connection: "upgrade" is required next to Upgrade; other names it lists
 *   are dropped as before (client.c).
 * - Upgrade / Connection (101 answer): a 101 to a request that forwarded no
 *   Upgrade, without "Connection: upgrade", or naming a protocol the request
 *   did not offer is a 502 and the upstream connection is closed, so an
 *   upstream cannot turn a pooled HTTP connection into a raw pipe the client
 *   did not ask for.
 * - Everything after the 101 is opaque bytes: Ficus reads no frame of it. A
 *   tunnel's upstream connection is never pooled. */
#include <sys/socket.h>

#include <string.h>

#include "../conf/conf.h"
#include "../http/http.h"
#include "../loop/loop.h"
#include "../migrate/migrate.h"
#include "proxy_int.h"

/* ---- which upgrades are forwarded ------------------------------------------ */

static bool is_token(struct fx_str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        if (!fx_h1_is_tchar((unsigned char)s.ptr[i]))
            return false;
    }
    return true;
}

/* Split "name[/version]"; false when either part is not a token. */
static bool split_protocol(struct fx_str item, struct fx_str *name, struct fx_str *version)
{
    const char *slash = memchr(item.ptr, '/', item.len);
    *name = item;
    *version = (struct fx_str){ NULL, 0 };
    if (slash != NULL) {
        name->len = (size_t)(slash - item.ptr);
        *version = (struct fx_str){ slash + 1, item.len - name->len - 1 };
        if (!is_token(*version))
            return false;
    }
    return is_token(*name);
}

static bool allowed(struct fx_str name, const struct fx_conf_upgrade *allow)
{
    for (size_t i = 0; i < allow->nprotocols; i++) {
        if (fx_str_eqi(name, fx_str_c(allow->protocols[i])))
            return true;
    }
    return false;
}

size_t fx_proxy_upgrade_filter(const struct fx_h1_req *req, const struct fx_conf_upgrade *allow,
                               char *out, size_t cap)
{
    const unsigned int need = FX_H1_F_UPGRADE | FX_H1_F_CONN_UPGRADE;
    if (cap == 0)
        return 0;
    out[0] = '\0';
    if ((req->flags & need) != need || req->minor != 1)
        return 0;
    if (req->body == FX_H1_BODY_CHUNKED ||
        (req->body == FX_H1_BODY_LENGTH && req->content_length > 0))
        return 0;
    size_t len = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!fx_str_eqi(req->headers[i].name, FX_STR("upgrade")))
            continue;
        struct fx_str list = req->headers[i].value;
        struct fx_str item;
        while (fx_h1_list_next(&list, &item)) {
            struct fx_str name;
            struct fx_str version;
            if (!split_protocol(item, &name, &version) || !allowed(name, allow))
                continue;
            size_t need_len = item.len + (len > 0 ? 2 : 0);
            if (len + need_len >= cap) {
                out[0] = '\0';
                return 0;
            }
            if (len > 0) {
                memcpy(out + len, ", ", 2);
                len += 2;
            }
            memcpy(out + len, item.ptr, item.len);
            len += item.len;
        }
    }
    out[len] = '\0';
    return len;
}

/* Whether protocol `p` of an answer is one of the comma-separated `asked`. */
static bool was_asked(const char *asked, struct fx_str p)
{
    struct fx_str pname;
    struct fx_str pver;
    if (!split_protocol(p, &pname, &pver))
        return false;
    struct fx_str list = fx_str_c(asked);
    struct fx_str item;
    while (fx_h1_list_next(&list, &item)) {
        struct fx_str name;
        struct fx_str ver;
        if (!split_protocol(item, &name, &ver) || !fx_str_eqi(name, pname))
            continue;
        if (ver.len == 0 || pver.len == 0 || fx_str_eqi(ver, pver))
            return true;
    }
    return false;
}

bool fx_proxy_upgrade_answer_ok(const char *asked, const struct fx_h1_resp *r)
{
    if (asked[0] == '\0' || r->status != 101 || !(r->flags & FX_H1_F_CONN_UPGRADE))
        return false;
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (!fx_str_eqi(r->headers[i].name, FX_STR("upgrade")))
            continue;
        struct fx_str list = r->headers[i].value;
        struct fx_str item;
        while (fx_h1_list_next(&list, &item)) {
            if (!was_asked(asked, item))
                return false;
            n++;
        }
    }
    return n > 0;
}

/* ---- the relay -------------------------------------------------------------- */

static inline void inc(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void gauge(atomic_int_fast64_t *g, int delta)
{
    atomic_store_explicit(g, atomic_load_explicit(g, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

static void arm_idle(struct fx_cconn *cc)
{
    cc->tkind = FX_TK_TUNNEL;
    (void)fx_timer_arm(&cc->w->loop, &cc->timer, cc->x->wc->conf->timeouts.tunnel_ms);
}

void fx_proxy__tunnel_start(struct fx_cconn *cc)
{
    struct fx_worker *w = cc->w;
    struct fx_exch *x = cc->x;
    struct fx_uconn *uc = x->u;
    struct fx_tunnel *t = &x->tun;
    memset(t, 0, sizeof(*t));
    t->route_id = x->route->id;
    t->side = x->side >= 0 ? x->side : FX_SIDE_LEGACY;
    t->close_gen =
        atomic_load_explicit(&w->sh->tunnel_close_gen[t->route_id][t->side], memory_order_acquire);
    t->start_us = w->loop.now_us;
    t->flags = FX_TUN_F_ACTIVE;
    gauge(&w->stats->tunnels_active[t->route_id][t->side], 1);
    inc(&w->stats->tunnels_total[t->route_id][t->side], 1);
    x->flags |= FX_X_F_RESP_HEAD | FX_X_F_RESP_DONE | FX_X_F_CLOSE;
    x->flags &= ~FX_X_F_UP_REUSABLE;
    cc->state = FX_CC_TUNNEL;
    /* The upstream's read timeout measured the wait for the 101; from now on
     * only the tunnel's idle timer runs. */
    if (uc->tkind != FX_TK_NONE)
        fx_timer_stop(&w->loop, &uc->timer);
    uc->tkind = FX_TK_NONE;
    arm_idle(cc);
    /* Bytes may already wait in either socket (edge-triggered: no new event
     * would come for them). */
    cc->flags |= FX_IO_F_READABLE;
    uc->flags |= FX_IO_F_READABLE;
    fx_log(&w->sh->log, FX_LOG_DEBUG,
           "event=tunnel_open route=%s side=%s upgrade=%s request_id=%s worker=%u", x->route->name,
           t->side == FX_SIDE_NEW ? "new" : "legacy", x->upgrade, x->request_id, w->id);
}

/* End the tunnel (`why`: NULL for a clean end); the access-log line follows. */
static void tunnel_end(struct fx_cconn *cc, const char *why)
{
    struct fx_exch *x = cc->x;
    if (x->error == NULL)
        x->error = why;
    fx_proxy__cc_close(cc);
}

/* Move bytes from `src` (read side `rio`) to `dio`; `prefix` (may be NULL)
 * is written before src's bytes. Returns 1 on progress, 0 on none, -1 when
 * the write side failed. */
static int relay(struct fx_cconn *cc, int dir, struct fx_xprt *rxp, struct fx_io *rio,
                 unsigned int *rflags, struct fx_buf *src, struct fx_xprt *dxp, struct fx_io *dio,
                 unsigned int *dflags, struct fx_buf *prefix)
{
    struct fx_exch *x = cc->x;
    struct fx_tunnel *t = &x->tun;
    unsigned int eof_bit = dir == FX_TUN_DIR_UP ? FX_TUN_F_C_EOF : FX_TUN_F_U_EOF;
    int progress = 0;
    if (!(t->flags & eof_bit) && (*rflags & FX_IO_F_READABLE)) {
        ssize_t n = fx_proxy__io_read(cc->w, rxp, rio, rflags, src);
        if (n < 0)
            t->flags |= eof_bit;
        if (n != 0)
            progress = 1;
    }
    size_t plen = prefix != NULL ? prefix->len : 0;
    if ((plen > 0 || src->len > 0) && (*dflags & FX_IO_F_WRITABLE)) {
        ssize_t n = fx_proxy__io_write2(dxp, dio, dflags, plen ? fx_buf_rptr(prefix) : NULL, plen,
                                        src->len ? fx_buf_rptr(src) : NULL, src->len);
        if (n < 0)
            return -1;
        size_t sent = (size_t)n;
        size_t h = sent < plen ? sent : plen;
        if (h > 0) {
            fx_buf_consume(prefix, h);
            x->bytes_out += h; /* the 101 head */
        }
        sent -= h;
        if (sent > 0) {
            fx_buf_consume(src, sent);
            t->bytes[dir] += sent;
            inc(&cc->w->stats->tunnel_bytes[t->route_id][t->side][dir], sent);
        }
        if (n > 0)
            progress = 1;
    }
    return progress;
}

/* Forward a finished direction as a half-close once its bytes are out. */
static bool half_close(struct fx_tunnel *t, unsigned int eof_bit, unsigned int shut_bit,
                       const struct fx_buf *pending, struct fx_xprt *dxp, struct fx_io *dio)
{
    if (!(t->flags & eof_bit) || (t->flags & shut_bit) || pending->len > 0)
        return true;
    t->flags |= shut_bit;
    return fx_proxy__io_shutdown_wr(dxp, dio) == 0;
}

bool fx_proxy__tunnel_step(struct fx_cconn *cc)
{
    struct fx_exch *x = cc->x;
    struct fx_uconn *uc = x->u;
    struct fx_tunnel *t = &x->tun;
    int up = relay(cc, FX_TUN_DIR_UP, &cc->xp, &cc->io, &cc->flags, &cc->in, &uc->xp, &uc->io,
                   &uc->flags, NULL);
    if (up < 0) {
        tunnel_end(cc, "upstream_reset");
        return false;
    }
    int down = relay(cc, FX_TUN_DIR_DOWN, &uc->xp, &uc->io, &uc->flags, &uc->in, &cc->xp, &cc->io,
                     &cc->flags, &x->chead);
    if (down < 0) {
        tunnel_end(cc, "client_closed");
        return false;
    }
    if (!half_close(t, FX_TUN_F_C_EOF, FX_TUN_F_U_SHUT, &cc->in, &uc->xp, &uc->io)) {
        tunnel_end(cc, "upstream_reset");
        return false;
    }
    if (x->chead.len == 0 &&
        !half_close(t, FX_TUN_F_U_EOF, FX_TUN_F_C_SHUT, &uc->in, &cc->xp, &cc->io)) {
        tunnel_end(cc, "client_closed");
        return false;
    }
    if ((t->flags & FX_TUN_F_U_SHUT) && (t->flags & FX_TUN_F_C_SHUT)) {
        /* Both directions ended and were passed on: nothing is left to relay. */
        tunnel_end(cc, (t->flags & FX_TUN_F_U_EOF) && !(t->flags & FX_TUN_F_C_EOF)
                           ? "upstream_closed"
                           : NULL);
        return false;
    }
    if (up > 0 || down > 0)
        arm_idle(cc);
    return up > 0 || down > 0;
}

void fx_proxy__tunnel_timeout(struct fx_cconn *cc)
{
    tunnel_end(cc, "tunnel_idle_timeout");
}

void fx_proxy__tunnel_fini(struct fx_worker *w, struct fx_exch *x)
{
    struct fx_tunnel *t = &x->tun;
    if (!(t->flags & FX_TUN_F_ACTIVE))
        return;
    t->flags &= ~FX_TUN_F_ACTIVE;
    gauge(&w->stats->tunnels_active[t->route_id][t->side], -1);
    x->bytes_in += t->bytes[FX_TUN_DIR_UP];
    x->bytes_out += t->bytes[FX_TUN_DIR_DOWN];
    fx_log(&w->sh->log, FX_LOG_DEBUG,
           "event=tunnel_close route=%s request_id=%s up_bytes=%llu down_bytes=%llu "
           "duration_us=%llu error=%s worker=%u",
           x->route->name, x->request_id, (unsigned long long)t->bytes[FX_TUN_DIR_UP],
           (unsigned long long)t->bytes[FX_TUN_DIR_DOWN],
           (unsigned long long)(w->loop.now_us - t->start_us), x->error ? x->error : "none", w->id);
}

void fx_proxy__tunnel_check_close(struct fx_worker *w)
{
    uint64_t seq = atomic_load_explicit(&w->sh->tunnel_close_seq, memory_order_acquire);
    if (seq == w->tunnel_close_seq)
        return;
    w->tunnel_close_seq = seq;
    struct fx_cconn *cc = w->conns;
    while (cc != NULL) {
        struct fx_cconn *next = cc->next;
        if (cc->state == FX_CC_TUNNEL && cc->x != NULL) {
            const struct fx_tunnel *t = &cc->x->tun;
            uint64_t gen = atomic_load_explicit(&w->sh->tunnel_close_gen[t->route_id][t->side],
                                                memory_order_acquire);
            if (gen > t->close_gen)
                tunnel_end(cc, "tunnel_closed_by_operator");
        }
        cc = next;
    }
}

/* ---- `ficus ctl tunnels close` (admin thread) --------------------------------- */

int fx_proxy_tunnels_close(struct fx_shared *sh, struct fx_worker *ws, size_t nw, const char *route,
                           int side, uint64_t *open)
{
    struct fx_conf *c = fx_shared_conf(sh);
    const struct fx_conf_route *r = NULL;
    for (size_t i = 0; i < c->nroutes && r == NULL; i++) {
        if (strcmp(c->routes[i].name, route) == 0)
            r = &c->routes[i];
    }
    if (r == NULL) {
        fx_conf_unref(c);
        return FX_ENOTFOUND;
    }
    unsigned int id = r->id;
    fx_conf_unref(c);
    int64_t n = 0;
    for (size_t i = 0; i < nw; i++)
        n += atomic_load_explicit(&ws[i].stats->tunnels_active[id][side], memory_order_relaxed);
    *open = n > 0 ? (uint64_t)n : 0;
    atomic_fetch_add_explicit(&sh->tunnel_close_gen[id][side], 1, memory_order_release);
    atomic_fetch_add_explicit(&sh->tunnel_close_seq, 1, memory_order_release);
    for (size_t i = 0; i < nw; i++)
        fx_worker_wake(&ws[i]);
    fx_log(&sh->log, FX_LOG_INFO, "event=tunnels_close route=%s side=%s open=%llu", route,
           side == FX_SIDE_NEW ? "new" : "legacy", (unsigned long long)*open);
    return 0;
}
