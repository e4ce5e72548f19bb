/* Strict HTTP/1.1 head parser (RFC 9112, RFC 9110).
 *
 * This file is a security boundary: whatever it accepts is forwarded to
 * upstreams that may parse it differently, so every ambiguity is rejected
 * rather than repaired.
 *
 * A head is processed line by line. Each call searches for the next LF with
 * memchr() and validates every line as soon as it is complete, so hostile
 * input is refused early and the result never depends on how the input was
 * split: an error is always the one attached to the earliest offending byte.
 * Checks that need the whole head (duplicate fields, framing conflicts,
 * missing Host) run once the empty line has been reached.
 *
 * Resume state (*scanned) packs two numbers: the offset where the LF search
 * continues and the number of non-empty lines completed so far. Completed
 * lines are never scanned again until the head is complete; then, if the
 * head arrived in several calls, it is parsed once more from the start so
 * that every view points into the caller's current buffer. Overall work is
 * linear in the head size however the bytes are fed. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "../core/err.h"
#include "http.h"
#include "http_int.h"

/* Reason phrases (RFC 9110 §15 and the IANA registry) by class, indexed by
 * status % 100; gaps are NULL. */
static const char *const reason_1xx[] = {
    "Continue",
    "Switching Protocols",
    "Processing",
    "Early Hints",
};

static const char *const reason_2xx[] = {
    [0] = "OK",
    [1] = "Created",
    [2] = "Accepted",
    [3] = "Non-Authoritative Information",
    [4] = "No Content",
    [5] = "Reset Content",
    [6] = "Partial Content",
    [7] = "Multi-Status",
    [8] = "Already Reported",
    [26] = "IM Used",
};

static const char *const reason_3xx[] = {
    [0] = "Multiple Choices",   [1] = "Moved Permanently",  [2] = "Found",
    [3] = "See Other",          [4] = "Not Modified",       [5] = "Use Proxy",
    [7] = "Temporary Redirect", [8] = "Permanent Redirect",
};

static const char *const reason_4xx[] = {
    [0] = "Bad Request",
    [1] = "Unauthorized",
    [2] = "Payment Required",
    [3] = "Forbidden",
    [4] = "Not Found",
    [5] = "Method Not Allowed",
    [6] = "Not Acceptable",
    [7] = "Proxy Authentication Required",
    [8] = "Request Timeout",
    [9] = "Conflict",
    [10] = "Gone",
    [11] = "Length Required",
    [12] = "Precondition Failed",
    [13] = "Content Too Large",
    [14] = "URI Too Long",
    [15] = "Unsupported Media Type",
    [16] = "Range Not Satisfiable",
    [17] = "Expectation Failed",
    [21] = "Misdirected Request",
    [22] = "Unprocessable Content",
    [23] = "Locked",
    [24] = "Failed Dependency",
    [25] = "Too Early",
    [26] = "Upgrade Required",
    [28] = "Precondition Required",
    [29] = "Too Many Requests",
    [31] = "Request Header Fields Too Large",
    [51] = "Unavailable For Legal Reasons",
};

static const char *const reason_5xx[] = {
    [0] = "Internal Server Error",
    [1] = "Not Implemented",
    [2] = "Bad Gateway",
    [3] = "Service Unavailable",
    [4] = "Gateway Timeout",
    [5] = "HTTP Version Not Supported",
    [6] = "Variant Also Negotiates",
    [7] = "Insufficient Storage",
    [8] = "Loop Detected",
    [10] = "Not Extended",
    [11] = "Network Authentication Required",
};

