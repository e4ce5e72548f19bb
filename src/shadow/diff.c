/* Response comparison: status, headers, gzip decoding and the structural
 * JSON diff (iterative, explicit stack). Pure code: no engine state. */
#define ZLIB_CONST
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../core/err.h"
#include "../core/str.h"
#include "shadow.h"
#include "shadow_int.h"

static const char *const kind_names[FX_SHADOW_K__N] = {
    [FX_SHADOW_K_VALUE] = "value",     [FX_SHADOW_K_TYPE] = "type",
    [FX_SHADOW_K_MISSING] = "missing", [FX_SHADOW_K_ADDED] = "added",
    [FX_SHADOW_K_LENGTH] = "length",
};

const char *fx_shadow_kind_name(enum fx_shadow_kind k)
{
    return (unsigned int)k < FX_SHADOW_K__N ? kind_names[k] : "value";
}

enum fx_shadow_kind fx_shadow_kind_parse(const char *name)
{
    for (size_t i = 0; name != NULL && i < FX_SHADOW_K__N; i++) {
        if (strcmp(name, kind_names[i]) == 0)
            return (enum fx_shadow_kind)i;
    }
    return FX_SHADOW_K__N;
}

void fx_shadow_diffs_fini(struct fx_shadow_diffs *d)
{
    if (d == NULL)
        return;
    free(d->d);
    memset(d, 0, sizeof(*d));
}

static size_t limit_of(const struct fx_shadow_rules *rules)
{
    size_t n = rules != NULL ? rules->max_diffs : 0;
    if (n == 0)
        return FX_SHADOW_MAX_DIFFS;
    return n > FX_SHADOW_DIFFS_LIMIT ? FX_SHADOW_DIFFS_LIMIT : n;
}

/* Copy `path` into `dst` (FX_SHADOW_PATH_MAX bytes), cut with "..." when long. */
static void path_copy(char *dst, const char *path)
{
    size_t len = strlen(path);
    if (len < FX_SHADOW_PATH_MAX) {
        memcpy(dst, path, len + 1);
        return;
    }
    size_t keep = FX_SHADOW_PATH_MAX - 4;
    memcpy(dst, path, keep);
    memcpy(dst + keep, "...", 4);
}

bool fx_shadow__diff_add(struct fx_shadow_diffs *out, const struct fx_shadow_rules *rules,
                         const char *path, enum fx_shadow_kind kind)
{
    char exact[FX_SHADOW_PATH_MAX];
    char g[FX_SHADOW_PATH_MAX];
    path_copy(exact, path);
    (void)fx_shadow_path_generalise(exact, g, sizeof(g));
    /* One entry per generalised path: the limit counts distinct paths, so a
     * field differing in every element of a long array takes one slot. */
    for (size_t i = out->n; i > 0; i--) {
        if (strcmp(out->d[i - 1].gpath, g) == 0)
            return true;
    }
    bool noise = rules != NULL && rules->noise != NULL && rules->noise(rules->noise_arg, g);
    if (!noise && out->counted >= limit_of(rules)) {
        out->overflow = true;
        return false;
    }
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 8;
        struct fx_shadow_diff *nd = realloc(out->d, cap * sizeof(*nd));
        if (nd == NULL) {
            out->overflow = true;
            return false;
        }
        out->d = nd;
        out->cap = cap;
    }
    struct fx_shadow_diff *d = &out->d[out->n++];
    memcpy(d->path, exact, sizeof(exact));
    memcpy(d->gpath, g, sizeof(g));
    d->kind = kind;
    d->noise = noise;
    out->counted += noise ? 0 : 1;
    return true;
}

/* ---- headers -------------------------------------------------------------- */

struct hdr {
    char *name;  /* owned: lower case */
    char *value; /* owned: values of every line with this name, joined with ", " */
};

struct hdrs {
    struct hdr *v; /* owned array */
    size_t n;
    size_t cap;
};

static void hdrs_fini(struct hdrs *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    FX_FREE(h->v);
    h->n = 0;
}

static bool name_listed(struct fx_str name, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fx_str_eqi(name, fx_str_c(list[i])))
            return true;
    }
    return false;
}

