/* Fuzz fx_h1_chunked_step(): decoding in random-sized pieces (each in its own
 * buffer) and byte by byte must give the same verdict, the same consumed
 * length, the same reassembled data and the same bytes once the extension
 * spans are cut out (what the proxy forwards) as decoding in one shot; and
 * that forwarded stream must decode to the same message with no extension. */
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

struct result {
    int rc;          /* 1 complete, 0 needs more, FX_ECHUNK */
    size_t consumed; /* bytes consumed before stopping */
    size_t out_len;
    char *out; /* owned: reassembled chunk data */
    size_t fwd_len;
    char *fwd;        /* owned: consumed bytes minus extension spans */
    size_t ext_total; /* extension bytes cut */
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

static void init_decoder(struct fx_h1_chunked *c, bool small)
{
    fx_h1_chunked_init(c);
    if (small) {
        c->max_line = 8;
        c->max_trailer = 32;
    }
}

/* Feed p[0..n) until it is used up or the decoder stops; returns false when
 * the decoder stopped (complete or error). */
static bool feed(struct fx_h1_chunked *c, const char *p, size_t n, struct result *r)
{
    size_t off = 0;
    while (off < n) {
        size_t used = 0;
        struct fx_str d;
        int rc = fx_h1_chunked_step(c, p + off, n - off, &used, &d);
        CHECK(rc == 0 || rc == 1 || rc == FX_ECHUNK);
        CHECK(used <= n - off);
        CHECK(c->ext_span <= used && (c->ext_span == 0 || d.len == 0));
        memcpy(r->fwd + r->fwd_len, p + off, used - c->ext_span);
        r->fwd_len += used - c->ext_span;
        r->ext_total += c->ext_span;
        if (d.len > 0) {
            /* The span is the tail of the consumed bytes. */
            CHECK(rc == 0 && d.ptr + d.len == p + off + used && d.len <= used);
            memcpy(r->out + r->out_len, d.ptr, d.len);
            r->out_len += d.len;
        } else if (rc == 0 && c->ext_span == 0) {
            /* Without data or extensions, a call stops early only at the end of input. */
            CHECK(used == n - off);
        }
        off += used;
        r->consumed += used;
        r->rc = rc;
        if (rc != 0) {
            CHECK((rc == 1) == fx_h1_chunked_done(c));
            return false;
        }
    }
    return true;
}

static void decode(const uint8_t *data, size_t size, bool small, size_t mode, struct result *r)
{
    struct fx_h1_chunked c;
    init_decoder(&c, small);
    r->rc = 0;
    r->consumed = 0;
    r->out_len = 0;
    r->out = malloc(size + 1);
    r->fwd_len = 0;
    r->ext_total = 0;
    r->fwd = malloc(size + 1);
    CHECK(r->out != NULL && r->fwd != NULL);
    if (mode == 0) {
        feed(&c, (const char *)data, size, r);
        return;
    }
    uint64_t rs = seed_of(data, size) + mode;
    size_t off = 0;
    while (off < size) {
        size_t n = mode == 1 ? 1 : 1 + (size_t)(next_rand(&rs) % 97);
        if (n > size - off)
            n = size - off;
        char *piece = malloc(n);
        CHECK(piece != NULL);
        memcpy(piece, data + off, n);
        bool more = feed(&c, piece, n, r);
        free(piece);
        if (!more)
            break;
        off += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int small = 0; small < 2; small++) {
        struct result one;
        decode(data, size, small != 0, 0, &one);
        CHECK(one.consumed <= size);
        CHECK(one.rc != 0 || one.consumed == size);
        for (size_t mode = 1; mode <= 3; mode++) {
            struct result inc;
            decode(data, size, small != 0, mode, &inc);
            CHECK(inc.rc == one.rc && inc.consumed == one.consumed);
            CHECK(inc.out_len == one.out_len);
            CHECK(one.out_len == 0 || memcmp(inc.out, one.out, one.out_len) == 0);
            CHECK(inc.fwd_len == one.fwd_len && inc.ext_total == one.ext_total);
            CHECK(one.fwd_len == 0 || memcmp(inc.fwd, one.fwd, one.fwd_len) == 0);
            free(inc.out);
            free(inc.fwd);
        }
        if (one.rc == 1) {
            /* What the proxy forwards is a complete message with the same payload. */
            struct result again;
            decode((const uint8_t *)one.fwd, one.fwd_len, small != 0, 0, &again);
            CHECK(again.rc == 1 && again.consumed == one.fwd_len && again.ext_total == 0);
            CHECK(again.out_len == one.out_len);
            CHECK(one.out_len == 0 || memcmp(again.out, one.out, one.out_len) == 0);
            free(again.out);
            free(again.fwd);
        }
        free(one.out);
        free(one.fwd);
    }
    return 0;
}
