/* JSON difference paths: formatting steps, generalising indices, matching
 * ignore patterns, and endpoint normalisation. Pure string code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/str.h"
#include "shadow.h"
#include "shadow_int.h"

/* One step of a path: ".key", "['key']", "[N]", "[*]" or ".*". */
enum step_kind {
    STEP_KEY = 0,
    STEP_INDEX,
    STEP_ANY_KEY,
    STEP_ANY_INDEX,
};

struct step {
    enum step_kind kind;
    const char *ptr; /* borrowed: key text (escaped when quoted) or index digits */
    size_t len;
    bool quoted;
};

/* Parse the step at *p; returns false at the end of the path or on a
 * malformed step. Advances *p past the step. */
static bool next_step(const char **p, struct step *st)
{
    const char *s = *p;
    memset(st, 0, sizeof(*st));
    if (s[0] == '.') {
        size_t n = strcspn(s + 1, ".[");
        if (n == 0)
            return false;
        st->kind = (n == 1 && s[1] == '*') ? STEP_ANY_KEY : STEP_KEY;
        st->ptr = s + 1;
        st->len = n;
        *p = s + 1 + n;
        return true;
    }
    if (s[0] == '[' && s[1] == '\'') {
        const char *q = s + 2;
        while (*q != '\0' && !(q[0] == '\'' && q[1] == ']'))
            q += (q[0] == '\\' && q[1] != '\0') ? 2 : 1;
        if (*q == '\0')
            return false;
        st->kind = STEP_KEY;
        st->ptr = s + 2;
        st->len = (size_t)(q - (s + 2));
        st->quoted = true;
        *p = q + 2;
        return true;
    }
    if (s[0] == '[') {
        size_t n = strspn(s + 1, "0123456789");
        if (n == 0 && s[1] == '*' && s[2] == ']') {
            st->kind = STEP_ANY_INDEX;
            *p = s + 3;
            return true;
        }
        if (n == 0 || s[1 + n] != ']')
            return false;
        st->kind = STEP_INDEX;
        st->ptr = s + 1;
        st->len = n;
        *p = s + 2 + n;
        return true;
    }
    return false;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)fx_ascii_lower((unsigned char)c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* The next decoded byte of a key step at *i, or -1 at its end. Quoted keys
 * use the escapes written by fx_shadow__path_key(): \\ \' and \xHH. */
static int key_byte(const struct step *st, size_t *i)
{
    if (*i >= st->len)
        return -1;
    unsigned char c = (unsigned char)st->ptr[*i];
    if (!st->quoted || c != '\\' || *i + 1 >= st->len) {
        *i += 1;
        return c;
    }
    char e = st->ptr[*i + 1];
    if (e == 'x' && *i + 3 < st->len && hex_val(st->ptr[*i + 2]) >= 0 &&
        hex_val(st->ptr[*i + 3]) >= 0) {
        int v = hex_val(st->ptr[*i + 2]) * 16 + hex_val(st->ptr[*i + 3]);
        *i += 4;
        return v;
    }
    *i += 2;
    return (unsigned char)e;
}

static bool key_eq(const struct step *a, const struct step *b)
{
    size_t i = 0;
    size_t j = 0;
    for (;;) {
        int ca = key_byte(a, &i);
        int cb = key_byte(b, &j);
        if (ca != cb)
            return false;
        if (ca < 0)
            return true;
    }
}

static bool index_eq(const struct step *a, const struct step *b)
{
    /* Leading zeros never appear in generated paths; compare the digits. */
    return a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
}

static bool step_covers(const struct step *pat, const struct step *st)
{
    switch (pat->kind) {
    case STEP_ANY_INDEX:
        return st->kind == STEP_INDEX || st->kind == STEP_ANY_INDEX;
    case STEP_ANY_KEY:
        return st->kind == STEP_KEY || st->kind == STEP_ANY_KEY;
    case STEP_INDEX:
        return st->kind == STEP_INDEX && index_eq(pat, st);
    case STEP_KEY:
        return st->kind == STEP_KEY && key_eq(pat, st);
    }
    return false;
}

bool fx_shadow_path_match(const char *pattern, const char *path)
{
    if (pattern[0] != '$' || path[0] != '$')
        return strcmp(pattern, path) == 0;
    const char *p = pattern + 1;
    const char *q = path + 1;
    while (*p != '\0') {
        struct step ps;
        struct step qs;
        if (!next_step(&p, &ps))
            return false;
        if (*q == '\0' || !next_step(&q, &qs))
            return false;
        if (!step_covers(&ps, &qs))
            return false;
    }
    return true;
}

size_t fx_shadow_path_generalise(const char *path, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    size_t n = 0;
    const char *p = path;
    if (path[0] == '$') {
        out[n++] = cap > 1 ? '$' : '\0';
        p = path + 1;
        for (;;) {
            const char *start = p;
            struct step st;
            if (*p == '\0' || !next_step(&p, &st)) {
                p = start; /* copy a malformed or cut tail as it is */
                break;
            }
            const char *piece = st.kind == STEP_INDEX ? "[*]" : start;
            size_t plen = st.kind == STEP_INDEX ? 3 : (size_t)(p - start);
            if (n + plen >= cap)
                break;
            memcpy(out + n, piece, plen);
            n += plen;
        }
    }
    size_t rest = strlen(p);
    if (n + rest >= cap)
        rest = cap - 1 > n ? cap - 1 - n : 0;
    memcpy(out + n, p, rest);
    n += rest;
    out[n < cap ? n : cap - 1] = '\0';
    return n < cap ? n : cap - 1;
}

/* ---- building paths -------------------------------------------------------- */

int fx_shadow__pbuf_reserve(struct fx_shadow__pbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->ptr, cap);
    if (p == NULL)
        return FX_ENOMEM;
    b->ptr = p;
    b->cap = cap;
    return 0;
}

