/* Addresses and sockets. */
#ifndef FX_NET_H
#define FX_NET_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#include "../core/err_types.h"
#include "net_types.h"

/* Parse "HOST:PORT" where HOST is a dotted IPv4 address, "[IPv6]", "localhost"
 * or "*" (any IPv4), and PORT is 0..65535 (0 only when allow_port0). No DNS.
 * Returns 0, or FX_EINVAL with `err` naming the cause ("missing port",
 * "port 70000 out of range", "invalid IPv4 address '1.2.3'"). */
int fx_addr_parse(const char *text, struct fx_addr *out, bool allow_port0, struct fx_err *err);

/* Format `ss` as canonical text into out[cap]. */
void fx_addr_format(const struct sockaddr *sa, char *out, size_t cap);

/* Create a non-blocking listening socket bound to `a` with SO_REUSEADDR and,
 * when reuseport, SO_REUSEPORT. Returns the fd or a negative FX_ESYS with err set. */
int fx_net_listen(const struct fx_addr *a, bool reuseport, int backlog, struct fx_err *err);

/* Fail with FX_ESYS ("listen ADDR: address already in use ...") when some
 * socket, of this or another process, already listens on `a`. A socket with
 * SO_REUSEPORT would silently join another process's listeners (same user)
 * and take a share of its connections: call this before binding the
 * workers' SO_REUSEPORT sockets. The check binds a probe socket without
 * SO_REUSEPORT and closes it: a process that binds in between is not seen. */
int fx_net_check_free(const struct fx_addr *a, struct fx_err *err);

/* Start a non-blocking connect to `a` with TCP_NODELAY. Returns the fd (the
 * connect may still be in progress) or -1 with errno set. */
int fx_net_connect(const struct fx_addr *a);

/* Most descriptors fx_net_send_fds() passes in one message (the kernel's
 * SCM_MAX_FD is 253). */
#define FX_NET_FDS_MAX 64

/* Send the `len`-byte message `msg` (len > 0) with `n` <= FX_NET_FDS_MAX
 * descriptors (SCM_RIGHTS; borrowed, still open afterwards) on the Unix
 * SOCK_SEQPACKET socket `sock`, blocking. Returns 0 or -errno. Any thread. */
int fx_net_send_fds(int sock, const char *msg, size_t len, const int *fds, size_t n);

/* Receive one message from the Unix SOCK_SEQPACKET socket `sock`, blocking:
 * its bytes into buf[cap] (NUL-terminated), its descriptors (close-on-exec,
 * owned by the caller from now on) into fds[maxfds], their count in *nfds;
 * descriptors beyond maxfds are closed. Returns the byte count (0: peer
 * closed), or -errno (-EMSGSIZE when the message or its descriptors were
 * truncated; the descriptors received are still returned). */
ssize_t fx_net_recv_fds(int sock, char *buf, size_t cap, int *fds, size_t maxfds, size_t *nfds);

/* Plain TCP transport: read(2) and writev(2) on the descriptor, no state
 * (struct fx_xprt.ctx stays NULL). Any thread. */
extern const struct fx_io_ops fx_net_plain_ops;

#endif
