/* Shadow copies: capture a sampled exchange (request, primary answer), send
 * the request to the route's shadow upstream (and secondary) on connections
 * of their own, read their answers, and hand everything to the comparison
 * thread. Nothing here can delay or fail the client's exchange: every
 * failure ends the copy, never the primary. */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/err.h"
#include "../http/http.h"
#include "../loop/loop.h"
#include "../net/net.h"
#include "../shadow/shadow.h"
#include "proxy_int.h"

#define MIRROR_HEAD_MAX (FX_MCONN_IN - 1024) /* response head limit of a copy */

static uint64_t wall_ms(void)
{
    struct timeval tv;
    (void)gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

/* Charge n more bytes of this job against limits.shadow_inflight_bytes. False, and
 * the job marked over budget (dropped as `inflight` when it ends), when the
 * budget is spent. */
static bool job_charge(struct fx_mjob *mj, size_t n)
{
    if (mj->over_budget)
        return false;
    if (!fx_shadow_inflight_charge(&mj->w->sh->shadow, n,
                                   mj->wc->conf->limits.shadow_inflight_bytes)) {
        mj->over_budget = true;
        return false;
    }
    mj->charged += n;
    return true;
}

/* Append n bytes to a growable area of job `mj`, up to `limit` bytes in all;
 * growth is charged to the job. Returns 0, 1 when bytes beyond the limit
 * were cut, FX_ELIMIT when the in-flight budget is spent, or FX_ENOMEM. */
static int grow_append(struct fx_mjob *mj, char **p, size_t *len, size_t *cap, const char *src,
                       size_t n, size_t limit)
{
    int rc = 0;
    if (*len + n > limit) {
        n = limit - *len;
        rc = 1;
    }
    if (*len + n > *cap) {
        size_t ncap = *cap ? *cap : 4096;
        while (ncap < *len + n)
            ncap *= 2;
        ncap = ncap > limit ? limit : ncap;
        size_t more = ncap - *cap + (*p == NULL ? 1 + FX_SHADOW_ALLOC_OVERHEAD : 0);
        if (!job_charge(mj, more))
            return FX_ELIMIT;
        char *np = realloc(*p, ncap + 1);
        if (np == NULL)
            return FX_ENOMEM;
        *p = np;
        *cap = ncap;
    }
    if (n > 0)
        memcpy(*p + *len, src, n);
    *len += n;
    return rc;
}

/* ---- job lifecycle ---------------------------------------------------------- */

static void job_unlink(struct fx_mjob *mj)
{
    struct fx_worker *w = mj->w;
    if (mj->prev != NULL)
        mj->prev->next = mj->next;
    else
        w->mjobs = mj->next;
    if (mj->next != NULL)
        mj->next->prev = mj->prev;
    mj->prev = mj->next = NULL;
}

static void job_free(struct fx_mjob *mj)
{
    struct fx_worker *w = mj->w;
    unsigned int rid = mj->route->id;
    if (w->mirror_inflight[rid] > 0)
        w->mirror_inflight[rid]--;
    fx_shadow_inflight_release(&w->sh->shadow, mj->charged);
    mj->charged = 0;
    job_unlink(mj);
    fx_shadow_job_free(mj->job);
    free(mj->body);
    free(mj->req);
    fx_proxy__wc_put(w, mj->wc);
    free(mj);
}

/* Submit or drop once nobody works on the job any more. */
static void job_maybe_end(struct fx_mjob *mj)
{
    if (mj->attached || mj->running > 0)
        return;
    struct fx_shadow *s = &mj->w->sh->shadow;
    if (mj->over_budget) {
        fx_shadow_count_drop(s, mj->route->id, FX_SHADOW_DROP_INFLIGHT);
    } else if (!mj->primary_ok || !mj->launched) {
        fx_shadow_count_drop(s, mj->route->id, FX_SHADOW_DROP_PRIMARY);
    } else {
        (void)fx_shadow_submit(s, mj->job); /* counts its own drop when the queue is full */
        mj->job = NULL;
    }
    job_free(mj);
}

/* ---- the copies' connections ------------------------------------------------ */

static void mc_dead(struct fx_io *io, uint32_t events)
{
    (void)io;
    (void)events;
}

static void mc_close(struct fx_mconn *mc)
{
    struct fx_worker *w = mc->job->w;
    if (mc->flags & FX_IO_F_CLOSED)
        return;
    mc->flags |= FX_IO_F_CLOSED;
    fx_timer_del(&w->loop, &mc->timer);
    fx_loop_del(&w->loop, &mc->io);
    (void)close(mc->io.fd);
    mc->io.fd = -1;
    mc->io.cb = mc_dead;
    FX_FREE(mc->in);
    mc->next = w->grave_m;
    w->grave_m = mc;
}

/* The copy ended: record the outcome, close, maybe end the job. */
static void mc_finish(struct fx_mconn *mc, const char *error)
{
    struct fx_mjob *mj = mc->job;
    if (mc->flags & FX_MCONN_F_DONE)
        return;
    mc->flags |= FX_MCONN_F_DONE;
    if (error != NULL) {
        mc->out->status = 0;
        mc->out->error = error;
    }
    for (size_t i = 0; i < 2; i++) {
        if (mj->conns[i] == mc)
            mj->conns[i] = NULL;
    }
    mc_close(mc);
    mj->running--;
    job_maybe_end(mj);
}

/* Keep a response's status and header lines as "Name: value\r\n". */
static int keep_head(struct fx_mjob *mj, struct fx_shadow_resp *o, size_t *cap,
                     const struct fx_h1_resp *r)
{
    const size_t lim = SIZE_MAX - 1;
    o->status = r->status;
    o->head_len = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct fx_h1_header *h = &r->headers[i];
        if (grow_append(mj, &o->head, &o->head_len, cap, h->name.ptr, h->name.len, lim) < 0 ||
            grow_append(mj, &o->head, &o->head_len, cap, ": ", 2, lim) < 0 ||
            grow_append(mj, &o->head, &o->head_len, cap, h->value.ptr, h->value.len, lim) < 0 ||
            grow_append(mj, &o->head, &o->head_len, cap, "\r\n", 2, lim) < 0)
            return FX_ENOMEM;
    }
    return 0;
}

