#include <stdlib.h>
#include <string.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "proxy_int.h"

int fx_shared_init(struct fx_shared *sh, struct fx_conf *conf)
{
    memset(sh, 0, sizeof(*sh));
    if (pthread_mutex_init(&sh->lock, NULL) != 0)
        return FX_ESYS;
    sh->conf = conf;
    atomic_store(&sh->gen, 1);
    sh->log.level = FX_LOG_INFO;
    sh->log.fd = 2;
    sh->access_fd = -1;
    return 0;
}

static void intern_fini(struct fx_intern *in)
{
    size_t n = atomic_load(&in->n);
    for (size_t i = 0; i < n; i++)
        FX_FREE(in->names[i]);
    atomic_store(&in->n, 0);
}

void fx_shared_fini(struct fx_shared *sh)
{
    fx_conf_unref(sh->conf);
    sh->conf = NULL;
    intern_fini(&sh->routes);
    intern_fini(&sh->upstreams);
    intern_fini(&sh->servers);
    (void)pthread_mutex_destroy(&sh->lock);
}

/* Returns the id of `name`, adding it when new; -1 when full or out of memory. */
static int intern_id(struct fx_intern *in, const char *name)
{
    size_t n = atomic_load(&in->n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(in->names[i], name) == 0)
            return (int)i;
    }
    if (n >= FX_MAX_IDS)
        return -1;
    in->names[n] = strdup(name);
    if (in->names[n] == NULL)
        return -1;
    atomic_store(&in->n, n + 1); /* publish after the name is written */
    return (int)n;
}

int fx_shared_assign_ids(struct fx_shared *sh, struct fx_conf *c, struct fx_err *err)
{
    for (size_t i = 0; i < c->nupstreams; i++) {
        struct fx_conf_upstream *u = &c->upstreams[i];
        int id = intern_id(&sh->upstreams, u->name);
        if (id < 0)
            return FX_ERR_SET(err, FX_ELIMIT, "too many distinct upstream names (max %d)",
                              FX_MAX_IDS);
        u->id = (unsigned int)id;
        for (size_t j = 0; j < u->nservers; j++) {
            id = intern_id(&sh->servers, u->servers[j].addr.text);
            if (id < 0)
                return FX_ERR_SET(err, FX_ELIMIT, "too many distinct servers (max %d)", FX_MAX_IDS);
            u->servers[j].pool_id = (unsigned int)id;
        }
    }
    for (size_t i = 0; i < c->nroutes; i++) {
        int id = intern_id(&sh->routes, c->routes[i].name);
        if (id < 0)
            return FX_ERR_SET(err, FX_ELIMIT, "too many distinct route names (max %d)", FX_MAX_IDS);
        c->routes[i].id = (unsigned int)id;
    }
    return 0;
}

void fx_shared_swap(struct fx_shared *sh, struct fx_conf *c)
{
    (void)pthread_mutex_lock(&sh->lock);
    struct fx_conf *old = sh->conf;
    sh->conf = c;
    atomic_fetch_add_explicit(&sh->gen, 1, memory_order_release);
    (void)pthread_mutex_unlock(&sh->lock);
    fx_conf_unref(old);
}

struct fx_conf *fx_shared_conf(struct fx_shared *sh)
{
    (void)pthread_mutex_lock(&sh->lock);
    struct fx_conf *c = sh->conf;
    fx_conf_ref(c);
    (void)pthread_mutex_unlock(&sh->lock);
    return c;
}
