/* Passing file descriptors over Unix sockets (SCM_RIGHTS), for the listener
 * handover of a binary upgrade. */
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

int fx_net_send_fds(int sock, const char *msg, size_t len, const int *fds, size_t n)
{
    if (len == 0 || n > FX_NET_FDS_MAX)
        return -EINVAL;
    union {
        char buf[CMSG_SPACE(sizeof(int) * FX_NET_FDS_MAX)];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof(u));
    struct iovec iov = { .iov_base = (void *)(uintptr_t)msg, .iov_len = len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (n > 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    }
    ssize_t w;
    do {
        w = sendmsg(sock, &mh, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    if (w < 0)
        return -errno;
    return (size_t)w == len ? 0 : -EMSGSIZE;
}

/* Keep the first `room` fds of `cm` in fds[*nfds...], close the others. */
static void take_fds(struct cmsghdr *cm, int *fds, size_t maxfds, size_t *nfds)
{
    size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
        if (*nfds < maxfds)
            fds[(*nfds)++] = fd;
        else
            (void)close(fd);
    }
}

ssize_t fx_net_recv_fds(int sock, char *buf, size_t cap, int *fds, size_t maxfds, size_t *nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * FX_NET_FDS_MAX)];
        struct cmsghdr align;
    } u;
    *nfds = 0;
    if (cap < 2)
        return -EINVAL;
    struct iovec iov = { .iov_base = buf, .iov_len = cap - 1 };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)
    };
    ssize_t r;
    do {
        r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            take_fds(cm, fds, maxfds, nfds);
    }
    buf[r] = '\0';
    if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0)
        return -EMSGSIZE;
    return r;
}
