/* Unit tests for shadow: the structural JSON diff, header and gzip rules,
 * ignore patterns, endpoints, and the engine end to end (noise learning,
 * counters, redacted samples read back from SQLite, the JSON views). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>
#include <zlib.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "../store/store.h"
#include "shadow.h"
#include "shadow_int.h"

/* ---- pure helpers ----------------------------------------------------------- */

static struct fx_shadow_diffs *diffs_new(void)
{
    struct fx_shadow_diffs *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    return d;
}

static struct fx_shadow_diffs *body_diff(const char *a, const char *b,
                                         const struct fx_shadow_rules *rules)
{
    struct fx_shadow_diffs *d = diffs_new();
    assert_int_equal(fx_shadow_diff_body(a, strlen(a), b, strlen(b), false, rules, d), 0);
    return d;
}

static void diffs_free(struct fx_shadow_diffs *d)
{
    fx_shadow_diffs_fini(d);
    free(d);
}

/* Kind of the difference at exact `path`, or -1 when not listed. */
static int kind_at(const struct fx_shadow_diffs *d, const char *path)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->d[i].path, path) == 0)
            return (int)d->d[i].kind;
    }
    return -1;
}

static bool has_path(const struct fx_shadow_diffs *d, const char *path)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->d[i].path, path) == 0)
            return true;
    }
    return false;
}

static void test_diff_body_key_order_irrelevant(void **state)
{
    (void)state;
    struct fx_shadow_diffs *d = body_diff("{\"a\":1,\"b\":{\"x\":true,\"y\":null}}",
                                          "{\"b\":{\"y\":null,\"x\":true},\"a\":1}", NULL);
    assert_true(d->json);
    assert_int_equal(d->n, 0);
    diffs_free(d);
}

static void test_diff_body_nested_arrays(void **state)
{
    (void)state;
    struct fx_shadow_diffs *d =
        body_diff("{\"m\":[[1,2],[3,[4,5]]]}", "{\"m\":[[1,2],[3,[4,6]]]}", NULL);
    assert_int_equal(d->n, 1);
    assert_string_equal(d->d[0].path, "$.m[1][1][1]");
    assert_string_equal(d->d[0].gpath, "$.m[*][*][*]");
    diffs_free(d);
}

static void test_diff_body_numbers_by_value(void **state)
{
    (void)state;
    struct fx_shadow_diffs *d = body_diff("[1, 2.5, -0, 100]", "[1.0, 2.50, 0, 1e2]", NULL);
    assert_int_equal(d->n, 0);
    diffs_free(d);
    /* Beyond 2^53 integers are compared exactly. */
    d = body_diff("[9007199254740993]", "[9007199254740992]", NULL);
    assert_int_equal(d->n, 1);
    assert_string_equal(d->d[0].path, "$[0]");
    diffs_free(d);
    d = body_diff("{\"n\":1}", "{\"n\":1.5}", NULL);
    assert_int_equal(d->n, 1);
    diffs_free(d);
}

static void test_diff_body_unicode_escapes_decoded(void **state)
{
    (void)state;
    struct fx_shadow_diffs *d =
        body_diff("{\"name\":\"\\u00e9t\\u00E9\"}", "{\"name\":\"été\"}", NULL);
    assert_true(d->json);
    assert_int_equal(d->n, 0);
    diffs_free(d);
}

static void test_diff_body_invalid_json_falls_back_to_bytes(void **state)
{
    (void)state;
    struct fx_shadow_diffs *d = body_diff("{\"a\":1", "{\"a\":1}", NULL);
    assert_false(d->json);
    assert_int_equal(d->n, 1);
    assert_string_equal(d->d[0].path, "body");
    diffs_free(d);
    d = body_diff("hello", "hello", NULL);
    assert_false(d->json);
    assert_int_equal(d->n, 0);
    diffs_free(d);
}

static void test_diff_body_changed_field_exact_path(void **state)
{
    (void)state;
    const char *a =
        "{\"id\":7,\"items\":[{\"price\":1},{\"price\":2},{\"price\":3},{\"price\":4}]}";
    const char *b =
        "{\"id\":7,\"items\":[{\"price\":1},{\"price\":2},{\"price\":3},{\"price\":5}]}";
    struct fx_shadow_diffs *d = body_diff(a, b, NULL);
    assert_int_equal(d->n, 1);
    assert_string_equal(d->d[0].path, "$.items[3].price");
    assert_string_equal(d->d[0].gpath, "$.items[*].price");
    diffs_free(d);
}

static void test_diff_body_type_and_missing_keys(void **state)
{
    (void)state;
    struct fx_shadow_diffs *d = body_diff("{\"a\":\"1\",\"gone\":1,\"a b\":1,\"t\":true}",
                                          "{\"a\":1,\"new\":2,\"a b\":2,\"t\":false}", NULL);
    assert_int_equal(d->n, 5);
    assert_int_equal(kind_at(d, "$.a"), FX_SHADOW_K_TYPE);
    assert_int_equal(kind_at(d, "$.gone"), FX_SHADOW_K_MISSING);
    assert_int_equal(kind_at(d, "$.new"), FX_SHADOW_K_ADDED);
    assert_int_equal(kind_at(d, "$['a b']"), FX_SHADOW_K_VALUE);
    assert_int_equal(kind_at(d, "$.t"), FX_SHADOW_K_VALUE); /* true vs false: a value */
    assert_string_equal(fx_shadow_kind_name(FX_SHADOW_K_LENGTH), "length");
    assert_int_equal(fx_shadow_kind_parse("missing"), FX_SHADOW_K_MISSING);
    assert_int_equal(fx_shadow_kind_parse("bogus"), FX_SHADOW_K__N);
    diffs_free(d);
}

static void test_diff_body_array_length_change(void **state)
{
    (void)state;
    /* Extra elements: one difference at the array itself, not one per index. */
    struct fx_shadow_diffs *d = body_diff("{\"l\":[1,2]}", "{\"l\":[1,2,3,4]}", NULL);
    assert_int_equal(d->n, 1);
    assert_string_equal(d->d[0].path, "$.l");
    assert_int_equal(d->d[0].kind, FX_SHADOW_K_LENGTH);
    diffs_free(d);
    /* A top-level array is reported at "$"; common elements still compared. */
    d = body_diff("[1,2,3]", "[9]", NULL);
    assert_int_equal(d->n, 2);
    assert_string_equal(d->d[0].path, "$");
    assert_int_equal(d->d[0].kind, FX_SHADOW_K_LENGTH);
    assert_string_equal(d->d[1].path, "$[0]");
    assert_int_equal(d->d[1].kind, FX_SHADOW_K_VALUE);
    diffs_free(d);
    /* Same length: element-wise only. */
    d = body_diff("{\"l\":[1,2]}", "{\"l\":[1,3]}", NULL);
    assert_int_equal(d->n, 1);
    assert_string_equal(d->d[0].path, "$.l[1]");
    diffs_free(d);
}