struct reason_class {
    const char *const *text;
    size_t n;
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct reason_class reason_classes[5] = {
    { reason_1xx, NELEM(reason_1xx) }, { reason_2xx, NELEM(reason_2xx) },
    { reason_3xx, NELEM(reason_3xx) }, { reason_4xx, NELEM(reason_4xx) },
    { reason_5xx, NELEM(reason_5xx) },
};

/* Content-Length values longer than this are refused; 18 digits stay below 2^62. */
#define CL_MAX_DIGITS 18

/* Layout of *scanned: the low bits hold the LF search offset, the top byte
 * the count of completed non-empty lines (at most FX_H1_MAX_HEADERS + 1). */
#define ST_LINES_SHIFT (sizeof(size_t) * CHAR_BIT - 8)
#define ST_POS_MASK    (((size_t)1 << ST_LINES_SHIFT) - 1)

/* Limits after clamping to what the return type and resume state can hold. */
struct head_lim {
    size_t max_head;
    size_t max_line; /* SIZE_MAX for responses: only max_head applies */
    size_t max_headers;
};

/* Fields gathered from the header lines by check_fields(). */
struct field_sum {
    unsigned int flags;
    uint64_t content_length;
    struct fx_str host;
    unsigned int nhost;
};

static inline bool has_class(unsigned char c, unsigned int cls)
{
    return (fx_http__char_class[c] & cls) != 0;
}

static inline bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* Case-insensitive comparison of `s` with a lower-case literal made of
 * letters, digits and "-:/". Setting bit 0x20 folds case without a branch;
 * the only other bytes it could map onto a literal byte are CTLs (0x0D to
 * '-', 0x10 to '0', 0x1A to ':', ...), which never reach this point because
 * names, values and targets are validated first. */
static bool eq_lower(struct fx_str s, const char *lit, size_t n)
{
    if (s.len != n)
        return false;
    unsigned int diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= ((unsigned char)s.ptr[i] | 0x20u) ^ (unsigned char)lit[i];
    return diff == 0;
}

#define EQ_LOWER(s, lit) eq_lower((s), (lit), sizeof(lit) - 1)

/* Length of the run of bytes of class `cls` at the start of p[0..n). */
static size_t span_class(const unsigned char *p, size_t n, unsigned int cls)
{
    size_t i = 0;
    while (i < n && has_class(p[i], cls))
        i++;
    return i;
}

/* Word-at-a-time helpers ("Bit Twiddling Hacks"): values and targets are the
 * bulk of a head, so 8 bytes are checked at once and the byte loop only runs
 * on the word holding the first byte outside the class. */
#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    return w;
}

/* Nonzero when some byte of `w` is below `n` (n <= 128). */
static inline uint64_t has_below(uint64_t w, unsigned int n)
{
    return (w - ONES * n) & ~w & HIGHS;
}

/* Nonzero when some byte of `w` is above `n` (n <= 127). */
static inline uint64_t has_above(uint64_t w, unsigned int n)
{
    return ((w + ONES * (127 - n)) | w) & HIGHS;
}

/* span_class(p, n, C_VALUE): a word passes when it holds no byte below SP
 * and no DEL; HTAB and the rest are left to the byte loop. */
static size_t span_value(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (n - i >= 8) {
        uint64_t w = load64(p + i);
        if (has_below(w, 0x20) | has_below(w ^ (ONES * 0x7f), 1))
            break;
        i += 8;
    }
    return i + span_class(p + i, n - i, C_VALUE);
}

/* span_class(p, n, C_VCHAR): a word passes when every byte is 0x21-0x7E. */
static size_t span_vchar(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (n - i >= 8) {
        uint64_t w = load64(p + i);
        if (has_below(w, 0x21) | has_above(w, 0x7e))
            break;
        i += 8;
    }
    return i + span_class(p + i, n - i, C_VCHAR);
}

/* "HTTP/1.0" -> 0, "HTTP/1.1" -> 1, any other HTTP/DIGIT.DIGIT ->
 * FX_EVERSION, anything else (including lower case) -> FX_EPARSE. */
