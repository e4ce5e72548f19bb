/* Non-owning byte views (nginx's ngx_str_t, HAProxy's ist). */
#ifndef FX_CORE_STR_H
#define FX_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A view of `len` bytes at `ptr`; not NUL-terminated, never owns memory. */
struct fx_str {
    const char *ptr; /* borrowed */
    size_t len;
};

#define FX_STR(lit) ((struct fx_str){ (lit), sizeof(lit) - 1 })

/* Build a view of a NUL-terminated C string (NULL gives the empty view). */
static inline struct fx_str fx_str_c(const char *s)
{
    return (struct fx_str){ s, s ? strlen(s) : 0 };
}

/* True when both views hold the same bytes. */
static inline bool fx_str_eq(struct fx_str a, struct fx_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline unsigned char fx_ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* True when both views hold the same bytes, ASCII case-insensitively. */
static inline bool fx_str_eqi(struct fx_str a, struct fx_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        if (fx_ascii_lower((unsigned char)a.ptr[i]) != fx_ascii_lower((unsigned char)b.ptr[i]))
            return false;
    }
    return true;
}

/* True when `s` starts with `prefix` (case-sensitive). */
static inline bool fx_str_has_prefix(struct fx_str s, struct fx_str prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

#endif