/* Every element differing in one field is one generalised path: one entry. */
static void test_diff_body_one_entry_per_generalised_path(void **state)
{
    (void)state;
    size_t n = 500;
    char *a = malloc(n * 16 + 3);
    char *b = malloc(n * 16 + 3);
    assert_non_null(a);
    assert_non_null(b);
    size_t la = 0;
    size_t lb = 0;
    a[la++] = '[';
    b[lb++] = '[';
    for (size_t i = 0; i < n; i++) {
        la += (size_t)sprintf(a + la, "%s{\"p\":0}", i ? "," : "");
        lb += (size_t)sprintf(b + lb, "%s{\"p\":1}", i ? "," : "");
    }
    a[la++] = ']';
    b[lb++] = ']';
    struct fx_shadow_diffs *d = diffs_new();
    assert_int_equal(fx_shadow_diff_body(a, la, b, lb, false, NULL, d), 0);
    assert_int_equal(d->n, 1);
    assert_string_equal(d->d[0].path, "$[0].p");
    assert_string_equal(d->d[0].gpath, "$[*].p");
    assert_false(d->overflow);
    diffs_free(d);
    free(a);
    free(b);
}

/* Build {"k0":0,...} / {"k0":1,...} with n keys. */
static void keys_doc(char *out, size_t n, int v)
{
    size_t l = 0;
    out[l++] = '{';
    for (size_t i = 0; i < n; i++)
        l += (size_t)sprintf(out + l, "%s\"k%zu\":%d", i ? "," : "", i, v);
    out[l++] = '}';
    out[l] = '\0';
}

static bool noise_even(void *arg, const char *gpath)
{
    (void)arg;
    /* "$.k<even>" */
    size_t len = strlen(gpath);
    return len > 3 && (gpath[len - 1] - '0') % 2 == 0;
}

static void test_diff_body_caps_differences(void **state)
{
    (void)state;
    size_t n = 200;
    char *a = malloc(n * 16 + 3);
    char *b = malloc(n * 16 + 3);
    assert_non_null(a);
    assert_non_null(b);
    keys_doc(a, n, 0);
    keys_doc(b, n, 1);
    struct fx_shadow_diffs *d = diffs_new();
    assert_int_equal(fx_shadow_diff_body(a, strlen(a), b, strlen(b), false, NULL, d), 0);
    assert_int_equal(d->n, FX_SHADOW_MAX_DIFFS);
    assert_true(d->overflow);
    /* Configurable. */
    struct fx_shadow_rules rules = { .max_diffs = 150 };
    fx_shadow_diffs_fini(d);
    assert_int_equal(fx_shadow_diff_body(a, strlen(a), b, strlen(b), false, &rules, d), 0);
    assert_int_equal(d->counted, 150);
    assert_true(d->overflow);
    rules.max_diffs = 200;
    fx_shadow_diffs_fini(d);
    assert_int_equal(fx_shadow_diff_body(a, strlen(a), b, strlen(b), false, &rules, d), 0);
    assert_int_equal(d->counted, 200);
    assert_false(d->overflow);
    /* Noise is listed but does not use up the limit: 100 odd keys fit in 100. */
    rules.max_diffs = 100;
    rules.noise = noise_even;
    fx_shadow_diffs_fini(d);
    assert_int_equal(fx_shadow_diff_body(a, strlen(a), b, strlen(b), false, &rules, d), 0);
    assert_int_equal(d->counted, 100);
    assert_int_equal(d->n, 200);
    assert_false(d->overflow);
    diffs_free(d);
    free(a);
    free(b);
}

static void test_diff_body_deep_nesting_no_crash(void **state)
{
    (void)state;
    size_t depth = 100000; /* beyond jansson's limit: compared as bytes */
    char *a = malloc(depth * 2 + 1);
    assert_non_null(a);
    memset(a, '[', depth);
    memset(a + depth, ']', depth);
    struct fx_shadow_diffs *d = diffs_new();
    assert_int_equal(fx_shadow_diff_body(a, depth * 2, a, depth * 2, false, NULL, d), 0);
    assert_int_equal(d->n, 0);
    diffs_free(d);
    /* 2000 levels parse: the explicit stack walks them. */
    depth = 2000;
    memset(a, '[', depth);
    memcpy(a + depth, "1", 1);
    memset(a + depth + 1, ']', depth);
    char *b = strndup(a, depth * 2 + 1);
    assert_non_null(b);
    b[depth] = '2';
    d = diffs_new();
    assert_int_equal(fx_shadow_diff_body(a, depth * 2 + 1, b, depth * 2 + 1, false, NULL, d), 0);
    assert_true(d->json);
    assert_int_equal(d->n, 1);
    assert_string_equal(d->d[0].path + strlen(d->d[0].path) - 3, "...");
    diffs_free(d);
    free(a);
    free(b);
}

static void test_path_match_patterns(void **state)
{
    (void)state;
    assert_true(fx_shadow_path_match("$.generated_at", "$.generated_at"));
    assert_true(fx_shadow_path_match("$.meta", "$.meta.etag"));
    assert_true(fx_shadow_path_match("$.meta", "$.meta[2]"));
    assert_false(fx_shadow_path_match("$.meta", "$.metadata"));
    assert_false(fx_shadow_path_match("$.meta.etag", "$.meta"));
    assert_true(fx_shadow_path_match("$.items[*].etag", "$.items[12].etag"));
    assert_true(fx_shadow_path_match("$.items[*].etag", "$.items[*].etag"));
    assert_false(fx_shadow_path_match("$.items[*].etag", "$.items[12].price"));
    assert_true(fx_shadow_path_match("$.items[3]", "$.items[3].price"));
    assert_false(fx_shadow_path_match("$.items[3]", "$.items[31]"));
    assert_true(fx_shadow_path_match("$.*.id", "$.user.id"));
    assert_true(fx_shadow_path_match("$['a b']", "$['a b'].c"));
    assert_true(fx_shadow_path_match("$['ab']", "$.ab"));
    assert_true(fx_shadow_path_match("$", "$.x"));
    assert_true(fx_shadow_path_match("status", "status"));
    assert_false(fx_shadow_path_match("header:etag", "header:etag2"));
}

static void test_path_generalise_indices(void **state)
{
    (void)state;
    char out[FX_SHADOW_PATH_MAX];
    assert_int_equal(fx_shadow_path_generalise("$.items[3].tags[10]", out, sizeof(out)), 18);
    assert_string_equal(out, "$.items[*].tags[*]");
    (void)fx_shadow_path_generalise("$['a[1]'][2]", out, sizeof(out));
    assert_string_equal(out, "$['a[1]'][*]");
    (void)fx_shadow_path_generalise("header:x[1]", out, sizeof(out));
    assert_string_equal(out, "header:x[1]");
    (void)fx_shadow_path_generalise("$.a[1]", out, 4);
    assert_string_equal(out, "$.a");
}

static void test_compare_ignore_json(void **state)
{
    (void)state;
    char *ignore[] = { "$.generated_at", "$.items[*].etag" };
    struct fx_shadow_rules rules = { .ignore_json = ignore, .nignore_json = 2 };
    struct fx_shadow_diffs *d =
        body_diff("{\"generated_at\":1,\"items\":[{\"etag\":\"a\",\"p\":1}]}",
                  "{\"generated_at\":{\"t\":2},\"items\":[{\"etag\":\"b\",\"p\":2}]}", &rules);
    assert_int_equal(d->n, 1);
    assert_string_equal(d->d[0].path, "$.items[0].p");
    diffs_free(d);
}

