/* The priority score: declared impact plus measured figures, 0..100 points.
 * Each term is weight * strength, strength in 0..1; the formula, its
 * rationale and a worked example are in docs/registry.md. */
#include <stdio.h>
#include <string.h>

#include "registry_int.h"

/* Points of each term at full strength; the positive terms add up to 100. */
#define W_STABILITY 20.0
#define W_VELOCITY  15.0
#define W_EFFORT    10.0
#define W_TRAFFIC   20.0
#define W_ERRORS    15.0
#define W_LATENCY   10.0
#define W_SHADOW    10.0

/* Full strength is reached at these figures. */
#define TRAFFIC_DECADES   6.0    /* log10(1 + 1,000,000 requests per day) */
#define ERRORS_FULL       0.05   /* 5 % legacy 5xx */
#define LATENCY_FULL_MS   2000.0 /* legacy p99 of 2 s */
#define SHADOW_FULL       0.10   /* 10 % shadow mismatches */
#define EFFORT_HALF_DAYS  5.0    /* effort of 5 days gives half strength */
#define MIGRATED_DISCOUNT 0.9    /* a fully migrated item keeps 10 % */

static double clamp01(double v)
{
    if (!(v > 0.0))
        return 0.0;
    return v > 1.0 ? 1.0 : v;
}

static struct fx_reg_term *add_term(struct fx_reg_score *s, const char *name, double value,
                                    double weight, double strength)
{
    struct fx_reg_term *t = &s->terms[s->nterms++];
    t->name = name;
    t->value = fx_reg__round(value, 4);
    t->weight = fx_reg__round(weight, 2);
    t->contribution = fx_reg__round(weight * strength, 2);
    t->why[0] = '\0';
    return t;
}

static void declared_terms(const struct fx_reg_declared *d, struct fx_reg_score *s)
{
    struct fx_reg_term *t = add_term(s, "stability", d->stability, W_STABILITY, d->stability / 5.0);
    (void)snprintf(t->why, sizeof(t->why), "declared stability impact %d of 5", d->stability);
    t = add_term(s, "velocity", d->velocity, W_VELOCITY, d->velocity / 5.0);
    (void)snprintf(t->why, sizeof(t->why), "declared velocity impact %d of 5", d->velocity);
    if (d->effort_days > 0.0) {
        double k = EFFORT_HALF_DAYS / (EFFORT_HALF_DAYS + d->effort_days);
        t = add_term(s, "effort", d->effort_days, W_EFFORT, k);
        (void)snprintf(t->why, sizeof(t->why),
                       "%.4g days of effort: 5/(5+days) = %.2f, cheaper debt ranks higher",
                       d->effort_days, k);
    } else {
        t = add_term(s, "effort", 0.0, W_EFFORT, 0.5);
        (void)snprintf(t->why, sizeof(t->why), "effort not estimated: counted at half strength");
    }
}

static void no_live_terms(const struct fx_reg_live *l, struct fx_reg_score *s)
{
    static const char *const names[] = { "traffic", "errors", "latency", "shadow" };
    static const double weights[] = { W_TRAFFIC, W_ERRORS, W_LATENCY, W_SHADOW };
    for (size_t i = 0; i < 4; i++) {
        struct fx_reg_term *t = add_term(s, names[i], 0.0, weights[i], 0.0);
        (void)snprintf(t->why, sizeof(t->why), "%s",
                       !l->has_routes ? "no linked routes: declared figures only"
                                      : "no traffic samples in the last 24 h");
    }
}