static int parse_version(const char *p, size_t n)
{
    if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.')
        return FX_EPARSE;
    if (p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
        return FX_EPARSE;
    if (p[5] != '1' || p[7] > '1')
        return FX_EVERSION;
    return p[7] - '0';
}

/* An authority (host[:port]) made only of RFC 3986 authority bytes. The
 * class leaves out '@': userinfo is refused (RFC 9110 §4.2.4). */
static bool valid_authority(struct fx_str a)
{
    return span_class((const unsigned char *)a.ptr, a.len, C_AUTH) == a.len;
}

/* authority-form for CONNECT: host ":" port, with a non-empty host and a
 * non-empty all-digit port. */
static bool valid_authority_form(struct fx_str t)
{
    if (t.len == 0 || !valid_authority(t))
        return false;
    const char *colon = memrchr(t.ptr, ':', t.len);
    if (colon == NULL || colon == t.ptr)
        return false;
    size_t port = t.len - (size_t)(colon - t.ptr) - 1;
    if (port == 0)
        return false;
    for (size_t i = 1; i <= port; i++) {
        if (colon[i] < '0' || colon[i] > '9')
            return false;
    }
    return true;
}

/* absolute-form: "http://" or "https://" (scheme case-insensitive), a
 * non-empty authority, then nothing or an absolute path. Returns the offset of
 * the authority or 0 when `t` is not absolute-form at all. */
static size_t absolute_scheme_len(struct fx_str t)
{
    if (t.len >= 7 && EQ_LOWER(((struct fx_str){ t.ptr, 7 }), "http://"))
        return 7;
    if (t.len >= 8 && EQ_LOWER(((struct fx_str){ t.ptr, 8 }), "https://"))
        return 8;
    return 0;
}

static int parse_absolute_form(struct fx_h1_req *req, size_t skip)
{
    const char *a = req->target.ptr + skip;
    size_t rest = req->target.len - skip;
    size_t alen = span_class((const unsigned char *)a, rest, C_AUTH);
    /* The authority must end the target or be followed by a path; a bare
     * "?query" would leave no path to forward without rewriting. */
    if (alen == 0 || (alen < rest && a[alen] != '/'))
        return FX_EPARSE;
    req->authority = (struct fx_str){ a, alen };
    if (alen == rest)
        req->path = FX_STR("/");
    else
        req->path = (struct fx_str){ a + alen, rest - alen };
    req->flags |= FX_H1_F_ABSOLUTE_FORM;
    return 0;
}

/* Classify req->target and set req->path (and authority for absolute-form). */
static int parse_target_form(struct fx_h1_req *req)
{
    struct fx_str t = req->target;
    bool connect = fx_str_eq(req->method, FX_STR("CONNECT"));

    if (connect) {
        if (!valid_authority_form(t))
            return FX_EPARSE;
        req->path = t;
        return 0;
    }
    if (t.ptr[0] == '/') {
        req->path = t;
        return 0;
    }
    if (t.len == 1 && t.ptr[0] == '*') {
        if (!fx_str_eq(req->method, FX_STR("OPTIONS")))
            return FX_EPARSE;
        req->path = t;
        return 0;
    }
    size_t skip = absolute_scheme_len(t);
    if (skip == 0)
        return FX_EPARSE;
    return parse_absolute_form(req, skip);
}

/* request-line = method SP request-target SP HTTP-version (CRLF excluded). */
static int parse_request_line(const char *p, size_t n, struct fx_h1_req *req)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = span_class(s, n, C_TCHAR);
    if (i == 0 || i == n || s[i] != ' ')
        return FX_EPARSE;
    req->method = (struct fx_str){ p, i };
    size_t t0 = ++i;
    i += span_vchar(s + i, n - i);
    if (i == t0 || i == n || s[i] != ' ')
        return FX_EPARSE;
    req->target = (struct fx_str){ p + t0, i - t0 };
    i++;
    /* The version is checked before the target form so that an HTTP/2
     * preface ("PRI * HTTP/2.0") is answered with 505. */
    int minor = parse_version(p + i, n - i);
    if (minor < 0)
        return minor;
    req->minor = minor;
    return parse_target_form(req);
}

