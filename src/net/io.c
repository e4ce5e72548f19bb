/* Plain TCP transport: read(2) and writev(2), nothing in between. */
#include <sys/uio.h>

#include <errno.h>
#include <unistd.h>

#include "net.h"

static ssize_t plain_read(struct fx_xprt *x, int fd, char *buf, size_t len)
{
    (void)x;
    ssize_t n = read(fd, buf, len);
    if (n > 0)
        return n;
    if (n == 0)
        return FX_IO_EOF;
    return errno == EAGAIN || errno == EINTR ? FX_IO_WANT_READ : FX_IO_ERROR;
}

static ssize_t plain_writev(struct fx_xprt *x, int fd, const struct iovec *iov, int n)
{
    (void)x;
    ssize_t w = writev(fd, iov, n);
    if (w >= 0)
        return w > 0 ? w : FX_IO_WANT_WRITE;
    return errno == EAGAIN || errno == EINTR ? FX_IO_WANT_WRITE : FX_IO_ERROR;
}

const struct fx_io_ops fx_net_plain_ops = {
    .name = "tcp",
    .read = plain_read,
    .writev = plain_writev,
};
