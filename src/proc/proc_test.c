/* Unit tests for proc: user/group resolution and the pidfile. The drop itself
 * (setuid) is covered by tests/e2e/58-privdrop.test.mjs, which checks the
 * running process's /proc/PID/status. */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>

#include "../core/err.h"
#include "proc.h"

static void test_proc_ids_resolve_no_user(void **state)
{
    (void)state;
    struct fx_proc_ids ids;
    struct fx_err err = { 0 };
    assert_int_equal(fx_proc_ids_resolve("f.yaml", NULL, NULL, &ids, &err), 0);
    assert_false(ids.set);
}

static void test_proc_ids_resolve_rejects_group_alone(void **state)
{
    (void)state;
    struct fx_proc_ids ids;
    struct fx_err err = { 0 };
    assert_int_equal(fx_proc_ids_resolve("f.yaml", NULL, "nogroup", &ids, &err), FX_ECONF);
    assert_non_null(strstr(err.msg, "f.yaml: group \"nogroup\": set user: too"));
}

static void test_proc_ids_resolve_names_and_ids(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct fx_proc_ids ids;
    struct fx_err err = { 0 };
    assert_int_equal(fx_proc_ids_resolve("f.yaml", "nobody", NULL, &ids, &err), 0);
    assert_true(ids.set);
    assert_int_equal(ids.uid, 65534);
    assert_int_equal(ids.gid, 65534); /* nobody's primary group, nogroup */
    assert_string_equal(ids.name, "nobody");
    assert_int_equal(fx_proc_ids_resolve("f.yaml", "65534", "0", &ids, &err), 0);
    assert_int_equal(ids.uid, 65534);
    assert_int_equal(ids.gid, 0);
    assert_int_equal(fx_proc_ids_resolve("f.yaml", "nobody", "root", &ids, &err), 0);
    assert_int_equal(ids.gid, 0);
    /* A uid without an account needs an explicit group. */
    assert_int_equal(fx_proc_ids_resolve("f.yaml", "3999999", "3999999", &ids, &err), 0);
    assert_int_equal(ids.uid, 3999999);
    assert_int_equal(fx_proc_ids_resolve("f.yaml", "3999999", NULL, &ids, &err), FX_ECONF);
    assert_non_null(strstr(err.msg, "f.yaml: user \"3999999\": no account has this uid"));
}

static void test_proc_ids_resolve_rejects_unknown_names(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct fx_proc_ids ids;
    struct fx_err err = { 0 };
    assert_int_equal(fx_proc_ids_resolve("/etc/f.yaml", "no-such-user-fx", NULL, &ids, &err),
                     FX_ECONF);
    assert_string_equal(err.msg, "/etc/f.yaml: user \"no-such-user-fx\": no such user");
    assert_false(ids.set);
    assert_int_equal(fx_proc_ids_resolve("/etc/f.yaml", "nobody", "no-such-group-fx", &ids, &err),
                     FX_ECONF);
    assert_string_equal(err.msg, "/etc/f.yaml: group \"no-such-group-fx\": no such group");
    /* (uid_t)-1 means "leave unchanged" to setuid: never a target. */
    assert_int_equal(fx_proc_ids_resolve("/etc/f.yaml", "4294967295", "0", &ids, &err), FX_ECONF);
}

/* ---- pidfile ------------------------------------------------------------- */

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/ficus-proc-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    (void)snprintf(fx->path, sizeof(fx->path), "%s/ficus.pid", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    (void)unlink(fx->path);
    (void)rmdir(fx->dir); /* fails, and the test with it, if a temp file was left */
    free(fx);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static long read_back(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long pid = -1;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = -1;
    (void)fclose(f);
    return pid;
}

/* The pid of a process that has exited (and was reaped). */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0)
        _exit(0);
    assert_int_equal(waitpid(p, NULL, 0), p);
    return p;
}

