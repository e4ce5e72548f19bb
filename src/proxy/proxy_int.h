/* Shared between the proxy module's files only. All functions run on the
 * worker's own thread. */
#ifndef FX_PROXY_INT_H
#define FX_PROXY_INT_H

#include "proxy.h"

/* Attach a worker-sized buffer to `b` (from the free list). 0 or FX_ENOMEM. */
int fx_proxy__buf_get(struct fx_worker *w, struct fx_buf *b);

/* Return b's storage to the free list; b is left without storage. */
void fx_proxy__buf_put(struct fx_worker *w, struct fx_buf *b);

/* Take a reference holder on the worker's current config for an exchange. */
struct fx_wconf *fx_proxy__wc_get(struct fx_worker *w);

/* Drop an exchange's holder reference. */
void fx_proxy__wc_put(struct fx_worker *w, struct fx_wconf *wc);

/* Adopt an accepted client socket; `tls` (borrowed, may be NULL) is the
 * listener's TLS server, the connection takes its own reference. */
void fx_proxy__cc_accept(struct fx_worker *w, int fd, const struct sockaddr_storage *peer,
                         struct fx_tls_server *tls);

/* Drive a client connection's state machine as far as readiness allows. */
void fx_proxy__cc_run(struct fx_cconn *cc);

/* Close a client connection now (aborting any exchange). */
void fx_proxy__cc_close(struct fx_cconn *cc);

/* During a drain: true when `cc` waits for a request head of which nothing
 * arrived (not even unread in the socket) and, if it never sent a request,
 * the drain began more than a second ago. Such a connection may be closed. */
bool fx_proxy__cc_drain_idle(const struct fx_cconn *cc);

/* Pooled or new upstream connection to `srv` owned by `cc`; NULL with errno
 * set when the socket cannot be created. */
struct fx_uconn *fx_proxy__uc_get(struct fx_worker *w, const struct fx_conf_server *srv,
                                  const struct fx_conf_upstream *up, struct fx_cconn *cc,
                                  bool fresh);

/* Give an upstream connection back: pooled when `reusable`, else closed. */
void fx_proxy__uc_release(struct fx_uconn *uc, bool reusable, unsigned int max_idle);

/* Server of `up` for an exchange: round-robin over the servers that are not
 * ejected when `after` is NULL, else the next untried one after `after` (a
 * server that just failed to connect), per `tried` (bit i % 64). */
const struct fx_conf_server *fx_proxy__srv_pick(struct fx_worker *w,
                                                const struct fx_conf_upstream *up,
                                                const struct fx_conf_server *after, uint64_t tried);

/* A connect to `srv` failed (`why`: errno name or "connect_timeout"): eject it
 * for its back-off unless it is already ejected, and log the ejection. */
void fx_proxy__srv_failed(struct fx_worker *w, const struct fx_conf_upstream *up,
                          const struct fx_conf_server *srv, const char *why);

/* A connect to `srv` succeeded: end its ejection streak (logged when it had one).
 * One relaxed load when the server was up. */
void fx_proxy__srv_ok(struct fx_worker *w, const struct fx_conf_upstream *up,
                      const struct fx_conf_server *srv);

/* An upstream connection's timer fired (called from the upstream module). */
void fx_proxy__uc_timeout(struct fx_uconn *uc);

/* Record the exchange in the stats and the access log. */
void fx_proxy__exch_account(struct fx_worker *w, struct fx_cconn *cc, struct fx_exch *x);

/* Flush the batched access log. */
void fx_proxy__alog_flush(struct fx_worker *w);

/* 64 fast non-cryptographic random bits (xorshift128+ seeded from getrandom). */
uint64_t fx_proxy__rand_u64(struct fx_worker *w);

/* 128 random bits as 32 lowercase hex chars + NUL (out[33]); `nhex` <= 32. */
void fx_proxy__rand_hex(struct fx_worker *w, char *out, size_t nhex);

/* ---- transport I/O helpers (client.c) ---- */

/* Read from `io` into `b` (a worker buffer is attached when b has none).
 * Returns bytes read (> 0), 0 when nothing could be read (no data, or b is
 * full: FX_IO_F_READABLE then stays set), -1 on EOF or a read error
 * (FX_IO_F_EOF is then set in *flags). */
ssize_t fx_proxy__io_read(struct fx_worker *w, struct fx_xprt *xp, struct fx_io *io,
                          unsigned int *flags, struct fx_buf *b);

