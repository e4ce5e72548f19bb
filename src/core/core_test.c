/* Unit tests for core: buffers, byte views, error codes and logging. */
#include <fcntl.h>
#include <limits.h>
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

#include "buf.h"
#include "err.h"
#include "log.h"
#include "str.h"

/* ---- helpers ------------------------------------------------------------ */

/* Fill b with `n` bytes 'a', 'b', ... through fx_buf_append(). */
static void fill_pattern(struct fx_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = (char)('a' + (i % 26));
        assert_int_equal(fx_buf_append(b, &c, 1), 0);
    }
}

struct log_pipe {
    int rd;
    int wr;
    struct fx_log log;
};

static void log_pipe_open(struct log_pipe *p, enum fx_log_level level)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    p->rd = fds[0];
    p->wr = fds[1];
    p->log.level = level;
    p->log.fd = p->wr;
}

static void log_pipe_close(struct log_pipe *p)
{
    (void)close(p->rd);
    (void)close(p->wr);
}

/* Read everything currently in the pipe into out[cap] (NUL-terminated). */
static size_t log_pipe_read(struct log_pipe *p, char *out, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(p->rd, out + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    return n;
}

static size_t count_char(const char *s, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

/* ---- buf ---------------------------------------------------------------- */

static void test_buf_init_empty_with_cap(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 64), 0);
    assert_non_null(b.data);
    assert_int_equal(b.cap, 64);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(fx_buf_wroom(&b), 64);
    assert_ptr_equal(fx_buf_rptr(&b), b.data);
    assert_ptr_equal(fx_buf_wptr(&b), b.data);
    fx_buf_fini(&b);
}

static void test_buf_fini_detaches_storage(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 32), 0);
    fill_pattern(&b, 10);
    fx_buf_fini(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 0);
}

static void test_buf_append_appends_bytes(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 16), 0);
    assert_int_equal(fx_buf_append(&b, "hello", 5), 0);
    assert_int_equal(fx_buf_append(&b, " world", 6), 0);
    assert_int_equal(b.len, 11);
    assert_int_equal(fx_buf_wroom(&b), 5);
    assert_memory_equal(fx_buf_rptr(&b), "hello world", 11);
    /* Zero bytes always fit, even in a full buffer. */
    assert_int_equal(fx_buf_append(&b, "12345", 5), 0);
    assert_int_equal(fx_buf_wroom(&b), 0);
    assert_int_equal(fx_buf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 16);
    fx_buf_fini(&b);
}

static void test_buf_append_beyond_cap_is_elimit(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 8), 0);
    assert_int_equal(fx_buf_append(&b, "abcdef", 6), 0);
    assert_int_equal(fx_buf_append(&b, "xyz", 3), FX_ELIMIT);
    /* A failed append leaves the buffer untouched. */
    assert_int_equal(b.len, 6);
    assert_int_equal(b.off, 0);
    assert_memory_equal(fx_buf_rptr(&b), "abcdef", 6);
    assert_int_equal(fx_buf_append(&b, "xy", 2), 0);
    assert_memory_equal(fx_buf_rptr(&b), "abcdefxy", 8);
    fx_buf_fini(&b);
}

static void test_buf_append_compacts_when_needed(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 8), 0);
    assert_int_equal(fx_buf_append(&b, "abcdefgh", 8), 0);
    fx_buf_consume(&b, 5);
    assert_int_equal(b.off, 5);
    assert_int_equal(fx_buf_append(&b, "XYZ", 3), 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "fghXYZ", 6);
    fx_buf_fini(&b);
}

static void test_buf_reserve_fits_without_moving(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 32), 0);
    fill_pattern(&b, 10);
    fx_buf_consume(&b, 4);
    assert_int_equal(fx_buf_reserve(&b, 22), 0);
    /* Enough room after the data: no compaction. */
    assert_int_equal(b.off, 4);
    assert_int_equal(b.len, 6);
    assert_memory_equal(fx_buf_rptr(&b), "efghij", 6);
    fx_buf_fini(&b);
}

static void test_buf_reserve_compacts(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 16), 0);
    fill_pattern(&b, 12);
    fx_buf_consume(&b, 8);
    assert_int_equal(fx_buf_wroom(&b), 4);
    assert_int_equal(fx_buf_reserve(&b, 10), 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 4);
    assert_true(fx_buf_wroom(&b) >= 10);
    assert_int_equal(fx_buf_wroom(&b), 12);
    assert_memory_equal(fx_buf_rptr(&b), "ijkl", 4);
    fx_buf_fini(&b);
}