static bool name_skipped(struct fx_str name, const struct fx_shadow_rules *rules)
{
    static char *const framing[] = { "content-length", "transfer-encoding", "content-encoding",
                                     "connection", "keep-alive" };
    if (name_listed(name, framing, sizeof(framing) / sizeof(framing[0])))
        return true;
    return rules != NULL && name_listed(name, rules->ignore_headers, rules->nignore_headers);
}

static struct fx_str trim(const char *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
        n--;
    return (struct fx_str){ p, n };
}

/* Add one header line to the set, joining a repeated name. */
static int hdrs_add(struct hdrs *h, struct fx_str name, struct fx_str value)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strlen(h->v[i].name) != name.len || !fx_str_eqi(fx_str_c(h->v[i].name), name))
            continue;
        size_t old = strlen(h->v[i].value);
        char *v = realloc(h->v[i].value, old + 2 + value.len + 1);
        if (v == NULL)
            return FX_ENOMEM;
        memcpy(v + old, ", ", 2);
        memcpy(v + old + 2, value.ptr, value.len);
        v[old + 2 + value.len] = '\0';
        h->v[i].value = v;
        return 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        struct hdr *nv = realloc(h->v, cap * sizeof(*nv));
        if (nv == NULL)
            return FX_ENOMEM;
        h->v = nv;
        h->cap = cap;
    }
    char *n = strndup(name.ptr, name.len);
    char *v = strndup(value.ptr, value.len);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return FX_ENOMEM;
    }
    for (char *c = n; *c != '\0'; c++)
        *c = (char)fx_ascii_lower((unsigned char)*c);
    h->v[h->n++] = (struct hdr){ n, v };
    return 0;
}

static int hdr_cmp(const void *a, const void *b)
{
    return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

/* Parse "Name: value\r\n" lines (a bare LF ends a line too; lines without a
 * colon are skipped), minus the skipped names, sorted by name. */
static int hdrs_parse(const char *head, size_t len, const struct fx_shadow_rules *rules,
                      struct hdrs *h)
{
    const char *p = head;
    const char *end = head != NULL ? head + len : head;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL && colon > p) {
            struct fx_str name = trim(p, (size_t)(colon - p));
            struct fx_str value = trim(colon + 1, (size_t)(eol - colon - 1));
            if (name.len > 0 && !name_skipped(name, rules) && hdrs_add(h, name, value) != 0)
                return FX_ENOMEM;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    if (h->n > 1)
        qsort(h->v, h->n, sizeof(*h->v), hdr_cmp);
    return 0;
}

static void header_diff(struct fx_shadow_diffs *out, const struct fx_shadow_rules *rules,
                        const char *name, enum fx_shadow_kind kind)
{
    /* Names come off the wire: anything but visible ASCII is written \xHH. */
    static const char hex[] = "0123456789abcdef";
    char path[FX_SHADOW_PATH_MAX];
    size_t n = 0;
    memcpy(path, "header:", 7);
    n = 7;
    for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++) {
        if (n + 5 >= sizeof(path))
            break;
        if (*c > 0x20 && *c < 0x7f && *c != '\\') {
            path[n++] = (char)*c;
            continue;
        }
        path[n++] = '\\';
        path[n++] = 'x';
        path[n++] = hex[*c >> 4];
        path[n++] = hex[*c & 15];
    }
    path[n] = '\0';
    (void)fx_shadow__diff_add(out, rules, path, kind);
}

/* Merge the two sorted sets, one difference per differing or one-sided name. */
static int diff_headers(const struct fx_shadow_resp *a, const struct fx_shadow_resp *b,
                        const struct fx_shadow_rules *rules, struct fx_shadow_diffs *out)
{
    struct hdrs ha = { 0 };
    struct hdrs hb = { 0 };
    int rc = hdrs_parse(a->head, a->head_len, rules, &ha);
    if (rc == 0)
        rc = hdrs_parse(b->head, b->head_len, rules, &hb);
    size_t i = 0;
    size_t j = 0;
    while (rc == 0 && (i < ha.n || j < hb.n)) {
        int c = i == ha.n ? 1 : j == hb.n ? -1 : strcmp(ha.v[i].name, hb.v[j].name);
        if (c < 0) {
            header_diff(out, rules, ha.v[i++].name, FX_SHADOW_K_MISSING);
        } else if (c > 0) {
            header_diff(out, rules, hb.v[j++].name, FX_SHADOW_K_ADDED);
        } else {
            if (strcmp(ha.v[i].value, hb.v[j].value) != 0)
                header_diff(out, rules, ha.v[i].name, FX_SHADOW_K_VALUE);
            i++;
            j++;
        }
    }
    hdrs_fini(&ha);
    hdrs_fini(&hb);
    return rc;
}

