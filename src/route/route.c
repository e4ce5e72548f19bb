#include "route.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "../core/err.h"

int fx_route_scratch_init(struct fx_route_scratch *s)
{
    s->error = 0;
    s->md = pcre2_match_data_create(1, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    if (s->md == NULL || s->mctx == NULL) {
        fx_route_scratch_fini(s);
        return FX_ENOMEM;
    }
    (void)pcre2_set_match_limit(s->mctx, FX_ROUTE_MATCH_LIMIT);
    (void)pcre2_set_depth_limit(s->mctx, FX_ROUTE_DEPTH_LIMIT);
    (void)pcre2_set_heap_limit(s->mctx, FX_ROUTE_HEAP_KIB);
    return 0;
}

void fx_route_scratch_fini(struct fx_route_scratch *s)
{
    pcre2_match_data_free(s->md);
    s->md = NULL;
    pcre2_match_context_free(s->mctx);
    s->mctx = NULL;
}

static struct fx_str host_without_port(struct fx_str h)
{
    if (h.len == 0)
        return h; /* HTTP/1.0 without Host: no bytes to look at (ptr may be NULL) */
    if (h.len > 0 && h.ptr[0] == '[') {
        const char *end = memchr(h.ptr, ']', h.len);
        if (end != NULL)
            h.len = (size_t)(end - h.ptr) + 1;
        return h;
    }
    const char *colon = memchr(h.ptr, ':', h.len);
    if (colon != NULL)
        h.len = (size_t)(colon - h.ptr);
    return h;
}

/* `host` ends with `suffix` (".example.com") after at least one byte of label. */
static bool below(struct fx_str host, struct fx_str suffix)
{
    return host.len > suffix.len &&
           fx_str_eqi((struct fx_str){ host.ptr + host.len - suffix.len, suffix.len }, suffix);
}

bool fx_route_host_match(enum fx_conf_host_kind kind, struct fx_str pat, struct fx_str host)
{
    switch (kind) {
    case FX_CONF_HOST_EXACT:
        return fx_str_eqi(host, pat);
    case FX_CONF_HOST_DOMAIN: /* ".example.com": the bare domain too */
        return (pat.len > 1 && fx_str_eqi(host, (struct fx_str){ pat.ptr + 1, pat.len - 1 })) ||
               below(host, pat);
    case FX_CONF_HOST_SUBDOMAINS:
        return below(host, pat);
    case FX_CONF_HOST_PREFIX:
        return host.len > pat.len && fx_str_eqi((struct fx_str){ host.ptr, pat.len }, pat);
    }
    return false;
}

struct fx_str fx_route_strip_prefix(const struct fx_conf_route *r, struct fx_str path)
{
    struct fx_str prefix = { r->strip_prefix, r->strip_prefix_len };
    if (prefix.len == 0 || !fx_str_has_prefix(path, prefix))
        return path;
    if (path.len > prefix.len && path.ptr[prefix.len] != '/' && path.ptr[prefix.len] != '?')
        return path; /* "/apiary" is not under "/api" */
    return (struct fx_str){ path.ptr + prefix.len, path.len - prefix.len };
}

static bool match_methods(const struct fx_conf_route *r, struct fx_str method)
{
    if (r->nmethods == 0)
        return true;
    for (size_t i = 0; i < r->nmethods; i++) {
        if (fx_str_eq(fx_str_c(r->methods[i]), method))
            return true;
    }
    return false;
}

static bool match_headers(const struct fx_conf_route *r, const struct fx_h1_req *req)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        struct fx_str name = fx_str_c(r->headers[i].name);
        struct fx_str want = fx_str_c(r->headers[i].value);
        bool found = false;
        for (size_t j = 0; j < req->nheaders && !found; j++) {
            found =
                fx_str_eqi(req->headers[j].name, name) && fx_str_eq(req->headers[j].value, want);
        }
        if (!found)
            return false;
    }
    return true;
}

/* 1 when the path (without its query) matches r->path_re, 0 when not, a
 * PCRE2 error (< 0) when the match could not be decided. */
static int match_regex(const struct fx_conf_route *r, struct fx_str path,
                       struct fx_route_scratch *s)
{
    const char *q = path.len > 0 ? memchr(path.ptr, '?', path.len) : NULL;
    size_t len = q != NULL ? (size_t)(q - path.ptr) : path.len;
    /* A zero-length subject still needs a valid pointer. */
    PCRE2_SPTR subject = (PCRE2_SPTR)(len > 0 ? path.ptr : "");
    int rc = pcre2_match(r->path_re, subject, len, 0, 0, s->md, s->mctx);
    if (rc >= 0)
        return 1;
    return rc == PCRE2_ERROR_NOMATCH ? 0 : rc;
}

/* 1 on a match, 0 on none, a PCRE2 error (< 0). */
static int match_one(const struct fx_conf_route *r, const struct fx_h1_req *req, struct fx_str host,
                     struct fx_route_scratch *s)
{
    struct fx_str prefix = { r->path_prefix, r->path_prefix_len };
    if (!fx_str_has_prefix(req->path, prefix))
        return 0;
    if (!match_methods(r, req->method))
        return 0;
    if (r->host != NULL &&
        !fx_route_host_match(r->host_kind, (struct fx_str){ r->host_pat, r->host_pat_len }, host))
        return 0;
    if (!match_headers(r, req))
        return 0;
    /* Last: the only step that can cost more than a byte compare. */
    return r->path_re != NULL ? match_regex(r, req->path, s) : 1;
}

const struct fx_conf_route *fx_route_pick(const struct fx_conf *c, const struct fx_h1_req *req,
                                          struct fx_route_scratch *s)
{
    struct fx_str host = host_without_port(req->authority.len ? req->authority : req->host);
    s->error = 0;
    for (size_t i = 0; i < c->nroutes; i++) {
        int rc = match_one(&c->routes[i], req, host, s);
        if (rc < 0) {
            s->error = rc;
            return NULL;
        }
        if (rc > 0)
            return &c->routes[i];
    }
    return NULL;
}
