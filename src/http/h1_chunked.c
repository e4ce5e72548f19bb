/* Streaming decoder for the chunked transfer coding (RFC 9112 §7.1).
 *
 * The decoder keeps no copy of the input: framing bytes are validated one at
 * a time as they arrive and chunk data is handed back as a view into the
 * caller's buffer. Anything outside the grammar is refused, because a proxy
 * that repairs framing disagrees with the upstream about where a message
 * ends, which is how request smuggling starts. */
#include <stdint.h>

#include "../core/err.h"
#include "http.h"
#include "http_int.h"

#define CHUNK_MAX_DIGITS   16
#define CHUNK_MAX_SIZE     ((uint64_t)1 << 62)
#define CHUNK_DEF_LINE     4096
#define CHUNK_DEF_TRAILERS 16384

/* Sub-states kept in `ndigits` once the size digits are no longer needed:
 * in FX_H1_CH_TRAILER_LINE whether the ':' has been seen. */
#define SUB_BEFORE 0u
#define SUB_AFTER  1u

/* Sub-states of FX_H1_CH_EXT (also kept in `ndigits`), RFC 9112 §7.1.1:
 *   chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 *   ext-val   = token / quoted-string */
enum ext_sub {
    EXT_SEMI = 0,   /* BWS before a ';' (after the size or a value) */
    EXT_NAME0,      /* after ';': BWS, then the first name byte */
    EXT_NAME,       /* inside the name */
    EXT_AFTER_NAME, /* BWS after the name: '=' or ';' follows */
    EXT_VAL0,       /* after '=': BWS, then a token or a quoted-string */
    EXT_TOKEN,      /* inside a token value */
    EXT_QUOTED,     /* inside a quoted-string */
    EXT_QPAIR,      /* after a backslash inside a quoted-string */
    EXT_QEND,       /* right after the closing quote */
};

static inline bool is_class(unsigned char c, unsigned int cls)
{
    return (fx_http__char_class[c] & cls) != 0;
}

static unsigned int hex_value(unsigned char c)
{
    if (c <= '9')
        return (unsigned int)(c - '0');
    return (unsigned int)((c | 0x20) - 'a' + 10);
}

void fx_h1_chunked_init(struct fx_h1_chunked *c)
{
    *c = (struct fx_h1_chunked){
        .state = FX_H1_CH_SIZE,
        .max_line = CHUNK_DEF_LINE,
        .max_trailer = CHUNK_DEF_TRAILERS,
    };
}

/* chunk-size = 1*HEXDIG, then BWS ";" ext, or CRLF. */
static int on_size(struct fx_h1_chunked *c, unsigned char ch)
{
    if (is_class(ch, C_HEX)) {
        /* 16 digits fit in 64 bits; the value check keeps sizes sane. */
        if (++c->ndigits > CHUNK_MAX_DIGITS)
            return FX_ECHUNK;
        c->remaining = (c->remaining << 4) | hex_value(ch);
        return c->remaining > CHUNK_MAX_SIZE ? FX_ECHUNK : 0;
    }
    if (c->ndigits == 0)
        return FX_ECHUNK;
    if (ch == '\r') {
        c->state = FX_H1_CH_SIZE_LF;
    } else if (ch == ';' || ch == ' ' || ch == '\t') {
        c->state = FX_H1_CH_EXT;
        c->ndigits = ch == ';' ? EXT_NAME0 : EXT_SEMI;
    } else {
        return FX_ECHUNK;
    }
    return 0;
}

static bool is_ws(unsigned char ch)
{
    return ch == ' ' || ch == '\t';
}

/* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
static bool is_qdtext(unsigned char ch)
{
    return is_ws(ch) || ch == 0x21 || (ch >= 0x23 && ch <= 0x5b) || (ch >= 0x5d && ch != 0x7f);
}

/* After a name, a value or BWS: ';' starts the next extension, '=' a value
 * (after a name), BWS may follow, a tchar continues a name or a token.
 * Returns the next sub-state, or -1. */
static int ext_between(unsigned int sub, unsigned char ch)
{
    bool in_name = sub == EXT_NAME || sub == EXT_AFTER_NAME;
    if (ch == ';')
        return EXT_NAME0;
    if (ch == '=' && in_name)
        return EXT_VAL0;
    if (is_ws(ch))
        return in_name ? EXT_AFTER_NAME : EXT_SEMI;
    if (is_class(ch, C_TCHAR) && (sub == EXT_NAME || sub == EXT_TOKEN))
        return (int)sub;
    return -1;
}

/* Inside a quoted-string value. Returns the next sub-state, or -1. */
static int ext_quoted(unsigned int sub, unsigned char ch)
{
    if (sub == EXT_QPAIR) /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
        return is_class(ch, C_VALUE) ? EXT_QUOTED : -1;
    if (ch == '"')
        return EXT_QEND;
    if (ch == '\\')
        return EXT_QPAIR;
    return is_qdtext(ch) ? EXT_QUOTED : -1;
}

/* One byte of the extensions, by sub-state. Extensions are checked against
 * the grammar and then dropped (see fx_h1_chunked.ext_span): an empty or
 * invalid name, a bad value or an unterminated quoted-string is refused,
 * because a recipient that parses them differently may frame the body
 * differently. The line ends only where a name or a value may end. */
