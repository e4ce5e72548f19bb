/* Process identity types: the account `serve` switches to after binding. */
#ifndef FX_PROC_TYPES_H
#define FX_PROC_TYPES_H

#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* A resolved `user:`/`group:` pair. */
struct fx_proc_ids {
    bool set; /* false: no `user:`, nothing to switch to */
    uid_t uid;
    gid_t gid;
    char name[72]; /* the user as written in the config, for messages */
};

/* The listening sockets of one configured address, as handed over in a
 * binary upgrade. */
struct fx_proc_lset {
    char text[64]; /* the address as configured ("127.0.0.1:0"), the matching key */
    int *fds;      /* owned by the set (sender: borrowed from the workers) */
    size_t nfds;
    bool used; /* receiver: taken by a listener of the new configuration */
};

/* Every listener of a process: proxy addresses in config order, and admin. */
struct fx_proc_lsets {
    struct fx_proc_lset *v; /* owned array */
    size_t n;
    struct fx_proc_lset admin; /* admin.nfds == 0: no admin listener */
};

/* The old process's side: a Unix socket that hands its listeners over. */
struct fx_proc_expose {
    int fd;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    dev_t dev; /* the socket file we created: removed at stop only if still ours */
    ino_t ino;
    const struct fx_proc_lsets *ls; /* borrowed: main's, outlives the thread */
    struct fx_log *log;             /* borrowed */
    char path[108];
};

#endif
