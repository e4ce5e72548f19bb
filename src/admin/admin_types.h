/* Admin listener: metrics, health and the running config. */
#ifndef FX_ADMIN_TYPES_H
#define FX_ADMIN_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

struct fx_shared;
struct fx_worker;

struct fx_admin {
    int fd;      /* owned listening socket */
    int stop_fd; /* owned eventfd: written to stop the thread */
    pthread_t thread;
    struct fx_shared *sh; /* borrowed: lives for the process */
    struct fx_worker *ws; /* borrowed array */
    size_t nw;
};

#endif
