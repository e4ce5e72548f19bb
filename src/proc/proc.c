/* Process identity: privilege drop after binding, and the pidfile. */
#include "proc.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/err.h"

/* A decimal id ("65534"); false for names and values beyond 32 bits. */
static bool parse_id(const char *s, unsigned int *out)
{
    unsigned long long v = 0;
    if (*s == '\0')
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned long long)(*p - '0');
        if (v > 0xfffffffeull) /* (uid_t)-1 means "unchanged" to setuid */
            return false;
    }
    *out = (unsigned int)v;
    return true;
}

/* Look the user up by name or id. Returns 0 and fills uid (and *gid with its
 * primary group, *has_gid) or FX_ECONF. */
static int lookup_user(const char *cp, const char *user, uid_t *uid, gid_t *gid, bool *has_gid,
                       struct fx_err *err)
{
    struct passwd pw;
    struct passwd *res = NULL;
    char buf[4096];
    unsigned int id;
    bool numeric = parse_id(user, &id);
    int e = numeric ? getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &res)
                    : getpwnam_r(user, &pw, buf, sizeof(buf), &res);
    if (res != NULL) {
        *uid = pw.pw_uid;
        *gid = pw.pw_gid;
        *has_gid = true;
        return 0;
    }
    if (!numeric)
        return FX_ERR_SET(err, FX_ECONF, "%s: user \"%s\": %s", cp, user,
                          e != 0 ? strerrordesc_np(e) : "no such user");
    *uid = (uid_t)id;
    *has_gid = false;
    return 0;
}

static int lookup_group(const char *cp, const char *group, gid_t *gid, struct fx_err *err)
{
    struct group gr;
    struct group *res = NULL;
    char buf[4096];
    unsigned int id;
    if (parse_id(group, &id)) {
        *gid = (gid_t)id;
        return 0;
    }
    int e = getgrnam_r(group, &gr, buf, sizeof(buf), &res);
    if (res == NULL)
        return FX_ERR_SET(err, FX_ECONF, "%s: group \"%s\": %s", cp, group,
                          e != 0 ? strerrordesc_np(e) : "no such group");
    *gid = gr.gr_gid;
    return 0;
}

int fx_proc_ids_resolve(const char *conf_path, const char *user, const char *group,
                        struct fx_proc_ids *out, struct fx_err *err)
{
    memset(out, 0, sizeof(*out));
    if (user == NULL) {
        if (group != NULL)
            return FX_ERR_SET(err, FX_ECONF,
                              "%s: group \"%s\": set user: too (a group alone is "
                              "not a privilege drop)",
                              conf_path, group);
        return 0;
    }
    if (geteuid() != 0)
        return FX_ERR_SET(err, FX_ECONF,
                          "%s: user \"%s\": switching users needs root, and ficus runs as uid %u "
                          "(start it as root, or remove user: and group:)",
                          conf_path, user, (unsigned int)geteuid());
    bool has_gid = false;
    int rc = lookup_user(conf_path, user, &out->uid, &out->gid, &has_gid, err);
    if (rc == 0 && group != NULL)
        rc = lookup_group(conf_path, group, &out->gid, err);
    else if (rc == 0 && !has_gid)
        rc = FX_ERR_SET(err, FX_ECONF, "%s: user \"%s\": no account has this uid: set group: too",
                        conf_path, user);
    if (rc != 0)
        return rc;
    (void)snprintf(out->name, sizeof(out->name), "%s", user);
    out->set = true;
    return 0;
}

int fx_proc_chown(const struct fx_proc_ids *ids, const char *path, struct fx_err *err)
{
    if (!ids->set || path == NULL)
        return 0;
    if (chown(path, ids->uid, ids->gid) != 0 && errno != ENOENT)
        return FX_ERR_SET(err, FX_ESYS, "%s: cannot give it to user \"%s\": %s", path, ids->name,
                          strerrordesc_np(errno));
    return 0;
}

