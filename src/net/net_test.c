/* Unit tests for address parsing and formatting. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>

#include "../core/err.h"
#include "net.h"

static void assert_addr_ok(const char *in, bool allow_port0, const char *want_text, int family)
{
    struct fx_addr a;
    struct fx_err err = { 0 };
    int rc = fx_addr_parse(in, &a, allow_port0, &err);
    if (rc != 0)
        fail_msg("\"%s\": unexpected error: %s", in, err.msg);
    assert_string_equal(a.text, want_text);
    assert_int_equal(a.ss.ss_family, family);
    assert_int_equal(a.len,
                     family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
}

static void assert_addr_error(const char *in, bool allow_port0, const char *want)
{
    struct fx_addr a;
    struct fx_err err = { 0 };
    assert_int_equal(fx_addr_parse(in, &a, allow_port0, &err), FX_EINVAL);
    assert_int_equal(err.code, FX_EINVAL);
    assert_string_equal(err.msg, want);
    assert_int_equal(a.len, 0);
    assert_string_equal(a.text, "");
}

static void test_addr_parse_ipv4(void **state)
{
    (void)state;
    assert_addr_ok("127.0.0.1:8080", false, "127.0.0.1:8080", AF_INET);
    assert_addr_ok("0.0.0.0:80", false, "0.0.0.0:80", AF_INET);
    assert_addr_ok("10.1.2.3:65535", false, "10.1.2.3:65535", AF_INET);
    assert_addr_ok("127.0.0.1:0080", false, "127.0.0.1:80", AF_INET);
    struct fx_addr a;
    assert_int_equal(fx_addr_parse("192.168.1.20:3000", &a, false, NULL), 0);
    struct sockaddr_in sin;
    memcpy(&sin, &a.ss, sizeof(sin));
    assert_int_equal(ntohs(sin.sin_port), 3000);
    assert_int_equal(ntohl(sin.sin_addr.s_addr), 0xc0a80114u);
}

static void test_addr_parse_special_hosts(void **state)
{
    (void)state;
    assert_addr_ok("localhost:80", false, "127.0.0.1:80", AF_INET);
    assert_addr_ok("LocalHost:81", false, "127.0.0.1:81", AF_INET);
    assert_addr_ok("*:80", false, "0.0.0.0:80", AF_INET);
}

static void test_addr_parse_ipv6(void **state)
{
    (void)state;
    assert_addr_ok("[::1]:8080", false, "[::1]:8080", AF_INET6);
    assert_addr_ok("[::]:443", false, "[::]:443", AF_INET6);
    assert_addr_ok("[2001:DB8:0:0::1]:1", false, "[2001:db8::1]:1", AF_INET6);
    assert_addr_ok("[::ffff:10.0.0.1]:9", false, "[::ffff:10.0.0.1]:9", AF_INET6);
    struct fx_addr a;
    assert_int_equal(fx_addr_parse("[::1]:8443", &a, false, NULL), 0);
    struct sockaddr_in6 sin6;
    memcpy(&sin6, &a.ss, sizeof(sin6));
    assert_int_equal(ntohs(sin6.sin6_port), 8443);
    assert_true(IN6_IS_ADDR_LOOPBACK(&sin6.sin6_addr));
}

static void test_addr_parse_port0(void **state)
{
    (void)state;
    assert_addr_ok("127.0.0.1:0", true, "127.0.0.1:0", AF_INET);
    assert_addr_ok("[::1]:0", true, "[::1]:0", AF_INET6);
    assert_addr_error("127.0.0.1:0", false, "port 0 not allowed here (use 1..65535)");
    assert_addr_error("[::1]:00", false, "port 0 not allowed here (use 1..65535)");
}

static void test_addr_parse_rejects_ports(void **state)
{
    (void)state;
    assert_addr_error("127.0.0.1", false, "missing port");
    assert_addr_error("127.0.0.1:", false, "missing port");
    assert_addr_error("[::1]", false, "missing port");
    assert_addr_error("[::1]:", false, "missing port");
    assert_addr_error("[::1]8080", false, "missing port");
    assert_addr_error("127.0.0.1:70000", true, "port 70000 out of range");
    assert_addr_error("127.0.0.1:65536", true, "port 65536 out of range");
    assert_addr_error("127.0.0.1:99999999999999999999999", true,
                      "port 99999999999999999999999 out of range");
    assert_addr_error("127.0.0.1:-1", true, "invalid port '-1'");
    assert_addr_error("127.0.0.1:80 ", true, "invalid port '80 '");
    assert_addr_error("127.0.0.1:http", true, "invalid port 'http'");
}

static void test_addr_parse_rejects_hosts(void **state)
{
    (void)state;
    assert_addr_error("", true, "empty address");
    assert_addr_error(NULL, true, "empty address");
    assert_addr_error(":80", true, "missing host");
    assert_addr_error("1.2.3:80", true, "invalid IPv4 address '1.2.3'");
    assert_addr_error("256.1.1.1:80", true, "invalid IPv4 address '256.1.1.1'");
    assert_addr_error("1.2.3.4.5:80", true, "invalid IPv4 address '1.2.3.4.5'");
    assert_addr_error("example.com:80", true,
                      "DNS names are not supported ('example.com'); use an IP address");
    assert_addr_error("::1:80", true,
                      "IPv6 addresses must be written in brackets, like [::1]:8080");
    assert_addr_error("[::1:80", true, "missing ']' after IPv6 address");
    assert_addr_error("[1.2.3.4]:80", true, "invalid IPv6 address '1.2.3.4'");
    assert_addr_error("[fe80::1%eth0]:80", true, "invalid IPv6 address 'fe80::1%eth0'");
    assert_addr_error("1111111111111111111111111111111111111111111111111111111111111111111111:1",
                      true,
                      "invalid IPv4 address "
                      "'1111111111111111111111111111111111111111111111111111111111111111'");
}

static void test_addr_parse_null_out(void **state)
{
    (void)state;
    assert_int_equal(fx_addr_parse("127.0.0.1:80", NULL, false, NULL), FX_EINVAL);
}

static void test_addr_format_families(void **state)
{
    (void)state;
    char out[64];
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(8080) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fx_addr_format((const struct sockaddr *)&sin, out, sizeof(out));
    assert_string_equal(out, "127.0.0.1:8080");
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
    sin6.sin6_addr = in6addr_loopback;
    fx_addr_format((const struct sockaddr *)&sin6, out, sizeof(out));
    assert_string_equal(out, "[::1]:443");
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    fx_addr_format((const struct sockaddr *)&sun, out, sizeof(out));
    assert_string_equal(out, "(family 1)");
}

static void test_addr_format_truncates(void **state)
{
    (void)state;
    char out[8];
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(8080) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fx_addr_format((const struct sockaddr *)&sin, out, sizeof(out));
    assert_string_equal(out, "127.0.0");
    out[0] = 'x';
    fx_addr_format((const struct sockaddr *)&sin, out, 0);
    assert_int_equal(out[0], 'x');
    fx_addr_format(NULL, out, sizeof(out));
    assert_string_equal(out, "");
}

static void test_addr_format_roundtrip(void **state)
{
    (void)state;
    static const char *const texts[] = { "127.0.0.1:1", "0.0.0.0:65535", "[::1]:80",
                                         "[2001:db8::2:1]:8443" };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct fx_addr a;
        char out[64];
        assert_int_equal(fx_addr_parse(texts[i], &a, false, NULL), 0);
        fx_addr_format((const struct sockaddr *)&a.ss, out, sizeof(out));
        assert_string_equal(out, texts[i]);
        assert_string_equal(a.text, texts[i]);
    }
}

/* ---- descriptor passing (binary upgrade) -------------------------------- */

