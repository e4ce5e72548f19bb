/* Text view of a diff report for `ficus ctl diffs NAME`. */
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "../core/err.h"
#include "shadow.h"

#define COL_MAX 48 /* widest ENDPOINT / PATH column */

static const char *str_of(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : dflt;
}

static json_int_t int_of(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static int clamp_width(size_t w)
{
    return (int)(w > COL_MAX ? COL_MAX : w);
}

static void print_head(const json_t *doc, FILE *out)
{
    (void)fprintf(out, "route %s: candidate %s", str_of(doc, "route", "?"),
                  str_of(doc, "candidate", "?"));
    if (json_is_string(json_object_get(doc, "secondary")))
        (void)fprintf(out, ", secondary %s", str_of(doc, "secondary", "?"));
    (void)fprintf(out,
                  "\ncompared %" JSON_INTEGER_FORMAT "  matched %" JSON_INTEGER_FORMAT
                  "  mismatched %" JSON_INTEGER_FORMAT "  errored %" JSON_INTEGER_FORMAT
                  "  mismatch rate %.2f%%  noise excluded %" JSON_INTEGER_FORMAT "\n",
                  int_of(doc, "compared"), int_of(doc, "matched"), int_of(doc, "mismatched"),
                  int_of(doc, "errored"),
                  100.0 * json_number_value(json_object_get(doc, "mismatch_rate")),
                  int_of(doc, "noise_excluded"));
    const char *key;
    json_t *v;
    bool any = false;
    json_object_foreach((json_t *)json_object_get(doc, "dropped"), key, v)
    {
        if (json_integer_value(v) > 0) {
            (void)fprintf(out, "%s %s %" JSON_INTEGER_FORMAT, any ? "," : "dropped:", key,
                          json_integer_value(v));
            any = true;
        }
    }
    if (any)
        (void)fputc('\n', out);
    any = false;
    json_object_foreach((json_t *)json_object_get(doc, "secondary_errors"), key, v)
    {
        if (json_integer_value(v) > 0) {
            (void)fprintf(out, "%s %s %" JSON_INTEGER_FORMAT, any ? "," : "secondary errors:", key,
                          json_integer_value(v));
            any = true;
        }
    }
    if (any)
        (void)fputc('\n', out);
    if (strcmp(str_of(doc, "noise_learning", ""), "paused") == 0)
        (void)fputs("warning: noise learning paused: the secondary's last copy failed\n", out);
}

static void print_table(const json_t *eps, FILE *out)
{
    size_t we = strlen("ENDPOINT");
    size_t wp = strlen("PATH");
    size_t i;
    const json_t *ep;
    json_array_foreach(eps, i, ep)
    {
        size_t k;
        const json_t *p;
        we = strlen(str_of(ep, "endpoint", "")) > we ? strlen(str_of(ep, "endpoint", "")) : we;
        json_array_foreach(json_object_get(ep, "paths"), k, p)
        {
            size_t l = strlen(str_of(p, "path", ""));
            wp = l > wp ? l : wp;
        }
    }
    int a = clamp_width(we);
    int b = clamp_width(wp);
    (void)fprintf(out, "\n%-*s  %-*s  %10s  %6s\n", a, "ENDPOINT", b, "PATH", "MISMATCHES",
                  "SHARE");
    json_array_foreach(eps, i, ep)
    {
        json_int_t mism = int_of(ep, "mismatched");
        (void)fprintf(out, "%-*.*s  %-*s  %10" JSON_INTEGER_FORMAT "  %5.1f%%\n", a, a,
                      str_of(ep, "endpoint", "?"), b, "(all)", mism,
                      int_of(ep, "compared") > 0
                          ? 100.0 * (double)mism / (double)int_of(ep, "compared")
                          : 0.0);
        size_t k;
        const json_t *p;
        json_array_foreach(json_object_get(ep, "paths"), k, p)
        {
            json_int_t n = int_of(p, "count");
            (void)fprintf(out, "%-*s  %-*.*s  %10" JSON_INTEGER_FORMAT "  %5.1f%%\n", a, "", b, b,
                          str_of(p, "path", "?"), n,
                          mism > 0 ? 100.0 * (double)n / (double)mism : 0.0);
        }
    }
}

static void print_noise(const json_t *noise, FILE *out)
{
    if (json_array_size(noise) == 0)
        return;
    (void)fputs("\nlearned noise (differences between primary and secondary, not counted):\n", out);
    size_t i;
    const json_t *n;
    json_array_foreach(noise, i, n)
    {
        (void)fprintf(out, "  %s  %s  (seen %" JSON_INTEGER_FORMAT ")\n",
                      str_of(n, "endpoint", "?"), str_of(n, "path", "?"), int_of(n, "seen"));
    }
}

static void print_side(const char *label, const json_t *r, FILE *out)
{
    (void)fprintf(out, "  %-9s %" JSON_INTEGER_FORMAT "  %s%s\n", label, int_of(r, "status"),
                  str_of(r, "body", ""),
                  json_is_true(json_object_get(r, "body_truncated")) ? " [...]" : "");
}

static void print_samples(const json_t *samples, FILE *out)
{
    size_t i;
    const json_t *s;
    json_array_foreach(samples, i, s)
    {
        const json_t *req = json_object_get(s, "request");
        (void)fprintf(out, "\nsample #%" JSON_INTEGER_FORMAT " %s %s %s%s\n", int_of(s, "id"),
                      str_of(s, "time", "?"), str_of(req, "method", "?"),
                      str_of(req, "target", "?"),
                      json_is_true(json_object_get(s, "truncated")) ? " (body truncated)" : "");
        (void)fputs("  paths:", out);
        size_t k;
        const json_t *p;
        const json_t *kinds = json_object_get(s, "differences");
        if (json_is_array(kinds)) {
            json_array_foreach(kinds, k, p)
            {
                (void)fprintf(out, " %s (%s)", str_of(p, "path", "?"), str_of(p, "kind", "?"));
            }
        } else {
            json_array_foreach(json_object_get(s, "paths"), k, p)
            {
                const char *v = json_string_value(p);
                (void)fprintf(out, " %s", v != NULL ? v : "?");
            }
        }
        if (json_is_true(json_object_get(s, "diffs_truncated")))
            (void)fputs(" [truncated: difference limit reached]", out);
        (void)fputc('\n', out);
        print_side("primary", json_object_get(s, "primary"), out);
        print_side("candidate", json_object_get(s, "candidate"), out);
    }
}

int fx_shadow_print_report(const char *json, size_t len, FILE *out)
{
    json_t *doc = json != NULL ? json_loadb(json, len, 0, NULL) : NULL;
    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "route")) ||
        !json_is_array(json_object_get(doc, "endpoints")) ||
        !json_is_array(json_object_get(doc, "samples"))) {
        json_decref(doc);
        return FX_EINVAL;
    }
    print_head(doc, out);
    print_table(json_object_get(doc, "endpoints"), out);
    print_noise(json_object_get(doc, "noise"), out);
    print_samples(json_object_get(doc, "samples"), out);
    json_decref(doc);
    return 0;
}