static void live_terms(const struct fx_reg_live *l, struct fx_reg_score *s)
{
    double k = clamp01(fx_reg__log10(1.0 + l->requests_per_day) / TRAFFIC_DECADES);
    struct fx_reg_term *t = add_term(s, "traffic", l->requests_per_day, W_TRAFFIC, k);
    (void)snprintf(t->why, sizeof(t->why),
                   "%.0f legacy requests/day: log10(1+r)/6 = %.2f (full at 1M/day)",
                   l->requests_per_day, k);

    k = clamp01(l->legacy_error_rate / ERRORS_FULL);
    t = add_term(s, "errors", l->legacy_error_rate, W_ERRORS, k);
    (void)snprintf(t->why, sizeof(t->why), "legacy 5xx rate %.2f%%: full at 5%%",
                   l->legacy_error_rate * 100.0);

    k = clamp01(l->legacy_p99_ms / LATENCY_FULL_MS);
    t = add_term(s, "latency", l->legacy_p99_ms, W_LATENCY, k);
    (void)snprintf(t->why, sizeof(t->why), "legacy p99 %.0f ms: full at 2000 ms", l->legacy_p99_ms);

    if (l->has_shadow) {
        k = clamp01(l->shadow_mismatch_rate / SHADOW_FULL);
        t = add_term(s, "shadow", l->shadow_mismatch_rate, W_SHADOW, k);
        (void)snprintf(t->why, sizeof(t->why), "shadow mismatch rate %.2f%%: full at 10%%",
                       l->shadow_mismatch_rate * 100.0);
    } else {
        t = add_term(s, "shadow", 0.0, W_SHADOW, 0.0);
        (void)snprintf(t->why, sizeof(t->why), "nothing compared by shadowing");
    }
}

static double sum_terms(const struct fx_reg_score *s)
{
    double sum = 0.0;
    for (size_t i = 0; i < s->nterms; i++)
        sum += s->terms[i].contribution;
    return sum;
}

void fx_reg__score(const struct fx_reg_declared *d, const struct fx_reg_live *live,
                   struct fx_reg_score *out)
{
    memset(out, 0, sizeof(*out));
    declared_terms(d, out);
    if (live->has_routes && live->samples > 0)
        live_terms(live, out);
    else
        no_live_terms(live, out);

    /* Legacy code whose traffic has moved is cheap to leave alone: the
     * discount scales every other term, so a fully migrated item sinks
     * below any comparable item still serving traffic. */
    double share = live->has_routes ? clamp01(live->migrated_share) : 0.0;
    double subtotal = sum_terms(out);
    struct fx_reg_term *t = add_term(out, "migrated", share, -MIGRATED_DISCOUNT * subtotal, share);
    (void)snprintf(t->why, sizeof(t->why), "%.1f%% of the traffic already migrated: -0.9 x %.2f",
                   share * 100.0, subtotal);

    bool closed =
        d->status != NULL && (strcmp(d->status, "paid") == 0 || strcmp(d->status, "accepted") == 0);
    if (closed) {
        double rest = sum_terms(out);
        t = add_term(out, "closed", 1.0, -rest, 1.0);
        (void)snprintf(t->why, sizeof(t->why), "status %s: no longer ranked", d->status);
    }
    out->total = fx_reg__round(sum_terms(out), 2);
}

json_t *fx_reg__score_json(const struct fx_reg_score *s)
{
    json_t *terms = json_array();
    json_t *o = json_object();
    if (terms == NULL || o == NULL)
        goto fail;
    for (size_t i = 0; i < s->nterms; i++) {
        const struct fx_reg_term *t = &s->terms[i];
        json_t *j = json_object();
        if (j == NULL || json_array_append_new(terms, j) != 0)
            goto fail;
        int bad = json_object_set_new(j, "name", json_string(t->name));
        bad |= json_object_set_new(j, "value", fx_reg__json_num(t->value));
        bad |= json_object_set_new(j, "weight", fx_reg__json_num(t->weight));
        bad |= json_object_set_new(j, "contribution", fx_reg__json_num(t->contribution));
        bad |= json_object_set_new(j, "why", json_string(t->why));
        if (bad != 0)
            goto fail;
    }
    int bad = json_object_set_new(o, "terms", terms);
    terms = NULL;
    bad |= json_object_set_new(o, "total", fx_reg__json_num(s->total));
    if (bad != 0)
        goto fail;
    return o;
fail:
    json_decref(terms);
    json_decref(o);
    return NULL;
}