static void resp_set(struct fx_shadow_resp *r, int status, const char *head, const char *body,
                     size_t blen)
{
    r->status = status;
    r->head = head != NULL ? strdup(head) : NULL;
    r->head_len = head != NULL ? strlen(head) : 0;
    r->body = NULL;
    r->body_len = blen;
    if (body != NULL) {
        r->body = malloc(blen + 1);
        assert_non_null(r->body);
        memcpy(r->body, body, blen);
    }
}

static void resp_clear(struct fx_shadow_resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static void test_compare_ignore_headers(void **state)
{
    (void)state;
    struct fx_shadow_resp a = { 0 };
    struct fx_shadow_resp b = { 0 };
    resp_set(&a, 200,
             "Content-Length: 2\r\nX-Request-Id: 1\r\nVary: a\r\nvary: b\r\nETag: x\r\n"
             "Connection: keep-alive\r\n",
             "{}", 2);
    resp_set(&b, 201,
             "Transfer-Encoding: chunked\r\nx-request-id: 2\r\nVary: a, b\r\nEtag: y\r\n"
             "X-New: 1\r\n",
             "{}", 2);
    char *ignore[] = { "X-REQUEST-ID" };
    struct fx_shadow_rules rules = { .ignore_headers = ignore, .nignore_headers = 1 };
    struct fx_shadow_diffs *d = diffs_new();
    assert_int_equal(fx_shadow_compare(&a, &b, &rules, d), 0);
    assert_int_equal(d->n, 3);
    assert_string_equal(d->d[0].path, "status");
    assert_string_equal(d->d[1].path, "header:etag");
    assert_string_equal(d->d[2].path, "header:x-new");
    diffs_free(d);
    resp_clear(&a);
    resp_clear(&b);
}

static char *gzip_of(const char *s, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    char *out = malloc(cap);
    assert_non_null(out);
    z.next_in = (Bytef *)(uintptr_t)s;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    (void)deflateEnd(&z);
    return out;
}

static void test_compare_gzip_equals_plain_twin(void **state)
{
    (void)state;
    const char *plain = "{\"b\":[1,2,3],\"a\":\"x\"}";
    size_t zlen = 0;
    char *z = gzip_of("{\"a\":\"x\",\"b\":[1,2,3]}", 21, &zlen);
    struct fx_shadow_resp a = { 0 };
    struct fx_shadow_resp b = { 0 };
    resp_set(&a, 200, "Content-Type: application/json\r\n", plain, strlen(plain));
    resp_set(&b, 200, "Content-Type: application/json\r\nContent-Encoding: gzip\r\n", z, zlen);
    struct fx_shadow_diffs *d = diffs_new();
    /* The coding is how the bytes travel, not what they say: the decoded
     * bodies are compared and Content-Encoding never is. */
    assert_int_equal(fx_shadow_compare(&a, &b, NULL, d), 0);
    assert_true(d->json);
    assert_int_equal(d->n, 0);
    /* A corrupt gzip body is compared as it is. */
    b.body[b.body_len / 2] ^= 0x55;
    assert_int_equal(fx_shadow_compare(&a, &b, NULL, d), 0);
    assert_true(has_path(d, "body"));
    diffs_free(d);
    free(z);
    resp_clear(&a);
    resp_clear(&b);
}

static void test_compare_truncated_compares_bytes(void **state)
{
    (void)state;
    struct fx_shadow_resp a = { 0 };
    struct fx_shadow_resp b = { 0 };
    resp_set(&a, 200, NULL, "{\"a\":1,\"b\":2", 12);
    resp_set(&b, 200, NULL, "{\"b\":2,\"a\":1", 12);
    a.truncated = true;
    b.truncated = true;
    struct fx_shadow_diffs *d = diffs_new();
    assert_int_equal(fx_shadow_compare(&a, &b, NULL, d), 0);
    assert_true(d->truncated);
    assert_false(d->json);
    assert_int_equal(d->n, 1);
    assert_string_equal(d->d[0].path, "body");
    diffs_free(d);
    resp_clear(&a);
    resp_clear(&b);
}

/* Header differences come after the body's, with their kinds. */
static void test_compare_kinds_and_order(void **state)
{
    (void)state;
    struct fx_shadow_resp a = { 0 };
    struct fx_shadow_resp b = { 0 };
    resp_set(&a, 200, "X-Old: 1\r\nX-Same: v\r\nX-Val: 1\r\n", "{\"a\":1}", 7);
    resp_set(&b, 201, "X-New: 1\r\nX-Same: v\r\nX-Val: 2\r\n", "{\"a\":2}", 7);
    struct fx_shadow_diffs d = { 0 };
    assert_int_equal(fx_shadow_compare(&a, &b, NULL, &d), 0);
    assert_int_equal(d.n, 5);
    assert_string_equal(d.d[0].path, "status");
    assert_string_equal(d.d[1].path, "$.a");
    assert_string_equal(d.d[2].path, "header:x-new");
    assert_int_equal(d.d[2].kind, FX_SHADOW_K_ADDED);
    assert_string_equal(d.d[3].path, "header:x-old");
    assert_int_equal(d.d[3].kind, FX_SHADOW_K_MISSING);
    assert_string_equal(d.d[4].path, "header:x-val");
    assert_int_equal(d.d[4].kind, FX_SHADOW_K_VALUE);
    fx_shadow_diffs_fini(&d);
    resp_clear(&a);
    resp_clear(&b);
}

static void test_shadow_endpoint_normalises(void **state)
{
    (void)state;
    char out[256];
    const char *t = "/orders/12345/items/0b8f5c3e-1d2a-4c5b-9e8f-7a6b5c4d3e2f?x=1";
    size_t n = fx_shadow_endpoint("GET", 3, t, strlen(t), out, sizeof(out));
    assert_string_equal(out, "GET /orders/{id}/items/{id}");
    assert_int_equal(n, strlen(out));
    t = "http://example.com/v1/users/42#frag";
    (void)fx_shadow_endpoint("POST", 4, t, strlen(t), out, sizeof(out));
    assert_string_equal(out, "POST /v1/users/{id}");
    (void)fx_shadow_endpoint("GET", 3, "/?q=1", 5, out, sizeof(out));
    assert_string_equal(out, "GET /");
    (void)fx_shadow_endpoint("GET", 3, "/a1/b\x01", 6, out, sizeof(out));
    assert_string_equal(out, "GET /a1/b%01");
    (void)fx_shadow_endpoint("GET", 3, "/orders/123", 11, out, 8);
    assert_string_equal(out, "GET /or");
}

static void test_shadow_drop_name_all(void **state)
{
    (void)state;
    assert_string_equal(fx_shadow_drop_name(FX_SHADOW_DROP_BODY), "body_too_large");
    assert_string_equal(fx_shadow_drop_name(FX_SHADOW_DROP_INFLIGHT), "inflight");
    assert_string_equal(fx_shadow_drop_name(FX_SHADOW_DROP_QUEUE), "queue_full");
    assert_string_equal(fx_shadow_drop_name(FX_SHADOW_DROP_PRIMARY), "primary_incomplete");
    assert_string_equal(fx_shadow_drop_name(FX_SHADOW_DROP_NOMEM), "nomem");
    assert_string_equal(fx_shadow_drop_name(FX_SHADOW_DROP_SHUTDOWN), "shutdown");
    assert_string_equal(fx_shadow_drop_name(FX_SHADOW_DROP__N), "unknown");
}

static void test_shadow_aggregates_bounded(void **state)
{
    (void)state;
    struct fx_shadow__route r;
    memset(&r, 0, sizeof(r));
    char name[32];
    for (int i = 0; i < 250; i++) {
        (void)snprintf(name, sizeof(name), "GET /e%d", i);
        struct fx_shadow__ep *ep = fx_shadow__ep_get(&r, name);
        assert_non_null(ep);
        ep->compared++;
        (void)snprintf(name, sizeof(name), "$.p%d", i);
        assert_non_null(fx_shadow__path_get(&r.eps[0], name));
    }
    assert_int_equal(r.neps, FX_SHADOW_MAX_ENDPOINTS);
    assert_string_equal(r.eps[r.neps - 1].name, "(other)");
    assert_int_equal(r.eps[r.neps - 1].compared, 51);
    assert_int_equal(r.eps[0].npaths, FX_SHADOW_MAX_PATHS);
    assert_string_equal(r.eps[0].paths[FX_SHADOW_MAX_PATHS - 1].path, "(other)");
    fx_shadow__route_fini(&r);
}

/* ---- engine fixture ---------------------------------------------------------- */

struct fixture {
    char dir[64];
    char db[128];
    struct fx_shadow *s; /* owned (large: counters of every route id) */
    bool started;
    struct fx_conf *conf; /* owned reference */
    unsigned int rid;     /* id of route "r" */
    const char *top;      /* extra top-level YAML (limits), or NULL */
};

#define SH_SECONDARY                                                            \
    "    shadow:\n      to: b\n      secondary: c\n      redact: [X-Api-Key]\n" \
    "      compare: {ignore_headers: [Date], ignore_json: [\"$.items[*].etag\"]}\n"

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/ficus-shadow-XXXXXX");
    fx->s = calloc(1, sizeof(*fx->s));
    if (fx->s == NULL || mkdtemp(fx->dir) == NULL) {
        free(fx->s);
        free(fx);
        return -1;
    }
    (void)snprintf(fx->db, sizeof(fx->db), "%s/t.db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->started)
        fx_shadow_stop(fx->s, UINT64_MAX);
    fx_conf_unref(fx->conf);
    free(fx->s);
    DIR *d = opendir(fx->dir);
    if (d != NULL) {
        const struct dirent *de;
        char p[384];
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            (void)snprintf(p, sizeof(p), "%s/%s", fx->dir, de->d_name);
            (void)unlink(p);
        }
        (void)closedir(d);
    }
    (void)rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Load routes "plain" (id 0) and "r" (id 3) with `shadow` as r's section. */
static struct fx_conf *load(struct fixture *fx, const char *shadow)
{
    char yaml[2048];
    (void)snprintf(yaml, sizeof(yaml),
                   "listen: \"127.0.0.1:0\"\n%s"
                   "store: \"sqlite:%s\"\n"
                   "upstreams: {a: {servers: [\"127.0.0.1:3000\"]},"
                   " b: {servers: [\"127.0.0.1:4000\"]}, c: {servers: [\"127.0.0.1:5000\"]}}\n"
                   "routes:\n  - name: plain\n    to: a\n  - name: r\n    to: a\n%s",
                   fx->top != NULL ? fx->top : "", fx->db, shadow);
    struct fx_conf *c = NULL;
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    if (fx_conf_load_string("t.yaml", yaml, strlen(yaml), &c, &err) != 0)
        fail_msg("config: %s", err.msg);
    c->routes[0].id = 0;
    c->routes[1].id = 3;
    fx->rid = 3;
    return c;
}

static void start(struct fixture *fx, const char *shadow)
{
    fx_conf_unref(fx->conf);
    fx->conf = load(fx, shadow);
    struct fx_err err;
    memset(&err, 0, sizeof(err));
    memset(fx->s, 0, sizeof(*fx->s));
    int rc = fx_shadow_start(fx->s, fx->conf, &err);
    if (rc != 0)
        fail_msg("fx_shadow_start: %d %s", rc, err.msg);
    fx->started = true;
}

static void stop(struct fixture *fx)
{
    fx_shadow_stop(fx->s, UINT64_MAX);
    fx->started = false;
}

static struct fx_shadow_job *job_new(const struct fixture *fx, const char *req)
{
    struct fx_shadow_job *j = calloc(1, sizeof(*j));
    assert_non_null(j);
    j->route_id = fx->rid;
    (void)snprintf(j->route, sizeof(j->route), "r");
    j->time_ms = 1764098676123u;
    j->req_head = strdup(req);
    assert_non_null(j->req_head);
    j->req_head_len = strlen(req);
    j->method_len = strcspn(req, " ");
    j->target_off = j->method_len + 1;
    j->target_len = strcspn(req + j->target_off, " ");
    return j;
}

static void set_json(struct fx_shadow_resp *r, int status, const char *head, const char *body)
{
    resp_set(r, status, head, body, strlen(body));
}

static uint64_t done(const struct fixture *fx)
{
    const struct fx_shadow_counters *c = &fx->s->ctr[fx->rid];
    return atomic_load(&c->compared) + atomic_load(&c->errored);
}

/* Wait until the engine has compared or errored `n` copies in all. */
static void wait_done(const struct fixture *fx, uint64_t n)
{
    for (int i = 0; i < 500 && done(fx) < n; i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        (void)nanosleep(&ts, NULL);
    }
    assert_int_equal(done(fx), n);
}

#define REQ                                                                            \
    "GET /orders/42?x=1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cr3t-token\r\n" \
    "Cookie: sid=c00kie-val\r\nX-Api-Key: k3y-val\r\n\r\n"
#define HEAD "Content-Type: application/json\r\nSet-Cookie: sid=set-c00kie\r\n"

/* Primary and secondary differ in generated_at; the candidate too and, with
 * `price`, in $.price. */
static void submit_orders(struct fixture *fx, const char *cand_price)
{
    struct fx_shadow_job *j = job_new(fx, REQ);
    char body[256];
    set_json(&j->primary, 200, HEAD, "{\"generated_at\":\"t1\",\"price\":10,\"items\":[]}");
    (void)snprintf(body, sizeof(body), "{\"generated_at\":\"t3\",\"price\":%s,\"items\":[]}",
                   cand_price);
    set_json(&j->candidate, 200, HEAD, body);
    set_json(&j->secondary, 200, HEAD, "{\"generated_at\":\"t2\",\"price\":10,\"items\":[]}");
    j->has_secondary = true;
    assert_true(fx_shadow_submit(fx->s, j));
}

/* Start with a secondary and have one copy compared: noise in
 * $.generated_at, a real difference in $.price. */
static void start_one_mismatch(struct fixture *fx)
{
    start(fx, SH_SECONDARY);
    submit_orders(fx, "11");
    wait_done(fx, 1);
}

static json_t *diffs_doc(struct fixture *fx, size_t samples)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fx_shadow_diffs_json(fx->s, "r", samples, f), 0);
    assert_int_equal(fclose(f), 0);
    json_error_t e;
    json_t *doc = json_loadb(buf, len, 0, &e);
    free(buf);
    if (doc == NULL)
        fail_msg("diffs json: %s", e.text);
    return doc;
}