/* The fd received refers to the same open file: a byte written through the
 * original pipe end comes out of the received one. */
static void test_net_send_fds_roundtrip(void **state)
{
    (void)state;
    int sp[2];
    int pipes[3][2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    int wr[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pipe(pipes[i]), 0);
        wr[i] = pipes[i][1];
    }
    assert_int_equal(fx_net_send_fds(sp[0], "L 0 127.0.0.1:0", 15, wr, 3), 0);
    assert_int_equal(fx_net_send_fds(sp[0], "END 1", 5, NULL, 0), 0);
    char buf[64];
    int got[2];
    size_t n = 99;
    /* Room for two: the third descriptor is closed, not leaked. */
    assert_int_equal(fx_net_recv_fds(sp[1], buf, sizeof(buf), got, 2, &n), 15);
    assert_string_equal(buf, "L 0 127.0.0.1:0");
    assert_int_equal(n, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(write(got[i], "x", 1), 1);
        char c = 0;
        assert_int_equal(read(pipes[i][0], &c, 1), 1);
        assert_int_equal(c, 'x');
        (void)close(got[i]);
    }
    assert_int_equal(fx_net_recv_fds(sp[1], buf, sizeof(buf), got, 2, &n), 5);
    assert_string_equal(buf, "END 1");
    assert_int_equal(n, 0);
    (void)close(sp[0]);
    assert_int_equal(fx_net_recv_fds(sp[1], buf, sizeof(buf), got, 2, &n), 0); /* peer closed */
    (void)close(sp[1]);
    for (int i = 0; i < 3; i++) {
        (void)close(pipes[i][0]);
        (void)close(pipes[i][1]);
    }
}

static void test_net_send_fds_rejects(void **state)
{
    (void)state;
    int fds[FX_NET_FDS_MAX + 1] = { 0 };
    assert_int_equal(fx_net_send_fds(-1, "x", 0, NULL, 0), -EINVAL);
    assert_int_equal(fx_net_send_fds(-1, "x", 1, fds, FX_NET_FDS_MAX + 1), -EINVAL);
    assert_int_equal(fx_net_send_fds(-1, "x", 1, NULL, 0), -EBADF);
    char buf[1];
    size_t n;
    assert_int_equal(fx_net_recv_fds(-1, buf, sizeof(buf), fds, 1, &n), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_send_fds_roundtrip),
        cmocka_unit_test(test_net_send_fds_rejects),
        cmocka_unit_test(test_addr_parse_ipv4),
        cmocka_unit_test(test_addr_parse_special_hosts),
        cmocka_unit_test(test_addr_parse_ipv6),
        cmocka_unit_test(test_addr_parse_port0),
        cmocka_unit_test(test_addr_parse_rejects_ports),
        cmocka_unit_test(test_addr_parse_rejects_hosts),
        cmocka_unit_test(test_addr_parse_null_out),
        cmocka_unit_test(test_addr_format_families),
        cmocka_unit_test(test_addr_format_truncates),
        cmocka_unit_test(test_addr_format_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
