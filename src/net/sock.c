#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "../core/err.h"
#include "net.h"

int fx_net_listen(const struct fx_addr *a, bool reuseport, int backlog, struct fx_err *err)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return FX_ERR_SET(err, FX_ESYS, "listen %s: socket: %s", a->text, strerrorname_np(errno));
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)) {
        (void)close(fd);
        return FX_ERR_SET(err, FX_ESYS, "listen %s: setsockopt: %s", a->text,
                          strerrorname_np(errno));
    }
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
        int e = errno;
        (void)close(fd);
        return FX_ERR_SET(err, FX_ESYS, "listen %s: bind: %s (%s)", a->text, strerrordesc_np(e),
                          strerrorname_np(e));
    }
    if (listen(fd, backlog) != 0) {
        (void)close(fd);
        return FX_ERR_SET(err, FX_ESYS, "listen %s: listen: %s", a->text, strerrorname_np(errno));
    }
    return fd;
}

int fx_net_check_free(const struct fx_addr *a, struct fx_err *err)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return FX_ERR_SET(err, FX_ESYS, "listen %s: socket: %s", a->text, strerrorname_np(errno));
    int one = 1;
    int rc = 0;
    /* SO_REUSEADDR: a socket in TIME_WAIT is no conflict, a listening one is. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
        int e = errno;
        if (e == EADDRINUSE)
            rc = FX_ERR_SET(err, FX_ESYS,
                            "listen %s: address already in use (another process listens there)",
                            a->text);
        else
            rc = FX_ERR_SET(err, FX_ESYS, "listen %s: bind: %s (%s)", a->text, strerrordesc_np(e),
                            strerrorname_np(e));
    }
    (void)close(fd);
    return rc;
}

int fx_net_connect(const struct fx_addr *a)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0 && errno != EINPROGRESS) {
        int e = errno;
        (void)close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
