/* The schema engine's table-driven parts that need no document: defaults,
 * the configuration reference, value formatting and did-you-mean. */
#include "schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../core/err.h"
#include "conf_int.h"

#define SUGGEST_MAX  2  /* largest edit distance offered as "did you mean" */
#define SUGGEST_WORD 64 /* longer words get no suggestion */
#define REF_BEGIN    "<!-- BEGIN GENERATED: ficus config reference "
#define REF_END      "<!-- END GENERATED -->"

const char *fx_conf__format_ms(char *buf, size_t cap, uint64_t ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = { { "h", 3600000 }, { "m", 60000 }, { "s", 1000 } };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            (void)snprintf(buf, cap, "%llu%s", (unsigned long long)(ms / units[i].ms),
                           units[i].unit);
            return buf;
        }
    }
    (void)snprintf(buf, cap, "%llu%s", (unsigned long long)ms, ms == 0 ? "" : "ms");
    return buf;
}

const char *fx_conf__format_size(char *buf, size_t cap, uint64_t bytes)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = { { "GiB", 1ull << 30 }, { "MiB", 1ull << 20 }, { "KiB", 1ull << 10 } };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (bytes != 0 && bytes % units[i].mul == 0) {
            (void)snprintf(buf, cap, "%llu%s", (unsigned long long)(bytes / units[i].mul),
                           units[i].unit);
            return buf;
        }
    }
    (void)snprintf(buf, cap, "%llu", (unsigned long long)bytes);
    return buf;
}

const char *fx_conf__format_fixed(char *buf, size_t cap, uint64_t v, unsigned int decimals)
{
    uint64_t scale = decimals == 3 ? 1000 : 100;
    uint64_t frac = v % scale;
    unsigned int width = decimals;
    while (frac != 0 && frac % 10 == 0) {
        frac /= 10;
        width--;
    }
    if (frac == 0)
        (void)snprintf(buf, cap, "%llu", (unsigned long long)(v / scale));
    else
        (void)snprintf(buf, cap, "%llu.%0*llu", (unsigned long long)(v / scale), (int)width,
                       (unsigned long long)frac);
    return buf;
}

/* ---- defaults ----------------------------------------------------------- */

static void store_default(void *obj, const struct fx_conf_key *k)
{
    unsigned char *p = (unsigned char *)obj + k->off;
    if (k->type == FX_CONF_T_DECIMAL) {
        FX_ASSERT(k->size == sizeof(double));
        double d = (double)k->def / 1000.0;
        memcpy(p, &d, sizeof(d));
    } else if (k->size == sizeof(uint64_t)) {
        uint64_t x = k->def;
        memcpy(p, &x, sizeof(x));
    } else if (k->size == sizeof(uint32_t)) {
        uint32_t x = (uint32_t)k->def;
        memcpy(p, &x, sizeof(x));
    } else {
        FX_ASSERT(k->size == sizeof(bool));
        bool x = k->def != 0;
        memcpy(p, &x, sizeof(x));
    }
}

/* FX_CONF_T_TOKENS: split k->def_list at commas into the inline array. */
static void store_default_tokens(void *obj, const struct fx_conf_key *k)
{
    char *arr = (char *)obj + k->off;
    size_t n = 0;
    const char *p = k->def_list != NULL ? k->def_list : "";
    while (*p != '\0' && n < k->max) {
        size_t len = strcspn(p, ",");
        FX_ASSERT(len > 0 && len < k->elem_size);
        memcpy(arr + n * k->elem_size, p, len);
        arr[n * k->elem_size + len] = '\0';
        n++;
        p += len + (p[len] == ',');
    }
    memcpy((char *)obj + k->count_off, &n, sizeof(n));
}

void fx_conf_schema_defaults(const struct fx_conf_section *s, void *obj)
{
    for (size_t i = 0; i < s->nkeys; i++) {
        if (s->keys[i].type == FX_CONF_T_TOKENS)
            store_default_tokens(obj, &s->keys[i]);
        else if (s->keys[i].type != FX_CONF_T_CUSTOM && s->keys[i].type != FX_CONF_T_ADDRS &&
                 s->keys[i].size != 0)
            store_default(obj, &s->keys[i]);
    }
}

const struct fx_conf_section *fx_conf_schema_find(const char *path)
{
    for (size_t i = 0; fx_conf_sections[i] != NULL; i++) {
        if (strcmp(fx_conf_sections[i]->path, path) == 0)
            return fx_conf_sections[i];
    }
    return NULL;
}

const struct fx_conf_section *fx_conf__section(const char *path)
{
    const struct fx_conf_section *s = fx_conf_schema_find(path);
    FX_ASSERT(s != NULL);
    return s;
}

/* ---- reference ---------------------------------------------------------- */

static const char *type_text(const struct fx_conf_key *k)
{
    if (k->type_doc != NULL)
        return k->type_doc;
    switch (k->type) {
    case FX_CONF_T_DURATION:
        return "duration";
    case FX_CONF_T_SIZE:
        return "size";
    case FX_CONF_T_UINT:
        return "integer";
    case FX_CONF_T_BOOL:
        return "`true` or `false`";
    case FX_CONF_T_PERCENT:
        return "percentage";
    case FX_CONF_T_DECIMAL:
        return "number";
    case FX_CONF_T_ADDRS:
        return "address, or list of addresses";
    case FX_CONF_T_TOKENS:
        return "list of names";
    case FX_CONF_T_CUSTOM:
    default:
        return "";
    }
}

