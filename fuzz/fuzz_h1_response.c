/* Fuzz fx_h1_parse_resp() and fx_h1_resp_body(): the result must not depend on
 * how the input is split, and an accepted head must satisfy the strictness
 * invariants. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/err.h"
#include "../src/http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

static const struct fx_h1_limits fuzz_limits[] = {
    { .max_head = 8192, .max_line = 8192, .max_headers = 100 },
    { .max_head = 256, .max_line = 16, .max_headers = 4 },
};

/* xorshift64*, seeded from the input so runs are reproducible. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static uint64_t seed_of(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h | 1;
}

static bool same_view(struct fx_str a, const char *abase, struct fx_str b, const char *bbase)
{
    if (a.len != b.len || (a.ptr == NULL) != (b.ptr == NULL))
        return false;
    return a.ptr == NULL || a.ptr - abase == b.ptr - bbase;
}

static void check_same(const struct fx_h1_resp *a, const char *abase, const struct fx_h1_resp *b,
                       const char *bbase)
{
    CHECK(a->minor == b->minor && a->status == b->status);
    CHECK(same_view(a->reason, abase, b->reason, bbase));
    CHECK(a->flags == b->flags && a->body == b->body);
    CHECK(a->content_length == b->content_length && a->head_len == b->head_len);
    CHECK(a->nheaders == b->nheaders);
    for (size_t i = 0; i < a->nheaders; i++) {
        CHECK(same_view(a->headers[i].name, abase, b->headers[i].name, bbase));
        CHECK(same_view(a->headers[i].value, abase, b->headers[i].value, bbase));
    }
}

static void check_accepted(const uint8_t *p, const struct fx_h1_resp *r,
                           const struct fx_h1_limits *lim)
{
    size_t n = r->head_len;
    CHECK(n >= 4 && n <= lim->max_head && memcmp(p + n - 4, "\r\n\r\n", 4) == 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '\r')
            CHECK(i + 1 < n && p[i + 1] == '\n');
        else if (c == '\n')
            CHECK(i > 0 && p[i - 1] == '\r');
        else
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    CHECK(r->status >= 100 && r->status <= 599);
    CHECK(r->minor == 0 || r->minor == 1);
    CHECK(r->nheaders <= lim->max_headers);
    bool te = (r->flags & FX_H1_F_HAS_TE) != 0;
    bool cl = (r->flags & FX_H1_F_HAS_CL) != 0;
    CHECK(!(te && cl));
    CHECK((r->body == FX_H1_BODY_CHUNKED) == te);
    CHECK((r->body == FX_H1_BODY_LENGTH) == cl);
    CHECK(r->body != FX_H1_BODY_NONE);
    CHECK(fx_h1_resp_body(r, FX_STR("HEAD")) == FX_H1_BODY_NONE);
    enum fx_h1_body get = fx_h1_resp_body(r, FX_STR("GET"));
    if (r->status < 200 || r->status == 204 || r->status == 304)
        CHECK(get == FX_H1_BODY_NONE);
    else
        CHECK(get == r->body);
    CHECK(fx_h1_reason(r->status) != NULL);
}

static void run(const uint8_t *data, size_t size, const struct fx_h1_limits *lim)
{
    const char *buf = (const char *)data;
    struct fx_h1_resp one;
    struct fx_h1_resp inc;
    size_t scanned = 0;
    int rc1 = fx_h1_parse_resp(buf, size, &one, &scanned, lim);
    CHECK(rc1 > 0 || rc1 == FX_EAGAIN || rc1 == FX_EPARSE || rc1 == FX_ESMUGGLE ||
          rc1 == FX_ETOOLONG_HEAD || rc1 == FX_ETOOMANY || rc1 == FX_EVERSION);
    if (rc1 > 0) {
        CHECK((size_t)rc1 == one.head_len && one.head_len <= size);
        check_accepted(data, &one, lim);
    }

    /* Byte by byte in place. */
    scanned = 0;
    int rc2 = FX_EAGAIN;
    for (size_t k = 1; k <= size && rc2 == FX_EAGAIN; k++)
        rc2 = fx_h1_parse_resp(buf, k, &inc, &scanned, lim);
    if (size > 0) {
        CHECK(rc1 == rc2);
        if (rc1 > 0)
            check_same(&one, buf, &inc, buf);
    }

    /* Random pieces, each call on a fresh copy of the prefix. */
    uint64_t rs = seed_of(data, size);
    scanned = 0;
    int rc3 = FX_EAGAIN;
    size_t k = 0;
    char *copy = NULL;
    while (rc3 == FX_EAGAIN && k < size) {
        k += 1 + (size_t)(next_rand(&rs) % 64);
        if (k > size)
            k = size;
        free(copy);
        copy = malloc(k);
        CHECK(copy != NULL);
        memcpy(copy, data, k);
        rc3 = fx_h1_parse_resp(copy, k, &inc, &scanned, lim);
    }
    if (size > 0) {
        CHECK(rc1 == rc3);
        if (rc1 > 0)
            check_same(&one, buf, &inc, copy);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < sizeof(fuzz_limits) / sizeof(fuzz_limits[0]); i++)
        run(data, size, &fuzz_limits[i]);
    return 0;
}