/* ---- gzip ------------------------------------------------------------------ */

static bool is_gzip(const struct fx_shadow_resp *r)
{
    /* Only Content-Encoding is of interest (a header the comparison itself
     * skips): scan the lines for it. */
    bool gz = false;
    const char *p = r->head;
    const char *end = r->head != NULL ? r->head + r->head_len : r->head;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL && fx_str_eqi(trim(p, (size_t)(colon - p)), FX_STR("content-encoding"))) {
            struct fx_str v = trim(colon + 1, (size_t)(eol - colon - 1));
            gz = fx_str_eqi(v, FX_STR("gzip")) || fx_str_eqi(v, FX_STR("x-gzip"));
        }
        p = nl != NULL ? nl + 1 : end;
    }
    return gz;
}

/* Inflate into a buffer grown up to FX_SHADOW_DECODED_MAX. Returns 1, 0 (not
 * a valid gzip stream) or FX_ENOMEM. */
static int gunzip(const char *in, size_t inlen, bool in_truncated, char **out, size_t *outlen,
                  bool *truncated)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return FX_ENOMEM;
    size_t cap = inlen < 1024 ? 4096 : inlen * 4;
    cap = cap > FX_SHADOW_DECODED_MAX ? FX_SHADOW_DECODED_MAX : cap;
    char *buf = malloc(cap);
    int rc = buf != NULL ? 0 : FX_ENOMEM;
    zs.next_in = (const Bytef *)in;
    zs.avail_in = (uInt)(inlen > UINT32_MAX ? UINT32_MAX : inlen);
    size_t n = 0;
    *truncated = in_truncated;
    while (rc == 0) {
        if (n == cap) {
            if (cap >= FX_SHADOW_DECODED_MAX) {
                *truncated = true;
                break;
            }
            size_t ncap = cap * 2 > FX_SHADOW_DECODED_MAX ? FX_SHADOW_DECODED_MAX : cap * 2;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                rc = FX_ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        zs.next_out = (Bytef *)buf + n;
        zs.avail_out = (uInt)(cap - n);
        int zr = inflate(&zs, Z_NO_FLUSH);
        n = cap - zs.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr == Z_OK || (zr == Z_BUF_ERROR && zs.avail_out == 0))
            continue;
        /* Input ended early: acceptable only for a truncated capture. */
        if (!(zr == Z_BUF_ERROR && zs.avail_in == 0 && in_truncated))
            rc = 1; /* marker: not decodable */
        break;
    }
    (void)inflateEnd(&zs);
    if (rc != 0) {
        free(buf);
        return rc == 1 ? 0 : rc;
    }
    *out = buf;
    *outlen = n;
    return 1;
}

int fx_shadow_decode_body(const struct fx_shadow_resp *r, char **out, size_t *len, bool *truncated)
{
    *out = NULL;
    *len = 0;
    *truncated = r->truncated;
    if (r->body == NULL || r->body_len == 0 || !is_gzip(r))
        return 0;
    return gunzip(r->body, r->body_len, r->truncated, out, len, truncated);
}

/* ---- JSON structural diff ------------------------------------------------------ */

/* A container pair being walked. */
struct frame {
    json_t *a; /* borrowed: primary's node */
    json_t *b; /* borrowed: other node, same type */
    size_t plen;
    size_t idx;
    void *iter; /* object iterator of the current phase */
    int phase;  /* objects: 0 keys of a, 1 keys only in b */
};

