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
