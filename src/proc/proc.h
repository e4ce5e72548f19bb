/* Process identity contract: privilege drop (`user:`, `group:`) and the
 * pidfile (`pidfile:`) of `ficus serve`. Called from main's thread only, at
 * start-up and exit; none of these functions runs callbacks. */
#ifndef FX_PROC_H
#define FX_PROC_H

#include "../core/err_types.h"
#include "proc_types.h"

/* Resolve `user` and `group` (names or decimal ids; either may be NULL) into
 * `out`. `conf_path` (borrowed) prefixes messages. A NULL `user` gives
 * out->set = false and 0, unless `group` is set (refused: a group alone is
 * not a drop). The group defaults to the user's primary group. Refuses, with
 * FX_ECONF and `PATH: user "x": no such user` style messages: unknown names,
 * a numeric uid without an account and without `group`, and any `user` when
 * the process does not run as root (effective uid 0). */
int fx_proc_ids_resolve(const char *conf_path, const char *user, const char *group,
                        struct fx_proc_ids *out, struct fx_err *err);

/* Give `path` (borrowed; may be NULL) to ids->uid:ids->gid when it exists, so
 * that the process still opens it after fx_proc_drop(). A missing file is no
 * error. Returns 0, or FX_ESYS from chown. No-op when !ids->set. */
int fx_proc_chown(const struct fx_proc_ids *ids, const char *path, struct fx_err *err);

/* Switch the whole process (every thread: glibc's setxid broadcast) to
 * ids->uid/gid: setgroups (to the one group), setgid, setuid, each checked,
 * then verify that setuid(0) fails and the real, effective and saved ids
 * are the new ones. Returns 0 or FX_ESYS; on failure the process may be
 * half-switched and must exit. No-op when !ids->set. */
int fx_proc_drop(const struct fx_proc_ids *ids, struct fx_err *err);

/* Refuse to start when `path` (borrowed) names a live process: returns
 * FX_ECONF with `pidfile PATH: ficus already runs as pid N`; 0 when the file
 * is absent, unreadable as a pid, or names a dead process, this one or
 * `replacing` (> 0; 0 for none). */
int fx_proc_pidfile_check(const char *path, pid_t replacing, struct fx_err *err);

/* Write this process's pid to `path` atomically and exclusively: the pid is
 * written to a temporary file in the same directory, then hard-linked to
 * `path`, so a reader never sees a partial file and two starts cannot both
 * win. A stale file (see fx_proc_pidfile_check, with `replacing`) is
 * replaced. Returns 0,
 * FX_ECONF when a live process owns the file, FX_ESYS otherwise. */
int fx_proc_pidfile_write(const char *path, pid_t replacing, struct fx_err *err);

/* Remove `path` if it still holds this process's pid (a successor's file is
 * left alone). Returns 0 (removed or not ours) or -errno from unlink. */
int fx_proc_pidfile_remove(const char *path);

/* Binary upgrade, old side: listen on the Unix socket `path` (borrowed;
 * mode 0600, an existing socket file is replaced) and hand the listeners in
 * `ls` (borrowed until fx_proc_expose_stop) to one `ficus serve --takeover
 * path`. When the new process reports it serves, SIGTERM is raised in this
 * process, whose usual drain follows. Only root or this process's user may
 * connect. Starts a thread; returns 0 or FX_ESYS. `log` is borrowed. */
int fx_proc_expose_start(struct fx_proc_expose *e, const char *path, const struct fx_proc_lsets *ls,
                         struct fx_log *log, struct fx_err *err);

/* Stop and join the thread, close the socket and remove its file if it is
 * still the one we created. Safe after a failed or no start (e->running). */
void fx_proc_expose_stop(struct fx_proc_expose *e);

/* Binary upgrade, new side: connect to the old process at `path`, receive its
 * listeners into `out` (the caller owns them: fx_proc_lsets_fini) and its pid
 * into *peer. *conn is the open connection for fx_proc_takeover_done. Returns
 * 0, or FX_ESYS/FX_EIO with `takeover PATH: cause`. */
int fx_proc_takeover(const char *path, struct fx_proc_lsets *out, pid_t *peer, int *conn,
                     struct fx_err *err);

/* Tell the old process that this one serves (it then drains and exits) and
 * close `conn`. Returns 0 or -errno. */
int fx_proc_takeover_done(int conn);

/* Close the descriptors not marked used and free the arrays. */
void fx_proc_lsets_fini(struct fx_proc_lsets *ls, bool close_unused);

#endif