/* Write up to two spans to `io`. Returns bytes written, 0 when the socket is
 * full (FX_IO_F_WRITABLE cleared), -1 on a write error. */
ssize_t fx_proxy__io_write2(struct fx_xprt *xp, struct fx_io *io, unsigned int *flags,
                            const char *a, size_t alen, const char *b, size_t blen);

/* Half-close: no more bytes will be written to `io` (shutdown(SHUT_WR)).
 * Returns 0 or -1. */
int fx_proxy__io_shutdown_wr(struct fx_xprt *xp, struct fx_io *io);

/* ---- upgrade tunnels (tunnel.c) ---- */

/* The Upgrade value to forward for `req`: its protocols (RFC 9110 7.8,
 * "name[/version]", every Upgrade header line) whose name is in
 * allow->protocols (case-insensitive), joined with ", " into out
 * (NUL-terminated, at most cap - 1 bytes). Returns the length, or 0 when
 * the request is no upgrade to tunnel: no allowed protocol, no
 * "Connection: upgrade", HTTP/1.0 (RFC 9110 7.8: ignored), a request body
 * (Content-Length > 0 or chunked: the switch would cut a message in two),
 * or a value longer than cap - 1. Pure. */
size_t fx_proxy_upgrade_filter(const struct fx_h1_req *req, const struct fx_conf_upgrade *allow,
                               char *out, size_t cap);

/* Whether the 101 `r` is a valid answer to a request that forwarded the
 * Upgrade value `asked` (from fx_proxy_upgrade_filter; empty: no upgrade
 * asked): "Connection: upgrade" present and every protocol of its Upgrade
 * headers (at least one) is one asked for (same name, and same version when
 * both give one). Pure. */
bool fx_proxy_upgrade_answer_ok(const char *asked, const struct fx_h1_resp *r);

/* The 101 head for the client is in x->chead and the head is consumed from
 * x->u->in: turn the connection into a tunnel (state FX_CC_TUNNEL), counted
 * in the metrics. */
void fx_proxy__tunnel_start(struct fx_cconn *cc);

/* Relay what readiness allows, both ways; ends the tunnel (closing both
 * connections and writing its access-log line) when both sides finished or
 * one failed. Returns true on progress. May close cc. */
bool fx_proxy__tunnel_step(struct fx_cconn *cc);

/* The idle timer of the tunnel fired: close it (error tunnel_idle_timeout). */
void fx_proxy__tunnel_timeout(struct fx_cconn *cc);

/* The tunnel of exchange x ends (its connection is closing, before the
 * access-log line): drop it from the active gauge and add the relayed bytes
 * to x->bytes_in/out. Idempotent; nothing for an exchange without one. */
void fx_proxy__tunnel_fini(struct fx_worker *w, struct fx_exch *x);

/* sh->tunnel_close_seq moved: close this worker's tunnels opened before
 * their route side's close generation. Cheap when nothing changed. */
void fx_proxy__tunnel_check_close(struct fx_worker *w);

/* ---- shadow copies (mirror.c) ---- */

/* Start a shadow copy of the exchange whose head was just parsed (x->uhead
 * built, x->up chosen). Counts and returns without a copy when the route's
 * limits say so. The job is attached to x->mirror. */
void fx_proxy__mirror_begin(struct fx_cconn *cc, struct fx_exch *x);

/* Append validated request body bytes to the attached copy (dropped, and
 * detached, once they exceed shadow.max_body). */
void fx_proxy__mirror_req_body(struct fx_exch *x, const char *p, size_t n);

/* The request is complete: send the copies (idempotent). */
void fx_proxy__mirror_launch(struct fx_exch *x);

/* Capture the primary's response head / body bytes (de-chunked). */
void fx_proxy__mirror_resp_head(struct fx_exch *x, const struct fx_h1_resp *r);
void fx_proxy__mirror_resp_body(struct fx_exch *x, const char *p, size_t n);

/* The exchange ends: detach the copy; `ok` says whether the primary answer
 * was received whole from the upstream. */
void fx_proxy__mirror_detach(struct fx_exch *x, bool ok);

/* Worker exit: abandon every copy in progress. */
void fx_proxy__mirror_shutdown(struct fx_worker *w);

/* Free closed mirror connections (after the event batch). */
void fx_proxy__mirror_bury(struct fx_worker *w);

#endif