static void test_buf_reserve_exactly_cap_minus_len(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 16), 0);
    fill_pattern(&b, 10);
    fx_buf_consume(&b, 7);
    assert_int_equal(fx_buf_reserve(&b, 13), 0);
    assert_int_equal(fx_buf_wroom(&b), 13);
    assert_memory_equal(fx_buf_rptr(&b), "hij", 3);
    fx_buf_fini(&b);
}

static void test_buf_reserve_beyond_cap_is_elimit(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 16), 0);
    fill_pattern(&b, 12);
    fx_buf_consume(&b, 8);
    assert_int_equal(fx_buf_reserve(&b, 13), FX_ELIMIT);
    /* Refused: nothing moved. */
    assert_int_equal(b.off, 8);
    assert_int_equal(b.len, 4);
    assert_memory_equal(fx_buf_rptr(&b), "ijkl", 4);
    assert_int_equal(fx_buf_reserve(&b, 17), FX_ELIMIT);
    assert_int_equal(fx_buf_reserve(&b, SIZE_MAX), FX_ELIMIT);
    assert_int_equal(b.off, 8);
    fx_buf_fini(&b);
}

static void test_buf_consume_rewinds_when_empty(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 16), 0);
    fill_pattern(&b, 10);
    fx_buf_consume(&b, 3);
    assert_int_equal(b.off, 3);
    assert_int_equal(b.len, 7);
    assert_memory_equal(fx_buf_rptr(&b), "defghij", 7);
    fx_buf_consume(&b, 7);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(fx_buf_wroom(&b), 16);
    assert_ptr_equal(fx_buf_wptr(&b), b.data);
    fx_buf_fini(&b);
}

static void test_buf_compact_preserves_bytes(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 64), 0);
    fill_pattern(&b, 60);
    fx_buf_consume(&b, 25);
    char want[35];
    memcpy(want, fx_buf_rptr(&b), sizeof(want));
    fx_buf_compact(&b);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 35);
    assert_memory_equal(b.data, want, sizeof(want));
    assert_int_equal(b.data[0], 'z');
    /* Compacting a compact buffer is a no-op. */
    fx_buf_compact(&b);
    assert_int_equal(b.len, 35);
    assert_memory_equal(b.data, want, sizeof(want));
    fx_buf_fini(&b);
}

static void test_buf_commit_after_wptr_write(void **state)
{
    (void)state;
    struct fx_buf b;
    assert_int_equal(fx_buf_init(&b, 8), 0);
    assert_int_equal(fx_buf_reserve(&b, 3), 0);
    memcpy(fx_buf_wptr(&b), "abc", 3);
    fx_buf_commit(&b, 3);
    assert_int_equal(b.len, 3);
    assert_int_equal(fx_buf_wroom(&b), 5);
    assert_memory_equal(fx_buf_rptr(&b), "abc", 3);
    fx_buf_fini(&b);
}

/* ---- str ---------------------------------------------------------------- */

static void test_str_eq_compares_bytes(void **state)
{
    (void)state;
    assert_true(fx_str_eq(FX_STR("abc"), fx_str_c("abc")));
    assert_false(fx_str_eq(FX_STR("abc"), FX_STR("abd")));
    assert_false(fx_str_eq(FX_STR("abc"), FX_STR("ab")));
    assert_false(fx_str_eq(FX_STR("abc"), FX_STR("ABC")));
    assert_true(fx_str_eq(FX_STR(""), fx_str_c(NULL)));
    assert_true(fx_str_eq(fx_str_c(NULL), fx_str_c(NULL)));
    /* Views need no NUL terminator and may contain NUL bytes. */
    const char raw[] = { 'a', '\0', 'b', 'X' };
    struct fx_str v = { raw, 3 };
    assert_true(fx_str_eq(v, (struct fx_str){ "a\0b", 3 }));
    assert_false(fx_str_eq(v, (struct fx_str){ "a\0c", 3 }));
}

