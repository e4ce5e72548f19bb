/* notify_sink PATH: bind a Unix datagram socket at PATH (a stand-in for
 * systemd's NOTIFY_SOCKET, which Node cannot create) and print each datagram
 * received as one line on stdout, its newlines replaced by spaces. Prints
 * "listening" once bound; exits on SIGTERM or a read error. Test helper only. */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        (void)fputs("usage: notify_sink PATH\n", stderr);
        return 2;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
        (void)fputs("notify_sink: path too long\n", stderr);
        return 2;
    }
    (void)strcpy(sa.sun_path, argv[1]);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("notify_sink: bind");
        return 1;
    }
    (void)printf("listening\n");
    (void)fflush(stdout);
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            return 1;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n')
                buf[i] = ' ';
        }
        buf[n] = '\0';
        (void)printf("%s\n", buf);
        (void)fflush(stdout);
    }
}