/* status-line = HTTP-version SP 3DIGIT SP [reason-phrase]; the SP before an
 * empty reason may be missing. */
static int parse_status_line(const char *p, size_t n, struct fx_h1_resp *resp)
{
    int minor = parse_version(p, n < 8 ? n : 8);
    if (minor < 0)
        return minor;
    if (n < 12 || p[8] != ' ')
        return FX_EPARSE;
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return FX_EPARSE;
        status = status * 10 + (p[i] - '0');
    }
    if (status < 100 || status > 599)
        return FX_EPARSE;
    resp->minor = minor;
    resp->status = status;
    if (n == 12) {
        resp->reason = (struct fx_str){ p + 12, 0 };
        return 0;
    }
    if (p[12] != ' ')
        return FX_EPARSE;
    const unsigned char *r = (const unsigned char *)p + 13;
    if (span_value(r, n - 13) != n - 13)
        return FX_EPARSE;
    resp->reason = (struct fx_str){ p + 13, n - 13 };
    return 0;
}

/* field-line = field-name ":" OWS field-value OWS (CRLF excluded). A line
 * starting with whitespace (obs-fold) has an empty name and is refused, as is
 * whitespace between the name and the colon. */
static int parse_field_line(const char *p, size_t n, struct fx_h1_header *h)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = span_class(s, n, C_TCHAR);
    if (i == 0 || i == n || s[i] != ':')
        return FX_EPARSE;
    h->name = (struct fx_str){ p, i };
    i++;
    while (i < n && is_ows(s[i]))
        i++;
    size_t v0 = i;
    if (span_value(s + i, n - i) != n - i)
        return FX_EPARSE;
    size_t v1 = n;
    while (v1 > v0 && is_ows(s[v1 - 1]))
        v1--;
    h->value = (struct fx_str){ p + v0, v1 - v0 };
    return 0;
}

/* Process one complete non-empty line of p[0..n): line number `line` (0 is
 * the start line). Exactly one of req and resp is non-NULL. */
static int parse_line(const char *p, size_t n, size_t line, const struct head_lim *lim,
                      struct fx_h1_req *req, struct fx_h1_resp *resp)
{
    if (line == 0)
        return req != NULL ? parse_request_line(p, n, req) : parse_status_line(p, n, resp);
    if (line > lim->max_headers)
        return FX_ETOOMANY;
    struct fx_h1_header *h = req != NULL ? &req->headers[line - 1] : &resp->headers[line - 1];
    return parse_field_line(p, n, h);
}

/* Find the next LF at or after `pos` without crossing a limit. Returns 0 with
 * *at set to the LF offset; FX_EAGAIN with *at set to where the search should
 * resume; or FX_ETOOLONG_LINE / FX_ETOOLONG_HEAD once the limit is reached
 * without an LF (the line would be longer even if the LF came next). */
static int next_lf(const char *buf, size_t len, size_t pos, size_t lines,
                   const struct head_lim *lim, size_t *at)
{
    /* Leading empty lines count towards the request-line limit. */
    bool first = lines == 0 && lim->max_line <= lim->max_head;
    size_t bound = first ? lim->max_line : lim->max_head;
    size_t end = len < bound ? len : bound;
    const char *lf = pos < end ? memchr(buf + pos, '\n', end - pos) : NULL;
    if (lf != NULL) {
        *at = (size_t)(lf - buf);
        return 0;
    }
    if (len >= bound)
        return first ? FX_ETOOLONG_LINE : FX_ETOOLONG_HEAD;
    *at = end;
    return FX_EAGAIN;
}

/* Offset of the line holding the LF at `i`: one past the previous LF. */
static size_t line_start(const char *buf, size_t i)
{
    const char *prev = memrchr(buf, '\n', i);
    return prev != NULL ? (size_t)(prev - buf) + 1 : 0;
}

