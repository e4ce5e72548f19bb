/* Unit tests for the HTTP/1.1 parser and the chunked decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>

#include "../core/err.h"
#include "http.h"

static const struct fx_h1_limits lim_default = {
    .max_head = 8192,
    .max_line = 8192,
    .max_headers = 100,
};

static int parse_req_n(const char *s, size_t n, struct fx_h1_req *req,
                       const struct fx_h1_limits *lim)
{
    size_t scanned = 0;
    return fx_h1_parse_req(s, n, req, &scanned, lim);
}

static int parse_req(const char *s, struct fx_h1_req *req)
{
    return parse_req_n(s, strlen(s), req, &lim_default);
}

static int parse_resp(const char *s, struct fx_h1_resp *resp)
{
    size_t scanned = 0;
    return fx_h1_parse_resp(s, strlen(s), resp, &scanned, &lim_default);
}

static int req_rc(const char *s)
{
    struct fx_h1_req req;
    return parse_req(s, &req);
}

static int resp_rc(const char *s)
{
    struct fx_h1_resp resp;
    return parse_resp(s, &resp);
}

static bool view_is(struct fx_str v, const char *c)
{
    return fx_str_eq(v, fx_str_c(c));
}

#define assert_view(v, c) assert_true(view_is((v), (c)))

/* ---- fx_h1_parse_req: valid requests ---------------------------------- */

static void test_h1_parse_req_get(void **state)
{
    (void)state;
    const char *s = "GET /a/b?c=d HTTP/1.1\r\n"
                    "Host: example.com\r\n"
                    "User-Agent: t/1.0\r\n"
                    "Accept: */*\r\n"
                    "\r\n";
    struct fx_h1_req req;
    int rc = parse_req(s, &req);
    assert_int_equal(rc, (int)strlen(s));
    assert_int_equal(req.head_len, strlen(s));
    assert_view(req.method, "GET");
    assert_view(req.target, "/a/b?c=d");
    assert_view(req.path, "/a/b?c=d");
    assert_int_equal(req.authority.len, 0);
    assert_view(req.host, "example.com");
    assert_int_equal(req.minor, 1);
    assert_int_equal(req.flags, 0);
    assert_int_equal(req.body, FX_H1_BODY_NONE);
    assert_int_equal(req.nheaders, 3);
    assert_view(req.headers[0].name, "Host");
    assert_view(req.headers[1].name, "User-Agent");
    assert_view(req.headers[1].value, "t/1.0");
    assert_view(req.headers[2].value, "*/*");
    /* Views point into the input. */
    assert_ptr_equal(req.method.ptr, s);
}

static void test_h1_parse_req_post_content_length(void **state)
{
    (void)state;
    const char *s = "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
    struct fx_h1_req req;
    int rc = parse_req(s, &req);
    assert_int_equal(rc, (int)(strlen(s) - 11));
    assert_int_equal(req.body, FX_H1_BODY_LENGTH);
    assert_int_equal(req.content_length, 11);
    assert_true(req.flags & FX_H1_F_HAS_CL);
    assert_false(req.flags & FX_H1_F_HAS_TE);
}

static void test_h1_parse_req_post_content_length_zero(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(parse_req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &req) > 0);
    assert_int_equal(req.body, FX_H1_BODY_LENGTH);
    assert_int_equal(req.content_length, 0);
}

static void test_h1_parse_req_post_chunked(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(
        parse_req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &req) > 0);
    assert_int_equal(req.body, FX_H1_BODY_CHUNKED);
    assert_true(req.flags & FX_H1_F_HAS_TE);
    assert_true(
        parse_req("POST / HTTP/1.1\r\nHost: h\r\nTRANSFER-ENCODING: ChUnKeD\r\n\r\n", &req) > 0);
    assert_int_equal(req.body, FX_H1_BODY_CHUNKED);
    /* HTAB is OWS. */
    assert_true(
        parse_req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\t\r\n\r\n", &req) > 0);
    assert_int_equal(req.body, FX_H1_BODY_CHUNKED);
}

static void test_h1_parse_req_http10(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(parse_req("GET / HTTP/1.0\r\n\r\n", &req) > 0);
    assert_int_equal(req.minor, 0);
    assert_int_equal(req.host.len, 0);
    assert_true(parse_req("POST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\n", &req) > 0);
    assert_int_equal(req.body, FX_H1_BODY_LENGTH);
    assert_int_equal(req.content_length, 3);
    assert_true(parse_req("GET / HTTP/1.0\r\nHost: a\r\n\r\n", &req) > 0);
    assert_view(req.host, "a");
}

static void test_h1_parse_req_empty_value_and_obs_text(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(parse_req("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Sp:   \r\n"
                          "X-Latin: caf\xc3\xa9 \xff\r\n\r\n",
                          &req) > 0);
    assert_int_equal(req.nheaders, 4);
    assert_int_equal(req.headers[1].value.len, 0);
    assert_int_equal(req.headers[2].value.len, 0);
    assert_view(req.headers[3].value, "caf\xc3\xa9 \xff");
}

static void test_h1_parse_req_value_ows_trimmed(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(parse_req("GET / HTTP/1.1\r\nHost:\t h \t\r\nX-A: a  b\t\r\n\r\n", &req) > 0);
    assert_view(req.host, "h");
    assert_view(req.headers[1].value, "a  b");
}