static int on_ext(struct fx_h1_chunked *c, unsigned char ch)
{
    unsigned int sub = c->ndigits;
    if (ch == '\r' && (sub == EXT_NAME || sub == EXT_TOKEN || sub == EXT_QEND)) {
        c->state = FX_H1_CH_SIZE_LF;
        return 0;
    }
    int next;
    if (sub == EXT_QUOTED || sub == EXT_QPAIR)
        next = ext_quoted(sub, ch);
    else if (sub == EXT_NAME0 || sub == EXT_VAL0)
        next = ch == '"' && sub == EXT_VAL0 ? EXT_QUOTED
               : is_class(ch, C_TCHAR)      ? (sub == EXT_NAME0 ? EXT_NAME : EXT_TOKEN)
               : is_ws(ch)                  ? (int)sub
                                            : -1;
    else
        next = ext_between(sub, ch);
    if (next < 0)
        return FX_ECHUNK;
    c->ndigits = (unsigned int)next;
    return 0;
}

/* field-line inside the trailer section: tchar+ ":" value, CRLF. */
static int on_trailer_line(struct fx_h1_chunked *c, unsigned char ch)
{
    if (c->ndigits == SUB_BEFORE) {
        if (ch == ':')
            c->ndigits = SUB_AFTER;
        else if (!is_class(ch, C_TCHAR))
            return FX_ECHUNK;
        return 0;
    }
    if (ch == '\r')
        c->state = FX_H1_CH_TRAILER_LF;
    else if (!is_class(ch, C_VALUE))
        return FX_ECHUNK;
    return 0;
}

/* Advance over one framing byte. Returns 1 once the message is complete, 0 to
 * continue, or FX_ECHUNK. */
static int on_byte(struct fx_h1_chunked *c, unsigned char ch)
{
    switch (c->state) {
    case FX_H1_CH_SIZE:
    case FX_H1_CH_EXT:
    case FX_H1_CH_SIZE_LF:
        /* The whole size line, CRLF included, is bounded. */
        if (++c->line_len > c->max_line)
            return FX_ECHUNK;
        if (c->state == FX_H1_CH_SIZE)
            return on_size(c, ch);
        if (c->state == FX_H1_CH_EXT)
            return on_ext(c, ch);
        if (ch != '\n')
            return FX_ECHUNK;
        c->line_len = 0;
        c->ndigits = 0;
        c->state = c->remaining == 0 ? FX_H1_CH_TRAILER : FX_H1_CH_DATA;
        return 0;
    case FX_H1_CH_DATA_CR:
        if (ch != '\r')
            return FX_ECHUNK;
        c->state = FX_H1_CH_DATA_LF;
        return 0;
    case FX_H1_CH_DATA_LF:
        if (ch != '\n')
            return FX_ECHUNK;
        c->state = FX_H1_CH_SIZE;
        return 0;
    case FX_H1_CH_TRAILER:
        /* A line start: the final CRLF or a field name. Leading whitespace
         * (obs-fold) and bare LF are refused. */
        if (ch == '\r') {
            c->state = FX_H1_CH_FINAL_LF;
            return 0;
        }
        if (!is_class(ch, C_TCHAR))
            return FX_ECHUNK;
        c->state = FX_H1_CH_TRAILER_LINE;
        c->ndigits = SUB_BEFORE;
        return ++c->trailer_len > c->max_trailer ? FX_ECHUNK : 0;
    case FX_H1_CH_TRAILER_LINE:
        if (++c->trailer_len > c->max_trailer)
            return FX_ECHUNK;
        return on_trailer_line(c, ch);
    case FX_H1_CH_TRAILER_LF:
        if (ch != '\n' || ++c->trailer_len > c->max_trailer)
            return FX_ECHUNK;
        c->state = FX_H1_CH_TRAILER;
        return 0;
    case FX_H1_CH_FINAL_LF:
        if (ch != '\n')
            return FX_ECHUNK;
        c->state = FX_H1_CH_DONE;
        return 1;
    case FX_H1_CH_DATA:
    case FX_H1_CH_DONE:
    default:
        /* Handled by the caller; reaching here is a decoder bug. */
        return FX_ECHUNK;
    }
}

/* Consume the rest of an extension run from s[*i] on: up to the CR that ends
 * the size line (left for the next call) or the end of the input. Returns 0
 * or FX_ECHUNK with *i at the offending byte. */
static int ext_span(struct fx_h1_chunked *c, const unsigned char *s, size_t len, size_t *i)
{
    while (*i < len && c->state == FX_H1_CH_EXT && s[*i] != '\r') {
        int rc = on_byte(c, s[*i]);
        if (rc < 0)
            return rc;
        (*i)++;
    }
    return 0;
}

int fx_h1_chunked_step(struct fx_h1_chunked *c, const char *p, size_t len, size_t *consumed,
                       struct fx_str *data)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;

    *data = (struct fx_str){ NULL, 0 };
    *consumed = 0;
    c->ext_span = 0;
    if (c->state == FX_H1_CH_DONE)
        return 1;
    while (i < len) {
        if (c->state == FX_H1_CH_DATA) {
            /* Hand out at most one span, ending the consumed region. */
            size_t take = len - i;
            if (c->remaining < take)
                take = (size_t)c->remaining;
            c->remaining -= take;
            if (c->remaining == 0)
                c->state = FX_H1_CH_DATA_CR;
            *data = (struct fx_str){ p + i, take };
            *consumed = i + take;
            return 0;
        }
        size_t start = i;
        int rc = on_byte(c, s[i]);
        if (rc < 0) {
            *consumed = i;
            return rc;
        }
        i++;
        if (rc == 1) {
            *consumed = i;
            return 1;
        }
        if (c->state == FX_H1_CH_EXT) {
            rc = ext_span(c, s, len, &i);
            c->ext_span = i - start;
            *consumed = i;
            return rc;
        }
    }
    *consumed = i;
    return 0;
}