/* Body bytes of the copy's answer; returns true when the answer is complete. */
static bool mc_body(struct fx_mconn *mc, const char *p, size_t n, const char **error)
{
    struct fx_shadow_resp *o = mc->out;
    if (mc->mode == FX_H1_BODY_CHUNKED) {
        size_t pos = 0;
        int rc = 0;
        while (rc == 0 && pos < n) {
            size_t used = 0;
            struct fx_str data = { NULL, 0 };
            rc = fx_h1_chunked_step(&mc->ch, p + pos, n - pos, &used, &data);
            if (rc < 0) {
                *error = "bad_response";
                return true;
            }
            pos += used;
            int a = grow_append(mc->job, &o->body, &o->body_len, &mc->body_cap, data.ptr, data.len,
                                FX_SHADOW_MAX_RESP);
            if (a != 0) {
                o->truncated = a > 0;
                *error = a < 0 ? "nomem" : NULL;
                return true;
            }
        }
        return rc == 1;
    }
    if (mc->mode == FX_H1_BODY_LENGTH && n > mc->left)
        n = (size_t)mc->left;
    int a = grow_append(mc->job, &o->body, &o->body_len, &mc->body_cap, p, n, FX_SHADOW_MAX_RESP);
    if (a != 0) {
        o->truncated = a > 0;
        *error = a < 0 ? "nomem" : NULL;
        return true;
    }
    if (mc->mode == FX_H1_BODY_LENGTH) {
        mc->left -= n;
        return mc->left == 0;
    }
    return mc->mode == FX_H1_BODY_NONE;
}

