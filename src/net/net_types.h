/* Socket addresses as configured, and the transport ops table. */
#ifndef FX_NET_TYPES_H
#define FX_NET_TYPES_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* A resolved numeric socket address and its canonical text ("127.0.0.1:80", "[::1]:80"). */
struct fx_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64];
};

/* Results of struct fx_io_ops calls other than byte counts (> 0). */
#define FX_IO_EOF        0    /* read: orderly end of the stream */
#define FX_IO_WANT_READ  (-1) /* nothing done now: call again once the socket is readable */
#define FX_IO_WANT_WRITE (-2) /* nothing done now: call again once the socket is writable */
#define FX_IO_ERROR      (-3) /* the connection is broken (errno or the transport says why) */

struct fx_xprt;

/* A connection's transport (HAProxy's xprt_ops, Redis's ConnectionType):
 * plain TCP (fx_net_plain_ops) or TLS (fx_tls_io_ops). Calls never block. */
struct fx_io_ops {
    const char *name; /* "tcp", "tls" */
    /* Read at most `len` (> 0) bytes into `buf`. Returns the byte count, or
     * FX_IO_EOF / FX_IO_WANT_READ / FX_IO_WANT_WRITE / FX_IO_ERROR. A count
     * below `len` means the socket had nothing more to give. */
    ssize_t (*read)(struct fx_xprt *x, int fd, char *buf, size_t len);
    /* Write the `n` spans in order. Returns the bytes written (> 0; fewer
     * than asked means the socket is full), or FX_IO_WANT_READ /
     * FX_IO_WANT_WRITE / FX_IO_ERROR. After a WANT, the caller calls again
     * with at least the same bytes first (their storage may move). */
    ssize_t (*writev)(struct fx_xprt *x, int fd, const struct iovec *iov, int n);
};

/* The transport of one connection, embedded in it. */
struct fx_xprt {
    const struct fx_io_ops *ops; /* borrowed: a static table */
    void *ctx;                   /* owned by the ops (an SSL for TLS); NULL for plain TCP */
};

#endif