static void test_str_eqi_ignores_ascii_case(void **state)
{
    (void)state;
    assert_true(fx_str_eqi(FX_STR("Content-Length"), FX_STR("content-length")));
    assert_true(fx_str_eqi(FX_STR("HOST"), FX_STR("host")));
    assert_false(fx_str_eqi(FX_STR("host"), FX_STR("hosts")));
    assert_false(fx_str_eqi(FX_STR("host"), FX_STR("hist")));
    assert_true(fx_str_eqi(fx_str_c(NULL), FX_STR("")));
    /* Only A-Z fold: '@' (0x40) and '`' (0x60), '[' and '{' differ. */
    assert_false(fx_str_eqi(FX_STR("@"), FX_STR("`")));
    assert_false(fx_str_eqi(FX_STR("["), FX_STR("{")));
    assert_false(fx_str_eqi(FX_STR("\xc9"), FX_STR("\xe9")));
}

static void test_str_has_prefix_cases(void **state)
{
    (void)state;
    assert_true(fx_str_has_prefix(FX_STR("/api/v1"), FX_STR("/api")));
    assert_true(fx_str_has_prefix(FX_STR("/api"), FX_STR("/api")));
    assert_true(fx_str_has_prefix(FX_STR("/api"), FX_STR("")));
    assert_true(fx_str_has_prefix(fx_str_c(NULL), fx_str_c(NULL)));
    assert_false(fx_str_has_prefix(FX_STR("/ap"), FX_STR("/api")));
    assert_false(fx_str_has_prefix(FX_STR("/API/v1"), FX_STR("/api")));
    assert_false(fx_str_has_prefix(fx_str_c(NULL), FX_STR("/")));
}

static void test_str_c_null_is_empty(void **state)
{
    (void)state;
    struct fx_str s = fx_str_c(NULL);
    assert_null(s.ptr);
    assert_int_equal(s.len, 0);
    const char *lit = "hello";
    s = fx_str_c(lit);
    assert_ptr_equal(s.ptr, lit);
    assert_int_equal(s.len, 5);
    s = FX_STR("host");
    assert_int_equal(s.len, 4);
}

/* ---- err ---------------------------------------------------------------- */

struct err_row {
    int code;
    const char *name;
    const char *msg;
};

static const struct err_row err_rows[] = {
#define ROW_(name, msg) { FX_##name, #name, msg },
    FX_ERR_MAP(ROW_)
#undef ROW_
};

static void test_err_name_every_code(void **state)
{
    (void)state;
    size_t n = sizeof(err_rows) / sizeof(err_rows[0]);
    assert_true(n >= 18);
    for (size_t i = 0; i < n; i++) {
        assert_true(err_rows[i].code < 0);
        assert_string_equal(fx_err_name(err_rows[i].code), err_rows[i].name);
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(err_rows[i].code, err_rows[j].code);
    }
    assert_string_equal(fx_err_name(FX_EAGAIN), "EAGAIN");
    assert_string_equal(fx_err_name(FX_ENOTFOUND), "ENOTFOUND");
    assert_string_equal(fx_err_name(FX_OK), "OK");
}

static void test_strerror_every_code(void **state)
{
    (void)state;
    size_t n = sizeof(err_rows) / sizeof(err_rows[0]);
    for (size_t i = 0; i < n; i++) {
        const char *m = fx_strerror(err_rows[i].code);
        assert_non_null(m);
        assert_string_equal(m, err_rows[i].msg);
        assert_true(strlen(m) > 0);
    }
    assert_string_equal(fx_strerror(FX_ELIMIT), "limit exceeded");
    assert_string_equal(fx_strerror(FX_OK), "success");
}

static void test_err_name_unknown_code(void **state)
{
    (void)state;
    const int unknown[] = { 1, -1, 42, FX_ERR_BASE, FX_ERR_END, INT_MIN, INT_MAX, -5000 };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_string_equal(fx_err_name(unknown[i]), "EUNKNOWN");
        assert_string_equal(fx_strerror(unknown[i]), "unknown error");
    }
}

static void test_err_set_fills_fields(void **state)
{
    (void)state;
    struct fx_err err;
    memset(&err, 0x5a, sizeof(err));
    errno = ENOENT;
    int line = __LINE__ + 1;
    int rc = FX_ERR_SET(&err, FX_ECONF, "conf: %s:%d: %s", "ficus.yaml", 42, "bad");
    assert_int_equal(rc, FX_ECONF);
    assert_int_equal(err.code, FX_ECONF);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_non_null(err.func);
    assert_string_equal(err.func, __func__);
    assert_int_equal(err.line, line);
    assert_string_equal(err.msg, "conf: ficus.yaml:42: bad");
}