/* Format a value of `k`'s type in stored units as it is written in YAML. */
static const char *value_text(char *buf, size_t cap, const struct fx_conf_key *k, uint64_t v)
{
    char num[32];
    switch (k->type) {
    case FX_CONF_T_DURATION:
        return fx_conf__format_ms(buf, cap, v);
    case FX_CONF_T_SIZE:
        return fx_conf__format_size(buf, cap, v);
    case FX_CONF_T_BOOL:
        (void)snprintf(buf, cap, "%s", v != 0 ? "true" : "false");
        return buf;
    case FX_CONF_T_PERCENT:
        (void)snprintf(buf, cap, "%s%%", fx_conf__format_fixed(num, sizeof(num), v, 2));
        return buf;
    case FX_CONF_T_DECIMAL:
        return fx_conf__format_fixed(buf, cap, v, 3);
    case FX_CONF_T_UINT:
    case FX_CONF_T_CUSTOM:
    default:
        (void)snprintf(buf, cap, "%llu", (unsigned long long)v);
        return buf;
    }
}

static const char *default_text(char *buf, size_t cap, const struct fx_conf_key *k)
{
    if (k->def_doc != NULL)
        return k->def_doc;
    if ((k->flags & FX_CONF_K_REQUIRED) != 0)
        return "required";
    if (k->type == FX_CONF_T_TOKENS) {
        (void)snprintf(buf, cap, "`[%s]`", k->def_list != NULL ? k->def_list : "");
        return buf;
    }
    if (k->type == FX_CONF_T_CUSTOM || k->type == FX_CONF_T_ADDRS)
        return "";
    char v[48];
    (void)snprintf(buf, cap, "`%s`", value_text(v, sizeof(v), k, k->def));
    return buf;
}

static const char *range_text(char *buf, size_t cap, const struct fx_conf_key *k)
{
    char lo[48];
    char hi[48];
    if (k->range_doc != NULL)
        return k->range_doc;
    if (k->type == FX_CONF_T_ADDRS)
        return (k->flags & FX_CONF_K_PORT0) != 0 ? "port 0..65535" : "port 1..65535";
    if (k->type == FX_CONF_T_TOKENS) {
        (void)snprintf(buf, cap, "at most %llu, each 1..%zu bytes", (unsigned long long)k->max,
                       k->elem_size - 1);
        return buf;
    }
    if (k->type == FX_CONF_T_CUSTOM || k->type == FX_CONF_T_BOOL)
        return "";
    if ((k->flags & FX_CONF_K_ABOVE) != 0)
        (void)snprintf(buf, cap, "more than %s, at most %s", value_text(lo, sizeof(lo), k, k->min),
                       value_text(hi, sizeof(hi), k, k->max));
    else
        (void)snprintf(buf, cap, "%s..%s", value_text(lo, sizeof(lo), k, k->min),
                       value_text(hi, sizeof(hi), k, k->max));
    return buf;
}

static int reference_section(FILE *f, const struct fx_conf_section *s)
{
    char def[96];
    char range[96];
    int bad = 0;
    bad |= fprintf(f, "%s%s -->\n", REF_BEGIN, s->path) < 0;
    bad |= fputs("| key | type | default | range | meaning |\n|---|---|---|---|---|\n", f) < 0;
    for (size_t i = 0; i < s->nkeys; i++) {
        const struct fx_conf_key *k = &s->keys[i];
        bad |= fprintf(f, "| `%s` | %s | %s | %s | %s |\n", k->name, type_text(k),
                       default_text(def, sizeof(def), k), range_text(range, sizeof(range), k),
                       k->doc != NULL ? k->doc : "") < 0;
    }
    bad |= fprintf(f, "%s\n", REF_END) < 0;
    return bad ? FX_EIO : 0;
}

int fx_conf_schema_reference_md(FILE *f)
{
    for (size_t i = 0; fx_conf_sections[i] != NULL; i++) {
        if (i > 0 && fputc('\n', f) == EOF)
            return FX_EIO;
        int rc = reference_section(f, fx_conf_sections[i]);
        if (rc != 0)
            return rc;
    }
    return fflush(f) == 0 ? 0 : FX_EIO;
}

/* ---- did you mean ------------------------------------------------------- */

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent
 * transpositions), on words of at most SUGGEST_WORD bytes. */
static size_t osa_distance(const char *a, size_t la, const char *b, size_t lb)
{
    size_t d[SUGGEST_WORD + 1][SUGGEST_WORD + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    }
    return d[la][lb];
}

const char *fx_conf_suggest(const char *word, const void *candidates, size_t n, size_t stride)
{
    size_t lw = strlen(word);
    const char *best = NULL;
    size_t best_d = SUGGEST_MAX + 1;
    if (lw == 0 || lw > SUGGEST_WORD)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *c = NULL;
        memcpy(&c, (const unsigned char *)candidates + i * stride, sizeof(c));
        size_t lc = c != NULL ? strlen(c) : 0;
        if (lc == 0 || lc > SUGGEST_WORD || strcmp(c, word) == 0)
            continue;
        size_t dist = osa_distance(word, lw, c, lc);
        if (dist < best_d && dist < lw) {
            best = c;
            best_d = dist;
        }
    }
    return best;
}
