/* Admin listener: metrics, health, the running config and the control plane. */
#ifndef FX_ADMIN_TYPES_H
#define FX_ADMIN_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "../loop/loop_types.h"

struct fx_shared;
struct fx_worker;
struct fx_admin_conn;

/* Limits of the admin listener; each deadline bounds one phase of a request. */
#define FX_ADMIN_CONN_MAX        256  /* concurrent connections; see fx_admin_start */
#define FX_ADMIN_HEAD_TIMEOUT_MS 5000 /* request line and headers */
#define FX_ADMIN_BODY_TIMEOUT_MS 5000 /* request body, once the head is in */
#define FX_ADMIN_SEND_TIMEOUT_MS 5000 /* the whole answer, however slowly it is read */

struct fx_admin {
    int fd;      /* owned listening socket (non-blocking) */
    int stop_fd; /* owned eventfd: written to stop the thread */
    pthread_t thread;
    struct fx_shared *sh; /* borrowed: lives for the process */
    struct fx_worker *ws; /* borrowed array */
    size_t nw;
    bool loopback; /* the listener is bound to a loopback address */
    /* Owned by the admin thread from fx_admin_start to its exit: */
    struct fx_loop loop;
    struct fx_io lio;                 /* the listener on `loop` */
    struct fx_io sio;                 /* stop_fd on `loop` */
    bool quit;                        /* stop_fd was written */
    bool accept_paused;               /* accept4 ran out of fds: retry on the next tick */
    struct fx_admin_conn *conns_head; /* owned list, oldest first */
    struct fx_admin_conn *conns_tail; /* borrowed: last of that list */
    size_t nconns;
    unsigned long long evicted; /* connections closed to make room */
};

#endif
