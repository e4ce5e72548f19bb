/* Unit tests of the TLS contract: certificates are made with OpenSSL's API
 * in a temporary directory (RSA and ECDSA, self-signed, with chosen names and
 * validity), then loaded through fx_tls_server_new(); handshakes and the
 * transport ops run over a real socketpair against an OpenSSL client. */
#include <sys/socket.h>
#include <sys/uio.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "../core/err.h"
#include "../net/net.h"
#include "tls.h"

static char tmpdir[] = "/tmp/fx-tls-test-XXXXXX";

/* Write a self-signed certificate for `names` (comma-separated DNS names,
 * CN = the first) valid from now+nb to now+na seconds, and its key. */
static void make_cert(const char *base, bool ec, const char *names, long nb, long na)
{
    EVP_PKEY *key = ec ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                       : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_non_null(key);
    X509 *x = X509_new();
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)random());
    X509_gmtime_adj(X509_getm_notBefore(x), nb);
    X509_gmtime_adj(X509_getm_notAfter(x), na);
    X509_set_pubkey(x, key);
    char cn[256];
    (void)snprintf(cn, sizeof(cn), "%s", names);
    char *comma = strchr(cn, ',');
    if (comma != NULL)
        *comma = '\0';
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    char san[512] = "";
    size_t o = 0;
    for (const char *p = names; *p != '\0';) {
        const char *e = strchr(p, ',');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        o += (size_t)snprintf(san + o, sizeof(san) - o, "%sDNS:%.*s", o ? "," : "", (int)len, p);
        p += len + (e != NULL);
    }
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    char path[512];
    (void)snprintf(path, sizeof(path), "%s/%s.pem", tmpdir, base);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    (void)snprintf(path, sizeof(path), "%s/%s.key", tmpdir, base);
    f = fopen(path, "w");
    assert_non_null(f);
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

static char paths[8][2][512];

static struct fx_tls_conf conf_of(struct fx_tls_cert_conf *cc, const char *const *bases, size_t n,
                                  const char *const *keys)
{
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(paths[i][0], sizeof(paths[i][0]), "%s/%s.pem", tmpdir, bases[i]);
        (void)snprintf(paths[i][1], sizeof(paths[i][1]), "%s/%s.key", tmpdir,
                       keys != NULL ? keys[i] : bases[i]);
        cc[i].cert = paths[i][0];
        cc[i].key = paths[i][1];
    }
    return (struct fx_tls_conf){ .certs = cc, .ncerts = n };
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(tmpdir));
    make_cert("rsa", false, "a.example.com,*.wild.example.com", -60, 86400 * 30);
    make_cert("ec", true, "b.example.com,a.example.com", -60, 86400 * 30);
    make_cert("expired", false, "old.example.com", -86400 * 10, -86400);
    make_cert("future", false, "new.example.com", 86400, 86400 * 30);
    make_cert("soon", true, "soon.example.com", -60, 86400 * 3);
    make_cert("rsa2", false, "a.example.com", -60, 86400 * 30);
    char from[600];
    char to[600];
    (void)snprintf(from, sizeof(from), "%s/rsa.pem", tmpdir);
    (void)snprintf(to, sizeof(to), "%s/pemaskey.key", tmpdir);
    return link(from, to);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int load(const char *const *bases, size_t n, const char *const *keys,
                struct fx_tls_server **out, struct fx_err *err)
{
    struct fx_tls_cert_conf cc[8];
    struct fx_tls_conf c = conf_of(cc, bases, n, keys);
    return fx_tls_server_new(&c, out, err);
}