static void test_err_set_null_err_returns_code(void **state)
{
    (void)state;
    assert_int_equal(FX_ERR_SET(NULL, FX_EIO, "x=%d", 1), FX_EIO);
    assert_int_equal(FX_ERR_SET(NULL, FX_ENOMEM, "oom"), FX_ENOMEM);
}

static void test_err_set_truncates_long_message(void **state)
{
    (void)state;
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(FX_ERR_SET(&err, FX_EINVAL, "%s", big), FX_EINVAL);
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
    assert_int_equal(err.msg[0], 'x');
    assert_int_equal(err.code, FX_EINVAL);
}

/* ---- log ---------------------------------------------------------------- */

static int side_effects;

static int bump(void)
{
    side_effects++;
    return 7;
}

static void test_log_write_one_line(void **state)
{
    (void)state;
    struct log_pipe p;
    log_pipe_open(&p, FX_LOG_INFO);
    fx_log_write(&p.log, FX_LOG_INFO, "msg=%s n=%d", "hello", 42);
    char out[4096];
    size_t n = log_pipe_read(&p, out, sizeof(out));
    log_pipe_close(&p);
    assert_true(n > 0);
    assert_int_equal(strncmp(out, "time=", 5), 0);
    assert_non_null(strstr(out, " level=info "));
    assert_int_equal(count_char(out, n, '\n'), 1);
    assert_int_equal(out[n - 1], '\n');
    const char *tail = "msg=hello n=42\n";
    assert_true(n > strlen(tail));
    assert_string_equal(out + n - strlen(tail), tail);
}

static void test_log_write_time_format(void **state)
{
    (void)state;
    struct log_pipe p;
    log_pipe_open(&p, FX_LOG_DEBUG);
    fx_log_write(&p.log, FX_LOG_WARN, "k=v");
    char out[4096];
    size_t n = log_pipe_read(&p, out, sizeof(out));
    log_pipe_close(&p);
    /* "time=2026-11-25T16:40:00.123Z level=warn k=v\n" */
    const char *shape = "time=dddd-dd-ddTdd:dd:dd.dddZ level=warn k=v\n";
    assert_int_equal(n, strlen(shape));
    for (size_t i = 0; i < n; i++) {
        if (shape[i] == 'd')
            assert_true(out[i] >= '0' && out[i] <= '9');
        else
            assert_int_equal(out[i], shape[i]);
    }
}

static void test_log_write_level_names(void **state)
{
    (void)state;
    static const struct {
        enum fx_log_level lvl;
        const char *name;
    } rows[] = {
        { FX_LOG_ERROR, " level=error " },
        { FX_LOG_WARN, " level=warn " },
        { FX_LOG_INFO, " level=info " },
        { FX_LOG_DEBUG, " level=debug " },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct log_pipe p;
        log_pipe_open(&p, FX_LOG_DEBUG);
        fx_log_write(&p.log, rows[i].lvl, "x=1");
        char out[256];
        size_t n = log_pipe_read(&p, out, sizeof(out));
        log_pipe_close(&p);
        assert_true(n > 0);
        assert_non_null(strstr(out, rows[i].name));
    }
}

static void test_log_level_filter_skips_arguments(void **state)
{
    (void)state;
    struct log_pipe p;
    log_pipe_open(&p, FX_LOG_WARN);
    side_effects = 0;
    fx_log(&p.log, FX_LOG_INFO, "n=%d", bump());
    fx_log(&p.log, FX_LOG_DEBUG, "n=%d", bump());
    assert_int_equal(side_effects, 0);
    char out[4096];
    assert_int_equal(log_pipe_read(&p, out, sizeof(out)), 0);

    fx_log(&p.log, FX_LOG_WARN, "n=%d", bump());
    fx_log(&p.log, FX_LOG_ERROR, "n=%d", bump());
    assert_int_equal(side_effects, 2);
    size_t n = log_pipe_read(&p, out, sizeof(out));
    log_pipe_close(&p);
    assert_int_equal(count_char(out, n, '\n'), 2);
    assert_non_null(strstr(out, "level=warn n=7\n"));
    assert_non_null(strstr(out, "level=error n=7\n"));
}

