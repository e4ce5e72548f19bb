/* Request-path normalisation (RFC 3986 §2.3, §6.2.2 and §5.2.4), so that route
 * matching and the upstream see the same canonical bytes.
 *
 * One forward pass over the path part, segment by segment: each segment is
 * written to `out` (decoding unreserved %XX on the way), then dropped or
 * popped when it turns out to be "." or "..". The write position never passes
 * the read position, which is what makes `out == in` safe. */
#include <stdbool.h>
#include <string.h>

#include "../core/err_types.h"
#include "http.h"

static const char hex_upper[] = "0123456789ABCDEF";

/* RFC 3986 §2.3 unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~". */
static bool is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Offset of the first byte of in[0..end) that normalisation could change:
 * a '%', or a '/' followed by '/' or '.'; `end` when there is none. */
static size_t scan_normal(const char *in, size_t end)
{
    for (size_t i = 0; i < end; i++) {
        if (in[i] == '%')
            return i;
        if (in[i] == '/' && i + 1 < end && (in[i + 1] == '/' || in[i + 1] == '.'))
            return i;
    }
    return end;
}

/* Copy one segment, in[*i..end) up to the next '/', to out[*w..cap). */
static int copy_segment(const char *in, size_t end, size_t *i, char *out, size_t cap, size_t *w,
                        bool decode)
{
    size_t r = *i;
    size_t o = *w;
    while (r < end && in[r] != '/') {
        unsigned char c = (unsigned char)in[r];
        if (c != '%' || !decode) {
            if (o >= cap)
                return FX_ELIMIT;
            out[o++] = (char)c;
            r++;
            continue;
        }
        int hi = r + 2 < end ? fx_h1_hex_value((unsigned char)in[r + 1]) : -1;
        int lo = r + 2 < end ? fx_h1_hex_value((unsigned char)in[r + 2]) : -1;
        if (hi < 0 || lo < 0)
            return FX_EPARSE;
        unsigned char d = (unsigned char)(hi << 4 | lo);
        size_t n = is_unreserved(d) ? 1 : 3;
        if (cap - o < n)
            return FX_ELIMIT;
        if (n == 1) {
            out[o++] = (char)d;
        } else {
            out[o++] = '%';
            out[o++] = hex_upper[hi];
            out[o++] = hex_upper[lo];
        }
        r += 3;
    }
    *i = r;
    *w = o;
    return 0;
}

/* Drop a "." or ".." segment that starts at out[seg] and ends at *w. Returns
 * 1 when one was dropped, 0 when the segment is an ordinary one, FX_EPARSE
 * when ".." has no segment left to remove. */
static int drop_dot_segment(const char *out, size_t seg, size_t *w)
{
    size_t n = *w - seg;
    bool dot = n == 1 && out[seg] == '.';
    bool dotdot = n == 2 && out[seg] == '.' && out[seg + 1] == '.';
    if (!dot && !dotdot)
        return 0;
    size_t o = seg - 1; /* drop the segment with its '/' */
    if (dotdot) {
        if (o == 0)
            return FX_EPARSE; /* "/.." at the root climbs above it */
        while (out[o - 1] != '/')
            o--;
        o--; /* and the previous segment with its '/' (out[0] is '/') */
    }
    *w = o;
    return 1;
}

int fx_h1_path_normalize(const char *in, size_t len, char *out, size_t cap, unsigned int flags,
                         size_t *out_len)
{
    if (in == NULL || out == NULL || out_len == NULL || len == 0)
        return FX_EINVAL;
    if (in[0] != '/' && !(len == 1 && in[0] == '*'))
        return FX_EINVAL;
    const char *q = memchr(in, '?', len);
    size_t end = q != NULL ? (size_t)(q - in) : len;
    size_t k = (flags & FX_H1_PATH_ALL) != 0 ? scan_normal(in, end) : end;
    if (k == end) {
        /* Already normal: in place, nothing is written at all. */
        if (out != in) {
            if (len > cap)
                return FX_ELIMIT;
            memcpy(out, in, len);
        }
        *out_len = len;
        return 0;
    }
    /* in[0..s) up to the slash before the first suspicious byte stays as is. */
    size_t s = k;
    while (in[s] != '/')
        s--;
    if (s > cap)
        return FX_ELIMIT;
    if (out != in)
        memcpy(out, in, s);
    size_t w = s;
    size_t i = s;
    bool merge = (flags & FX_H1_PATH_MERGE_SLASHES) != 0;
    bool decode = (flags & FX_H1_PATH_DECODE) != 0;
    bool dots = (flags & FX_H1_PATH_DOTS) != 0;
    while (i < end) {
        i++; /* in[i] was '/' */
        while (merge && i < end && in[i] == '/')
            i++;
        if (w >= cap)
            return FX_ELIMIT;
        out[w++] = '/';
        size_t seg = w;
        int rc = copy_segment(in, end, &i, out, cap, &w, decode);
        if (rc == 0 && dots)
            rc = drop_dot_segment(out, seg, &w);
        if (rc < 0)
            return rc;
        if (rc == 1 && i == end)
            out[w++] = '/'; /* "/a/." and "/a/b/.." name a directory: "/a/" */
    }
    size_t qlen = len - end;
    if (qlen > cap - w)
        return FX_ELIMIT;
    memmove(out + w, in + end, qlen); /* the query, byte for byte */
    *out_len = w + qlen;
    return 0;
}
