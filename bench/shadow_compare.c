/* Compared/s of fx_shadow_compare() on one core for JSON bodies of about
 * 1 KiB, 16 KiB and 256 KiB (one differing field per element). Not part of
 * make check. Build and run:
 *   cc -O2 -std=c11 -D_GNU_SOURCE -o build/shadow_compare bench/shadow_compare.c \
 *      build/libficus.a -ljansson -lz -lyaml -lsqlite3 -lcrypto -lpcre2-8 -lsystemd -lpthread
 *   taskset -c 0 build/shadow_compare */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/shadow/shadow.h"

static char *body(size_t target, int v, size_t *len)
{
    char *b = malloc(target + 256);
    size_t n = 0;
    b[n++] = '{';
    n += (size_t)sprintf(b + n, "\"items\":[");
    for (size_t i = 0; n < target - 64; i++)
        n += (size_t)sprintf(b + n, "%s{\"id\":%zu,\"name\":\"item %zu\",\"price\":%d}",
                             i ? "," : "", i, i, v);
    n += (size_t)sprintf(b + n, "]}");
    *len = n;
    return b;
}

static double now(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    const size_t sizes[] = { 1024, 16 * 1024, 256 * 1024 };
    for (size_t s = 0; s < 3; s++) {
        struct fx_shadow_resp a = { .status = 200 };
        struct fx_shadow_resp b = { .status = 200 };
        a.body = body(sizes[s], 1, &a.body_len);
        b.body = body(sizes[s], 2, &b.body_len);
        a.head = b.head = "Content-Type: application/json\r\n";
        a.head_len = b.head_len = strlen(a.head);
        struct fx_shadow_diffs d = { 0 };
        size_t n = 0;
        double t0 = now();
        while (now() - t0 < 2.0) {
            (void)fx_shadow_compare(&a, &b, NULL, &d);
            n++;
        }
        double el = now() - t0;
        printf("body %zu bytes: %.0f compared/s (%zu diffs listed)\n", a.body_len, (double)n / el,
               d.n);
        fx_shadow_diffs_fini(&d);
        free(a.body);
        free(b.body);
    }
    return 0;
}