static json_int_t jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void test_shadow_submit_learns_noise(void **state)
{
    struct fixture *fx = *state;
    start(fx, SH_SECONDARY);
    submit_orders(fx, "10");
    wait_done(fx, 1);
    const struct fx_shadow_counters *c = &fx->s->ctr[fx->rid];
    assert_int_equal(atomic_load(&c->matched), 1);
    assert_int_equal(atomic_load(&c->mismatched), 0);
    assert_int_equal(atomic_load(&c->noise), 1);
    json_t *doc = diffs_doc(fx, 5);
    json_t *noise = json_object_get(doc, "noise");
    assert_int_equal(json_array_size(noise), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(noise, 0), "path")),
                        "$.generated_at");
    assert_string_equal(json_string_value(json_object_get(json_array_get(noise, 0), "endpoint")),
                        "GET /orders/{id}");
    json_decref(doc);
}

static void test_shadow_submit_mismatch_only_real_path(void **state)
{
    struct fixture *fx = *state;
    start(fx, SH_SECONDARY);
    submit_orders(fx, "10");
    submit_orders(fx, "11");
    wait_done(fx, 2);
    const struct fx_shadow_counters *c = &fx->s->ctr[fx->rid];
    assert_int_equal(atomic_load(&c->matched), 1);
    assert_int_equal(atomic_load(&c->mismatched), 1);
    assert_int_equal(atomic_load(&c->noise), 2);
    json_t *doc = diffs_doc(fx, 5);
    json_t *eps = json_object_get(doc, "endpoints");
    assert_int_equal(json_array_size(eps), 1);
    json_t *ep = json_array_get(eps, 0);
    assert_int_equal(jint(ep, "compared"), 2);
    assert_int_equal(jint(ep, "mismatched"), 1);
    json_t *paths = json_object_get(ep, "paths");
    assert_int_equal(json_array_size(paths), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(paths, 0), "path")),
                        "$.price");
    json_t *smp = json_array_get(json_object_get(doc, "samples"), 0);
    json_t *sp = json_object_get(smp, "paths");
    assert_int_equal(json_array_size(sp), 1);
    assert_string_equal(json_string_value(json_array_get(sp, 0)), "$.price");
    json_decref(doc);
}

