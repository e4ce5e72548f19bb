#include "buf.h"

#include <stdlib.h>

#include "err.h"

int fx_buf_init(struct fx_buf *b, size_t cap)
{
    b->data = malloc(cap);
    if (b->data == NULL)
        return FX_ENOMEM;
    b->cap = cap;
    b->off = 0;
    b->len = 0;
    return 0;
}

void fx_buf_fini(struct fx_buf *b)
{
    FX_FREE(b->data);
    b->cap = 0;
    b->off = 0;
    b->len = 0;
}

int fx_buf_reserve(struct fx_buf *b, size_t n)
{
    if (fx_buf_wroom(b) >= n)
        return 0;
    if (b->cap - b->len < n)
        return FX_ELIMIT;
    fx_buf_compact(b);
    return 0;
}

int fx_buf_append(struct fx_buf *b, const void *p, size_t n)
{
    if (fx_buf_reserve(b, n) != 0)
        return FX_ELIMIT;
    memcpy(fx_buf_wptr(b), p, n);
    b->len += n;
    return 0;
}