static void test_proc_pidfile_write_and_remove(void **state)
{
    struct fixture *fx = *state;
    struct fx_err err = { 0 };
    assert_int_equal(fx_proc_pidfile_check(fx->path, 0, &err), 0);
    assert_int_equal(fx_proc_pidfile_write(fx->path, 0, &err), 0);
    assert_int_equal(read_back(fx->path), (long)getpid());
    struct stat st;
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(st.st_nlink, 1); /* the temporary name is gone */
    assert_int_equal(fx_proc_pidfile_remove(fx->path), 0);
    assert_int_equal(access(fx->path, F_OK), -1);
    assert_int_equal(fx_proc_pidfile_remove(fx->path), 0); /* absent: nothing to do */
}

static void test_proc_pidfile_refuses_live_process(void **state)
{
    struct fixture *fx = *state;
    struct fx_err err = { 0 };
    char text[32];
    (void)snprintf(text, sizeof(text), "%ld\n", (long)getppid());
    write_text(fx->path, text);
    assert_int_equal(fx_proc_pidfile_check(fx->path, 0, &err), FX_ECONF);
    char want[256];
    (void)snprintf(want, sizeof(want), "pidfile %s: ficus already runs as pid %ld", fx->path,
                   (long)getppid());
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(fx_proc_pidfile_write(fx->path, 0, &err), FX_ECONF);
    assert_int_equal(read_back(fx->path), (long)getppid()); /* untouched */
    /* Not ours: remove leaves it. */
    assert_int_equal(fx_proc_pidfile_remove(fx->path), 0);
    assert_int_equal(read_back(fx->path), (long)getppid());
    /* A binary upgrade replaces the pidfile of the process it takes over from. */
    assert_int_equal(fx_proc_pidfile_check(fx->path, getppid(), &err), 0);
    assert_int_equal(fx_proc_pidfile_write(fx->path, getppid(), &err), 0);
    assert_int_equal(read_back(fx->path), (long)getpid());
}

static void test_proc_pidfile_replaces_stale_files(void **state)
{
    struct fixture *fx = *state;
    struct fx_err err = { 0 };
    static const char *const stale[] = { "", "garbage\n", "-5\n", "12x\n" };
    for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
        write_text(fx->path, stale[i]);
        assert_int_equal(fx_proc_pidfile_write(fx->path, 0, &err), 0);
        assert_int_equal(read_back(fx->path), (long)getpid());
    }
    char text[32];
    (void)snprintf(text, sizeof(text), "%ld\n", (long)dead_pid());
    write_text(fx->path, text);
    assert_int_equal(fx_proc_pidfile_check(fx->path, 0, &err), 0);
    assert_int_equal(fx_proc_pidfile_write(fx->path, 0, &err), 0);
    assert_int_equal(read_back(fx->path), (long)getpid());
    /* Our own pid (a container restarted as the same pid) is stale too. */
    assert_int_equal(fx_proc_pidfile_write(fx->path, 0, &err), 0);
    assert_int_equal(fx_proc_pidfile_remove(fx->path), 0);
}

static void test_proc_pidfile_reports_unwritable_directory(void **state)
{
    (void)state;
    struct fx_err err = { 0 };
    assert_int_equal(fx_proc_pidfile_write("/nonexistent-fx/ficus.pid", 0, &err), FX_ESYS);
    assert_non_null(strstr(err.msg, "pidfile /nonexistent-fx/ficus.pid: No such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_ids_resolve_no_user),
        cmocka_unit_test(test_proc_ids_resolve_rejects_group_alone),
        cmocka_unit_test(test_proc_ids_resolve_names_and_ids),
        cmocka_unit_test(test_proc_ids_resolve_rejects_unknown_names),
        cmocka_unit_test_setup_teardown(test_proc_pidfile_write_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_pidfile_refuses_live_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_pidfile_replaces_stale_files, setup, teardown),
        cmocka_unit_test(test_proc_pidfile_reports_unwritable_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
