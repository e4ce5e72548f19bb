/* Bounded per-route aggregates: endpoints, paths per endpoint, learned noise.
 * Caller holds fx_shadow_state.lock. */
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "shadow.h"
#include "shadow_int.h"

/* Grow an array of `size`-byte elements to hold one more; returns 0 or FX_ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * size);
    if (p == NULL)
        return FX_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

static struct fx_shadow__ep *ep_find(struct fx_shadow__route *r, const char *name)
{
    for (size_t i = 0; i < r->neps; i++) {
        if (strcmp(r->eps[i].name, name) == 0)
            return &r->eps[i];
    }
    return NULL;
}

struct fx_shadow__ep *fx_shadow__ep_get(struct fx_shadow__route *r, const char *name)
{
    struct fx_shadow__ep *found = ep_find(r, name);
    if (found != NULL)
        return found;
    /* The last slot is reserved for "(other)". */
    if (r->neps >= FX_SHADOW_MAX_ENDPOINTS - 1) {
        name = FX_SHADOW_OTHER;
        found = ep_find(r, name);
        if (found != NULL)
            return found;
    }
    void *arr = r->eps;
    if (grow(&arr, &r->eps_cap, r->neps, sizeof(*r->eps)) != 0)
        return NULL;
    r->eps = arr;
    struct fx_shadow__ep *ep = &r->eps[r->neps];
    memset(ep, 0, sizeof(*ep));
    ep->name = strdup(name);
    if (ep->name == NULL)
        return NULL;
    r->neps++;
    return ep;
}

static struct fx_shadow__path *path_find(struct fx_shadow__ep *ep, const char *path)
{
    for (size_t i = 0; i < ep->npaths; i++) {
        if (strcmp(ep->paths[i].path, path) == 0)
            return &ep->paths[i];
    }
    return NULL;
}

struct fx_shadow__path *fx_shadow__path_get(struct fx_shadow__ep *ep, const char *path)
{
    struct fx_shadow__path *found = path_find(ep, path);
    if (found != NULL)
        return found;
    if (ep->npaths >= FX_SHADOW_MAX_PATHS - 1) {
        path = FX_SHADOW_OTHER;
        found = path_find(ep, path);
        if (found != NULL)
            return found;
    }
    void *arr = ep->paths;
    if (grow(&arr, &ep->cap, ep->npaths, sizeof(*ep->paths)) != 0)
        return NULL;
    ep->paths = arr;
    struct fx_shadow__path *p = &ep->paths[ep->npaths];
    p->count = 0;
    p->path = strdup(path);
    if (p->path == NULL)
        return NULL;
    ep->npaths++;
    return p;
}

struct fx_shadow__noise *fx_shadow__noise_get(struct fx_shadow__route *r, const char *endpoint,
                                              const char *path, bool create)
{
    for (size_t i = 0; i < r->nnoise; i++) {
        if (strcmp(r->noise[i].endpoint, endpoint) == 0 && strcmp(r->noise[i].path, path) == 0)
            return &r->noise[i];
    }
    if (!create || r->nnoise >= FX_SHADOW_MAX_NOISE)
        return NULL;
    void *arr = r->noise;
    if (grow(&arr, &r->noise_cap, r->nnoise, sizeof(*r->noise)) != 0)
        return NULL;
    r->noise = arr;
    struct fx_shadow__noise *n = &r->noise[r->nnoise];
    memset(n, 0, sizeof(*n));
    n->endpoint = strdup(endpoint);
    n->path = strdup(path);
    if (n->endpoint == NULL || n->path == NULL) {
        FX_FREE(n->endpoint);
        FX_FREE(n->path);
        return NULL;
    }
    r->nnoise++;
    return n;
}

bool fx_shadow__is_noise(const struct fx_shadow__route *r, const char *endpoint, const char *gpath)
{
    for (size_t i = 0; i < r->nnoise; i++) {
        if (strcmp(r->noise[i].endpoint, endpoint) == 0 &&
            fx_shadow_path_match(r->noise[i].path, gpath))
            return true;
    }
    return false;
}

void fx_shadow__route_fini(struct fx_shadow__route *r)
{
    for (size_t i = 0; i < r->neps; i++) {
        for (size_t j = 0; j < r->eps[i].npaths; j++)
            free(r->eps[i].paths[j].path);
        free(r->eps[i].paths);
        free(r->eps[i].name);
    }
    for (size_t i = 0; i < r->nnoise; i++) {
        free(r->noise[i].endpoint);
        free(r->noise[i].path);
    }
    FX_FREE(r->noise);
    r->nnoise = 0;
    FX_FREE(r->eps);
    r->neps = 0;
}