/* Parse the head once it is in; returns true when the copy is complete. */
static bool mc_head(struct fx_mconn *mc, const char **error)
{
    struct fx_worker *w = mc->job->w;
    struct fx_h1_resp *r = &w->resp;
    struct fx_h1_limits hl = { MIRROR_HEAD_MAX, MIRROR_HEAD_MAX, FX_H1_MAX_HEADERS };
    for (;;) {
        int rc = fx_h1_parse_resp(mc->in, mc->in_len, r, &mc->scanned, &hl);
        if (rc == FX_EAGAIN)
            return false;
        if (rc < 0 || r->status == 101) {
            *error = "bad_response";
            return true;
        }
        mc->scanned = 0;
        size_t head = (size_t)rc;
        if (r->status < 200) {
            memmove(mc->in, mc->in + head, mc->in_len - head);
            mc->in_len -= head;
            continue;
        }
        const struct fx_shadow_job *j = mc->job->job;
        struct fx_str method = { j->req_head, j->method_len };
        mc->mode = fx_h1_resp_body(r, method);
        mc->left = r->content_length;
        if (mc->mode == FX_H1_BODY_CHUNKED)
            fx_h1_chunked_init(&mc->ch);
        size_t cap = 0;
        if (keep_head(mc->job, mc->out, &cap, r) != 0) {
            *error = "nomem";
            return true;
        }
        mc->flags |= FX_MCONN_F_HEAD;
        size_t rest = mc->in_len - head;
        mc->in_len = 0;
        bool done = mc->mode == FX_H1_BODY_NONE ||
                    (mc->mode == FX_H1_BODY_LENGTH && mc->left == 0) ||
                    mc_body(mc, mc->in + head, rest, error);
        return done;
    }
}

static bool mc_send(struct fx_mconn *mc)
{
    const struct fx_mjob *mj = mc->job;
    while (mc->sent < mj->req_len) {
        ssize_t n = send(mc->io.fd, mj->req + mc->sent, mj->req_len - mc->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            mc->flags &= ~FX_IO_F_WRITABLE;
            return true;
        }
        if (n <= 0)
            return false;
        mc->sent += (size_t)n;
    }
    return true;
}

/* Read what is available; returns true when the copy ended (finished). */
static bool mc_recv(struct fx_mconn *mc)
{
    const char *error = NULL;
    for (;;) {
        ssize_t n = recv(mc->io.fd, mc->in + mc->in_len, FX_MCONN_IN - mc->in_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (n <= 0) {
            bool eof_ok = n == 0 && (mc->flags & FX_MCONN_F_HEAD) && mc->mode == FX_H1_BODY_EOF;
            mc_finish(mc, eof_ok ? NULL : "reset");
            return true;
        }
        mc->in_len += (size_t)n;
        bool done;
        if (!(mc->flags & FX_MCONN_F_HEAD)) {
            done = mc_head(mc, &error);
            if (!done && mc->in_len == FX_MCONN_IN)
                error = "bad_response"; /* head larger than the buffer */
            done |= error != NULL;
        } else {
            done = mc_body(mc, mc->in, mc->in_len, &error);
            mc->in_len = 0;
        }
        if (done || error != NULL) {
            mc_finish(mc, error);
            return true;
        }
        fx_timer_arm(&mc->job->w->loop, &mc->timer, mc->up->read_timeout_ms);
    }
}

static void mc_on_event(struct fx_io *io, uint32_t events)
{
    struct fx_mconn *mc = (struct fx_mconn *)io;
    if (mc->flags & (FX_IO_F_CLOSED | FX_MCONN_F_DONE))
        return;
    if (mc->flags & FX_UCONN_F_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(mc->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            mc_finish(mc, "connect_failed");
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLIN)))
            return;
        mc->flags &= ~FX_UCONN_F_CONNECTING;
        fx_timer_arm(&mc->job->w->loop, &mc->timer, mc->up->read_timeout_ms);
    }
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        mc->flags |= FX_IO_F_WRITABLE;
    if ((mc->flags & FX_IO_F_WRITABLE) && mc->sent < mc->job->req_len && !mc_send(mc)) {
        mc_finish(mc, "reset");
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
        (void)mc_recv(mc);
}

