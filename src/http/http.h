/* HTTP/1.1 parsing contract: strict, non-recursive, never logs, no allocation.
 * Every function may be called from any thread; none keeps global state. */
#ifndef FX_HTTP_H
#define FX_HTTP_H

#include <stdbool.h>

#include "http_types.h"

/* Parse a request head at the start of buf[0..len).
 * `*scanned` is resume state for incremental input: set it to 0 before the
 * first call for a message and pass the same variable on every retry with
 * more bytes (the buffer may have moved, its contents must not change).
 * Returns the head length (> 0, also stored in req->head_len) once the empty
 * line is reached; FX_EAGAIN when more input is needed and no limit is hit;
 * or a negative code:
 *   FX_ETOOLONG_LINE  request line longer than lim->max_line         (414)
 *   FX_ETOOLONG_HEAD  head longer than lim->max_head                 (431)
 *   FX_ETOOMANY       more than lim->max_headers header lines        (431)
 *   FX_EVERSION       well-formed version other than HTTP/1.0 or 1.1 (505)
 *   FX_ESMUGGLE       ambiguous framing: CL with TE, duplicate/list/invalid
 *                     Content-Length, TE whose codings are not exactly
 *                     "chunked", TE on HTTP/1.0, duplicate TE, a
 *                     Connection header naming Content-Length,
 *                     Transfer-Encoding or Host                     (400)
 *   FX_EPARSE         anything else malformed: bare CR or LF, obs-fold,
 *                     whitespace before ':', invalid bytes in method, target,
 *                     names or values (CTL, NUL, DEL), missing or duplicate
 *                     Host on HTTP/1.1, HTTP/0.9 request lines, invalid
 *                     absolute-form                                  (400)
 * Views in `req` point into `buf` and stay valid while buf is unchanged. */
int fx_h1_parse_req(const char *buf, size_t len, struct fx_h1_req *req, size_t *scanned,
                    const struct fx_h1_limits *lim);

/* Normalise a request path, nginx-style, so that routing and the upstream act
 * on the same bytes. in[0..len) is an origin-form path with its optional
 * query ("/a/./b?x"), or the asterisk form "*" (copied unchanged). Up to the
 * first '?', per `flags` (FX_H1_PATH_*):
 *   DECODE         %XX of an unreserved byte (ALPHA DIGIT - . _ ~) is decoded;
 *                  any other %XX is kept with upper-case hex ("%2f" -> "%2F",
 *                  still not a separator); a '%' not followed by two hex
 *                  digits is refused. Without DECODE '%' is an ordinary byte.
 *   MERGE_SLASHES  runs of '/' become one.
 *   DOTS           "." and ".." segments are removed (RFC 3986 5.2.4, also
 *                  those produced by decoding, like "%2e%2e"); a path ending in
 *                  one keeps a trailing '/' ("/a/.." -> "/"). A ".." that would
 *                  climb above the root ("/..", "/a/../..") is refused.
 * The query (from '?' on) is kept byte for byte. The result is never longer
 * than the input, and normalising it again changes nothing.
 * `out` (cap bytes) receives the result and *out_len its length; `out` may be
 * `in` itself (in place; then pass cap >= len), otherwise the two must not
 * overlap. A path with no '%', "//" or "/." is already normal: it is found by
 * one scan and, in place, not written at all.
 * Returns 0; FX_EINVAL for NULL pointers, an empty input or one that starts
 * with neither '/' nor is "*"; FX_EPARSE for malformed percent-encoding or a
 * path above the root (answer 400); FX_ELIMIT when `cap` is too small (out
 * then holds a partial result). cap >= len always suffices; a smaller cap may
 * fail even when the result would fit, as a segment is written before it is
 * known to be "..". Pure: no allocation, no recursion, any thread. */
int fx_h1_path_normalize(const char *in, size_t len, char *out, size_t cap, unsigned int flags,
                         size_t *out_len);

/* Parse a response head, same conventions as fx_h1_parse_req() (no 414,
 * FX_EVERSION for HTTP/2+, FX_ESMUGGLE for conflicting framing, FX_EPARSE for
 * a status outside 100..599 or any malformed line). resp->body is set from the
 * headers alone; use fx_h1_resp_body() for the effective framing. */
int fx_h1_parse_resp(const char *buf, size_t len, struct fx_h1_resp *resp, size_t *scanned,
                     const struct fx_h1_limits *lim);

/* Effective body framing of a response to a request with method `method`:
 * NONE for HEAD requests, 1xx, 204 and 304; else CHUNKED, LENGTH or EOF. */
enum fx_h1_body fx_h1_resp_body(const struct fx_h1_resp *resp, struct fx_str method);

/* Reset a chunked decoder with default limits (4096-byte size lines,
 * 16384 bytes of trailers). */
void fx_h1_chunked_init(struct fx_h1_chunked *c);

/* Advance the decoder over p[0..len). On return *consumed holds how many
 * bytes were consumed (never past the end of the message). If *data is
 * non-empty it is chunk payload and is exactly the LAST data->len bytes of
 * the consumed region: each call stops right after at most one payload span.
 * Returns 1 when the message (last chunk, trailers, final CRLF) is complete,
 * 0 when progress was made or more input is needed (consumed == len), or
 * FX_ECHUNK on malformed input (bad hex, size overflow > 2^62, missing CRLF,
 * bare LF, over-long size line/extensions, extensions outside RFC 9112
 * §7.1.1 (empty or invalid name, invalid value, unterminated quoted-string,
 * whitespace not followed by ';' or '='), over-long or malformed trailers).
 * When c->ext_span is non-zero after the call, the LAST c->ext_span bytes of
 * the consumed region are chunk extensions (never together with *data): a
 * proxy drops them so that no recipient has to interpret them. */
int fx_h1_chunked_step(struct fx_h1_chunked *c, const char *p, size_t len, size_t *consumed,
                       struct fx_str *data);

/* True once the decoder has consumed the whole message. */
static inline bool fx_h1_chunked_done(const struct fx_h1_chunked *c)
{
    return c->state == FX_H1_CH_DONE;
}

/* Iterate a comma-separated header list: returns true and sets *item to the
 * next non-empty element (OWS trimmed), advancing *list; false at the end. */
bool fx_h1_list_next(struct fx_str *list, struct fx_str *item);

/* Standard reason phrase for a status code ("Bad Gateway"); "" if unknown. */
const char *fx_h1_reason(int status);

/* Value 0..15 of the hex digit `c` (either case), or -1 when it is not one. */
int fx_h1_hex_value(unsigned char c);

/* True when `c` is an RFC 9110 tchar (token character). */
bool fx_h1_is_tchar(unsigned char c);

#endif
