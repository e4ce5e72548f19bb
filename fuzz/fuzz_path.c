/* Fuzz fx_h1_path_normalize(): the first input byte picks the flags, the rest
 * is the path. Checks: the output is never longer than the input, in place and
 * out of place agree, normalising the output changes nothing, and with the
 * matching flags the path part has no "//", "." or ".." segment and no
 * lower-case or malformed %XX. ASan catches reads or writes out of bounds:
 * every buffer is a heap block of exactly the size passed. */
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

static bool is_hex_upper(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static void check_normal(const char *p, size_t n, unsigned int flags)
{
    const char *q = memchr(p, '?', n);
    size_t end = q != NULL ? (size_t)(q - p) : n;
    CHECK(end > 0 && (p[0] == '/' || (n == 1 && p[0] == '*')));
    for (size_t i = 0; i < end; i++) {
        if ((flags & FX_H1_PATH_MERGE_SLASHES) && p[i] == '/' && i + 1 < end)
            CHECK(p[i + 1] != '/');
        if ((flags & FX_H1_PATH_DECODE) && p[i] == '%')
            CHECK(i + 2 < end && is_hex_upper(p[i + 1]) && is_hex_upper(p[i + 2]));
        if ((flags & FX_H1_PATH_DOTS) && p[i] == '/') {
            /* The segment after this '/' is neither "." nor "..". */
            size_t j = i + 1;
            while (j < end && p[j] != '/')
                j++;
            size_t seg = j - i - 1;
            CHECK(!(seg == 1 && p[i + 1] == '.'));
            CHECK(!(seg == 2 && p[i + 1] == '.' && p[i + 2] == '.'));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned int flags = data[0] & FX_H1_PATH_ALL;
    size_t len = size - 1;
    char *in = malloc(len ? len : 1);
    char *out = malloc(len ? len : 1);
    char *inplace = malloc(len ? len : 1);
    CHECK(in != NULL && out != NULL && inplace != NULL);
    memcpy(in, data + 1, len);
    memcpy(inplace, data + 1, len);

    size_t n = 0;
    int rc = fx_h1_path_normalize(in, len, out, len, flags, &n);
    CHECK(rc == 0 || rc == FX_EINVAL || rc == FX_EPARSE);
    size_t m = 0;
    int rc2 = fx_h1_path_normalize(inplace, len, inplace, len, flags, &m);
    CHECK(rc2 == rc);
    if (rc == 0) {
        CHECK(n <= len && m == n && memcmp(out, inplace, n) == 0);
        check_normal(out, n, flags);
        /* The query is the input's, byte for byte. */
        const char *qi = memchr(in, '?', len);
        const char *qo = memchr(out, '?', n);
        CHECK((qi == NULL) == (qo == NULL));
        if (qi != NULL) {
            size_t ql = len - (size_t)(qi - in);
            CHECK(n - (size_t)(qo - out) == ql && memcmp(qi, qo, ql) == 0);
        }
        /* Idempotent, into a buffer of exactly n bytes. */
        char *again = malloc(n);
        CHECK(again != NULL);
        size_t k = 0;
        CHECK(fx_h1_path_normalize(out, n, again, n, flags, &k) == 0);
        CHECK(k == n && memcmp(again, out, n) == 0);
        free(again);
        /* One byte short of room is reported, never overrun. */
        if (n > 0) {
            char *tight = malloc(n - 1 ? n - 1 : 1);
            CHECK(tight != NULL);
            CHECK(fx_h1_path_normalize(in, len, tight, n - 1, flags, &k) == FX_ELIMIT);
            free(tight);
        }
    }
    free(inplace);
    free(out);
    free(in);
    return 0;
}