static void mc_on_timer(struct fx_timer *t)
{
    struct fx_mconn *mc = (struct fx_mconn *)(void *)((char *)t - offsetof(struct fx_mconn, timer));
    mc_finish(mc, (mc->flags & FX_UCONN_F_CONNECTING) ? "connect_timeout" : "timeout");
}

/* Open a copy's connection to one server of `up`; false when it cannot even
 * start (the outcome is then recorded as a connect failure). */
static bool mc_start(struct fx_mjob *mj, size_t slot, const struct fx_conf_upstream *up,
                     struct fx_shadow_resp *out)
{
    struct fx_worker *w = mj->w;
    size_t conn_bytes =
        sizeof(struct fx_mconn) + FX_MCONN_IN + 2 * (size_t)FX_SHADOW_ALLOC_OVERHEAD;
    if (!job_charge(mj, conn_bytes)) {
        out->error = "nomem"; /* the job is over budget: dropped as `inflight` */
        return false;
    }
    struct fx_mconn *mc = calloc(1, sizeof(*mc));
    if (mc == NULL) {
        out->error = "nomem";
        return false;
    }
    mc->in = malloc(FX_MCONN_IN);
    const struct fx_conf_server *srv = &up->servers[w->rr[up->id]++ % up->nservers];
    int fd = mc->in != NULL ? fx_net_connect(&srv->addr) : -1;
    if (fd < 0) {
        atomic_fetch_add_explicit(&w->stats->connect_errors[up->id], 1, memory_order_relaxed);
        out->error = mc->in != NULL ? "connect_failed" : "nomem";
        free(mc->in);
        free(mc);
        return false;
    }
    mc->io.fd = fd;
    mc->io.cb = mc_on_event;
    mc->job = mj;
    mc->out = out;
    mc->up = up;
    mc->flags = FX_UCONN_F_CONNECTING;
    fx_timer_init(&mc->timer, mc_on_timer);
    if (fx_loop_add(&w->loop, &mc->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) != 0) {
        (void)close(fd);
        free(mc->in);
        free(mc);
        out->error = "connect_failed";
        return false;
    }
    fx_timer_arm(&w->loop, &mc->timer, up->connect_timeout_ms);
    mj->conns[slot] = mc;
    mj->running++;
    return true;
}

/* ---- capture from the client exchange ---------------------------------------- */

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* The upstream head of the exchange minus its body framing and final CRLF,
 * plus the copy's own headers. */
static char *copy_head(const struct fx_exch *x, size_t *out_len)
{
    const char *p = fx_buf_rptr(&x->uhead);
    const char *end = p + x->uhead.len;
    size_t cap = x->uhead.len + 64;
    char *h = malloc(cap);
    if (h == NULL)
        return NULL;
    size_t n = 0;
    bool first = true;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol != NULL ? (size_t)(eol - p) + 1 : (size_t)(end - p);
        if (len <= 2 && !first)
            break; /* the empty line */
        if (first || !(header_is(p, len, "content-length") ||
                       header_is(p, len, "transfer-encoding") || header_is(p, len, "expect"))) {
            memcpy(h + n, p, len);
            n += len;
        }
        first = false;
        p += len;
    }
    static const char own[] = "X-Ficus-Shadow: 1\r\nConnection: close\r\n";
    memcpy(h + n, own, sizeof(own) - 1);
    n += sizeof(own) - 1;
    *out_len = n;
    return h;
}

static bool method_listed(const struct fx_conf_shadow *sh, struct fx_str m)
{
    for (size_t i = 0; i < sh->nmethods; i++) {
        if (fx_str_eq(m, (struct fx_str){ sh->methods[i], strlen(sh->methods[i]) }))
            return true;
    }
    return false;
}

/* A new copy attached to exchange x; NULL (with *over set when the in-flight
 * budget is spent) on failure. */