/* Walk the head line by line from the resume state in *scanned. Returns the
 * head length, FX_EAGAIN (with *scanned updated) or an error. On success
 * *nfields holds the number of field lines. Views written into req/resp are
 * complete only when the walk started at offset 0. */
static int walk_head(const char *buf, size_t len, size_t *scanned, const struct head_lim *lim,
                     struct fx_h1_req *req, struct fx_h1_resp *resp, size_t *nfields)
{
    size_t pos = *scanned & ST_POS_MASK;
    size_t lines = *scanned >> ST_LINES_SHIFT;
    if (pos > len || lines > lim->max_headers + 1) {
        pos = 0;
        lines = 0;
    }
    /* Start of the current line; unknown (SIZE_MAX) when resuming mid-line. */
    size_t ls = pos == 0 ? 0 : SIZE_MAX;

    for (;;) {
        size_t i;
        int rc = next_lf(buf, len, pos, lines, lim, &i);
        if (rc == FX_EAGAIN)
            *scanned = i | (lines << ST_LINES_SHIFT);
        if (rc < 0)
            return rc;
        if (i == 0 || buf[i - 1] != '\r')
            return FX_EPARSE;
        pos = i + 1;
        if (i == 1 || buf[i - 2] == '\n') {
            /* An empty line: skipped before the start line (RFC 9112
             * §2.2), else the end of the head. */
            if (lines > 0) {
                *nfields = lines - 1;
                return (int)pos;
            }
            ls = pos;
            continue;
        }
        if (ls == SIZE_MAX)
            ls = line_start(buf, i);
        rc = parse_line(buf + ls, i - 1 - ls, lines, lim, req, resp);
        if (rc < 0)
            return rc;
        lines++;
        ls = pos;
    }
}

/* 1*DIGIT, at most CL_MAX_DIGITS digits. */
static bool parse_content_length(struct fx_str v, uint64_t *out)
{
    if (v.len == 0 || v.len > CL_MAX_DIGITS)
        return false;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c < '0' || c > '9')
            return false;
        n = n * 10 + (uint64_t)(c - '0');
    }
    *out = n;
    return true;
}

static unsigned int connection_flags(struct fx_str v)
{
    unsigned int flags = 0;
    struct fx_str item;
    while (fx_h1_list_next(&v, &item)) {
        if (EQ_LOWER(item, "close"))
            flags |= FX_H1_F_CONN_CLOSE;
        else if (EQ_LOWER(item, "keep-alive"))
            flags |= FX_H1_F_CONN_KEEPALIVE;
        else if (EQ_LOWER(item, "upgrade"))
            flags |= FX_H1_F_CONN_UPGRADE;
        else if (EQ_LOWER(item, "content-length") || EQ_LOWER(item, "transfer-encoding") ||
                 EQ_LOWER(item, "host"))
            flags |= FX_H1_F_CONN_FRAMING | FX_H1_F_CONN_OTHER;
        else
            flags |= FX_H1_F_CONN_OTHER;
    }
    return flags;
}