static void test_log_write_truncates_long_line(void **state)
{
    (void)state;
    size_t big_len = 5000;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, 'y', big_len);
    big[big_len] = '\0';
    struct log_pipe p;
    log_pipe_open(&p, FX_LOG_INFO);
    fx_log_write(&p.log, FX_LOG_ERROR, "v=%s", big);
    free(big);
    char out[8192];
    size_t n = log_pipe_read(&p, out, sizeof(out));
    log_pipe_close(&p);
    assert_true(n > 1000);
    assert_true(n < big_len);
    assert_int_equal(strncmp(out, "time=", 5), 0);
    assert_int_equal(count_char(out, n, '\n'), 1);
    assert_int_equal(out[n - 1], '\n');
    assert_int_equal(count_char(out, n, '\0'), 0);
    assert_int_equal(out[n - 2], 'y');
}

static void test_log_quote_escapes(void **state)
{
    (void)state;
    char out[64];
    const char *r = fx_log_quote(out, sizeof(out), "a\"b\\c");
    assert_ptr_equal(r, out);
    assert_string_equal(out, "a\\\"b\\\\c");
    fx_log_quote(out, sizeof(out), "line1\nline2\r\t\x01\x1f\x7f end");
    assert_string_equal(out, "line1?line2????? end");
    fx_log_quote(out, sizeof(out), "");
    assert_string_equal(out, "");
    /* Bytes >= 0x80 pass through (UTF-8 stays readable). */
    fx_log_quote(out, sizeof(out), "caf\xc3\xa9");
    assert_string_equal(out, "caf\xc3\xa9");
}

/* Every cap gives a NUL-terminated prefix of the full escaping that never
 * writes past cap and never ends in half an escape. */
static void test_log_quote_truncates_safely(void **state)
{
    (void)state;
    const char *src = "ab\"c\\\\d\"\"e\nf";
    char full[64];
    fx_log_quote(full, sizeof(full), src);
    assert_string_equal(full, "ab\\\"c\\\\\\\\d\\\"\\\"e?f");
    size_t flen = strlen(full);
    for (size_t cap = 0; cap <= flen + 4; cap++) {
        char out[80];
        memset(out, '#', sizeof(out));
        fx_log_quote(out, cap, src);
        for (size_t i = cap; i < sizeof(out); i++)
            assert_int_equal(out[i], '#');
        if (cap == 0)
            continue;
        size_t n = strnlen(out, cap);
        assert_true(n < cap);
        assert_memory_equal(out, full, n);
        /* An odd run of trailing backslashes would be half an escape. */
        size_t bs = 0;
        while (bs < n && out[n - 1 - bs] == '\\')
            bs++;
        assert_int_equal(bs % 2, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_init_empty_with_cap),
        cmocka_unit_test(test_buf_fini_detaches_storage),
        cmocka_unit_test(test_buf_append_appends_bytes),
        cmocka_unit_test(test_buf_append_beyond_cap_is_elimit),
        cmocka_unit_test(test_buf_append_compacts_when_needed),
        cmocka_unit_test(test_buf_reserve_fits_without_moving),
        cmocka_unit_test(test_buf_reserve_compacts),
        cmocka_unit_test(test_buf_reserve_exactly_cap_minus_len),
        cmocka_unit_test(test_buf_reserve_beyond_cap_is_elimit),
        cmocka_unit_test(test_buf_consume_rewinds_when_empty),
        cmocka_unit_test(test_buf_compact_preserves_bytes),
        cmocka_unit_test(test_buf_commit_after_wptr_write),
        cmocka_unit_test(test_str_eq_compares_bytes),
        cmocka_unit_test(test_str_eqi_ignores_ascii_case),
        cmocka_unit_test(test_str_has_prefix_cases),
        cmocka_unit_test(test_str_c_null_is_empty),
        cmocka_unit_test(test_err_name_every_code),
        cmocka_unit_test(test_strerror_every_code),
        cmocka_unit_test(test_err_name_unknown_code),
        cmocka_unit_test(test_err_set_fills_fields),
        cmocka_unit_test(test_err_set_null_err_returns_code),
        cmocka_unit_test(test_err_set_truncates_long_message),
        cmocka_unit_test(test_log_write_one_line),
        cmocka_unit_test(test_log_write_time_format),
        cmocka_unit_test(test_log_write_level_names),
        cmocka_unit_test(test_log_level_filter_skips_arguments),
        cmocka_unit_test(test_log_write_truncates_long_line),
        cmocka_unit_test(test_log_quote_escapes),
        cmocka_unit_test(test_log_quote_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