static struct fx_mjob *job_new(struct fx_cconn *cc, struct fx_exch *x, bool *over)
{
    struct fx_worker *w = cc->w;
    struct fx_mjob *mj = calloc(1, sizeof(*mj));
    struct fx_shadow_job *j = calloc(1, sizeof(*j));
    size_t hlen = 0;
    char *head = j != NULL && mj != NULL ? copy_head(x, &hlen) : NULL;
    if (head == NULL) {
        free(mj);
        free(j);
        return NULL;
    }
    j->route_id = x->route->id;
    (void)snprintf(j->route, sizeof(j->route), "%s", x->route->name);
    j->time_ms = wall_ms();
    j->req_head = head;
    j->req_head_len = hlen;
    j->method_len = x->method_len;
    j->target_off = x->path_off;
    j->target_len = x->path_len;
    j->has_secondary = x->route->shadow->secondary != NULL;
    mj->w = w;
    mj->wc = x->wc;
    if (!fx_shadow_inflight_charge(&w->sh->shadow, sizeof(*mj) + sizeof(*j) + hlen + 64,
                                   x->wc->conf->limits.shadow_inflight_bytes)) {
        free(head);
        free(mj);
        free(j);
        *over = true;
        return NULL;
    }
    mj->charged = sizeof(*mj) + sizeof(*j) + hlen + 64;
    mj->wc->users++;
    mj->route = x->route;
    mj->job = j;
    mj->attached = true;
    mj->next = w->mjobs;
    if (w->mjobs != NULL)
        w->mjobs->prev = mj;
    w->mjobs = mj;
    w->mirror_inflight[x->route->id]++;
    return mj;
}

void fx_proxy__mirror_begin(struct fx_cconn *cc, struct fx_exch *x)
{
    const struct fx_conf_shadow *sh = x->route->shadow;
    struct fx_shadow *s = &cc->w->sh->shadow;
    unsigned int rid = x->route->id;
    if (x->up == sh->to)
        return; /* the primary is the candidate itself: nothing to compare */
    if (!method_listed(sh, (struct fx_str){ fx_buf_rptr(&x->uhead), x->method_len }))
        return;
    if (x->flags & FX_X_F_UPGRADE) {
        /* A copy of an upgrade would open a second session on the shadow
         * side (a second WebSocket with its own side effects), and a tunnel
         * has no answer to compare: never copied, only counted. */
        fx_shadow_count_drop(s, rid, FX_SHADOW_DROP_UPGRADE);
        return;
    }
    if (x->req_mode == FX_H1_BODY_LENGTH && x->req_left > sh->max_body) {
        fx_shadow_count_drop(s, rid, FX_SHADOW_DROP_BODY);
        return;
    }
    if (cc->w->mirror_inflight[rid] >= sh->max_inflight) {
        fx_shadow_count_drop(s, rid, FX_SHADOW_DROP_INFLIGHT);
        return;
    }
    bool over = false;
    x->mirror = job_new(cc, x, &over);
    if (x->mirror == NULL)
        fx_shadow_count_drop(s, rid, over ? FX_SHADOW_DROP_INFLIGHT : FX_SHADOW_DROP_NOMEM);
}

/* Drop the attached copy before it was launched. */
static void mirror_drop(struct fx_exch *x, enum fx_shadow_drop why)
{
    struct fx_mjob *mj = x->mirror;
    x->mirror = NULL;
    fx_shadow_count_drop(&mj->w->sh->shadow, mj->route->id, why);
    job_free(mj);
}

void fx_proxy__mirror_req_body(struct fx_exch *x, const char *p, size_t n)
{
    struct fx_mjob *mj = x->mirror;
    if (mj == NULL || mj->launched || n == 0)
        return;
    int rc =
        grow_append(mj, &mj->body, &mj->body_len, &mj->body_cap, p, n, mj->route->shadow->max_body);
    if (rc != 0)
        mirror_drop(x, rc > 0            ? FX_SHADOW_DROP_BODY
                       : rc == FX_ELIMIT ? FX_SHADOW_DROP_INFLIGHT
                                         : FX_SHADOW_DROP_NOMEM);
}