static bool is_ident(const char *k, size_t len)
{
    if (len == 0 || (k[0] >= '0' && k[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)k[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

int fx_shadow__path_key(struct fx_shadow__pbuf *b, const char *key, size_t len)
{
    if (is_ident(key, len)) {
        if (fx_shadow__pbuf_reserve(b, len + 1) != 0)
            return FX_ENOMEM;
        b->ptr[b->len++] = '.';
        memcpy(b->ptr + b->len, key, len);
        b->len += len;
        b->ptr[b->len] = '\0';
        return 0;
    }
    /* Worst case every byte becomes \xHH (4 bytes), plus [' and ']. */
    if (len > (SIZE_MAX - 8) / 4 || fx_shadow__pbuf_reserve(b, len * 4 + 4) != 0)
        return FX_ENOMEM;
    char *o = b->ptr + b->len;
    *o++ = '[';
    *o++ = '\'';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '\'' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '\'';
    *o++ = ']';
    b->len = (size_t)(o - b->ptr);
    b->ptr[b->len] = '\0';
    return 0;
}

int fx_shadow__path_index(struct fx_shadow__pbuf *b, size_t idx)
{
    if (fx_shadow__pbuf_reserve(b, 24) != 0)
        return FX_ENOMEM;
    int n = snprintf(b->ptr + b->len, 24, "[%zu]", idx);
    b->len += n > 0 ? (size_t)n : 0;
    return 0;
}

/* ---- endpoints ----------------------------------------------------------- */

static bool is_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

/* 8-4-4-4-12 hex digits, either case. */
static bool is_uuid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : hex_val(s[i]) < 0)
            return false;
    }
    return true;
}

/* Append bytes to out, keeping room for the NUL; bytes other than visible
 * ASCII are percent-encoded so that endpoints are always valid UTF-8 text.
 * Returns the new length. */
static size_t put(char *out, size_t cap, size_t n, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = (c > 0x20 && c < 0x7f) || (c == ' ' && len == 1);
        if (n + (plain ? 1 : 3) >= cap)
            break;
        if (plain) {
            out[n++] = (char)c;
            continue;
        }
        out[n++] = '%';
        out[n++] = hex[c >> 4];
        out[n++] = hex[c & 15];
    }
    return n;
}

size_t fx_shadow_endpoint(const char *method, size_t mlen, const char *target, size_t tlen,
                          char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    size_t n = put(out, cap, 0, method, mlen);
    n = put(out, cap, n, " ", 1);
    /* Absolute form: drop the scheme and authority. */
    const char *t = target;
    const char *end = target + tlen;
    const char *scheme = tlen > 3 ? memchr(t, ':', tlen) : NULL;
    if (scheme != NULL && end - scheme > 3 && scheme[1] == '/' && scheme[2] == '/') {
        const char *slash = memchr(scheme + 3, '/', (size_t)(end - (scheme + 3)));
        t = slash != NULL ? slash : end;
    }
    for (const char *q = t; q < end; q++) {
        if (*q == '?' || *q == '#') {
            end = q;
            break;
        }
    }
    if (t == end || *t != '/') {
        n = put(out, cap, n, t == end ? "/" : t, t == end ? 1 : (size_t)(end - t));
        out[n] = '\0';
        return n;
    }
    while (t < end) {
        t++; /* the '/' */
        const char *seg = t;
        while (t < end && *t != '/')
            t++;
        size_t slen = (size_t)(t - seg);
        n = put(out, cap, n, "/", 1);
        if (is_digits(seg, slen) || is_uuid(seg, slen))
            n = put(out, cap, n, "{id}", 4);
        else
            n = put(out, cap, n, seg, slen);
    }
    out[n] = '\0';
    return n;
}