/* Apply one field line to the summary; only framing fields can fail. */
static int check_field(const struct fx_h1_header *h, bool is_req, struct field_sum *s)
{
    struct fx_str n = h->name;
    struct fx_str v = h->value;

    switch (n.len) {
    case 4:
        if (is_req && EQ_LOWER(n, "host")) {
            /* RFC 9112 §3.2: duplicate or invalid Host is a 400. */
            if (s->nhost++ > 0 || !valid_authority(v))
                return FX_EPARSE;
            s->host = v;
        }
        break;
    case 6:
        if (EQ_LOWER(n, "expect") && EQ_LOWER(v, "100-continue"))
            s->flags |= FX_H1_F_EXPECT_100;
        break;
    case 7:
        if (EQ_LOWER(n, "upgrade"))
            s->flags |= FX_H1_F_UPGRADE;
        break;
    case 10:
        if (EQ_LOWER(n, "connection"))
            s->flags |= connection_flags(v);
        break;
    case 14:
        if (EQ_LOWER(n, "content-length")) {
            /* Even identical duplicates are refused: intermediaries
             * disagree on how to merge them. */
            if ((s->flags & FX_H1_F_HAS_CL) || !parse_content_length(v, &s->content_length))
                return FX_ESMUGGLE;
            s->flags |= FX_H1_F_HAS_CL;
        }
        break;
    case 17:
        if (EQ_LOWER(n, "transfer-encoding")) {
            if ((s->flags & FX_H1_F_HAS_TE) || !EQ_LOWER(v, "chunked"))
                return FX_ESMUGGLE;
            s->flags |= FX_H1_F_HAS_TE;
        }
        break;
    default:
        break;
    }
    return 0;
}

/* Whole-head framing rules shared by requests and responses. */
static int check_fields(const struct fx_h1_header *h, size_t n, bool is_req, int minor,
                        struct field_sum *s)
{
    for (size_t i = 0; i < n; i++) {
        int rc = check_field(&h[i], is_req, s);
        if (rc < 0)
            return rc;
    }
    if (s->flags & FX_H1_F_HAS_TE) {
        /* RFC 9112 §6.1: TE with CL, or TE in an HTTP/1.0 message, means the
         * framing cannot be trusted. */
        if ((s->flags & FX_H1_F_HAS_CL) || minor == 0)
            return FX_ESMUGGLE;
    }
    /* A Connection header naming a framing or routing field asks the next hop
     * to drop it: the body would then be forwarded without its framing and
     * read by the upstream as a second message (or a response as part of
     * the next one). No legitimate sender does this. */
    if (s->flags & FX_H1_F_CONN_FRAMING)
        return FX_ESMUGGLE;
    return 0;
}

static struct head_lim clamp_limits(const struct fx_h1_limits *lim, bool is_req)
{
    size_t cap = ST_POS_MASK < (size_t)INT_MAX ? ST_POS_MASK : (size_t)INT_MAX;
    struct head_lim l = {
        .max_head = lim->max_head < cap ? lim->max_head : cap,
        .max_line = is_req ? lim->max_line : SIZE_MAX,
        .max_headers = lim->max_headers < FX_H1_MAX_HEADERS ? lim->max_headers : FX_H1_MAX_HEADERS,
    };
    return l;
}

static void reset_req(struct fx_h1_req *req)
{
    req->method = (struct fx_str){ NULL, 0 };
    req->target = req->method;
    req->path = req->method;
    req->authority = req->method;
    req->host = req->method;
    req->minor = 0;
    req->flags = 0;
    req->body = FX_H1_BODY_NONE;
    req->content_length = 0;
    req->head_len = 0;
    req->nheaders = 0;
}

static void reset_resp(struct fx_h1_resp *resp)
{
    resp->minor = 0;
    resp->status = 0;
    resp->reason = (struct fx_str){ NULL, 0 };
    resp->flags = 0;
    resp->body = FX_H1_BODY_NONE;
    resp->content_length = 0;
    resp->head_len = 0;
    resp->nheaders = 0;
}

