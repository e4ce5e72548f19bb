/* HTTP/1.1 message model: requests, responses and the chunked decoder. */
#ifndef FX_HTTP_TYPES_H
#define FX_HTTP_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "../core/str.h"

#define FX_H1_MAX_HEADERS 128 /* hard cap on header lines in one head */

/* How the message body is delimited. */
enum fx_h1_body {
    FX_H1_BODY_NONE = 0, /* no body */
    FX_H1_BODY_LENGTH,   /* Content-Length bytes */
    FX_H1_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
    FX_H1_BODY_EOF,      /* responses only: until the upstream closes */
};

/* Flag bits in fx_h1_req.flags / fx_h1_resp.flags. */
#define FX_H1_F_CONN_CLOSE     0x0001u /* Connection: close present */
#define FX_H1_F_CONN_KEEPALIVE 0x0002u /* Connection: keep-alive present */
#define FX_H1_F_CONN_UPGRADE   0x0004u /* Connection: upgrade present */
#define FX_H1_F_EXPECT_100     0x0008u /* Expect: 100-continue */
#define FX_H1_F_UPGRADE        0x0010u /* an Upgrade header is present */
#define FX_H1_F_ABSOLUTE_FORM  0x0020u /* target was absolute-form (http://host/path) */
#define FX_H1_F_HAS_CL         0x0040u /* a Content-Length header was present */
#define FX_H1_F_HAS_TE         0x0080u /* a Transfer-Encoding header was present */
#define FX_H1_F_CONN_OTHER     0x0100u /* Connection names other (hop-by-hop) headers */
#define FX_H1_F_CONN_FRAMING \
    0x0200u /* Connection names Content-Length, Transfer-Encoding or Host */

/* Steps of fx_h1_path_normalize(), bits of its `flags`. */
#define FX_H1_PATH_MERGE_SLASHES 0x1u /* "//" becomes "/" */
#define FX_H1_PATH_DECODE        0x2u /* %XX of unreserved bytes decoded, other %XX upper-cased */
#define FX_H1_PATH_DOTS          0x4u /* "." and ".." segments resolved (RFC 3986 5.2.4) */
#define FX_H1_PATH_ALL           0x7u

struct fx_h1_header {
    struct fx_str name;  /* borrowed: view into the input buffer */
    struct fx_str value; /* borrowed: leading/trailing OWS already trimmed */
};

/* Limits the parser enforces. */
struct fx_h1_limits {
    size_t max_head;    /* whole head incl. final CRLFCRLF; beyond: FX_ETOOLONG_HEAD */
    size_t max_line;    /* request line incl. CRLF; beyond: FX_ETOOLONG_LINE (414) */
    size_t max_headers; /* number of header lines, <= FX_H1_MAX_HEADERS; beyond: FX_ETOOMANY */
};

/* A parsed request head. All views point into the parsed input buffer. */
struct fx_h1_req {
    struct fx_str method;    /* token, e.g. "GET" */
    struct fx_str target;    /* request-target as sent */
    struct fx_str path;      /* origin-form path incl. query ("/a?b"); for absolute-form the part
                                after the authority ("/" when empty); "*" for asterisk-form */
    struct fx_str authority; /* host[:port] from absolute-form, else empty */
    struct fx_str host;      /* Host header value (empty when absent) */
    int minor;               /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    unsigned int flags;      /* FX_H1_F_* */
    enum fx_h1_body body;
    uint64_t content_length; /* valid when body == FX_H1_BODY_LENGTH */
    size_t head_len;         /* bytes of the head including the final CRLFCRLF */
    size_t nheaders;
    struct fx_h1_header headers[FX_H1_MAX_HEADERS];
};

/* A parsed response head. All views point into the parsed input buffer. */
struct fx_h1_resp {
    int minor;            /* 0 or 1 */
    int status;           /* 100..599 */
    struct fx_str reason; /* may be empty */
    unsigned int flags;   /* FX_H1_F_* */
    enum fx_h1_body body; /* framing as declared by headers (see fx_h1_resp_body()) */
    uint64_t content_length;
    size_t head_len;
    size_t nheaders;
    struct fx_h1_header headers[FX_H1_MAX_HEADERS];
};

/* Chunked-body decoder states (internal; start zeroed with fx_h1_chunked_init). */
enum fx_h1_chunked_state {
    FX_H1_CH_SIZE = 0,     /* reading hex digits of chunk-size */
    FX_H1_CH_EXT,          /* after size: optional BWS/;ext until CR */
    FX_H1_CH_SIZE_LF,      /* expecting LF after CR of the size line */
    FX_H1_CH_DATA,         /* inside chunk-data */
    FX_H1_CH_DATA_CR,      /* expecting CR after chunk-data */
    FX_H1_CH_DATA_LF,      /* expecting LF after chunk-data */
    FX_H1_CH_TRAILER,      /* at the start of a trailer line (or final CRLF) */
    FX_H1_CH_TRAILER_LINE, /* inside a trailer field line */
    FX_H1_CH_TRAILER_LF,   /* expecting LF of a trailer line */
    FX_H1_CH_FINAL_LF,     /* expecting LF of the terminating empty line */
    FX_H1_CH_DONE,         /* message complete */
};

struct fx_h1_chunked {
    enum fx_h1_chunked_state state;
    uint64_t remaining;   /* bytes left in the current chunk-data */
    unsigned int ndigits; /* hex digits seen in the current size */
    size_t line_len;      /* bytes of the current size/ext or trailer line */
    size_t trailer_len;   /* total trailer bytes so far */
    size_t max_line;      /* limit for a size line incl. extensions (default 4096) */
    size_t max_trailer;   /* limit for all trailers (default 16384) */
    size_t ext_span;      /* set by each step: chunk-extension bytes ending the consumed region */
};

#endif