/* 100 noisy fields (differing between primary and secondary too) do not use
 * up the difference limit: the one real difference is still reported, and
 * the comparison is not truncated. */
static void test_shadow_noise_before_limit(void **state)
{
    struct fixture *fx = *state;
    start(fx, "    shadow:\n      to: b\n      secondary: c\n");
    char *a = malloc(4096);
    char *b = malloc(4096);
    char *c = malloc(4096);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    for (int k = 0; k < 3; k++) {
        char *o = k == 0 ? a : k == 1 ? b : c;
        size_t l = (size_t)sprintf(o, "{\"real\":%d", k == 1 ? 2 : 1);
        for (int i = 0; i < 100; i++)
            l += (size_t)sprintf(o + l, ",\"n%d\":%d", i, k);
        (void)sprintf(o + l, "}");
    }
    struct fx_shadow_job *j = job_new(fx, "GET /n HTTP/1.1\r\n\r\n");
    set_json(&j->primary, 200, NULL, a);
    set_json(&j->candidate, 200, NULL, b);
    set_json(&j->secondary, 200, NULL, c);
    j->has_secondary = true;
    assert_true(fx_shadow_submit(fx->s, j));
    wait_done(fx, 1);
    const struct fx_shadow_counters *ctr = &fx->s->ctr[fx->rid];
    assert_int_equal(atomic_load(&ctr->mismatched), 1);
    assert_int_equal(atomic_load(&ctr->noise), 100);
    assert_int_equal(atomic_load(&ctr->truncated), 0);
    json_t *doc = diffs_doc(fx, 5);
    json_t *ep = json_array_get(json_object_get(doc, "endpoints"), 0);
    json_t *paths = json_object_get(ep, "paths");
    assert_int_equal(json_array_size(paths), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(paths, 0), "path")),
                        "$.real");
    json_decref(doc);
    free(a);
    free(b);
    free(c);
}

/* The report ranks JSON paths before status and headers, even when a header
 * differs more often. */
static void test_shadow_report_ranks_json_paths_first(void **state)
{
    struct fixture *fx = *state;
    start(fx, "    shadow: {to: b}\n");
    for (int i = 0; i < 3; i++) {
        struct fx_shadow_job *j = job_new(fx, "GET /k HTTP/1.1\r\n\r\n");
        set_json(&j->primary, 200, "X-H: 1\r\n", "{\"a\":1}");
        set_json(&j->candidate, 200, "X-H: 2\r\n", i == 0 ? "{\"a\":2}" : "{\"a\":1}");
        assert_true(fx_shadow_submit(fx->s, j));
    }
    wait_done(fx, 3);
    json_t *doc = diffs_doc(fx, 5);
    json_t *paths = json_object_get(json_array_get(json_object_get(doc, "endpoints"), 0), "paths");
    assert_int_equal(json_array_size(paths), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(paths, 0), "path")),
                        "$.a");
    assert_int_equal(jint(json_array_get(paths, 0), "count"), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(paths, 1), "path")),
                        "header:x-h");
    assert_int_equal(jint(json_array_get(paths, 1), "count"), 3);
    json_decref(doc);
}

/* A copy differing in two paths is filed under each in turn: both
 * (endpoint, path) keys have samples. */
static void test_shadow_samples_per_endpoint_and_path(void **state)
{
    struct fixture *fx = *state;
    start(fx, "    shadow: {to: b}\n");
    for (int i = 0; i < 2; i++) {
        struct fx_shadow_job *j = job_new(fx, "GET /k HTTP/1.1\r\n\r\n");
        set_json(&j->primary, 200, NULL, "{\"a\":1,\"b\":1}");
        set_json(&j->candidate, 200, NULL, "{\"a\":2,\"b\":2}");
        assert_true(fx_shadow_submit(fx->s, j));
    }
    wait_done(fx, 2);
    stop(fx);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT key FROM shadow_samples ORDER BY key", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "GET /k $.a");
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "GET /k $.b");
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    (void)sqlite3_finalize(q);
    (void)sqlite3_close(db);
}

/* A failing secondary is counted by reason and pauses noise learning; the
 * next answer resumes it. Without a secondary, learning is "off". */
static void test_shadow_secondary_errors_visible(void **state)
{
    struct fixture *fx = *state;
    start(fx, SH_SECONDARY);
    struct fx_shadow_job *j = job_new(fx, REQ);
    set_json(&j->primary, 200, HEAD, "{\"a\":1}");
    set_json(&j->candidate, 200, HEAD, "{\"a\":1}");
    j->has_secondary = true;
    j->secondary.error = "connect_timeout";
    assert_true(fx_shadow_submit(fx->s, j));
    wait_done(fx, 1);
    json_t *doc = diffs_doc(fx, 5);
    assert_int_equal(jint(json_object_get(doc, "secondary_errors"), "connect_timeout"), 1);
    assert_int_equal(jint(json_object_get(doc, "errors"), "connect_timeout"), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "noise_learning")), "paused");
    char *txt = json_dumps(doc, 0);
    assert_non_null(txt);
    char *out = NULL;
    size_t olen = 0;
    FILE *f = open_memstream(&out, &olen);
    assert_non_null(f);
    assert_int_equal(fx_shadow_print_report(txt, strlen(txt), f), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(out, "secondary errors: connect_timeout 1"));
    assert_non_null(strstr(out, "noise learning paused"));
    free(out);
    free(txt);
    json_decref(doc);
    struct timespec ts = { 0, 5 * 1000 * 1000 };
    (void)nanosleep(&ts, NULL); /* the answer's wall time must be later */
    submit_orders(fx, "10");
    wait_done(fx, 2);
    doc = diffs_doc(fx, 5);
    assert_string_equal(json_string_value(json_object_get(doc, "noise_learning")), "active");
    json_decref(doc);
    stop(fx);
    start(fx, "    shadow: {to: b}\n");
    doc = diffs_doc(fx, 5);
    assert_string_equal(json_string_value(json_object_get(doc, "noise_learning")), "off");
    /* Counts survive the restart. */
    assert_int_equal(jint(json_object_get(doc, "secondary_errors"), "connect_timeout"), 1);
    json_decref(doc);
}