static void test_h1_parse_req_leading_crlf(void **state)
{
    (void)state;
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    struct fx_h1_req req;
    assert_int_equal(parse_req(s, &req), (int)strlen(s));
    assert_view(req.method, "GET");
    assert_int_equal(req.head_len, strlen(s));
    /* A leading bare LF is still a bare LF. */
    assert_int_equal(req_rc("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_req_incomplete(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        struct fx_h1_req req;
        assert_int_equal(parse_req_n(s, i, &req, &lim_default), FX_EAGAIN);
    }
}

static void test_h1_parse_req_method_token(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(parse_req("M-SEARCH * HTTP/1.1\r\nHost: h\r\n\r\n", &req) == FX_EPARSE);
    assert_true(parse_req("PROPFIND /x HTTP/1.1\r\nHost: h\r\n\r\n", &req) > 0);
    assert_view(req.method, "PROPFIND");
    assert_int_equal(req_rc("G(ET / HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GE\x01T / HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc(" / HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_req_line_spacing(void **state)
{
    (void)state;
    assert_int_equal(req_rc("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_req_target_bytes(void **state)
{
    (void)state;
    assert_int_equal(req_rc("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    static const char nul[] = "GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n";
    struct fx_h1_req req;
    assert_int_equal(parse_req_n(nul, sizeof(nul) - 1, &req, &lim_default), FX_EPARSE);
}

static void test_h1_parse_req_absolute_form(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(parse_req("GET http://example.com:8080/p?q HTTP/1.1\r\nHost: x\r\n\r\n", &req) > 0);
    assert_true(req.flags & FX_H1_F_ABSOLUTE_FORM);
    assert_view(req.authority, "example.com:8080");
    assert_view(req.path, "/p?q");
    assert_view(req.target, "http://example.com:8080/p?q");
    assert_view(req.host, "x");

    assert_true(parse_req("GET HTTPS://[::1] HTTP/1.1\r\nHost: x\r\n\r\n", &req) > 0);
    assert_view(req.authority, "[::1]");
    assert_view(req.path, "/");

    assert_int_equal(req_rc("GET http:/// HTTP/1.1\r\nHost: x\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET http:// HTTP/1.1\r\nHost: x\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET http://u@h/ HTTP/1.1\r\nHost: x\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET http://h?q HTTP/1.1\r\nHost: x\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET http:/h/ HTTP/1.1\r\nHost: x\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_req_asterisk_form(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(parse_req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &req) > 0);
    assert_view(req.path, "*");
    assert_int_equal(req_rc("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("options * HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_req_authority_form(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(
        parse_req("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", &req) > 0);
    assert_view(req.path, "example.com:443");
    assert_int_equal(req.authority.len, 0);
    assert_int_equal(req_rc("GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("CONNECT example.com: HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("CONNECT :443 HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("CONNECT h:44x HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("CONNECT u@h:443 HTTP/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_req_version(void **state)
{
    (void)state;
    assert_int_equal(req_rc("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), FX_EVERSION);
    assert_int_equal(req_rc("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), FX_EVERSION);
    assert_int_equal(req_rc("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), FX_EVERSION);
    assert_int_equal(req_rc("GET / HTTP/3.0\r\nHost: h\r\n\r\n"), FX_EVERSION);
    assert_int_equal(req_rc("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), FX_EVERSION);
    assert_int_equal(req_rc("GET / http/1.1\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1x\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/11\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/2\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / garbage\r\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / \r\nHost: h\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_req_http09_rejected(void **state)
{
    (void)state;
    assert_int_equal(req_rc("GET /\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET /\r\nHost: h\r\n\r\n"), FX_EPARSE);
}

/* ---- fx_h1_parse_req: header syntax ----------------------------------- */

static void test_h1_parse_req_bare_lf_rejected(void **state)
{
    (void)state;
    assert_int_equal(req_rc("GET / HTTP/1.1\nHost: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\n\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n"), FX_EPARSE);
    /* Rejected as soon as the bare LF is seen, without waiting for more. */
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nX: a\n"), FX_EPARSE);
}

static void test_h1_parse_req_bare_cr_rejected(void **state)
{
    (void)state;
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX\r: b\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_req_nul_rejected(void **state)
{
    (void)state;
    static const char v[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
    static const char n[] = "GET / HTTP/1.1\r\nHost: h\r\nX\0Y: a\r\n\r\n";
    struct fx_h1_req req;
    assert_int_equal(parse_req_n(v, sizeof(v) - 1, &req, &lim_default), FX_EPARSE);
    assert_int_equal(parse_req_n(n, sizeof(n) - 1, &req, &lim_default), FX_EPARSE);
}

static void test_h1_parse_req_ctl_rejected(void **state)
{
    (void)state;
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b[0m\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX: \x0b\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_req_obs_fold_rejected(void **state)
{
    (void)state;
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_req_bad_field_name(void **state)
{
    (void)state;
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX(y): z\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: z\r\n\r\n"), FX_EPARSE);
}

/* ---- fx_h1_parse_req: Host ------------------------------------------- */

static void test_h1_parse_req_host_rules(void **state)
{
    (void)state;
    assert_int_equal(req_rc("GET / HTTP/1.1\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nX: y\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h/x\r\n\r\n"), FX_EPARSE);
    struct fx_h1_req req;
    assert_true(parse_req("GET / HTTP/1.1\r\nHOST: [::1]:8080\r\n\r\n", &req) > 0);
    assert_view(req.host, "[::1]:8080");
    /* RFC 9112 §3.2: an empty Host is valid. */
    assert_true(parse_req("GET / HTTP/1.1\r\nHost:\r\n\r\n", &req) > 0);
    assert_int_equal(req.host.len, 0);
}

/* ---- fx_h1_parse_req: request smuggling ------------------------------- */

#define REQ_WITH(hdrs) "POST / HTTP/1.1\r\nHost: h\r\n" hdrs "\r\n"

static void test_h1_parse_req_cl_with_te(void **state)
{
    (void)state;
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")),
                     FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")),
                     FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n")),
                     FX_ESMUGGLE);
}

static void test_h1_parse_req_cl_duplicate(void **state)
{
    (void)state;
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 5\r\nContent-Length: 5\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 5\r\nContent-Length: 6\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 5\r\ncontent-length: 5\r\n")), FX_ESMUGGLE);
}

static void test_h1_parse_req_cl_invalid(void **state)
{
    (void)state;
    assert_int_equal(req_rc(REQ_WITH("Content-Length: +5\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: -5\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 5 5\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 5,5\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 5, 5\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 0x5\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 5.0\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length:\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 1234567890123456789\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 99999999999999999999999\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length : 5\r\n")), FX_EPARSE);
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 5\x0b\r\n")), FX_EPARSE);
}

static void test_h1_parse_req_cl_limits_and_ows(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(parse_req(REQ_WITH("Content-Length:  5\r\n"), &req) > 0);
    assert_int_equal(req.content_length, 5);
    assert_true(parse_req(REQ_WITH("Content-Length: 5 \t\r\n"), &req) > 0);
    assert_int_equal(req.content_length, 5);
    assert_true(parse_req(REQ_WITH("Content-Length: 999999999999999999\r\n"), &req) > 0);
    assert_int_equal(req.content_length, 999999999999999999ULL);
    assert_true(parse_req(REQ_WITH("Content-Length: 007\r\n"), &req) > 0);
    assert_int_equal(req.content_length, 7);
}

static void test_h1_parse_req_te_obfuscated(void **state)
{
    (void)state;
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: xchunked\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: chunkedx\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: chunked, identity\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: gzip, chunked\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: chunked, chunked\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: chunked;\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: identity\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: \"chunked\"\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding:\r\n")), FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: chunked\r\n"
                                     "Transfer-Encoding: chunked\r\n")),
                     FX_ESMUGGLE);
    /* Control bytes and whitespace before the colon are syntax errors. */
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: chunked\x0b\r\n")), FX_EPARSE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding : chunked\r\n")), FX_EPARSE);
    assert_int_equal(req_rc(REQ_WITH(" Transfer-Encoding: chunked\r\n")), FX_EPARSE);
    assert_int_equal(req_rc(REQ_WITH("X: y\r\n Transfer-Encoding: chunked\r\n")), FX_EPARSE);
    assert_int_equal(req_rc(REQ_WITH("Transfer-Encoding: chunked\r\n , gzip\r\n")), FX_EPARSE);
    assert_true(req_rc(REQ_WITH("Transfer_Encoding: chunked\r\n")) > 0);
}

static void test_h1_parse_req_te_http10(void **state)
{
    (void)state;
    assert_int_equal(req_rc("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), FX_ESMUGGLE);
    assert_int_equal(req_rc("POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"),
                     FX_ESMUGGLE);
}

/* ---- fx_h1_parse_req: other known headers ----------------------------- */

static void test_h1_parse_req_connection_flags(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(parse_req(REQ_WITH("Connection: close\r\n"), &req) > 0);
    assert_int_equal(req.flags, FX_H1_F_CONN_CLOSE);
    assert_true(parse_req(REQ_WITH("Connection: Keep-Alive, X-Foo\r\n"), &req) > 0);
    assert_int_equal(req.flags, FX_H1_F_CONN_KEEPALIVE | FX_H1_F_CONN_OTHER);
    assert_true(parse_req(REQ_WITH("Connection: ,,UPGRADE , \r\nUpgrade: websocket\r\n"), &req) >
                0);
    assert_int_equal(req.flags, FX_H1_F_CONN_UPGRADE | FX_H1_F_UPGRADE);
    assert_true(parse_req(REQ_WITH("Connection: close\r\nConnection: te\r\n"), &req) > 0);
    assert_int_equal(req.flags, FX_H1_F_CONN_CLOSE | FX_H1_F_CONN_OTHER);
}

static void test_h1_parse_req_expect(void **state)
{
    (void)state;
    struct fx_h1_req req;
    assert_true(parse_req(REQ_WITH("Expect: 100-Continue\r\nContent-Length: 1\r\n"), &req) > 0);
    assert_true(req.flags & FX_H1_F_EXPECT_100);
    assert_true(parse_req(REQ_WITH("Expect: 200-ok\r\n"), &req) > 0);
    assert_false(req.flags & FX_H1_F_EXPECT_100);
    assert_true(parse_req("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", &req) > 0);
    assert_false(req.flags & FX_H1_F_EXPECT_100);
}

/* ---- fx_h1_parse_req: limits ------------------------------------------ */

/* Build "GET /aaa... HTTP/1.1\r\n" with a request line of exactly `n` bytes. */
static char *make_line(size_t n)
{
    char *s = malloc(n + 64);
    assert_non_null(s);
    size_t path = n - strlen("GET / HTTP/1.1\r\n");
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', path);
    strcpy(s + 5 + path, " HTTP/1.1\r\nHost: h\r\n\r\n");
    return s;
}

static void test_h1_parse_req_line_too_long(void **state)
{
    (void)state;
    const struct fx_h1_limits lim = { .max_head = 4096, .max_line = 100, .max_headers = 10 };
    struct fx_h1_req req;
    char *ok = make_line(100);
    assert_true(parse_req_n(ok, strlen(ok), &req, &lim) > 0);
    free(ok);
    char *bad = make_line(101);
    assert_int_equal(parse_req_n(bad, strlen(bad), &req, &lim), FX_ETOOLONG_LINE);
    /* Without any CRLF yet: refused once max_line bytes are buffered. */
    assert_int_equal(parse_req_n(bad, 99, &req, &lim), FX_EAGAIN);
    assert_int_equal(parse_req_n(bad, 100, &req, &lim), FX_ETOOLONG_LINE);
    free(bad);
    /* Leading empty lines count towards the limit. */
    char *lead = make_line(100);
    char *buf = malloc(strlen(lead) + 3);
    assert_non_null(buf);
    strcpy(buf, "\r\n");
    strcat(buf, lead);
    assert_int_equal(parse_req_n(buf, strlen(buf), &req, &lim), FX_ETOOLONG_LINE);
    free(buf);
    free(lead);
    /* The same limit for line and head (as the config does) gives 414. */
    const struct fx_h1_limits same = { .max_head = 100, .max_line = 100, .max_headers = 10 };
    bad = make_line(200);
    assert_int_equal(parse_req_n(bad, strlen(bad), &req, &same), FX_ETOOLONG_LINE);
    free(bad);
}

static void test_h1_parse_req_head_too_long(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789\r\n\r\n";
    size_t n = strlen(s);
    struct fx_h1_req req;
    struct fx_h1_limits lim = { .max_head = n, .max_line = 1000, .max_headers = 10 };
    assert_int_equal(parse_req_n(s, n, &req, &lim), (int)n);
    lim.max_head = n - 1;
    assert_int_equal(parse_req_n(s, n, &req, &lim), FX_ETOOLONG_HEAD);
    assert_int_equal(parse_req_n(s, n - 2, &req, &lim), FX_EAGAIN);
    assert_int_equal(parse_req_n(s, n - 1, &req, &lim), FX_ETOOLONG_HEAD);
    /* An endless header line is refused at max_head. */
    lim.max_head = 30;
    assert_int_equal(parse_req_n(s, n, &req, &lim), FX_ETOOLONG_HEAD);
}

static void test_h1_parse_req_too_many_headers(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    struct fx_h1_req req;
    struct fx_h1_limits lim = { .max_head = 4096, .max_line = 4096, .max_headers = 3 };
    assert_true(parse_req_n(s, strlen(s), &req, &lim) > 0);
    assert_int_equal(req.nheaders, 3);
    lim.max_headers = 2;
    assert_int_equal(parse_req_n(s, strlen(s), &req, &lim), FX_ETOOMANY);
    /* Refused as soon as the extra line is complete. */
    assert_int_equal(parse_req_n(s, strlen(s) - 2, &req, &lim), FX_ETOOMANY);
}

static void test_h1_parse_req_max_headers_clamped(void **state)
{
    (void)state;
    char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i < FX_H1_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X%d: v\r\n", i);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
    const struct fx_h1_limits lim = { .max_head = 8192, .max_line = 8192, .max_headers = 100000 };
    struct fx_h1_req req;
    assert_int_equal(parse_req_n(buf, n, &req, &lim), (int)n);
    assert_int_equal(req.nheaders, FX_H1_MAX_HEADERS);
    n -= 2;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Y: v\r\n\r\n");
    assert_int_equal(parse_req_n(buf, n, &req, &lim), FX_ETOOMANY);
}

/* ---- fx_h1_parse_req: incremental input ------------------------------- */

/* Views are equal when they sit at the same offset of their buffers (which
 * are at most 64 KiB here), or hold the same bytes when outside them. */
static bool same_view(struct fx_str a, const char *abase, struct fx_str b, const char *bbase)
{
    if (a.len != b.len)
        return false;
    if (a.ptr == NULL || b.ptr == NULL)
        return a.ptr == b.ptr;
    uintptr_t ao = (uintptr_t)a.ptr - (uintptr_t)abase;
    uintptr_t bo = (uintptr_t)b.ptr - (uintptr_t)bbase;
    if (ao <= 65536 || bo <= 65536)
        return ao == bo;
    return fx_str_eq(a, b);
}

static void assert_same_req(const struct fx_h1_req *a, const char *abase, const struct fx_h1_req *b,
                            const char *bbase)
{
    assert_true(same_view(a->method, abase, b->method, bbase));
    assert_true(same_view(a->target, abase, b->target, bbase));
    assert_true(same_view(a->path, abase, b->path, bbase));
    assert_true(same_view(a->authority, abase, b->authority, bbase));
    assert_true(same_view(a->host, abase, b->host, bbase));
    assert_int_equal(a->minor, b->minor);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->body, b->body);
    assert_int_equal(a->content_length, b->content_length);
    assert_int_equal(a->head_len, b->head_len);
    assert_int_equal(a->nheaders, b->nheaders);
    for (size_t i = 0; i < a->nheaders; i++) {
        assert_true(same_view(a->headers[i].name, abase, b->headers[i].name, bbase));
        assert_true(same_view(a->headers[i].value, abase, b->headers[i].value, bbase));
    }
}

/* Feed `s` one byte at a time, copying the prefix into a fresh buffer on
 * every call (the buffer "moves"), and compare with a one-shot parse. */
static void check_fragmented_req(const char *s, size_t n, const struct fx_h1_limits *lim)
{
    struct fx_h1_req one, inc;
    int rc1 = parse_req_n(s, n, &one, lim);
    size_t scanned = 0;
    int rc2 = FX_EAGAIN;
    char *copy = NULL;
    for (size_t k = 1; k <= n && rc2 == FX_EAGAIN; k++) {
        free(copy);
        copy = malloc(k);
        assert_non_null(copy);
        memcpy(copy, s, k);
        rc2 = fx_h1_parse_req(copy, k, &inc, &scanned, lim);
    }
    assert_int_equal(rc1, rc2);
    if (rc1 > 0)
        assert_same_req(&one, s, &inc, copy);
    free(copy);
}

static void test_h1_parse_req_fragmented_matches_oneshot(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
        "\r\n\r\nPOST http://h:1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\nX : y\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n",
        "GET / HTTP/2.0\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "OPTIONS * HTTP/1.0\r\nX: \xff\r\n\r\n",
    };
    const struct fx_h1_limits small = { .max_head = 64, .max_line = 24, .max_headers = 2 };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_fragmented_req(cases[i], strlen(cases[i]), &lim_default);
        check_fragmented_req(cases[i], strlen(cases[i]), &small);
    }
}

static void test_h1_parse_req_early_reject(void **state)
{
    (void)state;
    /* A bad line is refused before the head is complete. */
    static const char s[] = "GET / HTTP/1.1\r\nX: \0\r\nHost: h\r\n";
    struct fx_h1_req req;
    size_t scanned = 0;
    assert_int_equal(fx_h1_parse_req(s, 10, &req, &scanned, &lim_default), FX_EAGAIN);
    assert_int_equal(fx_h1_parse_req(s, sizeof(s) - 1, &req, &scanned, &lim_default), FX_EPARSE);
    assert_int_equal(req_rc("GET / HTTP/9.9\r\n"), FX_EVERSION);
}

static void test_h1_parse_req_pipelined(void **state)
{
    (void)state;
    const char *s = "POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                    "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
                    "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t n = strlen(s);
    struct fx_h1_req req;
    int rc = parse_req_n(s, n, &req, &lim_default);
    assert_int_equal(rc, 48);
    assert_view(req.path, "/1");
    size_t off = (size_t)rc + req.content_length;
    rc = parse_req_n(s + off, n - off, &req, &lim_default);
    assert_int_equal(rc, 28);
    assert_view(req.path, "/2");
    off += (size_t)rc;
    rc = parse_req_n(s + off, n - off, &req, &lim_default);
    assert_int_equal(rc, 28);
    assert_view(req.path, "/3");
    assert_int_equal(off + (size_t)rc, n);
}

/* ---- fx_h1_parse_resp / fx_h1_resp_body ------------------------------- */

static void test_h1_parse_resp_valid(void **state)
{
    (void)state;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
    struct fx_h1_resp resp;
    int rc = parse_resp(s, &resp);
    assert_int_equal(rc, (int)strlen(s) - 5);
    assert_int_equal(resp.head_len, strlen(s) - 5);
    assert_int_equal(resp.minor, 1);
    assert_int_equal(resp.status, 200);
    assert_view(resp.reason, "OK");
    assert_int_equal(resp.body, FX_H1_BODY_LENGTH);
    assert_int_equal(resp.content_length, 5);
    assert_int_equal(resp.nheaders, 2);
    assert_true(parse_resp("HTTP/1.0 404 Not  Found \r\n\r\n", &resp) > 0);
    assert_int_equal(resp.minor, 0);
    assert_view(resp.reason, "Not  Found ");
    assert_int_equal(resp.body, FX_H1_BODY_EOF);
}

static void test_h1_parse_resp_no_reason(void **state)
{
    (void)state;
    struct fx_h1_resp resp;
    assert_true(parse_resp("HTTP/1.1 200\r\n\r\n", &resp) > 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.reason.len, 0);
    assert_true(parse_resp("HTTP/1.1 204 \r\n\r\n", &resp) > 0);
    assert_int_equal(resp.status, 204);
    assert_int_equal(resp.reason.len, 0);
}

static void test_h1_parse_resp_status_line_invalid(void **state)
{
    (void)state;
    assert_int_equal(resp_rc("HTTP/1.1 099 X\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/1.1 600 X\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/1.1 2000 X\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/1.1 20 X\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/1.1 2x0 X\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/1.1  200 X\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/1.1 200\tX\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/1.1 200 O\x01K\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/1.1\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/1.1 \r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("http/1.1 200 OK\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("ICY 200 OK\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/2.0 200 OK\r\n\r\n"), FX_EVERSION);
    assert_int_equal(resp_rc("HTTP/1.2 200 OK\r\n\r\n"), FX_EVERSION);
    assert_int_equal(resp_rc("HTTP/1.1 200 OK\nX: y\r\n\r\n"), FX_EPARSE);
}

static void test_h1_parse_resp_framing(void **state)
{
    (void)state;
    struct fx_h1_resp resp;
    assert_true(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &resp) > 0);
    assert_int_equal(resp.body, FX_H1_BODY_CHUNKED);
    assert_true(parse_resp("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", &resp) > 0);
    assert_int_equal(resp.body, FX_H1_BODY_EOF);
    assert_int_equal(resp.flags, FX_H1_F_CONN_CLOSE);
    assert_int_equal(resp_rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                             "Content-Length: 3\r\n\r\n"),
                     FX_ESMUGGLE);
    assert_int_equal(resp_rc("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"),
                     FX_ESMUGGLE);
    assert_int_equal(resp_rc("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n"), FX_ESMUGGLE);
    assert_int_equal(resp_rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
                     FX_ESMUGGLE);
    assert_int_equal(resp_rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), FX_ESMUGGLE);
    assert_int_equal(resp_rc("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), FX_ESMUGGLE);
    assert_int_equal(resp_rc("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), FX_EPARSE);
    assert_int_equal(resp_rc("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), FX_EPARSE);
    /* Responses need no Host, and a duplicate Host is not their problem. */
    assert_true(parse_resp("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n", &resp) > 0);
}

static void test_h1_parse_resp_limits(void **state)
{
    (void)state;
    const char *s = "HTTP/1.1 200 A rather long reason phrase\r\nA: 1\r\nB: 2\r\n\r\n";
    struct fx_h1_resp resp;
    size_t scanned = 0;
    /* No 414 for responses: only the head limit applies. */
    struct fx_h1_limits lim = { .max_head = 4096, .max_line = 8, .max_headers = 2 };
    assert_true(fx_h1_parse_resp(s, strlen(s), &resp, &scanned, &lim) > 0);
    lim.max_headers = 1;
    scanned = 0;
    assert_int_equal(fx_h1_parse_resp(s, strlen(s), &resp, &scanned, &lim), FX_ETOOMANY);
    lim.max_headers = 2;
    lim.max_head = 20;
    scanned = 0;
    assert_int_equal(fx_h1_parse_resp(s, strlen(s), &resp, &scanned, &lim), FX_ETOOLONG_HEAD);
}

static void test_h1_parse_resp_fragmented(void **state)
{
    (void)state;
    const char *s = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    "Upgrade: websocket\r\n\r\nrest";
    size_t n = strlen(s);
    struct fx_h1_resp resp;
    size_t scanned = 0;
    int rc = FX_EAGAIN;
    size_t k = 0;
    while (rc == FX_EAGAIN && k < n)
        rc = fx_h1_parse_resp(s, ++k, &resp, &scanned, &lim_default);
    assert_int_equal(rc, (int)n - 4);
    assert_int_equal(k, n - 4);
    assert_int_equal(resp.status, 101);
    assert_view(resp.reason, "Switching Protocols");
    assert_int_equal(resp.flags, FX_H1_F_CONN_UPGRADE | FX_H1_F_UPGRADE);
    assert_view(resp.headers[1].value, "websocket");
}

static void test_h1_resp_body_cases(void **state)
{
    (void)state;
    struct fx_h1_resp resp;
    assert_true(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", &resp) > 0);
    assert_int_equal(fx_h1_resp_body(&resp, FX_STR("GET")), FX_H1_BODY_LENGTH);
    assert_int_equal(fx_h1_resp_body(&resp, FX_STR("HEAD")), FX_H1_BODY_NONE);
    resp.status = 100;
    assert_int_equal(fx_h1_resp_body(&resp, FX_STR("GET")), FX_H1_BODY_NONE);
    resp.status = 101;
    assert_int_equal(fx_h1_resp_body(&resp, FX_STR("GET")), FX_H1_BODY_NONE);
    resp.status = 204;
    assert_int_equal(fx_h1_resp_body(&resp, FX_STR("POST")), FX_H1_BODY_NONE);
    resp.status = 304;
    assert_int_equal(fx_h1_resp_body(&resp, FX_STR("GET")), FX_H1_BODY_NONE);
    resp.status = 205;
    assert_int_equal(fx_h1_resp_body(&resp, FX_STR("GET")), FX_H1_BODY_LENGTH);
    assert_true(parse_resp("HTTP/1.1 500 Oops\r\n\r\n", &resp) > 0);
    assert_int_equal(fx_h1_resp_body(&resp, FX_STR("GET")), FX_H1_BODY_EOF);
    assert_true(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &resp) > 0);
    assert_int_equal(fx_h1_resp_body(&resp, FX_STR("GET")), FX_H1_BODY_CHUNKED);
    assert_int_equal(fx_h1_resp_body(&resp, FX_STR("HEAD")), FX_H1_BODY_NONE);
}

/* ---- fx_h1_chunked_step ----------------------------------------------- */

struct dechunk {
    int rc;          /* last return code */
    size_t consumed; /* total bytes consumed */
    size_t out_len;
    char out[4096];
};

/* Decode `in` in pieces of `piece` bytes (0: all at once), checking that every
 * span is the tail of the consumed region. */
static void dechunk(struct fx_h1_chunked *c, const char *in, size_t n, size_t piece,
                    struct dechunk *d)
{
    d->rc = 0;
    d->consumed = 0;
    d->out_len = 0;
    size_t off = 0;
    while (off < n) {
        size_t end = piece == 0 || n - off < piece ? n : off + piece;
        while (off < end) {
            size_t used = 0;
            struct fx_str data;
            d->rc = fx_h1_chunked_step(c, in + off, end - off, &used, &data);
            assert_true(used <= end - off);
            if (data.len > 0) {
                assert_ptr_equal(data.ptr + data.len, in + off + used);
                assert_true(d->out_len + data.len <= sizeof(d->out));
                memcpy(d->out + d->out_len, data.ptr, data.len);
                d->out_len += data.len;
            }
            off += used;
            d->consumed = off;
            if (d->rc != 0)
                return;
        }
    }
}

static int dechunk_rc(const char *in)
{
    struct fx_h1_chunked c;
    struct dechunk d;
    fx_h1_chunked_init(&c);
    dechunk(&c, in, strlen(in), 0, &d);
    return d.rc;
}

static void test_h1_chunked_step_simple(void **state)
{
    (void)state;
    const char *in = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    struct fx_h1_chunked c;
    struct dechunk d;
    fx_h1_chunked_init(&c);
    assert_int_equal(c.max_line, 4096);
    assert_int_equal(c.max_trailer, 16384);
    dechunk(&c, in, strlen(in), 0, &d);
    assert_int_equal(d.rc, 1);
    assert_int_equal(d.consumed, strlen(in));
    assert_int_equal(d.out_len, 11);
    assert_memory_equal(d.out, "hello world", 11);
    assert_true(fx_h1_chunked_done(&c));
}

static void test_h1_chunked_step_one_span_per_call(void **state)
{
    (void)state;
    const char *in = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    struct fx_h1_chunked c;
    fx_h1_chunked_init(&c);
    size_t used;
    struct fx_str data;
    assert_int_equal(fx_h1_chunked_step(&c, in, strlen(in), &used, &data), 0);
    assert_int_equal(used, 6);
    assert_view(data, "abc");
    assert_int_equal(fx_h1_chunked_step(&c, in + 6, strlen(in) - 6, &used, &data), 0);
    assert_int_equal(used, 7);
    assert_view(data, "de");
    assert_int_equal(fx_h1_chunked_step(&c, in + 13, strlen(in) - 13, &used, &data), 1);
    assert_int_equal(used, strlen(in) - 13);
    assert_int_equal(data.len, 0);
    /* Once done, nothing more is consumed. */
    assert_int_equal(fx_h1_chunked_step(&c, "5\r\n", 3, &used, &data), 1);
    assert_int_equal(used, 0);
}

static void test_h1_chunked_step_extensions_trailers(void **state)
{
    (void)state;
    const char *in = "4;name=value\r\nWiki\r\n5 ; a=\"q s\" ;b\r\npedia\r\n"
                     "000;last\r\nExpires: never\r\nX-Sum:\t1 2 \xff\r\n\r\n";
    struct fx_h1_chunked c;
    struct dechunk d;
    fx_h1_chunked_init(&c);
    dechunk(&c, in, strlen(in), 0, &d);
    assert_int_equal(d.rc, 1);
    assert_int_equal(d.consumed, strlen(in));
    assert_int_equal(d.out_len, 9);
    assert_memory_equal(d.out, "Wikipedia", 9);
}

/* RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ). */
/* Connection naming a framing or routing field would make the next hop drop
 * it: the body is then read as a second message. */
static void test_h1_parse_connection_names_framing(void **state)
{
    (void)state;
    assert_int_equal(req_rc(REQ_WITH("Content-Length: 5\r\nConnection: Content-Length\r\n")),
                     FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Connection: close, content-length\r\n")), FX_ESMUGGLE);
    assert_int_equal(
        req_rc(REQ_WITH("Transfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n")),
        FX_ESMUGGLE);
    assert_int_equal(req_rc(REQ_WITH("Connection: keep-alive\r\nConnection: HOST\r\n")),
                     FX_ESMUGGLE);
    assert_true(req_rc(REQ_WITH("Connection: close, x-custom, te\r\n")) > 0);
    assert_true(req_rc(REQ_WITH("Connection: content-lengthx\r\n")) > 0);
    assert_int_equal(resp_rc("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                             "Connection: content-length\r\n\r\n"),
                     FX_ESMUGGLE);
    assert_int_equal(resp_rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                             "Connection: Transfer-Encoding\r\n\r\n"),
                     FX_ESMUGGLE);
    assert_true(resp_rc("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: x-a\r\n\r\n") > 0);
}

static void test_h1_chunked_step_extension_grammar(void **state)
{
    (void)state;
    static const char *const good[] = {
        "1;a\r\nx\r\n0\r\n\r\n",
        "1;a=b\r\nx\r\n0\r\n\r\n",
        "1 ;a = b ;c\r\nx\r\n0\r\n\r\n",
        "1;a=\"\"\r\nx\r\n0\r\n\r\n",
        "1;a=\"x\\\"y;z\"\r\nx\r\n0\r\n\r\n",
        "1;a=\"q\" ;b=c\r\nx\r\n0;last=1\r\n\r\n",
        "1;!#$%&'*+-.^_`|~=t\r\nx\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (dechunk_rc(good[i]) != 1)
            fail_msg("refused: %s", good[i]);
    }
    static const char *const bad[] = {
        "1;\r\nx\r\n0\r\n\r\n",      /* empty name */
        "1;=b\r\nx\r\n0\r\n\r\n",    /* empty name before '=' */
        "1; \r\nx\r\n0\r\n\r\n",     /* empty name after BWS */
        "1;a@b\r\nx\r\n0\r\n\r\n",   /* '@' is not a tchar */
        "1;a=\r\nx\r\n0\r\n\r\n",    /* '=' without a value */
        "1;a=b c\r\nx\r\n0\r\n\r\n", /* two words */
        "1;a=b@\r\nx\r\n0\r\n\r\n",  /* bad token value */
        "1;a=\"unterminated\r\nx\r\n0\r\n\r\n",
        "1;a=\"x\"y\r\nx\r\n0\r\n\r\n",   /* bytes after the quoted-string */
        "1;a=\"\x01\"\r\nx\r\n0\r\n\r\n", /* CTL in a quoted-string */
        "1;a \r\nx\r\n0\r\n\r\n",         /* BWS not followed by '=' or ';' */
        "1;a;\r\nx\r\n0\r\n\r\n",         /* trailing ';' */
        "1 \r\nx\r\n0\r\n\r\n",           /* BWS without extension */
        "1;a,b\r\nx\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dechunk_rc(bad[i]) != FX_ECHUNK)
            fail_msg("accepted: %s", bad[i]);
    }
}

/* Extension bytes come back as one span ending the consumed region, so a proxy
 * can cut them out; fed in any piece size, cutting gives the same bytes. */
static void test_h1_chunked_step_extension_span(void **state)
{
    (void)state;
    const char *in = "4;n=v\r\nWiki\r\n5 ; a=\"q;s\" ;b\r\npedia\r\n0;last\r\n\r\n";
    const char *want = "4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";
    size_t n = strlen(in);
    for (size_t piece = 1; piece <= n; piece++) {
        struct fx_h1_chunked c;
        fx_h1_chunked_init(&c);
        char out[128];
        size_t out_len = 0;
        size_t off = 0;
        int rc = 0;
        while (off < n && rc == 0) {
            size_t end = n - off < piece ? n : off + piece;
            size_t used = 0;
            struct fx_str data;
            rc = fx_h1_chunked_step(&c, in + off, end - off, &used, &data);
            assert_true(rc >= 0);
            assert_true(c.ext_span <= used);
            if (c.ext_span > 0)
                assert_int_equal(data.len, 0);
            memcpy(out + out_len, in + off, used - c.ext_span);
            out_len += used - c.ext_span;
            off += used;
        }
        assert_int_equal(rc, 1);
        assert_int_equal(out_len, strlen(want));
        assert_memory_equal(out, want, out_len);
    }
}

static void test_h1_chunked_step_byte_by_byte(void **state)
{
    (void)state;
    const char *in = "a;x=y\r\n0123456789\r\n1\r\n!\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\n";
    size_t msg = strlen(in) - strlen("GET / HTTP/1.1\r\n");
    struct dechunk one, inc;
    for (size_t piece = 1; piece < 8; piece++) {
        struct fx_h1_chunked c1, c2;
        fx_h1_chunked_init(&c1);
        fx_h1_chunked_init(&c2);
        dechunk(&c1, in, strlen(in), 0, &one);
        dechunk(&c2, in, strlen(in), piece, &inc);
        assert_int_equal(one.rc, 1);
        assert_int_equal(inc.rc, 1);
        assert_int_equal(one.consumed, msg);
        assert_int_equal(inc.consumed, msg);
        assert_int_equal(inc.out_len, 11);
        assert_memory_equal(one.out, inc.out, 11);
        assert_memory_equal(inc.out, "0123456789!", 11);
    }
}

static void test_h1_chunked_step_stops_at_message_end(void **state)
{
    (void)state;
    const char *in = "2\r\nok\r\n0\r\n\r\nPOST /next HTTP/1.1\r\n";
    struct fx_h1_chunked c;
    struct dechunk d;
    fx_h1_chunked_init(&c);
    dechunk(&c, in, strlen(in), 0, &d);
    assert_int_equal(d.rc, 1);
    assert_int_equal(d.consumed, 12);
    assert_string_equal(in + d.consumed, "POST /next HTTP/1.1\r\n");
}

static void test_h1_chunked_step_size_overflow(void **state)
{
    (void)state;
    assert_int_equal(dechunk_rc("FFFFFFFFFFFFFFFFFF\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("FFFFFFFFFFFFFFFF\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("4000000000000001\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("00000000000000001\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("10000000000000000\r\n"), FX_ECHUNK);
    /* 2^62 itself is accepted: the decoder waits for data. */
    struct fx_h1_chunked c;
    struct dechunk d;
    fx_h1_chunked_init(&c);
    dechunk(&c, "4000000000000000\r\nab", 20, 0, &d);
    assert_int_equal(d.rc, 0);
    assert_int_equal(c.remaining, ((uint64_t)1 << 62) - 2);
}

static void test_h1_chunked_step_bad_size(void **state)
{
    (void)state;
    assert_int_equal(dechunk_rc("g\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc(";x\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("-1\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("+1\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("0x5\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc(" 5\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("5\r\nhello\r\n5z\r\n"), FX_ECHUNK);
    /* Whitespace is only allowed before ';'. */
    assert_int_equal(dechunk_rc("5 \r\nhello\r\n0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("5\t;a\r\nhello\r\n0\r\n\r\n"), 1);
}

static void test_h1_chunked_step_missing_crlf_after_data(void **state)
{
    (void)state;
    assert_int_equal(dechunk_rc("5\r\nhelloX\r\n0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("5\r\nhello0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("5\r\nhello\rX0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("3\r\nhello\r\n0\r\n\r\n"), FX_ECHUNK);
}

static void test_h1_chunked_step_bare_lf(void **state)
{
    (void)state;
    assert_int_equal(dechunk_rc("5\nhello\r\n0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("5\r\nhello\n0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("5\r\nhello\r\n0\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("5\r\nhello\r\n0\r\n\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("5\r\nhello\r\n0\r\nA: b\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("5;a\nhello\r\n0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("5\r\r\nhello\r\n0\r\n\r\n"), FX_ECHUNK);
}

static void test_h1_chunked_step_extension_limits(void **state)
{
    (void)state;
    char in[256];
    struct fx_h1_chunked c;
    struct dechunk d;
    /* Size line of exactly max_line bytes (CRLF included) passes. */
    fx_h1_chunked_init(&c);
    c.max_line = 32;
    memset(in, 'x', sizeof(in));
    memcpy(in, "1;", 2);
    memcpy(in + 30, "\r\na\r\n0\r\n\r\n", 10);
    dechunk(&c, in, 40, 0, &d);
    assert_int_equal(d.rc, 1);
    /* One more byte does not. */
    fx_h1_chunked_init(&c);
    c.max_line = 31;
    dechunk(&c, in, 40, 0, &d);
    assert_int_equal(d.rc, FX_ECHUNK);
    /* An endless extension is refused without seeing the CRLF. */
    memset(in + 2, 'x', sizeof(in) - 2);
    fx_h1_chunked_init(&c);
    c.max_line = 64;
    dechunk(&c, in, 200, 0, &d);
    assert_int_equal(d.rc, FX_ECHUNK);
    assert_int_equal(d.consumed, 64);
    /* Default limit. */
    char big[5000];
    memset(big, 'e', sizeof(big));
    memcpy(big, "1;", 2);
    assert_int_equal(dechunk_rc("1;a=b\r\nx\r\n0\r\n\r\n"), 1);
    fx_h1_chunked_init(&c);
    dechunk(&c, big, sizeof(big), 0, &d);
    assert_int_equal(d.rc, FX_ECHUNK);
}

static void test_h1_chunked_step_extension_bytes(void **state)
{
    (void)state;
    assert_int_equal(dechunk_rc("1;a\x01\r\nx\r\n0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("1;a\x7f\r\nx\r\n0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("1;a\xff\r\nx\r\n0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("1;a\rb\r\nx\r\n0\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("1 x\r\nx\r\n0\r\n\r\n"), FX_ECHUNK);
    struct fx_h1_chunked c;
    struct dechunk d;
    fx_h1_chunked_init(&c);
    dechunk(&c, "1;a\0b\r\nx\r\n0\r\n\r\n", 16, 0, &d);
    assert_int_equal(d.rc, FX_ECHUNK);
    assert_int_equal(d.consumed, 3);
}

static void test_h1_chunked_step_trailers_invalid(void **state)
{
    (void)state;
    assert_int_equal(dechunk_rc("0\r\n X: y\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("0\r\nX: y\r\n\tz\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("0\r\nX : y\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("0\r\n: y\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("0\r\nNoColon\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("0\r\nX: a\rb\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("0\r\nX: a\x7f\r\n\r\n"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("0\r\nX: y\r\n\rx"), FX_ECHUNK);
    assert_int_equal(dechunk_rc("0\r\nX:\r\n\r\n"), 1);
    struct fx_h1_chunked c;
    struct dechunk d;
    fx_h1_chunked_init(&c);
    dechunk(&c, "0\r\nX: \0\r\n\r\n", 11, 0, &d);
    assert_int_equal(d.rc, FX_ECHUNK);
}

static void test_h1_chunked_step_trailers_too_long(void **state)
{
    (void)state;
    const char *in = "0\r\nA: 1\r\nB: 2\r\n\r\n";
    struct fx_h1_chunked c;
    struct dechunk d;
    fx_h1_chunked_init(&c);
    c.max_trailer = 12;
    dechunk(&c, in, strlen(in), 0, &d);
    assert_int_equal(d.rc, 1);
    fx_h1_chunked_init(&c);
    c.max_trailer = 11;
    dechunk(&c, in, strlen(in), 0, &d);
    assert_int_equal(d.rc, FX_ECHUNK);
}

static void test_h1_chunked_step_incomplete(void **state)
{
    (void)state;
    const char *in = "5\r\nhello\r\n0\r\nT: v\r\n\r\n";
    size_t n = strlen(in);
    for (size_t k = 0; k < n; k++) {
        struct fx_h1_chunked c;
        struct dechunk d;
        fx_h1_chunked_init(&c);
        dechunk(&c, in, k, 0, &d);
        assert_int_equal(d.rc, 0);
        assert_int_equal(d.consumed, k);
        assert_false(fx_h1_chunked_done(&c));
    }
}

/* ---- helpers ----------------------------------------------------------- */

static void test_h1_list_next_items(void **state)
{
    (void)state;
    struct fx_str list = FX_STR(" , a ,b\t,, c d ,");
    struct fx_str item;
    assert_true(fx_h1_list_next(&list, &item));
    assert_view(item, "a");
    assert_true(fx_h1_list_next(&list, &item));
    assert_view(item, "b");
    assert_true(fx_h1_list_next(&list, &item));
    assert_view(item, "c d");
    assert_false(fx_h1_list_next(&list, &item));
    assert_false(fx_h1_list_next(&list, &item));
    struct fx_str empty = { NULL, 0 };
    assert_false(fx_h1_list_next(&empty, &item));
}

static void test_h1_reason_codes(void **state)
{
    (void)state;
    assert_string_equal(fx_h1_reason(200), "OK");
    assert_string_equal(fx_h1_reason(100), "Continue");
    assert_string_equal(fx_h1_reason(226), "IM Used");
    assert_string_equal(fx_h1_reason(404), "Not Found");
    assert_string_equal(fx_h1_reason(431), "Request Header Fields Too Large");
    assert_string_equal(fx_h1_reason(451), "Unavailable For Legal Reasons");
    assert_string_equal(fx_h1_reason(502), "Bad Gateway");
    assert_string_equal(fx_h1_reason(511), "Network Authentication Required");
    assert_string_equal(fx_h1_reason(299), "");
    assert_string_equal(fx_h1_reason(418), "");
    assert_string_equal(fx_h1_reason(99), "");
    assert_string_equal(fx_h1_reason(600), "");
    assert_string_equal(fx_h1_reason(-1), "");
}

/* ---- fx_h1_path_normalize ---- */

struct path_case {
    const char *in;
    const char *out; /* NULL when `rc` is an error */
    int rc;
};

/* Normalise `in` both into a separate buffer and in place; both must agree. */
static void check_path_case(const struct path_case *c, unsigned int flags)
{
    char out[256];
    char inplace[256];
    size_t len = strlen(c->in);
    size_t n = 0;
    size_t m = 0;
    memcpy(inplace, c->in, len);
    int rc = fx_h1_path_normalize(c->in, len, out, sizeof(out), flags, &n);
    int rc2 = fx_h1_path_normalize(inplace, len, inplace, len, flags, &m);
    if (rc != c->rc || rc2 != c->rc)
        fail_msg("%s: rc %d / in place %d, want %d", c->in, rc, rc2, c->rc);
    if (c->out == NULL)
        return;
    if (n != strlen(c->out) || memcmp(out, c->out, n) != 0)
        fail_msg("%s: got \"%.*s\", want \"%s\"", c->in, (int)n, out, c->out);
    if (m != n || memcmp(inplace, out, n) != 0)
        fail_msg("%s: in place got \"%.*s\"", c->in, (int)m, inplace);
    /* Idempotent: the output is already normal. */
    char again[256];
    size_t k = 0;
    assert_int_equal(fx_h1_path_normalize(out, n, again, sizeof(again), flags, &k), 0);
    assert_int_equal(k, n);
    assert_memory_equal(again, out, n);
}

static void test_h1_path_normalize_table(void **state)
{
    (void)state;
    static const struct path_case cases[] = {
        { "/", "/", 0 },
        { "/a/b/c", "/a/b/c", 0 },
        { "/a/./b/../c", "/a/c", 0 },
        { "//a///b", "/a/b", 0 },
        { "/%61%62c", "/abc", 0 },
        { "/%61dmin", "/admin", 0 },
        { "/a%2fb", "/a%2Fb", 0 },
        { "/a%2Fb", "/a%2Fb", 0 },
        { "/%7e%2D%5f%2E%41%5A%30%39", "/~-_.AZ09", 0 },
        { "/%20%25%3f%23%00", "/%20%25%3F%23%00", 0 },
        { "/%2e%2e/x", NULL, FX_EPARSE },
        { "/a/%2e%2E/x", "/x", 0 },
        { "/a/%2e/x", "/a/x", 0 },
        { "/a/..", "/", 0 },
        { "/a/.", "/a/", 0 },
        { "/a/b/..", "/a/", 0 },
        { "/a/b/../", "/a/", 0 },
        { "/a/b/..?x=/../", "/a/?x=/../", 0 },
        { "/a/b?x=//%zz/./", "/a/b?x=//%zz/./", 0 },
        { "/a//b/?q", "/a/b/?q", 0 },
        { "/a/", "/a/", 0 },
        { "/a//", "/a/", 0 },
        { "/..", NULL, FX_EPARSE },
        { "/.", "/", 0 },
        { "/./", "/", 0 },
        { "/../x", NULL, FX_EPARSE },
        { "/a/../../x", NULL, FX_EPARSE },
        { "/./../x", NULL, FX_EPARSE },
        { "/public/../admin", "/admin", 0 },
        { "/a/.../b", "/a/.../b", 0 },
        { "/a/..b/.c/", "/a/..b/.c/", 0 },
        { "/.hidden", "/.hidden", 0 },
        { "/%zz", NULL, FX_EPARSE },
        { "/a%", NULL, FX_EPARSE },
        { "/a%4", NULL, FX_EPARSE },
        { "/a%4?x", NULL, FX_EPARSE },
        { "/a%g1", NULL, FX_EPARSE },
        { "/a?%zz", "/a?%zz", 0 },
        { "*", "*", 0 },
        { "a/b", NULL, FX_EINVAL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_path_case(&cases[i], FX_H1_PATH_ALL);
}

static void test_h1_path_normalize_flags(void **state)
{
    (void)state;
    static const struct path_case no_merge[] = {
        { "//a///b", "//a///b", 0 },
        { "/a//../b", "/a/b", 0 },
        { "/a/%2e/b", "/a/b", 0 },
    };
    for (size_t i = 0; i < sizeof(no_merge) / sizeof(no_merge[0]); i++)
        check_path_case(&no_merge[i], FX_H1_PATH_DECODE | FX_H1_PATH_DOTS);
    static const struct path_case no_decode[] = {
        { "/%61/%2e%2e/x", "/%61/%2e%2e/x", 0 },
        { "/%zz//a/../b", "/%zz/b", 0 },
    };
    for (size_t i = 0; i < sizeof(no_decode) / sizeof(no_decode[0]); i++)
        check_path_case(&no_decode[i], FX_H1_PATH_MERGE_SLASHES | FX_H1_PATH_DOTS);
    static const struct path_case no_dots[] = {
        { "/a/./b/../c", "/a/./b/../c", 0 },
        { "/..", "/..", 0 },
        { "//%2e%2e/%41", "/../A", 0 },
    };
    for (size_t i = 0; i < sizeof(no_dots) / sizeof(no_dots[0]); i++)
        check_path_case(&no_dots[i], FX_H1_PATH_MERGE_SLASHES | FX_H1_PATH_DECODE);
    static const struct path_case none[] = {
        { "//a/./%zz/..", "//a/./%zz/..", 0 },
    };
    check_path_case(&none[0], 0);
}

static void test_h1_path_normalize_long(void **state)
{
    (void)state;
    /* 64 KiB of "/a/.." and "//" pairs, then a last segment. */
    size_t reps = 8192;
    size_t len = reps * 8 + 2;
    char *in = malloc(len);
    char *out = malloc(len);
    assert_non_null(in);
    assert_non_null(out);
    for (size_t i = 0; i < reps; i++)
        memcpy(in + i * 8, "/a/..//.", 8);
    memcpy(in + reps * 8, "/z", 2);
    size_t n = 0;
    assert_int_equal(fx_h1_path_normalize(in, len, out, len, FX_H1_PATH_ALL, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "/z", 2);
    /* Deep nesting, then climbing all the way back: fine, one more is not. */
    for (size_t i = 0; i < reps; i++)
        memcpy(in + i * 2, "/d", 2);
    for (size_t i = 0; i < reps; i++)
        memcpy(in + reps * 2 + i * 3, "/..", 3);
    len = reps * 5;
    assert_int_equal(fx_h1_path_normalize(in, len, in, len, FX_H1_PATH_ALL, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(in[0], '/');
    for (size_t i = 0; i < reps; i++)
        memcpy(in + i * 2, "/d", 2);
    for (size_t i = 0; i <= reps; i++)
        memcpy(in + reps * 2 + i * 3, "/..", 3);
    len = reps * 5 + 3;
    assert_int_equal(fx_h1_path_normalize(in, len, out, len, FX_H1_PATH_ALL, &n), FX_EPARSE);
    free(in);
    free(out);
}

static void test_h1_path_normalize_capacity(void **state)
{
    (void)state;
    char out[8];
    size_t n = 99;
    /* Already normal but longer than out. */
    assert_int_equal(fx_h1_path_normalize("/abcdefghij", 11, out, 8, FX_H1_PATH_ALL, &n),
                     FX_ELIMIT);
    /* Needs work and the result does not fit; nothing past cap is written. */
    char big[16];
    memset(big, 'X', sizeof(big));
    assert_int_equal(fx_h1_path_normalize("/%61bcdefghij", 13, big, 4, FX_H1_PATH_ALL, &n),
                     FX_ELIMIT);
    for (size_t i = 4; i < sizeof(big); i++)
        assert_int_equal(big[i], 'X');
    /* The query does not fit. */
    assert_int_equal(fx_h1_path_normalize("/a/../b?0123456789", 18, out, 8, FX_H1_PATH_ALL, &n),
                     FX_ELIMIT);
    /* Exactly enough room: "/a//b" -> "/a/b" in 4 bytes. */
    assert_int_equal(fx_h1_path_normalize("/a//b", 5, out, 4, FX_H1_PATH_ALL, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "/a/b", 4);
    assert_int_equal(fx_h1_path_normalize("/a", 2, out, 0, FX_H1_PATH_ALL, &n), FX_ELIMIT);
    assert_int_equal(fx_h1_path_normalize(NULL, 2, out, 8, FX_H1_PATH_ALL, &n), FX_EINVAL);
    assert_int_equal(fx_h1_path_normalize("/", 0, out, 8, FX_H1_PATH_ALL, &n), FX_EINVAL);
}

/* The already-normal fast path writes nothing when working in place. */
static void test_h1_path_normalize_fast_path(void **state)
{
    (void)state;
    const char *ro = "/api/v1/orders.json?x=%zz&y=/../";
    size_t n = 0;
    /* `ro` is a string literal: a write would crash. */
    assert_int_equal(
        fx_h1_path_normalize(ro, strlen(ro), (char *)(uintptr_t)ro, strlen(ro), FX_H1_PATH_ALL, &n),
        0);
    assert_int_equal(n, strlen(ro));
}

static void test_h1_is_tchar_classes(void **state)
{
    (void)state;
    const char *tchars = "!#$%&'*+-.^_`|~09azAZ";
    for (const char *p = tchars; *p != '\0'; p++)
        assert_true(fx_h1_is_tchar((unsigned char)*p));
    const char *non = " \t\"(),/:;<=>?@[\\]{}\x7f";
    for (const char *p = non; *p != '\0'; p++)
        assert_false(fx_h1_is_tchar((unsigned char)*p));
    assert_false(fx_h1_is_tchar(0));
    assert_false(fx_h1_is_tchar(0x80));
    assert_false(fx_h1_is_tchar(0xff));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h1_parse_req_get),
        cmocka_unit_test(test_h1_parse_req_post_content_length),
        cmocka_unit_test(test_h1_parse_req_post_content_length_zero),
        cmocka_unit_test(test_h1_parse_req_post_chunked),
        cmocka_unit_test(test_h1_parse_req_http10),
        cmocka_unit_test(test_h1_parse_req_empty_value_and_obs_text),
        cmocka_unit_test(test_h1_parse_req_value_ows_trimmed),
        cmocka_unit_test(test_h1_parse_req_leading_crlf),
        cmocka_unit_test(test_h1_parse_req_incomplete),
        cmocka_unit_test(test_h1_parse_req_method_token),
        cmocka_unit_test(test_h1_parse_req_line_spacing),
        cmocka_unit_test(test_h1_parse_req_target_bytes),
        cmocka_unit_test(test_h1_parse_req_absolute_form),
        cmocka_unit_test(test_h1_parse_req_asterisk_form),
        cmocka_unit_test(test_h1_parse_req_authority_form),
        cmocka_unit_test(test_h1_parse_req_version),
        cmocka_unit_test(test_h1_parse_req_http09_rejected),
        cmocka_unit_test(test_h1_parse_req_bare_lf_rejected),
        cmocka_unit_test(test_h1_parse_req_bare_cr_rejected),
        cmocka_unit_test(test_h1_parse_req_nul_rejected),
        cmocka_unit_test(test_h1_parse_req_ctl_rejected),
        cmocka_unit_test(test_h1_parse_req_obs_fold_rejected),
        cmocka_unit_test(test_h1_parse_req_bad_field_name),
        cmocka_unit_test(test_h1_parse_req_host_rules),
        cmocka_unit_test(test_h1_parse_req_cl_with_te),
        cmocka_unit_test(test_h1_parse_req_cl_duplicate),
        cmocka_unit_test(test_h1_parse_req_cl_invalid),
        cmocka_unit_test(test_h1_parse_req_cl_limits_and_ows),
        cmocka_unit_test(test_h1_parse_req_te_obfuscated),
        cmocka_unit_test(test_h1_parse_req_te_http10),
        cmocka_unit_test(test_h1_parse_req_connection_flags),
        cmocka_unit_test(test_h1_parse_req_expect),
        cmocka_unit_test(test_h1_parse_req_line_too_long),
        cmocka_unit_test(test_h1_parse_req_head_too_long),
        cmocka_unit_test(test_h1_parse_req_too_many_headers),
        cmocka_unit_test(test_h1_parse_req_max_headers_clamped),
        cmocka_unit_test(test_h1_parse_req_fragmented_matches_oneshot),
        cmocka_unit_test(test_h1_parse_req_early_reject),
        cmocka_unit_test(test_h1_parse_req_pipelined),
        cmocka_unit_test(test_h1_parse_resp_valid),
        cmocka_unit_test(test_h1_parse_resp_no_reason),
        cmocka_unit_test(test_h1_parse_resp_status_line_invalid),
        cmocka_unit_test(test_h1_parse_resp_framing),
        cmocka_unit_test(test_h1_parse_resp_limits),
        cmocka_unit_test(test_h1_parse_resp_fragmented),
        cmocka_unit_test(test_h1_resp_body_cases),
        cmocka_unit_test(test_h1_chunked_step_simple),
        cmocka_unit_test(test_h1_chunked_step_one_span_per_call),
        cmocka_unit_test(test_h1_chunked_step_extensions_trailers),
        cmocka_unit_test(test_h1_parse_connection_names_framing),
        cmocka_unit_test(test_h1_chunked_step_extension_grammar),
        cmocka_unit_test(test_h1_chunked_step_extension_span),
        cmocka_unit_test(test_h1_chunked_step_byte_by_byte),
        cmocka_unit_test(test_h1_chunked_step_stops_at_message_end),
        cmocka_unit_test(test_h1_chunked_step_size_overflow),
        cmocka_unit_test(test_h1_chunked_step_bad_size),
        cmocka_unit_test(test_h1_chunked_step_missing_crlf_after_data),
        cmocka_unit_test(test_h1_chunked_step_bare_lf),
        cmocka_unit_test(test_h1_chunked_step_extension_limits),
        cmocka_unit_test(test_h1_chunked_step_extension_bytes),
        cmocka_unit_test(test_h1_chunked_step_trailers_invalid),
        cmocka_unit_test(test_h1_chunked_step_trailers_too_long),
        cmocka_unit_test(test_h1_chunked_step_incomplete),
        cmocka_unit_test(test_h1_list_next_items),
        cmocka_unit_test(test_h1_reason_codes),
        cmocka_unit_test(test_h1_is_tchar_classes),
        cmocka_unit_test(test_h1_path_normalize_table),
        cmocka_unit_test(test_h1_path_normalize_flags),
        cmocka_unit_test(test_h1_path_normalize_long),
        cmocka_unit_test(test_h1_path_normalize_capacity),
        cmocka_unit_test(test_h1_path_normalize_fast_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
