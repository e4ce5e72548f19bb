/* Socket addresses as configured. */
#ifndef FX_NET_TYPES_H
#define FX_NET_TYPES_H

#include <sys/socket.h>

/* A resolved numeric socket address and its canonical text ("127.0.0.1:80", "[::1]:80"). */
struct fx_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64];
};

#endif