int fx_proc_drop(const struct fx_proc_ids *ids, struct fx_err *err)
{
    if (!ids->set)
        return 0;
    gid_t g = ids->gid;
    if (setgroups(1, &g) != 0)
        return FX_ERR_SET(err, FX_ESYS, "user \"%s\": setgroups(%u): %s", ids->name,
                          (unsigned int)g, strerrordesc_np(errno));
    if (setgid(g) != 0)
        return FX_ERR_SET(err, FX_ESYS, "user \"%s\": setgid(%u): %s", ids->name, (unsigned int)g,
                          strerrordesc_np(errno));
    if (setuid(ids->uid) != 0)
        return FX_ERR_SET(err, FX_ESYS, "user \"%s\": setuid(%u): %s", ids->name,
                          (unsigned int)ids->uid, strerrordesc_np(errno));
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 || r != ids->uid ||
        e != ids->uid || s != ids->uid || rg != g || eg != g || sg != g)
        return FX_ERR_SET(err, FX_ESYS, "user \"%s\": ids not switched everywhere", ids->name);
    if (ids->uid != 0 && setuid(0) == 0)
        return FX_ERR_SET(err, FX_ESYS, "user \"%s\": setuid(0) still succeeds after the drop",
                          ids->name);
    return 0;
}

/* The pid in `path`: > 0, 0 when absent or not a pid, -errno when unreadable. */
static long read_pid(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    (void)close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end = NULL;
    long pid = strtol(buf, &end, 10);
    if (end == buf || (*end != '\n' && *end != '\0') || pid <= 0 || pid > 0x3fffffffL)
        return 0;
    return pid;
}

/* A pid in use by another process (EPERM: alive, another owner). Our own pid
 * is stale: a container restarted as pid 1 finds its old file. */
static bool pid_alive(long pid, pid_t replacing)
{
    if (pid <= 0 || pid == (long)getpid() || (replacing > 0 && pid == (long)replacing))
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int fx_proc_pidfile_check(const char *path, pid_t replacing, struct fx_err *err)
{
    if (path == NULL)
        return 0;
    long pid = read_pid(path);
    if (pid < 0)
        return FX_ERR_SET(err, FX_ESYS, "pidfile %s: %s", path, strerrordesc_np((int)-pid));
    if (pid_alive(pid, replacing))
        return FX_ERR_SET(err, FX_ECONF,
                          "pidfile %s: ficus already runs as pid %ld (stop it, or remove the "
                          "file if that process is not ficus)",
                          path, pid);
    return 0;
}

/* Write our pid to a fresh temporary file beside `path`; its name goes to tmp. */
static int write_tmp(const char *path, char *tmp, size_t cap, struct fx_err *err)
{
    if ((size_t)snprintf(tmp, cap, "%s.tmp-XXXXXX", path) >= cap)
        return FX_ERR_SET(err, FX_ECONF, "pidfile %s: path too long", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return FX_ERR_SET(err, FX_ESYS, "pidfile %s: %s", path, strerrordesc_np(errno));
    char line[24];
    int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    bool ok = fchmod(fd, 0644) == 0 && write(fd, line, (size_t)n) == n;
    int e = errno;
    if (close(fd) != 0 || !ok) {
        (void)unlink(tmp);
        return FX_ERR_SET(err, FX_ESYS, "pidfile %s: %s", path, strerrordesc_np(ok ? errno : e));
    }
    return 0;
}

int fx_proc_pidfile_write(const char *path, pid_t replacing, struct fx_err *err)
{
    if (path == NULL)
        return 0;
    char tmp[4096 + 16];
    int rc = write_tmp(path, tmp, sizeof(tmp), err);
    if (rc != 0)
        return rc;
    /* link() fails with EEXIST instead of replacing: the exclusive step. A
     * stale file is removed and the link tried once more. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (link(tmp, path) == 0) {
            (void)unlink(tmp);
            return 0;
        }
        if (errno != EEXIST)
            break;
        rc = fx_proc_pidfile_check(path, replacing, err);
        if (rc != 0) {
            (void)unlink(tmp);
            return rc;
        }
        if (unlink(path) != 0 && errno != ENOENT)
            break;
    }
    int e = errno;
    (void)unlink(tmp);
    return FX_ERR_SET(err, FX_ESYS, "pidfile %s: %s", path,
                      e == EEXIST ? "another process created it at the same time"
                                  : strerrordesc_np(e));
}

int fx_proc_pidfile_remove(const char *path)
{
    if (path == NULL || read_pid(path) != (long)getpid())
        return 0;
    return unlink(path) == 0 ? 0 : -errno;
}
