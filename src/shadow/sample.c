/* Sample documents of mismatched copies: secrets masked before anything is
 * stored, bodies cut to an excerpt and made valid UTF-8. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../conf/conf_types.h"
#include "../core/err.h"
#include "../core/str.h"
#include "shadow.h"
#include "shadow_int.h"

#define REDACTED "[redacted]"

static bool is_secret(struct fx_str name, const struct fx_conf_shadow *cfg)
{
    static const char *const always[] = { "authorization", "proxy-authorization", "cookie",
                                          "set-cookie" };
    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++) {
        if (fx_str_eqi(name, fx_str_c(always[i])))
            return true;
    }
    for (size_t i = 0; cfg != NULL && i < cfg->nredact; i++) {
        if (fx_str_eqi(name, fx_str_c(cfg->redact[i])))
            return true;
    }
    return false;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || p[0] > 0xf4 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    }
    /* Overlong 3/4-byte forms, surrogates and code points above U+10FFFF. */
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
        return 0;
    return len;
}

/* Up to `max` input bytes as valid UTF-8 text: invalid bytes and control
 * characters other than \t \r \n are written \xHH. */
static json_t *text_excerpt(const char *body, size_t len, size_t max)
{
    size_t n = len < max ? len : max;
    char *out = malloc(n * 4 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)body;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(p + i, n - i);
        bool ctl =
            k == 1 && (p[i] < 0x20 || p[i] == 0x7f) && p[i] != '\t' && p[i] != '\r' && p[i] != '\n';
        if (k == 0 || ctl) {
            static const char hex[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[p[i] >> 4];
            out[o++] = hex[p[i] & 15];
            i++;
            continue;
        }
        memcpy(out + o, p + i, k);
        o += k;
        i += k;
    }
    json_t *s = json_stringn(out, o);
    free(out);
    return s;
}

/* Add one header line (without its LF) to the object `o`: a repeated name
 * has its values joined with ", ", a secret value is replaced. Lines without
 * a name are skipped. Returns 0 or FX_ENOMEM. */
static int put_header(json_t *o, const char *p, size_t len, const struct fx_conf_shadow *cfg)
{
    const char *colon = memchr(p, ':', len);
    if (colon == NULL || colon == p)
        return 0;
    const char *v = colon + 1;
    size_t vlen = (size_t)(p + len - v);
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    bool secret = is_secret((struct fx_str){ p, (size_t)(colon - p) }, cfg);
    json_t *name = text_excerpt(p, (size_t)(colon - p), 256);
    json_t *val = secret ? json_string(REDACTED) : text_excerpt(v, vlen, 1024);
    const char *key = name != NULL ? json_string_value(name) : NULL;
    json_t *prev = key != NULL ? json_object_get(o, key) : NULL;
    if (prev != NULL && val != NULL && !secret) {
        json_t *joined = json_sprintf("%s, %s", json_string_value(prev), json_string_value(val));
        json_decref(val);
        val = joined;
    }
    int rc = key != NULL && val != NULL && json_object_set_new(o, key, val) == 0 ? 0 : FX_ENOMEM;
    if (rc != 0 && (key == NULL || val == NULL))
        json_decref(val); /* json_object_set_new() consumed it otherwise */
    json_decref(name);
    return rc;
}

/* Header lines "Name: value" as an object (repeated names joined with ", "),
 * secret values replaced by "[redacted]". NULL on allocation failure. */
static json_t *headers_json(const char *head, size_t len, const struct fx_conf_shadow *cfg)
{
    json_t *o = json_object();
    const char *p = head;
    const char *end = head != NULL ? head + len : head;
    while (o != NULL && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        if (put_header(o, p, (size_t)(eol - p), cfg) != 0) {
            json_decref(o);
            o = NULL;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    return o;
}

static json_t *resp_json(const struct fx_shadow_resp *r, const struct fx_conf_shadow *cfg)
{
    char *dec = NULL;
    size_t dlen = 0;
    bool trunc = false;
    int rc = fx_shadow_decode_body(r, &dec, &dlen, &trunc);
    const char *body = rc == 1 ? dec : r->body;
    size_t blen = rc == 1 ? dlen : r->body_len;
    json_t *o = json_pack(
        "{s:i, s:o*, s:o*, s:b, s:b, s:I}", "status", r->status, "headers",
        headers_json(r->head, r->head_len, cfg), "body",
        text_excerpt(body != NULL ? body : "", body != NULL ? blen : 0, FX_SHADOW_EXCERPT),
        "body_truncated", trunc || blen > FX_SHADOW_EXCERPT, "gzip", rc == 1, "body_bytes",
        (json_int_t)blen);
    free(dec);
    return o;
}

static json_t *request_json(const struct fx_shadow_job *job, const struct fx_conf_shadow *cfg)
{
    const char *h = job->req_head != NULL ? job->req_head : "";
    size_t hl = job->req_head != NULL ? job->req_head_len : 0;
    bool ok =
        job->method_len <= hl && job->target_off <= hl && job->target_len <= hl - job->target_off;
    const char *nl = memchr(h, '\n', hl);
    const char *lines = nl != NULL ? nl + 1 : h + hl;
    return json_pack("{s:o*, s:o*, s:o*}", "method", text_excerpt(h, ok ? job->method_len : 0, 64),
                     "target",
                     text_excerpt(h + (ok ? job->target_off : 0), ok ? job->target_len : 0, 2048),
                     "headers", headers_json(lines, (size_t)(h + hl - lines), cfg));
}

char *fx_shadow__sample_doc(const struct fx_shadow_job *job, const struct fx_conf_shadow *cfg,
                            const char *endpoint, const struct fx_shadow_diffs *d,
                            const size_t *kept, size_t nkept)
{
    json_t *paths = json_array();
    json_t *kinds = json_array();
    for (size_t i = 0; paths != NULL && kinds != NULL && i < nkept && i < FX_SHADOW_SAMPLE_PATHS;
         i++) {
        const struct fx_shadow_diff *x = &d->d[kept[i]];
        if (json_array_append_new(paths, json_string(x->path)) != 0 ||
            json_array_append_new(kinds, json_pack("{s:s, s:s}", "path", x->path, "kind",
                                                   fx_shadow_kind_name(x->kind))) != 0) {
            json_decref(paths);
            json_decref(kinds);
            paths = NULL;
            kinds = NULL;
        }
    }
    json_t *doc =
        json_pack("{s:s, s:I, s:s, s:o*, s:o*, s:o*, s:b, s:b, s:b, s:b, s:o*, s:o*}", "route",
                  job->route, "time_ms", (json_int_t)job->time_ms, "endpoint", endpoint, "request",
                  request_json(job, cfg), "paths", paths, "differences", kinds, "more_paths",
                  nkept > FX_SHADOW_SAMPLE_PATHS || d->overflow, "diffs_truncated", d->overflow,
                  "json", d->json, "truncated", d->truncated, "primary",
                  resp_json(&job->primary, cfg), "candidate", resp_json(&job->candidate, cfg));
    if (doc == NULL)
        return NULL;
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}
