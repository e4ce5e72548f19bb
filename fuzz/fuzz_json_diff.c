/* Fuzz the shadow body diff: the input is split in two halves that are
 * diffed against each other (structurally when both parse as JSON). Checks:
 * no crash, at most FX_SHADOW_MAX_DIFFS counted differences, every generalised path
 * covers its exact path, a body equals itself, and the diff of b against a
 * lists as many differences as that of a against b when not capped. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/shadow/shadow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

static char *ignore[] = { "$.generated_at", "$.items[*].etag", "$.*.ts" };

static void check_paths(const struct fx_shadow_diffs *d)
{
    CHECK(d->counted <= FX_SHADOW_MAX_DIFFS && d->counted <= d->n);
    for (size_t i = 0; i < d->n; i++) {
        const struct fx_shadow_diff *x = &d->d[i];
        CHECK(strlen(x->path) < FX_SHADOW_PATH_MAX);
        CHECK(strlen(x->gpath) < FX_SHADOW_PATH_MAX);
        size_t n = strlen(x->path);
        bool cut = n >= 3 && strcmp(x->path + n - 3, "...") == 0;
        if (!cut)
            CHECK(fx_shadow_path_match(x->gpath, x->path));
        for (size_t k = 0; k < sizeof(ignore) / sizeof(ignore[0]) && !cut; k++)
            CHECK(!fx_shadow_path_match(ignore[k], x->path));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *a = (const char *)data;
    size_t alen = size / 2;
    const char *b = a + alen;
    size_t blen = size - alen;
    struct fx_shadow_rules rules = { .ignore_json = ignore,
                                     .nignore_json = sizeof(ignore) / sizeof(ignore[0]) };
    struct fx_shadow_diffs *ab = calloc(1, sizeof(*ab));
    struct fx_shadow_diffs *ba = calloc(1, sizeof(*ba));
    struct fx_shadow_diffs *aa = calloc(1, sizeof(*aa));
    if (ab == NULL || ba == NULL || aa == NULL)
        goto out;
    if (fx_shadow_diff_body(a, alen, b, blen, false, &rules, ab) != 0 ||
        fx_shadow_diff_body(b, blen, a, alen, false, &rules, ba) != 0 ||
        fx_shadow_diff_body(a, alen, a, alen, false, NULL, aa) != 0)
        goto out;
    check_paths(ab);
    check_paths(ba);
    CHECK(aa->n == 0);
    CHECK(ab->json == ba->json);
    if (!ab->overflow && !ba->overflow)
        CHECK(ab->n == ba->n);
    char ep[128];
    (void)fx_shadow_endpoint("GET", 3, a, alen, ep, sizeof(ep));
out:
    fx_shadow_diffs_fini(ab);
    fx_shadow_diffs_fini(ba);
    fx_shadow_diffs_fini(aa);
    free(ab);
    free(ba);
    free(aa);
    return 0;
}
