#include "route.h"

#include "../core/str.h"

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

static bool match_one(const struct fx_conf_route *r, const struct fx_h1_req *req,
                      struct fx_str host)
{
    struct fx_str prefix = { r->path_prefix, r->path_prefix_len };
    if (!fx_str_has_prefix(req->path, prefix))
        return false;
    if (!match_methods(r, req->method))
        return false;
    if (r->host != NULL && !fx_str_eqi(host, fx_str_c(r->host)))
        return false;
    return match_headers(r, req);
}

const struct fx_conf_route *fx_route_pick(const struct fx_conf *c, const struct fx_h1_req *req)
{
    struct fx_str host = host_without_port(req->authority.len ? req->authority : req->host);
    for (size_t i = 0; i < c->nroutes; i++) {
        if (match_one(&c->routes[i], req, host))
            return &c->routes[i];
    }
    return NULL;
}
