/* Process identity types: the account `serve` switches to after binding. */
#ifndef FX_PROC_TYPES_H
#define FX_PROC_TYPES_H

#include <sys/types.h>

#include <stdbool.h>

/* A resolved `user:`/`group:` pair. */
struct fx_proc_ids {
    bool set; /* false: no `user:`, nothing to switch to */
    uid_t uid;
    gid_t gid;
    char name[72]; /* the user as written in the config, for messages */
};

#endif