static bool build_request(struct fx_mjob *mj)
{
    const struct fx_shadow_job *j = mj->job;
    char cl[48];
    int cn = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n", mj->body_len);
    bool with_len = mj->body_len > 0;
    if (!with_len)
        cn = snprintf(cl, sizeof(cl), "\r\n");
    if (cn < 0)
        return false;
    size_t total = j->req_head_len + (size_t)cn + mj->body_len;
    if (!job_charge(mj, total + (size_t)cn + 2 * (size_t)FX_SHADOW_ALLOC_OVERHEAD))
        return false;
    mj->req = malloc(total);
    if (mj->req == NULL)
        return false;
    memcpy(mj->req, j->req_head, j->req_head_len);
    memcpy(mj->req + j->req_head_len, cl, (size_t)cn);
    if (mj->body_len > 0)
        memcpy(mj->req + j->req_head_len + (size_t)cn, mj->body, mj->body_len);
    mj->req_len = total;
    /* The job keeps the head as sent, for the samples. */
    char *h = realloc(mj->job->req_head, j->req_head_len + (size_t)cn + 1);
    if (h == NULL)
        return false;
    memcpy(h + mj->job->req_head_len, cl, (size_t)cn);
    mj->job->req_head = h;
    mj->job->req_head_len += (size_t)cn;
    mj->job->req_body_len = mj->body_len;
    return true;
}

void fx_proxy__mirror_launch(struct fx_exch *x)
{
    struct fx_mjob *mj = x->mirror;
    if (mj == NULL || mj->launched)
        return;
    if (!build_request(mj)) {
        mirror_drop(x, mj->over_budget ? FX_SHADOW_DROP_INFLIGHT : FX_SHADOW_DROP_NOMEM);
        return;
    }
    mj->launched = true;
    const struct fx_conf_shadow *sh = mj->route->shadow;
    (void)mc_start(mj, 0, sh->to, &mj->job->candidate);
    if (sh->secondary != NULL)
        (void)mc_start(mj, 1, sh->secondary, &mj->job->secondary);
}

void fx_proxy__mirror_resp_head(struct fx_exch *x, const struct fx_h1_resp *r)
{
    struct fx_mjob *mj = x->mirror;
    if (mj != NULL && keep_head(mj, &mj->job->primary, &mj->phead_cap, r) != 0)
        mj->job->primary.status = 0;
}

void fx_proxy__mirror_resp_body(struct fx_exch *x, const char *p, size_t n)
{
    struct fx_mjob *mj = x->mirror;
    if (mj == NULL || n == 0)
        return;
    struct fx_shadow_resp *o = &mj->job->primary;
    if (o->truncated)
        return;
    int rc = grow_append(mj, &o->body, &o->body_len, &mj->pbody_cap, p, n, FX_SHADOW_MAX_RESP);
    if (rc > 0)
        o->truncated = true;
    else if (rc < 0)
        o->status = 0;
}

void fx_proxy__mirror_detach(struct fx_exch *x, bool ok)
{
    struct fx_mjob *mj = x->mirror;
    if (mj == NULL)
        return;
    x->mirror = NULL;
    mj->attached = false;
    mj->primary_ok = ok && mj->job->primary.status > 0;
    job_maybe_end(mj);
}

void fx_proxy__mirror_shutdown(struct fx_worker *w)
{
    struct fx_mjob *mj = w->mjobs;
    while (mj != NULL) {
        struct fx_mjob *next = mj->next;
        for (size_t i = 0; i < 2; i++) {
            if (mj->conns[i] != NULL) {
                mc_close(mj->conns[i]);
                mj->conns[i] = NULL;
            }
        }
        fx_shadow_count_discard(&w->sh->shadow, mj->route->id); /* abandoned, not compared */
        job_free(mj);
        mj = next;
    }
    fx_proxy__mirror_bury(w);
}

void fx_proxy__mirror_bury(struct fx_worker *w)
{
    while (w->grave_m != NULL) {
        struct fx_mconn *mc = w->grave_m;
        w->grave_m = mc->next;
        free(mc);
    }
}