struct jdiff {
    struct fx_shadow__pbuf path; /* owned */
    struct frame *stack;         /* owned */
    size_t depth;
    size_t cap;
    const struct fx_shadow_rules *rules; /* borrowed */
    struct fx_shadow_diffs *out;         /* borrowed */
    bool full;
};

static bool path_ignored(const struct jdiff *j)
{
    if (j->rules == NULL)
        return false;
    for (size_t i = 0; i < j->rules->nignore_json; i++) {
        if (fx_shadow_path_match(j->rules->ignore_json[i], j->path.ptr))
            return true;
    }
    return false;
}

static void jdiff_report(struct jdiff *j, enum fx_shadow_kind kind)
{
    if (!path_ignored(j) && !fx_shadow__diff_add(j->out, j->rules, j->path.ptr, kind))
        j->full = true;
}

static bool num_eq(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    if (json_is_real(a) && json_is_real(b))
        return json_real_value(a) == json_real_value(b);
    double d = json_real_value(json_is_real(a) ? a : b);
    json_int_t v = json_integer_value(json_is_integer(a) ? a : b);
    /* Exact: the real must be integral and within range of the integer. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return false;
    long long t = (long long)d;
    return (double)t == d && t == (long long)v;
}

static bool str_eq(const json_t *a, const json_t *b)
{
    size_t n = json_string_length(a);
    return n == json_string_length(b) && memcmp(json_string_value(a), json_string_value(b), n) == 0;
}

/* Compare the nodes at the current path; containers are pushed for later. */
/* True when two nodes are equal as scalars (containers: same type); else
 * *kind tells how they differ. */
static bool node_same(const json_t *a, const json_t *b, enum fx_shadow_kind *kind)
{
    *kind = FX_SHADOW_K_VALUE;
    if (json_is_number(a) && json_is_number(b))
        return num_eq(a, b);
    if (json_is_boolean(a) && json_is_boolean(b))
        return json_typeof(a) == json_typeof(b); /* jansson types true and false apart */
    if (json_typeof(a) != json_typeof(b)) {
        *kind = FX_SHADOW_K_TYPE;
        return false;
    }
    return !json_is_string(a) || str_eq(a, b); /* null, containers: equal */
}

static int jdiff_visit(struct jdiff *j, json_t *a, json_t *b)
{
    if (path_ignored(j))
        return 0;
    enum fx_shadow_kind kind;
    if (!node_same(a, b, &kind)) {
        jdiff_report(j, kind);
        return 0;
    }
    if (!json_is_object(a) && !json_is_array(a))
        return 0;
    /* Elements on one side only are one difference at the array itself. */
    if (json_is_array(a) && json_array_size(a) != json_array_size(b)) {
        jdiff_report(j, FX_SHADOW_K_LENGTH);
        if (j->full)
            return 0;
    }
    if (j->depth == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 32;
        struct frame *s = realloc(j->stack, cap * sizeof(*s));
        if (s == NULL)
            return FX_ENOMEM;
        j->stack = s;
        j->cap = cap;
    }
    j->stack[j->depth++] = (struct frame){ .a = a, .b = b, .plen = j->path.len };
    return 0;
}

static void path_cut(struct jdiff *j, size_t len)
{
    j->path.len = len;
    j->path.ptr[len] = '\0';
}

/* One step of an array frame; returns 1 when the frame is done. */
static int step_array(struct jdiff *j, struct frame *f)
{
    size_t na = json_array_size(f->a);
    size_t nb = json_array_size(f->b);
    if (f->idx >= (na < nb ? na : nb))
        return 1; /* extra elements: reported as the array's length */
    size_t i = f->idx++;
    path_cut(j, f->plen);
    if (fx_shadow__path_index(&j->path, i) != 0)
        return FX_ENOMEM;
    return jdiff_visit(j, json_array_get(f->a, i), json_array_get(f->b, i));
}

/* One step of an object frame; returns 1 when the frame is done. */
static int step_object(struct jdiff *j, struct frame *f)
{
    json_t *own = f->phase == 0 ? f->a : f->b;
    json_t *other = f->phase == 0 ? f->b : f->a;
    f->iter = f->iter == NULL ? json_object_iter(own) : json_object_iter_next(own, f->iter);
    if (f->iter == NULL) {
        if (f->phase == 1)
            return 1;
        f->phase = 1;
        return 0;
    }
    const char *key = json_object_iter_key(f->iter);
    size_t klen = json_object_iter_key_len(f->iter);
    json_t *mine = json_object_iter_value(f->iter);
    json_t *theirs = json_object_getn(other, key, klen);
    if (f->phase == 1 && theirs != NULL)
        return 0; /* compared in phase 0 */
    path_cut(j, f->plen);
    if (fx_shadow__path_key(&j->path, key, klen) != 0)
        return FX_ENOMEM;
    if (theirs == NULL) {
        jdiff_report(j, f->phase == 0 ? FX_SHADOW_K_MISSING : FX_SHADOW_K_ADDED);
        return 0;
    }
    return jdiff_visit(j, mine, theirs);
}

static int jdiff_run(struct jdiff *j, json_t *a, json_t *b)
{
    if (fx_shadow__pbuf_reserve(&j->path, 1) != 0)
        return FX_ENOMEM;
    j->path.ptr[j->path.len++] = '$';
    j->path.ptr[j->path.len] = '\0';
    int rc = jdiff_visit(j, a, b);
    while (rc >= 0 && j->depth > 0 && !j->full) {
        struct frame *f = &j->stack[j->depth - 1];
        rc = json_is_array(f->a) ? step_array(j, f) : step_object(j, f);
        if (rc == 1) {
            j->depth--;
            rc = 0;
        }
    }
    return rc;
}

static int diff_bytes(const char *a, size_t alen, const char *b, size_t blen,
                      const struct fx_shadow_rules *rules, struct fx_shadow_diffs *out)
{
    if (alen != blen || (alen > 0 && memcmp(a, b, alen) != 0))
        (void)fx_shadow__diff_add(out, rules, "body", FX_SHADOW_K_VALUE);
    return 0;
}

int fx_shadow_diff_body(const char *a, size_t alen, const char *b, size_t blen, bool truncated,
                        const struct fx_shadow_rules *rules, struct fx_shadow_diffs *out)
{
    if (truncated) {
        out->truncated = true;
        return diff_bytes(a, alen, b, blen, rules, out);
    }
    const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_error_t e;
    json_t *ja = alen > 0 ? json_loadb(a, alen, flags, &e) : NULL;
    json_t *jb = ja != NULL && blen > 0 ? json_loadb(b, blen, flags, &e) : NULL;
    if (ja == NULL || jb == NULL) {
        json_decref(ja);
        json_decref(jb);
        return diff_bytes(a, alen, b, blen, rules, out);
    }
    out->json = true;
    struct jdiff j = { .rules = rules, .out = out };
    int rc = jdiff_run(&j, ja, jb);
    free(j.path.ptr);
    free(j.stack);
    json_decref(ja);
    json_decref(jb);
    return rc;
}

int fx_shadow_compare(const struct fx_shadow_resp *a, const struct fx_shadow_resp *b,
                      const struct fx_shadow_rules *rules, struct fx_shadow_diffs *out)
{
    fx_shadow_diffs_fini(out);
    if (a->status != b->status)
        (void)fx_shadow__diff_add(out, rules, "status", FX_SHADOW_K_VALUE);
    char *da = NULL;
    char *db = NULL;
    size_t la = 0;
    size_t lb = 0;
    bool ta = false;
    bool tb = false;
    int rc;
    int ra = fx_shadow_decode_body(a, &da, &la, &ta);
    int rb = ra >= 0 ? fx_shadow_decode_body(b, &db, &lb, &tb) : 0;
    if (ra < 0 || rb < 0) {
        rc = FX_ENOMEM;
    } else {
        rc = fx_shadow_diff_body(ra == 1 ? da : a->body, ra == 1 ? la : a->body_len,
                                 rb == 1 ? db : b->body, rb == 1 ? lb : b->body_len, ta || tb,
                                 rules, out);
    }
    free(da);
    free(db);
    /* Headers after the body: body paths are what a migration is judged on. */
    if (rc == 0 && !out->overflow)
        rc = diff_headers(a, b, rules, out);
    return rc;
}