static void test_shadow_sample_redacted(void **state)
{
    struct fixture *fx = *state;
    start_one_mismatch(fx);
    stop(fx);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT doc FROM shadow_samples", -1, &q, NULL),
                     SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *doc = (const char *)sqlite3_column_text(q, 0);
        assert_non_null(doc);
        assert_null(strstr(doc, "s3cr3t-token"));
        assert_null(strstr(doc, "c00kie-val"));
        assert_null(strstr(doc, "set-c00kie"));
        assert_null(strstr(doc, "k3y-val"));
        assert_non_null(strstr(doc, "[redacted]"));
        assert_non_null(strstr(doc, "/orders/42?x=1"));
        rows++;
    }
    assert_int_equal(rows, 1);
    (void)sqlite3_finalize(q);
    (void)sqlite3_close(db);
}

static void test_shadow_submit_counts_outcomes(void **state)
{
    struct fixture *fx = *state;
    start(fx, "    shadow: {to: b}\n");
    struct fx_shadow_job *j = job_new(fx, "GET /a HTTP/1.1\r\n\r\n");
    set_json(&j->primary, 200, NULL, "x");
    set_json(&j->candidate, 200, NULL, "x");
    assert_true(fx_shadow_submit(fx->s, j));
    j = job_new(fx, "GET /a HTTP/1.1\r\n\r\n");
    set_json(&j->primary, 200, NULL, "x");
    set_json(&j->candidate, 500, NULL, "x");
    assert_true(fx_shadow_submit(fx->s, j));
    j = job_new(fx, "GET /a HTTP/1.1\r\n\r\n");
    set_json(&j->primary, 200, NULL, "x");
    j->candidate.error = "timeout";
    assert_true(fx_shadow_submit(fx->s, j));
    j = job_new(fx, "GET /a HTTP/1.1\r\n\r\n");
    set_json(&j->primary, 200, NULL, "x");
    j->candidate.error = "connect_timeout"; /* its own reason, not "other" */
    assert_true(fx_shadow_submit(fx->s, j));
    wait_done(fx, 4);
    const struct fx_shadow_counters *c = &fx->s->ctr[fx->rid];
    assert_int_equal(atomic_load(&c->compared), 2);
    assert_int_equal(atomic_load(&c->matched), 1);
    assert_int_equal(atomic_load(&c->mismatched), 1);
    assert_int_equal(atomic_load(&c->errored), 2);
    fx_shadow_count_drop(fx->s, fx->rid, FX_SHADOW_DROP_INFLIGHT);
    json_t *doc = diffs_doc(fx, 10);
    assert_string_equal(json_string_value(json_object_get(doc, "route")), "r");
    assert_string_equal(json_string_value(json_object_get(doc, "candidate")), "b");
    assert_true(json_is_null(json_object_get(doc, "secondary")));
    assert_int_equal(jint(doc, "compared"), 2);
    assert_int_equal(jint(doc, "matched"), 1);
    assert_int_equal(jint(doc, "mismatched"), 1);
    assert_int_equal(jint(doc, "errored"), 2);
    assert_true(json_number_value(json_object_get(doc, "mismatch_rate")) == 0.5);
    assert_int_equal(jint(json_object_get(doc, "dropped"), "inflight"), 1);
    assert_int_equal(jint(json_object_get(doc, "errors"), "timeout"), 1);
    assert_int_equal(jint(json_object_get(doc, "errors"), "connect_timeout"), 1);
    assert_int_equal(jint(json_object_get(doc, "errors"), "other"), 0);
    assert_int_equal(jint(doc, "noise_excluded"), 0);
    json_t *smp = json_array_get(json_object_get(doc, "samples"), 0);
    assert_true(json_is_integer(json_object_get(smp, "id")));
    assert_true(json_is_string(json_object_get(smp, "time")));
    assert_string_equal(json_string_value(json_object_get(smp, "endpoint")), "GET /a");
    assert_int_equal(jint(json_object_get(smp, "primary"), "status"), 200);
    assert_int_equal(jint(json_object_get(smp, "candidate"), "status"), 500);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(smp, "request"), "method")), "GET");
    json_decref(doc);
}

static void test_shadow_submit_after_stop_drops(void **state)
{
    struct fixture *fx = *state;
    start(fx, "    shadow: {to: b}\n");
    stop(fx);
    struct fx_shadow_job *j = job_new(fx, "GET /a HTTP/1.1\r\n\r\n");
    assert_false(fx_shadow_submit(fx->s, j));
    assert_int_equal(atomic_load(&fx->s->ctr[fx->rid].dropped[FX_SHADOW_DROP_QUEUE]), 1);
    /* Stopping twice and a never started engine are both fine. */
    fx_shadow_stop(fx->s, UINT64_MAX);
    struct fx_shadow *z = calloc(1, sizeof(*z));
    assert_non_null(z);
    fx_shadow_stop(z, UINT64_MAX);
    free(z);
}

static void test_shadow_reload_unshadowed_route_jobs_freed(void **state)
{
    struct fixture *fx = *state;
    start(fx, "    shadow: {to: b}\n");
    struct fx_conf *c = load(fx, "");
    fx_shadow_reload(fx->s, c);
    fx_conf_unref(c);
    struct fx_shadow_job *j = job_new(fx, "GET /a HTTP/1.1\r\n\r\n");
    set_json(&j->primary, 200, NULL, "x");
    set_json(&j->candidate, 200, NULL, "y");
    assert_true(fx_shadow_submit(fx->s, j));
    stop(fx);
    assert_int_equal(done(fx), 0);
    assert_int_equal(atomic_load(&fx->s->ctr[fx->rid].mismatched), 0);
}

