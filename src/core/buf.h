/* Linear byte buffers with a hard capacity cap (see STYLE.md §6). */
#ifndef FX_CORE_BUF_H
#define FX_CORE_BUF_H

#include <stddef.h>
#include <string.h>

/* Readable bytes are [off, off + len); free space follows up to cap. */
struct fx_buf {
    char *data; /* owned (or NULL when no storage is attached) */
    size_t cap;
    size_t off;
    size_t len;
};

/* Attach `cap` bytes of storage. Returns 0 or FX_ENOMEM. */
int fx_buf_init(struct fx_buf *b, size_t cap);

/* Release storage; the buffer is then empty with no storage. */
void fx_buf_fini(struct fx_buf *b);

static inline char *fx_buf_rptr(const struct fx_buf *b)
{
    return b->data + b->off;
}

static inline char *fx_buf_wptr(const struct fx_buf *b)
{
    return b->data + b->off + b->len;
}

/* Free bytes after the readable region (without compaction). */
static inline size_t fx_buf_wroom(const struct fx_buf *b)
{
    return b->cap - b->off - b->len;
}

static inline void fx_buf_commit(struct fx_buf *b, size_t n)
{
    b->len += n;
}

/* Drop `n` readable bytes from the front; an emptied buffer rewinds to 0. */
static inline void fx_buf_consume(struct fx_buf *b, size_t n)
{
    b->off += n;
    b->len -= n;
    if (b->len == 0)
        b->off = 0;
}

/* Move readable bytes to the start of storage. Invalidates views. */
static inline void fx_buf_compact(struct fx_buf *b)
{
    if (b->off == 0)
        return;
    if (b->len > 0)
        memmove(b->data, b->data + b->off, b->len);
    b->off = 0;
}

/* Make room for `n` more bytes, compacting if needed (invalidates views).
 * Never grows beyond cap. Returns 0 or FX_ELIMIT. */
int fx_buf_reserve(struct fx_buf *b, size_t n);

/* Append bytes, failing with FX_ELIMIT when they do not fit. */
int fx_buf_append(struct fx_buf *b, const void *p, size_t n);

#endif