static void test_tls_server_new_loads_rsa_and_ecdsa(void **state)
{
    (void)state;
    static const char *const b[] = { "rsa", "ec" };
    struct fx_tls_server *s = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(load(b, 2, NULL, &s, &err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(fx_tls_server_describe(s, f, f), 0);
    fx_tls_server_render(s, f);
    fclose(f);
    assert_non_null(strstr(buf, "names=a.example.com,*.wild.example.com key=rsa not_after="));
    assert_non_null(strstr(buf, "names=b.example.com,a.example.com key=ecdsa"));
    assert_non_null(strstr(buf, "ficus_tls_cert_not_after_seconds{name=\"*.wild.example.com\","
                                "key=\"rsa\"} "));
    free(buf);
    fx_tls_server_unref(s);
}

static void expect_error(const char *const *b, size_t n, const char *const *keys, const char *want)
{
    struct fx_tls_server *s = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(load(b, n, keys, &s, &err), FX_ECONF);
    assert_null(s);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

static void test_tls_server_new_refuses_bad_pairs(void **state)
{
    (void)state;
    static const char *const ex[] = { "expired" };
    expect_error(ex, 1, NULL, "expired.pem: certificate 1 of the chain expired on ");
    static const char *const fu[] = { "future" };
    expect_error(fu, 1, NULL, "future.pem: certificate 1 of the chain is not valid before ");
    static const char *const mm[] = { "rsa" };
    static const char *const mmk[] = { "ec" };
    expect_error(mm, 1, mmk, "ec.key: key does not match the certificate in ");
    static const char *const dup[] = { "rsa", "rsa2" };
    expect_error(dup, 2, NULL, "name \"a.example.com\" is also claimed by ");
    static const char *const none[] = { "missing" };
    expect_error(none, 1, NULL, "missing.pem: cannot open: No such file or directory");
    static const char *const nokey[] = { "rsa" };
    static const char *const nokeyk[] = { "pemaskey" };
    expect_error(nokey, 1, nokeyk, "no PEM private key");
}

static void test_tls_server_describe_warns_before_expiry(void **state)
{
    (void)state;
    static const char *const b[] = { "soon" };
    struct fx_tls_server *s = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(load(b, 1, NULL, &s, &err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(fx_tls_server_describe(s, f, f), 1);
    fclose(f);
    assert_non_null(strstr(buf, "soon.pem: certificate expires in "));
    free(buf);
    fx_tls_server_unref(s);
}

/* Run client and server handshakes over a socketpair until both are done. */
static SSL *handshake(struct fx_tls_server *s, const char *sni, struct fx_xprt *x, int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(fx_tls_conn_accept(s, sv[0], x), 0);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *c = SSL_new(cctx);
    SSL_CTX_free(cctx);
    SSL_set_fd(c, sv[1]);
    SSL_set_connect_state(c);
    char host[256];
    (void)snprintf(host, sizeof(host), "%s", sni); /* the macro casts away const */
    SSL_set_tlsext_host_name(c, host);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_set_alpn_protos(c, alpn, sizeof(alpn) - 1);
    bool cdone = false;
    bool sdone = false;
    enum fx_tls_fail why = FX_TLS_FAIL_N;
    for (int i = 0; i < 1000 && !(cdone && sdone); i++) {
        if (!cdone)
            cdone = SSL_do_handshake(c) == 1;
        if (!sdone) {
            int rc = fx_tls_conn_handshake(x, &why);
            assert_true(rc == 0 || rc == FX_IO_WANT_READ || rc == FX_IO_WANT_WRITE);
            sdone = rc == 0;
        }
    }
    assert_true(cdone && sdone);
    return c;
}

static void test_tls_conn_sni_and_io(void **state)
{
    (void)state;
    static const char *const b[] = { "rsa", "ec" };
    struct fx_tls_server *s = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(load(b, 2, NULL, &s, &err), 0);
    struct fx_xprt x = { 0 };
    int sv[2];
    SSL *c = handshake(s, "x.wild.example.com", &x, sv);
    fx_tls_server_unref(s); /* the connection holds its own reference */
    X509 *peer = SSL_get1_peer_certificate(c);
    char cn[128];
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
    X509_free(peer);
    assert_string_equal(cn, "a.example.com");
    assert_string_equal(fx_tls_conn_version(&x), "TLSv1.3");
    /* Two spans out, read whole by the client. */
    struct iovec iov[2] = { { (void *)(uintptr_t) "HTTP/1.1 200 OK\r\n", 17 },
                            { (void *)(uintptr_t) "\r\n", 2 } };
    assert_int_equal(fx_tls_io_ops.writev(&x, sv[0], iov, 2), 19);
    char got[64] = { 0 };
    size_t n = 0;
    assert_int_equal(SSL_read_ex(c, got, sizeof(got), &n), 1);
    assert_int_equal(n, 19);
    assert_memory_equal(got, "HTTP/1.1 200 OK\r\n\r\n", 19);
    /* Nothing to read yet, then two client records read in one call. */
    char in[64];
    assert_int_equal(fx_tls_io_ops.read(&x, sv[0], in, sizeof(in)), FX_IO_WANT_READ);
    assert_int_equal(SSL_write_ex(c, "GET / ", 6, &n), 1);
    assert_int_equal(SSL_write_ex(c, "HTTP/1.1\r\n", 10, &n), 1);
    assert_int_equal(fx_tls_io_ops.read(&x, sv[0], in, sizeof(in)), 16);
    assert_memory_equal(in, "GET / HTTP/1.1\r\n", 16);
    /* close_notify: the client sees an orderly end. */
    fx_tls_conn_shutdown(&x);
    assert_int_equal(SSL_read_ex(c, got, sizeof(got), &n), 0);
    assert_int_equal(SSL_get_error(c, 0), SSL_ERROR_ZERO_RETURN);
    fx_tls_conn_free(&x);
    assert_ptr_equal(x.ops, &fx_net_plain_ops);
    SSL_free(c);
    close(sv[0]);
    close(sv[1]);
}

static void test_tls_conn_handshake_classifies_plain_http(void **state)
{
    (void)state;
    static const char *const b[] = { "rsa" };
    struct fx_tls_server *s = NULL;
    struct fx_err err = { 0 };
    assert_int_equal(load(b, 1, NULL, &s, &err), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct fx_xprt x = { 0 };
    assert_int_equal(fx_tls_conn_accept(s, sv[0], &x), 0);
    assert_int_equal(write(sv[1], "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27), 27);
    enum fx_tls_fail why = FX_TLS_FAIL_N;
    assert_int_equal(fx_tls_conn_handshake(&x, &why), FX_IO_ERROR);
    assert_int_equal(why, FX_TLS_FAIL_HTTP_REQUEST);
    assert_string_equal(fx_tls_fail_name(why), "http_request");
    fx_tls_conn_free(&x);
    fx_tls_server_unref(s);
    close(sv[0]);
    close(sv[1]);
}

static void test_tls_stats_render_sums_workers(void **state)
{
    (void)state;
    static struct fx_tls_stats a;
    static struct fx_tls_stats b;
    fx_tls_stats_fail(&a, FX_TLS_FAIL_TIMEOUT);
    fx_tls_stats_fail(&b, FX_TLS_FAIL_TIMEOUT);
    fx_tls_stats_fail(&b, FX_TLS_FAIL_PROTOCOL_VERSION);
    const struct fx_tls_stats *st[] = { &a, &b };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fx_tls_stats_render(st, 2, f);
    fclose(f);
    assert_non_null(strstr(buf, "ficus_tls_handshake_failures_total{reason=\"timeout\"} 2\n"));
    assert_non_null(
        strstr(buf, "ficus_tls_handshake_failures_total{reason=\"protocol_version\"} 1\n"));
    assert_non_null(strstr(buf, "# TYPE ficus_tls_handshakes_total counter\n"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_server_new_loads_rsa_and_ecdsa),
        cmocka_unit_test(test_tls_server_new_refuses_bad_pairs),
        cmocka_unit_test(test_tls_server_describe_warns_before_expiry),
        cmocka_unit_test(test_tls_conn_sni_and_io),
        cmocka_unit_test(test_tls_conn_handshake_classifies_plain_http),
        cmocka_unit_test(test_tls_stats_render_sums_workers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