static char *store_doc(struct fixture *fx, const char *route)
{
    struct fx_store *st = NULL;
    struct fx_err err;
    assert_int_equal(fx_store_open(fx->db, &st, &err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fx_shadow_store_json(st, route, 3, f), 0);
    assert_int_equal(fclose(f), 0);
    fx_store_close(st);
    return buf;
}

static void test_shadow_store_json_after_stop(void **state)
{
    struct fixture *fx = *state;
    start(fx, SH_SECONDARY);
    submit_orders(fx, "10");
    submit_orders(fx, "11");
    wait_done(fx, 2);
    stop(fx);
    char *buf = store_doc(fx, NULL);
    json_t *doc = json_loads(buf, 0, NULL);
    free(buf);
    assert_non_null(doc);
    json_t *routes = json_object_get(doc, "routes");
    assert_int_equal(json_array_size(routes), 1);
    json_t *r = json_array_get(routes, 0);
    assert_string_equal(json_string_value(json_object_get(r, "route")), "r");
    assert_string_equal(json_string_value(json_object_get(r, "secondary")), "c");
    assert_int_equal(jint(r, "compared"), 2);
    assert_int_equal(jint(r, "mismatched"), 1);
    assert_int_equal(jint(r, "noise_excluded"), 2);
    assert_int_equal(json_array_size(json_object_get(r, "noise")), 1);
    assert_int_equal(json_array_size(json_object_get(r, "samples")), 1);
    assert_int_equal(json_array_size(json_object_get(r, "endpoints")), 1);
    json_decref(doc);

    /* One route by name; an unknown one is not found. */
    buf = store_doc(fx, "r");
    doc = json_loads(buf, 0, NULL);
    free(buf);
    assert_string_equal(json_string_value(json_object_get(doc, "route")), "r");
    json_decref(doc);
    struct fx_store *st = NULL;
    struct fx_err err;
    assert_int_equal(fx_store_open(fx->db, &st, &err), 0);
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    assert_int_equal(fx_shadow_store_json(st, "nope", 3, f), FX_ENOTFOUND);
    (void)fclose(f);
    fx_store_close(st);
}

/* ---- byte budget and shutdown ----------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    (void)nanosleep(&ts, NULL);
}

static struct fx_shadow_queue_stats qstats(const struct fixture *fx)
{
    struct fx_shadow_queue_stats q;
    fx_shadow_queue_stats(fx->s, &q);
    return q;
}

/* A matching job whose primary and candidate bodies are `blen` bytes each. */
static struct fx_shadow_job *big_job(const struct fixture *fx, size_t blen)
{
    struct fx_shadow_job *j = job_new(fx, "GET /big HTTP/1.1\r\n\r\n");
    char *body = malloc(blen);
    assert_non_null(body);
    memset(body, 'x', blen);
    resp_set(&j->primary, 200, NULL, body, blen);
    resp_set(&j->candidate, 200, NULL, body, blen);
    free(body);
    return j;
}

/* Block the comparison thread: it takes one job and waits for the state lock
 * (held by the test) to record it. Returns once that job has left the queue. */
static void hold_comparison(struct fixture *fx)
{
    (void)pthread_mutex_lock(&fx->s->st->lock);
    assert_true(fx_shadow_submit(fx->s, big_job(fx, 16)));
    for (int i = 0; i < 500 && qstats(fx).jobs != 0; i++)
        sleep_ms(10);
    assert_int_equal(qstats(fx).jobs, 0);
}

static void test_shadow_submit_queue_bytes_budget(void **state)
{
    struct fixture *fx = *state;
    fx->top = "limits: {shadow_queue_bytes: 1MiB}\n";
    start(fx, "    shadow: {to: b}\n");
    assert_int_equal(qstats(fx).budget, 1u << 20);
    hold_comparison(fx);
    size_t held = qstats(fx).bytes; /* the job being compared still counts */
    assert_true(held > 0);
    /* 2 x 128 KiB per job: 3 fit in 1 MiB, the 4th does not. */
    struct fx_shadow_job *j = big_job(fx, 128u << 10);
    size_t per = fx_shadow_job_bytes(j);
    assert_true(per > 256u << 10);
    assert_true(fx_shadow_submit(fx->s, j));
    size_t accepted = 1;
    while (fx_shadow_submit(fx->s, big_job(fx, 128u << 10)))
        accepted++;
    assert_int_equal(accepted, ((1u << 20) - held) / per);
    const struct fx_shadow_counters *c = &fx->s->ctr[fx->rid];
    assert_int_equal(atomic_load(&c->dropped[FX_SHADOW_DROP_QUEUE]), 1);
    struct fx_shadow_queue_stats q = qstats(fx);
    assert_int_equal(q.jobs, accepted);
    assert_int_equal(q.bytes, held + accepted * per);
    assert_true(q.bytes <= q.budget);
    /* A small job still fits beside them. */
    assert_true(fx_shadow_submit(fx->s, big_job(fx, 16)));
    (void)pthread_mutex_unlock(&fx->s->st->lock);
    wait_done(fx, accepted + 2);
    for (int i = 0; i < 500 && qstats(fx).bytes != 0; i++)
        sleep_ms(10);
    assert_int_equal(qstats(fx).bytes, 0); /* released once compared */
    assert_int_equal(atomic_load(&c->dropped[FX_SHADOW_DROP_QUEUE]), 1);
    /* The budget is free again. */
    for (size_t i = 0; i < accepted; i++)
        assert_true(fx_shadow_submit(fx->s, big_job(fx, 128u << 10)));
    wait_done(fx, 2 * accepted + 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fx_shadow_render_metrics(fx->s, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(buf, "# TYPE ficus_shadow_queue_bytes gauge\n"));
    assert_non_null(strstr(buf, "ficus_shadow_queue_budget_bytes 1048576\n"));
    assert_non_null(strstr(buf, "ficus_shadow_inflight_budget_bytes 67108864\n"));
    assert_non_null(
        strstr(buf, "ficus_shadow_dropped_total{route=\"r\",reason=\"queue_full\"} 1\n"));
    free(buf);
}

static void test_shadow_job_bytes_counts_buffers(void **state)
{
    struct fixture *fx = *state;
    struct fx_shadow_job *j = big_job(fx, 1000);
    size_t base = fx_shadow_job_bytes(j);
    assert_true(base >= sizeof(*j) + 2000 + j->req_head_len);
    resp_set(&j->secondary, 200, "A: b\r\n", "yy", 2);
    assert_int_equal(fx_shadow_job_bytes(j), base + 6 + 1 + 2 + 1 + 2 * FX_SHADOW_ALLOC_OVERHEAD);
    fx_shadow_job_free(j);
}

struct stopper {
    struct fx_shadow *s;
    uint64_t took_ms;
};

static void *stop_thread(void *arg)
{
    struct stopper *st = arg;
    uint64_t t0 = fx_shadow__mono_ms();
    fx_shadow_stop(st->s, UINT64_MAX);
    st->took_ms = fx_shadow__mono_ms() - t0;
    return NULL;
}

static void test_shadow_stop_discards_queued(void **state)
{
    struct fixture *fx = *state;
    start(fx, "    shadow: {to: b}\n");
    hold_comparison(fx);
    for (int i = 0; i < 5; i++)
        assert_true(fx_shadow_submit(fx->s, big_job(fx, 64u << 10)));
    struct stopper sp = { fx->s, 0 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_thread, &sp), 0);
    for (int i = 0; i < 500 && atomic_load(&fx->s->discarded) < 5; i++)
        sleep_ms(10);
    const struct fx_shadow_counters *c = &fx->s->ctr[fx->rid];
    assert_int_equal(atomic_load(&c->dropped[FX_SHADOW_DROP_SHUTDOWN]), 5);
    assert_int_equal(qstats(fx).jobs, 0);
    /* The job being compared finishes; nothing queued is compared. */
    (void)pthread_mutex_unlock(&fx->s->st->lock);
    assert_int_equal(pthread_join(th, NULL), 0);
    fx->started = false;
    assert_int_equal(atomic_load(&c->compared), 1);
    assert_false(fx_shadow_submit(fx->s, big_job(fx, 16)));
    /* The discarded copies are persisted with the other drops. */
    char *buf = store_doc(fx, "r");
    json_t *doc = json_loads(buf, 0, NULL);
    free(buf);
    assert_non_null(doc);
    assert_int_equal(jint(json_object_get(doc, "dropped"), "shutdown"), 5);
    assert_int_equal(jint(doc, "compared"), 1);
    json_decref(doc);
}

static void test_shadow_stop_bounded_by_drain_timeout(void **state)
{
    struct fixture *fx = *state;
    fx->top = "limits: {drain_timeout: 200ms}\n";
    start(fx, "    shadow: {to: b}\n");
    hold_comparison(fx);
    struct stopper sp = { fx->s, 0 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_thread, &sp), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    /* The comparison thread is still blocked: the stop gave up after 200 ms. */
    assert_true(sp.took_ms >= 190 && sp.took_ms < 2000);
    assert_true(fx->s->running);
    (void)pthread_mutex_unlock(&fx->s->st->lock);
    /* A second stop waits again and releases everything. */
    fx_shadow_stop(fx->s, UINT64_MAX);
    assert_false(fx->s->running);
    fx->started = false;
    assert_int_equal(atomic_load(&fx->s->ctr[fx->rid].compared), 1);
}

static void test_shadow_start_restores_counts_and_noise(void **state)
{
    struct fixture *fx = *state;
    start_one_mismatch(fx);
    stop(fx);
    start(fx, SH_SECONDARY);
    /* Noise learned before the restart applies without a secondary answer. */
    struct fx_shadow_job *j = job_new(fx, REQ);
    set_json(&j->primary, 200, HEAD, "{\"generated_at\":\"t1\",\"price\":10}");
    set_json(&j->candidate, 200, HEAD, "{\"generated_at\":\"t9\",\"price\":10}");
    assert_true(fx_shadow_submit(fx->s, j));
    wait_done(fx, 2);
    const struct fx_shadow_counters *c = &fx->s->ctr[fx->rid];
    assert_int_equal(atomic_load(&c->compared), 2);
    assert_int_equal(atomic_load(&c->matched), 1);
    assert_int_equal(atomic_load(&c->mismatched), 1);
}

static void test_shadow_diffs_json_unknown_route(void **state)
{
    struct fixture *fx = *state;
    start(fx, "    shadow: {to: b}\n");
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    assert_int_equal(fx_shadow_diffs_json(fx->s, "plain", 3, f), FX_ENOTFOUND);
    assert_int_equal(fx_shadow_diffs_json(fx->s, "nope", 3, f), FX_ENOTFOUND);
    (void)fclose(f);
}

static void test_shadow_render_metrics_families(void **state)
{
    struct fixture *fx = *state;
    start_one_mismatch(fx);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fx_shadow_render_metrics(fx->s, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(buf, "# TYPE ficus_shadow_copies_total counter\n"));
    assert_non_null(
        strstr(buf, "ficus_shadow_copies_total{route=\"r\",result=\"mismatched\"} 1\n"));
    assert_non_null(
        strstr(buf, "ficus_shadow_dropped_total{route=\"r\",reason=\"queue_full\"} 0\n"));
    assert_non_null(strstr(buf, "ficus_shadow_noise_excluded_total{route=\"r\"} 1\n"));
    assert_non_null(strstr(buf, "ficus_shadow_truncated_total{route=\"r\"} 0\n"));
    assert_non_null(strstr(buf, "# TYPE ficus_shadow_mismatch_rate gauge\n"));
    assert_non_null(strstr(buf, "ficus_shadow_mismatch_rate{route=\"r\"} 1.000000\n"));
    assert_non_null(strstr(buf, "ficus_shadow_path_mismatches_total{route=\"r\",endpoint=\"GET "
                                "/orders/{id}\",path=\"$.price\"} 1\n"));
    assert_null(strstr(buf, "route=\"plain\""));
    free(buf);
}

static void test_shadow_print_report_text(void **state)
{
    struct fixture *fx = *state;
    start_one_mismatch(fx);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fx_shadow_diffs_json(fx->s, "r", 5, f), 0);
    assert_int_equal(fclose(f), 0);
    char *txt = NULL;
    size_t tlen = 0;
    f = open_memstream(&txt, &tlen);
    assert_non_null(f);
    assert_int_equal(fx_shadow_print_report(buf, len, f), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(txt, "route r: candidate b, secondary c"));
    assert_non_null(strstr(txt, "ENDPOINT"));
    assert_non_null(strstr(txt, "MISMATCHES"));
    assert_non_null(strstr(txt, "$.price"));
    assert_non_null(strstr(txt, "paths: $.price (value)"));
    assert_non_null(strstr(txt, "$.generated_at"));
    assert_non_null(strstr(txt, "GET /orders/42?x=1"));
    assert_null(strstr(txt, "s3cr3t"));
    f = fopen("/dev/null", "w");
    assert_non_null(f);
    assert_int_equal(fx_shadow_print_report("[1]", 3, f), FX_EINVAL);
    assert_int_equal(fx_shadow_print_report("{", 1, f), FX_EINVAL);
    (void)fclose(f);
    free(buf);
    free(txt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_body_key_order_irrelevant),
        cmocka_unit_test(test_diff_body_nested_arrays),
        cmocka_unit_test(test_diff_body_numbers_by_value),
        cmocka_unit_test(test_diff_body_unicode_escapes_decoded),
        cmocka_unit_test(test_diff_body_invalid_json_falls_back_to_bytes),
        cmocka_unit_test(test_diff_body_changed_field_exact_path),
        cmocka_unit_test(test_diff_body_type_and_missing_keys),
        cmocka_unit_test(test_diff_body_array_length_change),
        cmocka_unit_test(test_diff_body_caps_differences),
        cmocka_unit_test(test_diff_body_one_entry_per_generalised_path),
        cmocka_unit_test(test_compare_kinds_and_order),
        cmocka_unit_test(test_diff_body_deep_nesting_no_crash),
        cmocka_unit_test(test_path_match_patterns),
        cmocka_unit_test(test_path_generalise_indices),
        cmocka_unit_test(test_compare_ignore_json),
        cmocka_unit_test(test_compare_ignore_headers),
        cmocka_unit_test(test_compare_gzip_equals_plain_twin),
        cmocka_unit_test(test_compare_truncated_compares_bytes),
        cmocka_unit_test(test_shadow_endpoint_normalises),
        cmocka_unit_test(test_shadow_drop_name_all),
        cmocka_unit_test_setup_teardown(test_shadow_job_bytes_counts_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_submit_queue_bytes_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_stop_discards_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_stop_bounded_by_drain_timeout, setup, teardown),
        cmocka_unit_test(test_shadow_aggregates_bounded),
        cmocka_unit_test_setup_teardown(test_shadow_submit_learns_noise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_submit_mismatch_only_real_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shadow_noise_before_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_report_ranks_json_paths_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_samples_per_endpoint_and_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_secondary_errors_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_sample_redacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_submit_counts_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_submit_after_stop_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_reload_unshadowed_route_jobs_freed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shadow_store_json_after_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_start_restores_counts_and_noise, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shadow_diffs_json_unknown_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_render_metrics_families, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_print_report_text, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