int fx_h1_parse_req(const char *buf, size_t len, struct fx_h1_req *req, size_t *scanned,
                    const struct fx_h1_limits *lim)
{
    struct head_lim l = clamp_limits(lim, true);
    bool resumed = *scanned != 0;
    size_t nfields = 0;

    reset_req(req);
    int rc = walk_head(buf, len, scanned, &l, req, NULL, &nfields);
    if (rc > 0 && resumed) {
        /* Earlier calls validated the first lines, possibly in a buffer that
         * has moved since: parse the complete head again for fresh views. */
        size_t again = 0;
        reset_req(req);
        rc = walk_head(buf, (size_t)rc, &again, &l, req, NULL, &nfields);
    }
    if (rc < 0)
        return rc;

    struct field_sum s = { 0 };
    int err = check_fields(req->headers, nfields, true, req->minor, &s);
    if (err < 0)
        return err;
    if (req->minor == 1 && s.nhost == 0)
        return FX_EPARSE;
    /* RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 is ignored. */
    if (req->minor == 0)
        s.flags &= ~FX_H1_F_EXPECT_100;
    req->flags |= s.flags;
    req->host = s.host;
    if (s.flags & FX_H1_F_HAS_TE) {
        req->body = FX_H1_BODY_CHUNKED;
    } else if (s.flags & FX_H1_F_HAS_CL) {
        req->body = FX_H1_BODY_LENGTH;
        req->content_length = s.content_length;
    }
    req->nheaders = nfields;
    req->head_len = (size_t)rc;
    return rc;
}

int fx_h1_parse_resp(const char *buf, size_t len, struct fx_h1_resp *resp, size_t *scanned,
                     const struct fx_h1_limits *lim)
{
    struct head_lim l = clamp_limits(lim, false);
    bool resumed = *scanned != 0;
    size_t nfields = 0;

    reset_resp(resp);
    int rc = walk_head(buf, len, scanned, &l, NULL, resp, &nfields);
    if (rc > 0 && resumed) {
        size_t again = 0;
        reset_resp(resp);
        rc = walk_head(buf, (size_t)rc, &again, &l, NULL, resp, &nfields);
    }
    if (rc < 0)
        return rc;

    struct field_sum s = { 0 };
    int err = check_fields(resp->headers, nfields, false, resp->minor, &s);
    if (err < 0)
        return err;
    resp->flags |= s.flags;
    if (s.flags & FX_H1_F_HAS_TE) {
        resp->body = FX_H1_BODY_CHUNKED;
    } else if (s.flags & FX_H1_F_HAS_CL) {
        resp->body = FX_H1_BODY_LENGTH;
        resp->content_length = s.content_length;
    } else {
        resp->body = FX_H1_BODY_EOF;
    }
    resp->nheaders = nfields;
    resp->head_len = (size_t)rc;
    return rc;
}

enum fx_h1_body fx_h1_resp_body(const struct fx_h1_resp *resp, struct fx_str method)
{
    if (fx_str_eq(method, FX_STR("HEAD")))
        return FX_H1_BODY_NONE;
    if (resp->status < 200 || resp->status == 204 || resp->status == 304)
        return FX_H1_BODY_NONE;
    return resp->body;
}

bool fx_h1_list_next(struct fx_str *list, struct fx_str *item)
{
    const char *p = list->ptr;
    size_t n = list->len;
    size_t i = 0;

    while (i < n && (p[i] == ',' || is_ows((unsigned char)p[i])))
        i++;
    if (i == n) {
        if (n > 0)
            list->ptr = p + n;
        list->len = 0;
        return false;
    }
    const char *comma = memchr(p + i, ',', n - i);
    size_t end = comma != NULL ? (size_t)(comma - p) : n;
    size_t next = comma != NULL ? end + 1 : n;
    while (end > i && is_ows((unsigned char)p[end - 1]))
        end--;
    *item = (struct fx_str){ p + i, end - i };
    *list = (struct fx_str){ p + next, n - next };
    return true;
}

const char *fx_h1_reason(int status)
{
    const char *r = NULL;
    if (status >= 100 && status < 600) {
        unsigned int i = (unsigned int)status % 100;
        const struct reason_class *rc = &reason_classes[status / 100 - 1];
        if (i < rc->n)
            r = rc->text[i];
    }
    return r != NULL ? r : "";
}

bool fx_h1_is_tchar(unsigned char c)
{
    return has_class(c, C_TCHAR);
}
