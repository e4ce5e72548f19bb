/* TLS contract: server contexts built from a listener's settings, and the
 * TLS transport (struct fx_io_ops) of one connection, on OpenSSL 3.
 *
 * Headers an attacker controls: none; TLS sits below HTTP. What a client
 * controls here is the ClientHello: its server name only picks which of the
 * configured certificates is shown (an unknown or missing name gets the
 * default one, never an error), and its ALPN list must contain http/1.1
 * when it sends one (else the handshake fails: no_application_protocol). */
#ifndef FX_TLS_H
#define FX_TLS_H

#include <stdbool.h>
#include <stdio.h>

#include "../core/err_types.h"
#include "../net/net_types.h"
#include "tls_types.h"

/* TLS transport: struct fx_xprt.ctx is the connection's SSL. Worker thread. */
extern const struct fx_io_ops fx_tls_io_ops;

/* Load c's certificates and keys and build the contexts: the chain of each
 * file must be in order (each certificate issued by the next), the key must
 * match its certificate, and no certificate may be expired or not yet
 * valid. Two chains of the same key type may not claim the same name.
 * Returns 0 with *out holding one reference, or FX_ECONF / FX_ENOMEM with
 * `err` set to "PATH: cause" (PATH as written in `c`). `c` is borrowed.
 * Any thread (at config load). */
int fx_tls_server_new(const struct fx_tls_conf *c, struct fx_tls_server **out, struct fx_err *err);

/* Drop one reference; the last frees the contexts. Connections hold their own
 * reference, so they outlive the config that built them. NULL is ignored.
 * Any thread. */
void fx_tls_server_unref(struct fx_tls_server *s);

/* Print each certificate of `s` as "  tls PATH: names=a.example.com,*.example.com
 * key=ecdsa not_after=2027-01-01T00:00:00Z" lines to `out`, and a
 * "warning: PATH: certificate expires in N days" line to `warn` when it
 * expires within 14 days. Returns how many warnings were written. */
int fx_tls_server_describe(const struct fx_tls_server *s, FILE *out, FILE *warn);

/* Append "ficus_tls_cert_not_after_seconds{name=..,key=..} EPOCH" lines of
 * s's certificates to `f` (one per certificate and name; no HELP/TYPE).
 * Admin thread. */
void fx_tls_server_render(const struct fx_tls_server *s, FILE *f);

/* Start the server side of a TLS connection on the connected socket `fd`
 * (borrowed): `x` gets the TLS ops and an SSL holding a reference to `s`.
 * Returns 0 or FX_ENOMEM (x untouched). Worker thread. */
int fx_tls_conn_accept(struct fx_tls_server *s, int fd, struct fx_xprt *x);

/* Advance the handshake of `x` as far as the socket allows, never blocking.
 * Returns 0 once it is complete, FX_IO_WANT_READ / FX_IO_WANT_WRITE when it
 * waits for the socket, or FX_IO_ERROR with *why set (enum fx_tls_fail).
 * 0-RTT data is never accepted. Worker thread. */
int fx_tls_conn_handshake(struct fx_xprt *x, enum fx_tls_fail *why);

/* Send close_notify once, if the handshake completed and nothing failed;
 * never blocks (an unsent alert is dropped). Worker thread. */
void fx_tls_conn_shutdown(struct fx_xprt *x);

/* Free the connection's TLS state; `x` is plain TCP afterwards. Safe on a
 * plain transport. Worker thread. */
void fx_tls_conn_free(struct fx_xprt *x);

/* True when `x` is a TLS transport. */
static inline bool fx_tls_conn_is(const struct fx_xprt *x)
{
    return x->ops == &fx_tls_io_ops;
}

/* Protocol version of an established connection: "TLSv1.2", "TLSv1.3";
 * "" on a plain transport. Static string. */
const char *fx_tls_conn_version(const struct fx_xprt *x);

/* Count a completed handshake of `x` (version, cipher, resumed) in `st`.
 * Worker thread (single writer). */
void fx_tls_stats_handshake(struct fx_tls_stats *st, const struct fx_xprt *x);

/* Count a failed handshake. Worker thread (single writer). */
void fx_tls_stats_fail(struct fx_tls_stats *st, enum fx_tls_fail why);

/* Write the handshake counters summed over the `n` workers' `st[i]`
 * (Prometheus text, with HELP and TYPE). Admin thread. */
void fx_tls_stats_render(const struct fx_tls_stats *const *st, size_t n, FILE *f);

/* Name of failure reason `why` ("timeout", ...). */
const char *fx_tls_fail_name(enum fx_tls_fail why);

#endif
