/* YAML configuration loading and validation.
 *
 * The text is parsed twice with libyaml: an event pass rejects what the
 * document API would hide or expand (aliases, several documents, deep
 * nesting) and reports syntax errors; then yaml_parser_load() builds the node
 * graph, which is walked iteratively against static key tables. Every error
 * names the file, the line and column of the offending node and the key path.
 * admin.token_file is read during the walk; nothing else touches the disk. */
#include "conf.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include <openssl/evp.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "../core/err.h"
#include "../core/str.h"
#include "../http/http.h"
#include "../net/net.h"
#include "conf_int.h"
#include "schema.h"

#define CONF_MAX_DEPTH  64          /* nested mappings/lists accepted */
#define CONF_MAX_BYTES  (16u << 20) /* largest configuration text */
#define CONF_MAX_ERRORS 100         /* errors listed by fx_conf_check() */
#define QUOTE_MAX       48          /* value bytes quoted in a message */
#define QBUF            (QUOTE_MAX * 4 + 8)
#define MAX_FIELDS      16 /* keys in one table */
#define NAME_MAX_LEN    64 /* upstream and route names */
#define DURATION_MAX_MS (24ull * 3600 * 1000)
#define NO_INDEX        SIZE_MAX
#define PATH_QUOTE_MAX  120 /* file path bytes quoted in a message */
#define PQBUF           (PATH_QUOTE_MAX * 4 + 8)
#define PCT_MAX_BP      10000u /* 100% in basis points */
#define TOKEN_MIN_LEN   16
#define TOKEN_NAME_MAX  32
#define TOKEN_FILE_MAX  (64u << 10) /* largest admin token file */
#define RAMP_MIN_MS     100ull      /* ramp.interval; short only for tests */
#define RAMP_MAX_MS     (7ull * 24 * 3600 * 1000)
#define DECIMAL_MAX     100000ull /* guard ratios: 100, in thousandths */
#define STORE_DEFAULT   "ficus.db"

struct fx_conf_loader {
    const char *name;              /* borrowed: file name used in messages */
    yaml_document_t *doc;          /* borrowed */
    struct fx_conf *conf;          /* borrowed: the snapshot being filled */
    struct fx_err *err;            /* borrowed: may be NULL */
    const char *key;               /* borrowed: key being parsed, from a field table */
    yaml_node_t *routes;           /* borrowed: parsed once upstreams are known */
    yaml_node_t *admin;            /* borrowed: admin.listen value, for the overlap check */
    yaml_node_t *mig_to;           /* borrowed: migrate.to value of the route being parsed */
    yaml_node_t *shadow_to;        /* borrowed: shadow.to value of the route being parsed */
    yaml_node_t *shadow_secondary; /* borrowed: shadow.secondary value, or NULL */
    size_t route_idx;              /* index of the route being parsed */
    char where[QBUF + 16];         /* current mapping for key errors, e.g. `route "a" match` */
    char ctx[2 * QBUF];            /* message prefix, e.g. `upstream "legacy": ` */
    FILE *diag;                    /* borrowed or NULL: every error is written here, one a line */
    size_t nerrors;                /* errors reported; `err` holds the first */
};

#define FIELD(k, fn, req)                                                    \
    {                                                                        \
        .name = (k), .parse = (fn), .flags = (req) ? FX_CONF_K_REQUIRED : 0u \
    }
#define FIELD_NUM(k, t, st, member, lo, hi)                                            \
    {                                                                                  \
        .name = (k), .type = (t), FX_CONF_MEMBER(st, member), .min = (lo), .max = (hi) \
    }
#define FIELD_NUM_REQ(k, t, st, member, lo, hi)                                            \
    {                                                                                      \
        .name = (k), .type = (t), .flags = FX_CONF_K_REQUIRED, FX_CONF_MEMBER(st, member), \
        .min = (lo), .max = (hi)                                                           \
    }
#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

static const char hex_digits[] = "0123456789abcdef";

/* ---- messages ----------------------------------------------------------- */

/* Write `s` as a double-quoted, escaped string of at most `max` source
 * bytes (then "...") into buf, which holds at least max * 4 + 8 bytes. */
static const char *quote_max(char *buf, const char *s, size_t len, size_t max)
{
    size_t o = 0;
    size_t i = 0;
    buf[o++] = '"';
    for (; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex_digits[c >> 4];
            buf[o++] = hex_digits[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* Quote a value into buf (QBUF bytes). */
static const char *quote(char *buf, const char *s, size_t len)
{
    return quote_max(buf, s, len, QUOTE_MAX);
}

/* Quote a file path into buf (PQBUF bytes): paths get more room than values. */
static const char *quote_path(char *buf, const char *path)
{
    return quote_max(buf, path, strlen(path), PATH_QUOTE_MAX);
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static const char *quote_node(char *buf, const yaml_node_t *n)
{
    return quote(buf, scalar(n), n->data.scalar.length);
}

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* Describe what a node is, for "expected X, got Y" messages. */
static const char *describe(char *buf, const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return is_null(n) ? "null" : quote_node(buf, n);
    default:
        return "nothing";
    }
}

__attribute__((format(printf, 4, 0))) static int vfail(struct fx_conf_loader *ld,
                                                       const yaml_mark_t *m, const char *prefix,
                                                       const char *fmt, va_list ap)
{
    char msg[512];
    char line[1024];
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): the caller did va_start */
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    if (m == NULL)
        (void)snprintf(line, sizeof(line), "%s: %s%s", ld->name, prefix, msg);
    else
        (void)snprintf(line, sizeof(line), "%s:%zu:%zu: %s%s", ld->name, m->line + 1, m->column + 1,
                       prefix, msg);
    if (ld->nerrors == 0)
        (void)FX_ERR_SET(ld->err, FX_ECONF, "%s", line);
    if (ld->diag != NULL && ld->nerrors < CONF_MAX_ERRORS)
        (void)fprintf(ld->diag, "%s\n", line);
    ld->nerrors++;
    return FX_ECONF;
}

/* Fail at node `n` (NULL: no position) with a message without key prefix. */
__attribute__((format(printf, 3, 4))) static int fail(struct fx_conf_loader *ld,
                                                      const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(ld, n ? &n->start_mark : NULL, "", fmt, ap);
    va_end(ap);
    return rc;
}

__attribute__((format(printf, 3, 4))) static int
fail_mark(struct fx_conf_loader *ld, const yaml_mark_t *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(ld, m, "", fmt, ap);
    va_end(ap);
    return rc;
}

/* Fail at `n` with the current context prefix only: `route "a": cause`. */
__attribute__((format(printf, 3, 4))) static int
fail_ctx(struct fx_conf_loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(ld, &n->start_mark, ld->ctx, fmt, ap);
    va_end(ap);
    return rc;
}

__attribute__((format(printf, 4, 0))) static int
vfail_item(struct fx_conf_loader *ld, const yaml_node_t *n, size_t idx, const char *fmt, va_list ap)
{
    char prefix[sizeof(ld->ctx) + 64];
    if (idx == NO_INDEX)
        (void)snprintf(prefix, sizeof(prefix), "%s%s: ", ld->ctx, ld->key);
    else
        (void)snprintf(prefix, sizeof(prefix), "%s%s[%zu]: ", ld->ctx, ld->key, idx);
    return vfail(ld, &n->start_mark, prefix, fmt, ap);
}

/* Fail at `n` naming the current key, and element `idx` unless NO_INDEX:
 * `upstream "a": servers[0]: cause`. */
__attribute__((format(printf, 4, 5))) static int
fail_item(struct fx_conf_loader *ld, const yaml_node_t *n, size_t idx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail_item(ld, n, idx, fmt, ap);
    va_end(ap);
    return rc;
}

/* Fail at `n` naming the current key: `limits.idle_timeout: cause`. */
__attribute__((format(printf, 3, 4))) static int
fail_key(struct fx_conf_loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail_item(ld, n, NO_INDEX, fmt, ap);
    va_end(ap);
    return rc;
}

static int fail_oom(struct fx_conf_loader *ld)
{
    (void)FX_ERR_SET(ld->err, FX_ENOMEM, "%s: out of memory", ld->name);
    return FX_ENOMEM;
}

/* Append to the message prefix; returns the length to restore with ctx_pop(). */
__attribute__((format(printf, 2, 3))) static size_t ctx_push(struct fx_conf_loader *ld,
                                                             const char *fmt, ...)
{
    size_t mark = strlen(ld->ctx);
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    (void)vsnprintf(ld->ctx + mark, sizeof(ld->ctx) - mark, fmt, ap);
    va_end(ap);
    return mark;
}

static void ctx_pop(struct fx_conf_loader *ld, size_t mark)
{
    ld->ctx[mark] = '\0';
}

/* ---- node access -------------------------------------------------------- */

static yaml_node_t *get_node(struct fx_conf_loader *ld, int id)
{
    return yaml_document_get_node(ld->doc, id);
}

static size_t seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static size_t map_len(const yaml_node_t *n)
{
    return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

/* Return NULL when `n` is a usable string (a non-null scalar without NUL
 * bytes), otherwise the reason, formatted into buf (QBUF bytes). */
static const char *check_string(char *buf, const yaml_node_t *n)
{
    char q[QBUF];
    if (n->type != YAML_SCALAR_NODE || is_null(n)) {
        (void)snprintf(buf, QBUF, "expected a string, got %s", describe(q, n));
        return buf;
    }
    if (strlen(scalar(n)) != n->data.scalar.length) {
        (void)snprintf(buf, QBUF, "%s contains a NUL byte", quote_node(q, n));
        return buf;
    }
    return NULL;
}

static int expect_string(struct fx_conf_loader *ld, const yaml_node_t *n, size_t idx)
{
    char why[QBUF];
    if (check_string(why, n) != NULL)
        return fail_item(ld, n, idx, "%s", why);
    return 0;
}

static int expect_map(struct fx_conf_loader *ld, const yaml_node_t *n)
{
    char q[QBUF];
    if (n->type != YAML_MAPPING_NODE)
        return fail_key(ld, n, "expected a mapping, got %s", describe(q, n));
    return 0;
}

static int dup_string(struct fx_conf_loader *ld, const yaml_node_t *n, char **out)
{
    *out = strdup(scalar(n));
    return *out == NULL ? fail_oom(ld) : 0;
}

/* Parse a run of decimal digits at s; returns how many were read (0 when
 * there are none or the value overflows). */
static size_t parse_digits(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

static bool parse_uint(const char *s, uint64_t *out)
{
    size_t n = parse_digits(s, out);
    return n > 0 && s[n] == '\0';
}

/* Parse digits, then optionally '.' and 1..max_decimals digits, at s, as an
 * integer scaled by 10^max_decimals ("12.5" with 2 decimals: 1250). Returns
 * how many bytes were read, 0 on bad syntax. Values above `cap` are stored
 * as cap + 1 so that callers report them as out of range. */
static size_t parse_fixed(const char *s, unsigned int max_decimals, uint64_t cap, uint64_t *out)
{
    uint64_t whole = 0;
    uint64_t frac = 0;
    size_t n = parse_digits(s, &whole);
    size_t nfrac = 0;
    if (n == 0)
        return 0;
    if (s[n] == '.') {
        nfrac = parse_digits(s + n + 1, &frac);
        if (nfrac == 0 || nfrac > max_decimals)
            return 0;
        n += 1 + nfrac;
    }
    uint64_t scale = 1;
    for (unsigned int i = 0; i < max_decimals; i++)
        scale *= 10;
    for (size_t i = nfrac; i < max_decimals; i++)
        frac *= 10;
    *out = whole > cap / scale ? cap + 1 : whole * scale + frac;
    if (*out > cap)
        *out = cap + 1;
    return n;
}

int fx_conf_parse_percent(const char *s, uint32_t *bp)
{
    uint64_t v = 0;
    if (s == NULL || bp == NULL)
        return FX_EINVAL;
    size_t n = parse_fixed(s, 2, PCT_MAX_BP, &v);
    if (n == 0 || (s[n] != '\0' && strcmp(s + n, "%") != 0))
        return FX_EINVAL;
    if (v > PCT_MAX_BP)
        return FX_ELIMIT;
    *bp = (uint32_t)v;
    return 0;
}

/* Thousandths of a decimal produced by parse_decimal(); exact, since
 * the double was computed from such an integer. */
static uint64_t to_milli(double d)
{
    return (uint64_t)(d * 1000.0 + 0.5);
}

/* ---- generic mapping walk ----------------------------------------------- */

static const struct fx_conf_key *find_field(const struct fx_conf_key *fields, size_t n,
                                            const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i].name, key) == 0)
            return &fields[i];
    }
    return NULL;
}

static int parse_builtin(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                         void *obj);
static int parse_schema_section(struct fx_conf_loader *ld, yaml_node_t *val,
                                const struct fx_conf_section *sec, void *obj);

/* Report an unknown key `k` of the current mapping, with the closest known
 * key as a suggestion. */
static int fail_unknown_key(struct fx_conf_loader *ld, const yaml_node_t *k,
                            const struct fx_conf_key *fields, size_t nfields)
{
    char q[QBUF];
    const char *hint = fx_conf_suggest(scalar(k), fields, nfields, sizeof(fields[0]));
    if (hint != NULL)
        return fail(ld, k, "unknown key %s in %s (did you mean \"%s\"?)", quote_node(q, k),
                    ld->where, hint);
    return fail(ld, k, "unknown key %s in %s", quote_node(q, k), ld->where);
}

/* Dispatch each key of `map` to its entry in `fields`; reject unknown and
 * repeated keys and report missing required ones at the mapping. A key in
 * error is reported and skipped, and the walk goes on with the next one, so
 * that every error of the document is reported; the result is then
 * FX_ECONF (FX_ENOMEM stops at once). Key errors name ld->where; the
 * callers set ld->ctx for value errors. */
static int walk_map(struct fx_conf_loader *ld, yaml_node_t *map, const struct fx_conf_key *fields,
                    size_t nfields, void *obj)
{
    size_t seen[MAX_FIELDS] = { 0 }; /* line of the first occurrence, 0 = absent */
    char q[QBUF];
    char why[QBUF];
    int result = 0;
    FX_ASSERT(nfields <= MAX_FIELDS && map->type == YAML_MAPPING_NODE);
    const char *outer_key = ld->key;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = get_node(ld, p->key);
        yaml_node_t *v = get_node(ld, p->value);
        if (k == NULL || v == NULL)
            return fail(ld, map, "malformed YAML document");
        const struct fx_conf_key *f = NULL;
        int rc = FX_ECONF;
        if (check_string(why, k) != NULL)
            (void)fail(ld, k, "invalid key in %s: %s", ld->where, why);
        else if ((f = find_field(fields, nfields, scalar(k))) == NULL)
            (void)fail_unknown_key(ld, k, fields, nfields);
        else if (seen[f - fields] != 0)
            (void)fail(ld, k, "duplicate key %s in %s (first at line %zu)", quote_node(q, k),
                       ld->where, seen[f - fields]);
        else
            rc = 0;
        if (rc == 0 && f != NULL) {
            seen[f - fields] = k->start_mark.line + 1;
            ld->key = f->name;
            rc = f->parse != NULL ? f->parse(ld, f, v, obj) : parse_builtin(ld, f, v, obj);
            ld->key = outer_key;
        }
        if (rc == FX_ENOMEM)
            return rc;
        result = rc != 0 ? FX_ECONF : result;
    }
    for (size_t i = 0; i < nfields; i++) {
        if ((fields[i].flags & FX_CONF_K_REQUIRED) != 0 && seen[i] == 0)
            result = fail(ld, map, "missing required key \"%s\" in %s", fields[i].name, ld->where);
    }
    return result;
}

/* Walk `map` as a nested section: key errors say `in <where>`, value
 * errors start with the `ctx` prefix; both are restored afterwards. */
static int walk_section(struct fx_conf_loader *ld, yaml_node_t *map, const char *where,
                        const char *ctx, const struct fx_conf_key *fields, size_t nfields,
                        void *obj)
{
    char saved_where[sizeof(ld->where)];
    memcpy(saved_where, ld->where, sizeof(saved_where));
    (void)snprintf(ld->where, sizeof(ld->where), "%s", where);
    size_t mark = ctx_push(ld, "%s", ctx);
    int rc = walk_map(ld, map, fields, nfields, obj);
    ctx_pop(ld, mark);
    memcpy(ld->where, saved_where, sizeof(saved_where));
    return rc;
}

/* Walk `val`, the value of key `name` (with its separator: " match",
 * ".ramp") of the current mapping, as a nested mapping: key errors say
 * `in <where><name>`, value errors are prefixed `<name>.`. */
static int walk_nested(struct fx_conf_loader *ld, yaml_node_t *val, const char *name,
                       const struct fx_conf_key *fields, size_t nfields, void *obj)
{
    char where[sizeof(ld->where) + 16];
    char ctx[32];
    int rc = expect_map(ld, val);
    if (rc != 0)
        return rc;
    (void)snprintf(where, sizeof(where), "%s%s", ld->where, name);
    (void)snprintf(ctx, sizeof(ctx), "%s.", name + 1);
    return walk_section(ld, val, where, ctx, fields, nfields, obj);
}

/* ---- scalar field parsers ----------------------------------------------- */

static void store_uint(void *obj, const struct fx_conf_key *f, uint64_t v)
{
    unsigned char *p = (unsigned char *)obj + f->off;
    if (f->size == sizeof(uint64_t)) {
        uint64_t x = v;
        memcpy(p, &x, sizeof(x));
    } else {
        FX_ASSERT(f->size == sizeof(unsigned int));
        unsigned int x = (unsigned int)v;
        memcpy(p, &x, sizeof(x));
    }
}

static int parse_duration_field(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                                yaml_node_t *val, void *obj)
{
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    uint64_t ms = 0;
    if (parse_uint(scalar(val), &ms) && ms != 0)
        return fail_key(ld, val, "expected a duration like 10s, got %s", quote_node(q, val));
    if (fx_conf_parse_duration(scalar(val), &ms) != 0) {
        return fail_key(ld, val, "invalid duration %s: expected a number followed by ms, s, m or h",
                        quote_node(q, val));
    }
    if (ms < f->min || ms > f->max) {
        char lo[32];
        char hi[32];
        return fail_key(ld, val, "%s is out of range %s..%s", scalar(val),
                        fx_conf__format_ms(lo, sizeof(lo), f->min),
                        fx_conf__format_ms(hi, sizeof(hi), f->max));
    }
    store_uint(obj, f, ms);
    return 0;
}

/* FX_CONF_T_SIZE and FX_CONF_T_UINT: a count of bytes or things. */
static int parse_count_field(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                             yaml_node_t *val, void *obj)
{
    char q[QBUF];
    bool size = f->type == FX_CONF_T_SIZE;
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    uint64_t v = 0;
    if (size && fx_conf_parse_size(scalar(val), &v) != 0)
        return fail_key(ld, val,
                        "invalid size %s: expected bytes or a number followed by KiB, MiB or GiB",
                        quote_node(q, val));
    if (!size && !parse_uint(scalar(val), &v))
        return fail_key(ld, val, "expected an integer, got %s", quote_node(q, val));
    if (v < f->min || v > f->max) {
        return fail_key(ld, val, "%s is out of range %llu..%llu%s", scalar(val),
                        (unsigned long long)f->min, (unsigned long long)f->max,
                        size ? " bytes" : "");
    }
    store_uint(obj, f, v);
    return 0;
}

/* Check that `n` (element `idx` of the current key, or NO_INDEX) is a
 * percentage within lo..hi basis points and store it in *bp. */
static int expect_percent(struct fx_conf_loader *ld, const yaml_node_t *n, size_t idx, uint64_t lo,
                          uint64_t hi, uint32_t *bp)
{
    char q[QBUF];
    int rc = expect_string(ld, n, idx);
    if (rc != 0)
        return rc;
    uint32_t v = 0;
    rc = fx_conf_parse_percent(scalar(n), &v);
    if (rc == FX_EINVAL) {
        return fail_item(ld, n, idx, "invalid percentage %s: expected a value like 5%% or 0.25%%",
                         quote_node(q, n));
    }
    if (rc != 0 || v < lo || v > hi) {
        char los[32];
        char his[32];
        return fail_item(ld, n, idx, "%s is out of range %s%%..%s%%", scalar(n),
                         fx_conf__format_fixed(los, sizeof(los), lo, 2),
                         fx_conf__format_fixed(his, sizeof(his), hi, 2));
    }
    *bp = v;
    return 0;
}

static int parse_percent_field(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                               yaml_node_t *val, void *obj)
{
    uint32_t bp = 0;
    FX_ASSERT(f->size == sizeof(uint32_t));
    int rc = expect_percent(ld, val, NO_INDEX, f->min, f->max, &bp);
    if (rc == 0)
        memcpy((unsigned char *)obj + f->off, &bp, sizeof(bp));
    return rc;
}

/* Parse a plain decimal "1.5" (at most three decimals) within lo..hi
 * thousandths into *out; `above` makes lo exclusive. */
static int parse_decimal(struct fx_conf_loader *ld, const yaml_node_t *val, uint64_t lo, bool above,
                         uint64_t hi, double *out)
{
    char q[QBUF];
    char los[32];
    char his[32];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    uint64_t v = 0;
    size_t n = parse_fixed(scalar(val), 3, DECIMAL_MAX, &v);
    if (n == 0 || scalar(val)[n] != '\0')
        return fail_key(ld, val, "expected a number like 1.5, got %s", quote_node(q, val));
    (void)fx_conf__format_fixed(los, sizeof(los), lo, 3);
    (void)fx_conf__format_fixed(his, sizeof(his), hi, 3);
    if (above && (v <= lo || v > hi)) {
        return fail_key(ld, val, "%s is out of range: expected more than %s and at most %s",
                        scalar(val), los, his);
    }
    if (v < lo || v > hi)
        return fail_key(ld, val, "%s is out of range %s..%s", scalar(val), los, his);
    *out = (double)v / 1000.0;
    return 0;
}

/* Join a path from the configuration to the directory of the configuration
 * file, unless it is absolute. Returns a new string or NULL (out of memory). */
static char *resolve_path(const char *conf_path, const char *p)
{
    const char *slash = strrchr(conf_path, '/');
    size_t dlen = (p[0] == '/' || slash == NULL) ? 0 : (size_t)(slash - conf_path) + 1;
    size_t plen = strlen(p);
    char *out = malloc(dlen + plen + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, conf_path, dlen);
    memcpy(out + dlen, p, plen + 1);
    return out;
}

/* ---- addresses ---------------------------------------------------------- */

static int parse_addr(struct fx_conf_loader *ld, const yaml_node_t *n, size_t idx, bool allow_port0,
                      struct fx_addr *out)
{
    int rc = expect_string(ld, n, idx);
    if (rc != 0)
        return rc;
    struct fx_err aerr = { 0 };
    if (fx_addr_parse(scalar(n), out, allow_port0, &aerr) != 0) {
        char q[QBUF];
        return fail_item(ld, n, idx, "invalid address %s: %s", quote_node(q, n), aerr.msg);
    }
    return 0;
}

/* Return how many addresses `val` holds (one scalar or a non-empty list),
 * or 0 after reporting an error. */
static size_t count_addrs(struct fx_conf_loader *ld, const yaml_node_t *val)
{
    char q[QBUF];
    if (val->type == YAML_SCALAR_NODE && !is_null(val))
        return 1;
    if (val->type != YAML_SEQUENCE_NODE) {
        (void)fail_key(ld, val, "expected a list of addresses, got %s", describe(q, val));
        return 0;
    }
    if (seq_len(val) == 0)
        (void)fail_key(ld, val, "at least one address is required");
    return seq_len(val);
}

/* Parse address `i` of `val` (a list, or a single scalar when i is 0). */
static int parse_addr_at(struct fx_conf_loader *ld, const yaml_node_t *val, size_t i,
                         bool allow_port0, struct fx_addr *out)
{
    if (val->type != YAML_SEQUENCE_NODE)
        return parse_addr(ld, val, NO_INDEX, allow_port0, out);
    const yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
    if (item == NULL)
        return fail(ld, val, "malformed YAML document");
    return parse_addr(ld, item, i, allow_port0, out);
}

static bool addr_has_port(const struct fx_addr *a)
{
    size_t len = strlen(a->text);
    return !(len >= 2 && strcmp(a->text + len - 2, ":0") == 0);
}

/* ---- top-level keys ----------------------------------------------------- */

/* FX_CONF_T_ADDRS: one address or a non-empty list, into a new array of
 * f->elem_size elements (each starting with a struct fx_addr). */
static int parse_addrs_field(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                             yaml_node_t *val, void *obj)
{
    unsigned char *o = obj;
    size_t n = count_addrs(ld, val);
    if (n == 0)
        return FX_ECONF;
    unsigned char *arr = calloc(n, f->elem_size);
    if (arr == NULL)
        return fail_oom(ld);
    memcpy(o + f->off, &arr, sizeof(arr));
    memcpy(o + f->count_off, &n, sizeof(n));
    bool port0 = (f->flags & FX_CONF_K_PORT0) != 0;
    int result = 0;
    for (size_t i = 0; i < n; i++) {
        struct fx_addr *a = (struct fx_addr *)(void *)(arr + i * f->elem_size);
        int rc = parse_addr_at(ld, val, i, port0, a);
        result = rc != 0 ? rc : result;
        if (rc != 0 || (f->flags & FX_CONF_K_UNIQUE) == 0 || !addr_has_port(a))
            continue;
        for (size_t j = 0; j < i; j++) {
            const struct fx_addr *b = (const struct fx_addr *)(void *)(arr + j * f->elem_size);
            if (strcmp(a->text, b->text) == 0) {
                result = fail_item(ld, get_node(ld, val->data.sequence.items.start[i]), i,
                                   "duplicate address \"%s\"", a->text);
                break;
            }
        }
    }
    return result;
}

static bool is_token(const char *s);

/* FX_CONF_T_TOKENS: a list of distinct tokens into f's inline array. */
static int parse_tokens_field(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                              yaml_node_t *val, void *obj)
{
    char q[QBUF];
    if (val->type != YAML_SEQUENCE_NODE)
        return fail_key(ld, val, "expected a list, got %s", describe(q, val));
    size_t n = seq_len(val);
    if (n > f->max)
        return fail_key(ld, val, "at most %llu names, got %zu", (unsigned long long)f->max, n);
    char *arr = (char *)obj + f->off;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
        if (item == NULL)
            return fail(ld, val, "malformed YAML document");
        int rc = expect_string(ld, item, i);
        if (rc != 0)
            return rc;
        const char *s = scalar(item);
        if (!is_token(s) || strlen(s) >= f->elem_size)
            return fail_item(ld, item, i, "invalid name %s: expected a token of 1..%zu bytes",
                             quote_node(q, item), f->elem_size - 1);
        for (size_t j = 0; j < i; j++) {
            if (strcasecmp(arr + j * f->elem_size, s) == 0)
                return fail_item(ld, item, i, "%s is listed twice", quote_node(q, item));
        }
        memcpy(arr + i * f->elem_size, s, strlen(s) + 1);
    }
    memcpy((char *)obj + f->count_off, &n, sizeof(n));
    return 0;
}

/* ---- services for modules' custom parsers (schema.h) ------------------ */

int fx_conf_fail(struct fx_conf_loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = n != NULL ? vfail_item(ld, n, NO_INDEX, fmt, ap) : vfail(ld, NULL, ld->ctx, fmt, ap);
    va_end(ap);
    return rc;
}

const char *fx_conf_string(struct fx_conf_loader *ld, const yaml_node_t *n)
{
    return expect_string(ld, n, NO_INDEX) == 0 ? scalar(n) : NULL;
}

size_t fx_conf_list_len(const yaml_node_t *n)
{
    return n->type == YAML_SEQUENCE_NODE ? seq_len(n) : 0;
}

yaml_node_t *fx_conf_list_item(struct fx_conf_loader *ld, const yaml_node_t *n, size_t i)
{
    if (n->type != YAML_SEQUENCE_NODE || i >= seq_len(n))
        return NULL;
    return get_node(ld, n->data.sequence.items.start[i]);
}

int fx_conf_walk(struct fx_conf_loader *ld, yaml_node_t *n, const struct fx_conf_section *sec,
                 const char *where, void *obj)
{
    char ctx[sizeof(ld->ctx)];
    char q[QBUF];
    fx_conf_schema_defaults(sec, obj);
    if (n->type != YAML_MAPPING_NODE)
        return fail(ld, n, "%s: expected a mapping, got %s", where, describe(q, n));
    (void)snprintf(ctx, sizeof(ctx), "%s.", where);
    char saved[sizeof(ld->ctx)];
    memcpy(saved, ld->ctx, sizeof(saved));
    ld->ctx[0] = '\0';
    int rc = walk_section(ld, n, where, ctx, sec->keys, sec->nkeys, obj);
    memcpy(ld->ctx, saved, sizeof(saved));
    if (sec->finish != NULL)
        sec->finish(obj);
    return rc;
}

const char *fx_conf_context(const struct fx_conf_loader *ld)
{
    return ld->ctx;
}

char *fx_conf_resolve(const struct fx_conf_loader *ld, const char *p)
{
    return resolve_path(ld->conf->path, p);
}

/* Listeners given as mappings (`{address: ..., tls: ...}`, section
 * "listen[]") beside plain address strings: c->listen_tls gets the TLS
 * settings of each (NULL for plain ones). */
static int parse_listen_entries(struct fx_conf_loader *ld, yaml_node_t *val, struct fx_conf *c)
{
    const struct fx_conf_section *sec = fx_conf__section("listen[]");
    bool list = val->type == YAML_SEQUENCE_NODE;
    size_t n = list ? seq_len(val) : 1;
    c->listen = calloc(n, sizeof(*c->listen));
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    c->listen_tls = calloc(n, sizeof(*c->listen_tls));
    if (c->listen == NULL || c->listen_tls == NULL)
        return fail_oom(ld);
    c->nlisten = n;
    int result = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = list ? get_node(ld, val->data.sequence.items.start[i]) : val;
        if (item == NULL)
            return fail(ld, val, "malformed YAML document");
        int rc;
        if (item->type == YAML_MAPPING_NODE) {
            char where[48];
            struct fx_conf_listen e = { 0 };
            (void)snprintf(where, sizeof(where), list ? "listen[%zu]" : "listen", i);
            rc = fx_conf_walk(ld, item, sec, where, &e);
            c->listen[i] = e.addr;
            c->listen_tls[i] = e.tls;
        } else {
            rc = parse_addr(ld, item, list ? i : NO_INDEX, true, &c->listen[i]);
        }
        if (rc == FX_ENOMEM)
            return rc;
        result = rc != 0 ? FX_ECONF : result;
        for (size_t j = 0; rc == 0 && j < i && addr_has_port(&c->listen[i]); j++) {
            if (strcmp(c->listen[i].text, c->listen[j].text) == 0)
                result = fail_item(ld, item, i, "duplicate address \"%s\"", c->listen[i].text);
        }
    }
    return result;
}

static bool has_mapping_item(struct fx_conf_loader *ld, const yaml_node_t *val)
{
    if (val->type == YAML_MAPPING_NODE)
        return true;
    for (size_t i = 0; val->type == YAML_SEQUENCE_NODE && i < seq_len(val); i++) {
        const yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
        if (item != NULL && item->type == YAML_MAPPING_NODE)
            return true;
    }
    return false;
}

int fx_conf__top_listen(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                        void *obj)
{
    (void)f;
    if (has_mapping_item(ld, val))
        return parse_listen_entries(ld, val, obj);
    static const struct fx_conf_key key = {
        .name = "listen",
        .type = FX_CONF_T_ADDRS,
        .flags = FX_CONF_K_PORT0 | FX_CONF_K_UNIQUE,
        .off = offsetof(struct fx_conf, listen),
        .count_off = offsetof(struct fx_conf, nlisten),
        .elem_size = sizeof(struct fx_addr),
    };
    return parse_addrs_field(ld, &key, val, obj);
}

static int parse_admin_listen(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                              yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    int rc = parse_addr(ld, val, NO_INDEX, true, &c->admin_listen);
    if (rc != 0)
        return rc;
    c->admin_enabled = true;
    ld->admin = val;
    return 0;
}

/* ---- admin tokens ------------------------------------------------------- */

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Shrink the view p[0..*len) to drop leading and trailing whitespace. */
static const char *trim(const char *p, size_t *len)
{
    while (*len > 0 && is_space(p[0])) {
        p++;
        (*len)--;
    }
    while (*len > 0 && is_space(p[*len - 1]))
        (*len)--;
    return p;
}

/* [A-Za-z0-9._-]{1,32}: token names become audit-log actors. */
static bool is_token_name(const char *p, size_t len)
{
    if (len == 0 || len > TOKEN_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = p[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
        if (!ok)
            return false;
    }
    return true;
}

static bool is_visible_n(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return false;
    }
    return true;
}

/* Read the token file into a new buffer. Only regular files are accepted:
 * opening a FIFO or a terminal would block, or read forever. */
static int read_token_file(struct fx_conf_loader *ld, const yaml_node_t *val, const char *path,
                           const char *qpath, char **out, size_t *len)
{
    char ebuf[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return fail_key(ld, val, "cannot open %s: %s", qpath,
                        strerror_r(errno, ebuf, sizeof(ebuf)));
    struct stat st;
    int rc = 0;
    char *buf = NULL;
    size_t n = 0;
    if (fstat(fd, &st) != 0) {
        rc = fail_key(ld, val, "cannot read %s: %s", qpath, strerror_r(errno, ebuf, sizeof(ebuf)));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fail_key(ld, val, "%s is not a regular file", qpath);
        goto out;
    }
    buf = malloc(TOKEN_FILE_MAX + 1);
    if (buf == NULL) {
        rc = fail_oom(ld);
        goto out;
    }
    for (;;) {
        ssize_t got = read(fd, buf + n, TOKEN_FILE_MAX + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = fail_key(ld, val, "cannot read %s: %s", qpath,
                          strerror_r(errno, ebuf, sizeof(ebuf)));
            goto out;
        }
        n += (size_t)got;
        if (got == 0 || n > TOKEN_FILE_MAX)
            break;
    }
    if (n > TOKEN_FILE_MAX) {
        rc = fail_key(ld, val, "%s is larger than %u bytes", qpath, TOKEN_FILE_MAX);
        goto out;
    }
    *out = buf;
    *len = n;
    buf = NULL;
out:
    if (buf != NULL)
        explicit_bzero(buf, n);
    free(buf);
    (void)close(fd);
    return rc;
}

/* The role named by p[0..len), or 0. */
static enum fx_conf_admin_role role_of(const char *p, size_t len)
{
    static const struct {
        const char *name;
        enum fx_conf_admin_role role;
    } roles[] = {
        { "read", FX_CONF_ROLE_READ },
        { "operate", FX_CONF_ROLE_OPERATE },
        { "admin", FX_CONF_ROLE_ADMIN },
    };
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (strlen(roles[i].name) == len && memcmp(roles[i].name, p, len) == 0)
            return roles[i].role;
    }
    return (enum fx_conf_admin_role)0;
}

/* Split off the " ROLE" of a "NAME:TOKEN ROLE" line. Tokens never hold
 * blanks, so a word after a blank was an error before roles existed: older
 * files keep their meaning (no role: admin), and a misspelt role fails the
 * load instead of granting admin. Shrinks *len to what precedes the role.
 * Returns 0 or FX_ECONF. */
static int split_role(struct fx_conf_loader *ld, const yaml_node_t *val, const char *qpath,
                      size_t lineno, const char *p, size_t *len, enum fx_conf_admin_role *role)
{
    *role = FX_CONF_ROLE_ADMIN;
    const char *colon = memchr(p, ':', *len);
    size_t tlen = colon != NULL ? *len - (size_t)(colon + 1 - p) : *len;
    const char *t = trim(colon != NULL ? colon + 1 : p, &tlen);
    size_t n = tlen;
    while (n > 0 && !is_space(t[n - 1]))
        n--;
    if (n == 0)
        return 0;
    *role = role_of(t + n, tlen - n);
    if (*role == 0)
        return fail_key(ld, val,
                        "%s line %zu: unknown role after the token (use read, operate or admin)",
                        qpath, lineno);
    *len = (size_t)(t + n - p);
    (void)trim(p, len);
    return 0;
}

/* Add the token of one non-empty, non-comment line. Messages never quote
 * the line: whatever it holds may be a secret. */
static int add_token(struct fx_conf_loader *ld, const yaml_node_t *val, const char *qpath,
                     size_t lineno, const char *p, size_t len)
{
    struct fx_conf *c = ld->conf;
    enum fx_conf_admin_role role = FX_CONF_ROLE_ADMIN;
    int rc = split_role(ld, val, qpath, lineno, p, &len, &role);
    if (rc != 0)
        return rc;
    const char *colon = memchr(p, ':', len);
    const char *name = "admin";
    size_t name_len = strlen(name);
    const char *tok = p;
    size_t tok_len = len;
    if (colon != NULL) {
        name_len = (size_t)(colon - p);
        tok_len = len - name_len - 1;
        name = trim(p, &name_len);
        tok = trim(colon + 1, &tok_len);
    }
    if (!is_token_name(name, name_len)) {
        return fail_key(ld, val,
                        "%s line %zu: invalid token name before ':' (use 1 to %d letters, digits, "
                        "'-', '_' or '.')",
                        qpath, lineno, TOKEN_NAME_MAX);
    }
    if (tok_len < TOKEN_MIN_LEN) {
        return fail_key(ld, val, "%s line %zu: token for \"%.*s\" is shorter than %d characters",
                        qpath, lineno, (int)name_len, name, TOKEN_MIN_LEN);
    }
    if (!is_visible_n(tok, tok_len)) {
        return fail_key(ld, val,
                        "%s line %zu: token for \"%.*s\" contains spaces or control characters",
                        qpath, lineno, (int)name_len, name);
    }
    for (size_t i = 0; i < c->nadmin_tokens; i++) {
        if (strlen(c->admin_tokens[i]) == tok_len && memcmp(c->admin_tokens[i], tok, tok_len) == 0)
            return fail_key(ld, val, "%s line %zu: token for \"%.*s\" repeats an earlier token",
                            qpath, lineno, (int)name_len, name);
    }
    char *name_copy = strndup(name, name_len);
    char *tok_copy = strndup(tok, tok_len);
    if (name_copy == NULL || tok_copy == NULL) {
        free(name_copy);
        free(tok_copy);
        return fail_oom(ld);
    }
    c->admin_token_names[c->nadmin_tokens] = name_copy;
    c->admin_tokens[c->nadmin_tokens] = tok_copy;
    c->admin_token_roles[c->nadmin_tokens] = role;
    c->nadmin_tokens++;
    return 0;
}

/* One token per non-empty line: "NAME:TOKEN" or a bare "TOKEN" (named
 * "admin"), optionally followed by a blank and a role (read, operate or
 * admin; none means admin); lines starting with '#' are comments. */
static int parse_tokens(struct fx_conf_loader *ld, const yaml_node_t *val, const char *qpath,
                        const char *text, size_t len)
{
    struct fx_conf *c = ld->conf;
    size_t lines = 1;
    for (const char *nl = text; (nl = memchr(nl, '\n', len - (size_t)(nl - text))) != NULL; nl++)
        lines++;
    c->admin_tokens = calloc(lines, sizeof(*c->admin_tokens));
    c->admin_token_names = calloc(lines, sizeof(*c->admin_token_names));
    c->admin_token_roles = calloc(lines, sizeof(*c->admin_token_roles));
    if (c->admin_tokens == NULL || c->admin_token_names == NULL || c->admin_token_roles == NULL)
        return fail_oom(ld);
    const char *p = text;
    const char *end = text + len;
    for (size_t lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *line = trim(p, &n);
        p = nl ? nl + 1 : end;
        if (n == 0 || line[0] == '#')
            continue;
        int rc = add_token(ld, val, qpath, lineno, line, n);
        if (rc != 0)
            return rc;
    }
    if (c->nadmin_tokens == 0)
        return fail_key(ld, val, "%s holds no token", qpath);
    return 0;
}

static int parse_admin_token_file(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                                  yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    char qpath[PQBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    if (scalar(val)[0] == '\0')
        return fail_key(ld, val, "expected a file path, got \"\"");
    rc = dup_string(ld, val, &c->admin_token_file);
    if (rc != 0)
        return rc;
    char *path = resolve_path(c->path, scalar(val));
    if (path == NULL)
        return fail_oom(ld);
    (void)quote_path(qpath, path);
    char *text = NULL;
    size_t len = 0;
    rc = read_token_file(ld, val, path, qpath, &text, &len);
    if (rc == 0 && text != NULL) {
        rc = parse_tokens(ld, val, qpath, text, len);
        explicit_bzero(text, len);
    }
    free(text);
    free(path);
    return rc;
}

static int parse_string_list(struct fx_conf_loader *ld, yaml_node_t *val,
                             bool (*check)(const char *s), const char *what, char ***out,
                             size_t *nout);

/* A Host header value an operator may list: a name or address, optionally
 * with ":PORT", in the characters of a URI authority. */
static bool is_host_value(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == ':' || ch == '[' ||
                  ch == ']' || ch == '_';
        if (!ok)
            return false;
    }
    return true;
}

static int parse_admin_allowed_hosts(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                                     yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    return parse_string_list(ld, val, is_host_value, "host", &c->admin_allowed_hosts,
                             &c->nadmin_allowed_hosts);
}

/* admin.open: [healthz, metrics], the endpoints answered without a token. */
static const char *const endpoints[] = { "healthz", "metrics" };

static int parse_admin_open(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                            yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    char q[QBUF];
    if (val->type != YAML_SEQUENCE_NODE)
        return fail_key(ld, val, "expected a list like [healthz, metrics], got %s",
                        describe(q, val));
    c->admin_open = 0;
    for (size_t i = 0; i < seq_len(val); i++) {
        yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
        if (item == NULL)
            return fail(ld, val, "malformed YAML document");
        int rc = expect_string(ld, item, i);
        if (rc != 0)
            return rc;
        if (strcmp(scalar(item), "healthz") == 0)
            c->admin_open |= FX_CONF_ADMIN_OPEN_HEALTHZ;
        else if (strcmp(scalar(item), "metrics") == 0)
            c->admin_open |= FX_CONF_ADMIN_OPEN_METRICS;
        else if (fx_conf_suggest(scalar(item), endpoints, 2, sizeof(endpoints[0])) != NULL)
            return fail_item(ld, item, i, "unknown endpoint %s (did you mean \"%s\"?)",
                             quote_node(q, item),
                             fx_conf_suggest(scalar(item), endpoints, 2, sizeof(endpoints[0])));
        else
            return fail_item(ld, item, i, "unknown endpoint %s (use healthz or metrics)",
                             quote_node(q, item));
    }
    return 0;
}

int fx_conf__top_admin(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                       void *obj)
{
    (void)f;
    static const struct fx_conf_key fields[] = {
        FIELD("listen", parse_admin_listen, true),
        FIELD("token_file", parse_admin_token_file, false),
        FIELD("allowed_hosts", parse_admin_allowed_hosts, false),
        FIELD("open", parse_admin_open, false),
    };
    int rc = expect_map(ld, val);
    if (rc != 0)
        return rc;
    struct fx_conf *c = obj;
    c->admin_open = FX_CONF_ADMIN_OPEN_HEALTHZ | FX_CONF_ADMIN_OPEN_METRICS;
    return walk_section(ld, val, "admin", "admin.", fields, NFIELDS(fields), obj);
}

int fx_conf__top_workers(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                         void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    char q[QBUF];
    uint64_t v = 0;
    if (val->type == YAML_SCALAR_NODE && !is_null(val) && check_string(q, val) != NULL)
        return fail_key(ld, val, "%s", q);
    if (val->type == YAML_SCALAR_NODE && strcmp(scalar(val), "auto") == 0) {
        c->workers = 0;
        return 0;
    }
    if (val->type != YAML_SCALAR_NODE || !parse_uint(scalar(val), &v))
        return fail_key(ld, val, "expected an integer or \"auto\", got %s", describe(q, val));
    if (v < 1 || v > 256)
        return fail_key(ld, val, "%s is out of range 1..256", scalar(val));
    c->workers = (unsigned int)v;
    return 0;
}

int fx_conf__log_access(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                        void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    FX_FREE(c->access_path);
    c->access_mode = FX_CONF_LOG_STDOUT;
    if (strcmp(scalar(val), "stdout") == 0)
        return 0;
    c->access_mode = FX_CONF_LOG_OFF;
    if (strcmp(scalar(val), "off") == 0)
        return 0;
    if (scalar(val)[0] == '\0')
        return fail_key(ld, val, "expected stdout, off or a file path, got \"\"");
    c->access_mode = FX_CONF_LOG_FILE;
    return dup_string(ld, val, &c->access_path);
}

int fx_conf__log_format(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                        void *obj)
{
    (void)f;
    (void)obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    if (strcmp(scalar(val), "json") != 0)
        return fail_key(ld, val, "unsupported format %s (only json)", quote_node(q, val));
    return 0;
}

/* log.fields: [time, method, ...], the access log's keys in line order. */
int fx_conf__log_fields(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                        void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    char q[QBUF];
    if (val->type != YAML_SEQUENCE_NODE || seq_len(val) == 0)
        return fail_key(ld, val,
                        "expected a non-empty list like [time, method, path, status], got %s",
                        describe(q, val));
    unsigned char seen[FX_CONF_LOG_NFIELDS] = { 0 };
    c->nlog_fields = 0;
    for (size_t i = 0; i < seq_len(val); i++) {
        yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
        if (item == NULL)
            return fail(ld, val, "malformed YAML document");
        int rc = expect_string(ld, item, i);
        if (rc != 0)
            return rc;
        const char *hint = NULL;
        int id = fx_conf_log_field_find(scalar(item), &hint);
        if (id < 0)
            return fail_item(ld, item, i, "unknown field %s%s%s%s", quote_node(q, item),
                             hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
        if (seen[id]++)
            return fail_item(ld, item, i, "field %s is listed twice", quote_node(q, item));
        c->log_fields[c->nlog_fields++] = (unsigned char)id;
    }
    return 0;
}

int fx_conf__top_log(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                     void *obj)
{
    (void)f;
    const struct fx_conf_section *sec = fx_conf__section("log");
    return parse_schema_section(ld, val, sec, obj);
}

/* Walk a top-level section declared in a schema table into `obj`. */
static int parse_schema_section(struct fx_conf_loader *ld, yaml_node_t *val,
                                const struct fx_conf_section *sec, void *obj)
{
    char ctx[64];
    int rc = expect_map(ld, val);
    if (rc != 0)
        return rc;
    (void)snprintf(ctx, sizeof(ctx), "%s.", sec->path);
    rc = walk_section(ld, val, sec->path, ctx, sec->keys, sec->nkeys, obj);
    if (sec->finish != NULL)
        sec->finish(obj);
    return rc;
}

int fx_conf__top_limits(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                        void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    return parse_schema_section(ld, val, &fx_conf_limits_section, &c->limits);
}

int fx_conf__top_upgrade(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                         void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    return parse_schema_section(ld, val, fx_conf__section("upgrade"), &c->upgrade);
}

int fx_conf__top_timeouts(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                          void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    return parse_schema_section(ld, val, fx_conf__section("timeouts"), &c->timeouts);
}

/* ---- paths: request-path normalisation --------------------------------- */

static int parse_bool_field(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                            yaml_node_t *val, void *obj)
{
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    bool v = strcmp(scalar(val), "true") == 0;
    if (!v && strcmp(scalar(val), "false") != 0)
        return fail_key(ld, val, "expected true or false, got %s", quote_node(q, val));
    FX_ASSERT(f->size == sizeof(bool));
    memcpy((unsigned char *)obj + f->off, &v, sizeof(v));
    return 0;
}

static int parse_builtin(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                         void *obj)
{
    switch (f->type) {
    case FX_CONF_T_DURATION:
        return parse_duration_field(ld, f, val, obj);
    case FX_CONF_T_SIZE:
    case FX_CONF_T_UINT:
        return parse_count_field(ld, f, val, obj);
    case FX_CONF_T_BOOL:
        return parse_bool_field(ld, f, val, obj);
    case FX_CONF_T_PERCENT:
        return parse_percent_field(ld, f, val, obj);
    case FX_CONF_T_ADDRS:
        return parse_addrs_field(ld, f, val, obj);
    case FX_CONF_T_TOKENS:
        return parse_tokens_field(ld, f, val, obj);
    case FX_CONF_T_DECIMAL: {
        double d = 0;
        FX_ASSERT(f->size == sizeof(d));
        int rc = parse_decimal(ld, val, f->min, (f->flags & FX_CONF_K_ABOVE) != 0, f->max, &d);
        if (rc == 0)
            memcpy((unsigned char *)obj + f->off, &d, sizeof(d));
        return rc;
    }
    case FX_CONF_T_CUSTOM:
    default:
        FX_ASSERT(f->parse != NULL);
        return FX_ECONF;
    }
}

int fx_conf__top_paths(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                       void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    return parse_schema_section(ld, val, &fx_conf_paths_section, &c->paths);
}

/* A route's path_prefix is compared with the normalised request path, so a
 * prefix that no normalised path can start with (/%61dmin, /a//b, /a/./b)
 * would silently never match. Probe it with one more byte appended, so that a
 * last segment still being written ("/api/.", "/api/..") is not taken for a
 * dot segment. Routes are parsed after the top level: ld->conf->paths is set. */
static int check_prefix_normal(struct fx_conf_loader *ld, const yaml_node_t *val,
                               const char *prefix)
{
    unsigned int flags = ld->conf->paths.flags;
    size_t len = strlen(prefix);
    if (flags == 0)
        return 0;
    char *probe = malloc(2 * (len + 1));
    if (probe == NULL)
        return fail_oom(ld);
    char *norm = probe + len + 1;
    memcpy(probe, prefix, len);
    probe[len] = 'x';
    size_t n = 0;
    int rc = fx_h1_path_normalize(probe, len + 1, norm, len + 1, flags, &n);
    bool same = rc == 0 && n == len + 1 && memcmp(probe, norm, n) == 0;
    char q[QBUF];
    char want[QBUF];
    if (same)
        rc = 0;
    else if (rc == 0 && n > 0 && norm[n - 1] == 'x')
        rc = fail_key(ld, val,
                      "%s never matches: request paths are normalised (see paths), write %s",
                      quote_node(q, val), quote(want, norm, n - 1));
    else
        rc = fail_key(ld, val, "%s never matches: request paths are normalised (see paths)",
                      quote_node(q, val));
    free(probe);
    return rc;
}

/* Length of a URI scheme with its ':' at the start of s ("postgres:"), 0 if none. */
static size_t scheme_len(const char *s)
{
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    for (size_t i = 1; s[i] != '\0'; i++) {
        char ch = s[i];
        if (ch == ':')
            return i + 1;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.';
        if (!ok)
            return 0;
    }
    return 0;
}

int fx_conf__top_store(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                       void *obj)
{
    (void)f;
    static const char sqlite[] = "sqlite:";
    struct fx_conf *c = obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    const char *s = scalar(val);
    size_t n = scheme_len(s);
    if (n == 0)
        return fail_key(ld, val, "expected sqlite:PATH, got %s", quote_node(q, val));
    if (n != strlen(sqlite) || memcmp(s, sqlite, n) != 0)
        return fail_key(ld, val, "unsupported scheme %s: only sqlite:PATH", quote(q, s, n));
    const char *path = s + n;
    if (path[0] == '\0')
        return fail_key(ld, val, "expected sqlite:PATH, got %s", quote_node(q, val));
    if (path[strlen(path) - 1] == '/')
        return fail_key(ld, val, "%s names a directory, not a database file", quote_node(q, val));
    FX_FREE(c->store_path);
    c->store_path = resolve_path(c->path, path);
    return c->store_path == NULL ? fail_oom(ld) : 0;
}

/* ---- upstreams ---------------------------------------------------------- */

/* Names appear in logs, metrics and admin URLs: keep them plain. */
static bool is_valid_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
        if (!ok)
            return false;
    }
    return true;
}

static int check_name(struct fx_conf_loader *ld, const yaml_node_t *n, const char *what)
{
    char q[QBUF];
    if (!is_valid_name(scalar(n))) {
        return fail(ld, n, "invalid %s name %s: use 1 to %d letters, digits, '-', '_' or '.'", what,
                    quote_node(q, n), NAME_MAX_LEN);
    }
    return 0;
}

static int parse_upstream_body(struct fx_conf_loader *ld, struct fx_conf_upstream *u,
                               yaml_node_t *val)
{
    const struct fx_conf_section *sec = fx_conf__section("upstreams.NAME");
    char q[QBUF];
    char got[QBUF];
    char where[QBUF + 16];
    char ctx[QBUF + 16];
    quote(q, u->name, strlen(u->name));
    if (val->type != YAML_MAPPING_NODE)
        return fail(ld, val, "upstream %s: expected a mapping, got %s", q, describe(got, val));
    (void)snprintf(where, sizeof(where), "upstream %s", q);
    (void)snprintf(ctx, sizeof(ctx), "upstream %s: ", q);
    return walk_section(ld, val, where, ctx, sec->keys, sec->nkeys, u);
}

static int parse_upstream(struct fx_conf_loader *ld, yaml_node_t *k, yaml_node_t *v, size_t idx)
{
    struct fx_conf *c = ld->conf;
    struct fx_conf_upstream *u = &c->upstreams[idx];
    char q[QBUF];
    char why[QBUF];
    if (check_string(why, k) != NULL)
        return fail(ld, k, "upstreams: invalid upstream name: %s", why);
    int rc = check_name(ld, k, "upstream");
    if (rc != 0)
        return rc;
    for (size_t j = 0; j < idx; j++) {
        if (c->upstreams[j].name != NULL && strcmp(c->upstreams[j].name, scalar(k)) == 0) {
            return fail(ld, k, "duplicate upstream name %s (first defined at line %u)",
                        quote_node(q, k), c->upstreams[j].line);
        }
    }
    rc = dup_string(ld, k, &u->name);
    if (rc != 0)
        return rc;
    c->nupstreams = idx + 1;
    u->line = (unsigned int)k->start_mark.line + 1;
    fx_conf_schema_defaults(fx_conf__section("upstreams.NAME"), u);
    return parse_upstream_body(ld, u, v);
}

int fx_conf__top_upstreams(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                           void *obj)
{
    (void)f;
    struct fx_conf *c = obj;
    int rc = expect_map(ld, val);
    if (rc != 0)
        return rc;
    size_t n = map_len(val);
    if (n == 0)
        return fail_key(ld, val, "at least one upstream is required");
    c->upstreams = calloc(n, sizeof(*c->upstreams));
    if (c->upstreams == NULL)
        return fail_oom(ld);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &val->data.mapping.pairs.start[i];
        yaml_node_t *k = get_node(ld, p->key);
        yaml_node_t *v = get_node(ld, p->value);
        if (k == NULL || v == NULL)
            return fail(ld, val, "malformed YAML document");
        int urc = parse_upstream(ld, k, v, i);
        if (urc == FX_ENOMEM)
            return urc;
        rc = urc != 0 ? FX_ECONF : rc;
    }
    return rc;
}

/* ---- routes ------------------------------------------------------------- */

static const yaml_node_t *find_scalar(struct fx_conf_loader *ld, const yaml_node_t *map,
                                      const char *key);

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool is_token(const char *s)
{
    if (s[0] == '\0')
        return false;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (!is_tchar((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* True when s holds only visible ASCII (and, when allow_space, SP and HTAB). */
static bool is_visible(const char *s, bool allow_space)
{
    for (size_t i = 0; s[i] != '\0'; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch == ' ' || ch == '\t') ? !allow_space : (ch <= 0x20 || ch >= 0x7f))
            return false;
    }
    return true;
}

static int parse_path_prefix(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                             yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_route *r = obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    if (scalar(val)[0] != '/')
        return fail_key(ld, val, "must start with '/', got %s", quote_node(q, val));
    if (!is_visible(scalar(val), false)) {
        return fail_key(ld, val, "%s contains spaces or control characters", quote_node(q, val));
    }
    rc = check_prefix_normal(ld, val, scalar(val));
    if (rc != 0)
        return rc;
    FX_FREE(r->path_prefix);
    rc = dup_string(ld, val, &r->path_prefix);
    r->path_prefix_len = rc == 0 ? strlen(r->path_prefix) : 0;
    return rc;
}

/* A method is a token compared case-sensitively: "get" would never match
 * a GET request, so a standard method in another case is refused with the
 * upper-case spelling as a suggestion. */
static int check_method(struct fx_conf_loader *ld, const yaml_node_t *item, size_t i)
{
    static const char *const standard[] = { "GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                            "CONNECT", "OPTIONS", "TRACE", "PATCH" };
    char q[QBUF];
    char upper[16];
    const char *s = scalar(item);
    if (!is_token(s))
        return fail_item(ld, item, i, "invalid method %s", quote_node(q, item));
    size_t n = strlen(s);
    if (n >= sizeof(upper))
        return 0;
    for (size_t j = 0; j <= n; j++) {
        upper[j] = s[j];
        if (upper[j] >= 'a' && upper[j] <= 'z')
            upper[j] = (char)(upper[j] - ('a' - 'A'));
    }
    for (size_t j = 0; j < NFIELDS(standard); j++) {
        if (strcmp(upper, standard[j]) == 0 && strcmp(s, standard[j]) != 0)
            return fail_item(ld, item, i,
                             "%s: HTTP methods are case-sensitive; did you mean \"%s\"?",
                             quote_node(q, item), standard[j]);
    }
    return 0;
}

/* match.path_regex: compiled once here (JIT when available), matched
 * against the normalised path without its query, anchored only as written. */
static int parse_path_regex(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                            yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_route *r = obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    if (scalar(val)[0] == '\0')
        return fail_key(ld, val, "must not be empty");
    int code = 0;
    PCRE2_SIZE off = 0;
    r->path_re =
        pcre2_compile((PCRE2_SPTR)scalar(val), val->data.scalar.length, 0, &code, &off, NULL);
    if (r->path_re == NULL) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            (void)snprintf((char *)msg, sizeof(msg), "error %d", code);
        return fail_key(ld, val, "%s at offset %zu in %s", (const char *)msg, (size_t)off,
                        quote_node(q, val));
    }
    (void)pcre2_jit_compile(r->path_re, PCRE2_JIT_COMPLETE); /* else the interpreter matches */
    return dup_string(ld, val, &r->path_regex);
}

static int parse_methods(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                         void *obj)
{
    (void)f;
    struct fx_conf_route *r = obj;
    char q[QBUF];
    if (val->type != YAML_SEQUENCE_NODE)
        return fail_key(ld, val, "expected a list, got %s", describe(q, val));
    size_t n = seq_len(val);
    if (n == 0)
        return 0;
    r->methods = calloc(n, sizeof(*r->methods));
    if (r->methods == NULL)
        return fail_oom(ld);
    int result = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
        if (item == NULL)
            return fail(ld, val, "malformed YAML document");
        int rc = expect_string(ld, item, i);
        if (rc == 0)
            rc = check_method(ld, item, i);
        if (rc == FX_ECONF) {
            result = rc; /* go on: every bad method is listed */
            continue;
        }
        if (rc == 0)
            rc = dup_string(ld, item, &r->methods[i]);
        if (rc != 0)
            return rc;
        r->nmethods = i + 1;
    }
    return result;
}

/* Set r->host_kind and host_pat from r->host; false for a misplaced wildcard
 * or an empty label next to one. */
static bool classify_host(struct fx_conf_route *r)
{
    const char *h = r->host;
    size_t len = strlen(h);
    r->host_kind = FX_CONF_HOST_EXACT;
    r->host_pat = h;
    r->host_pat_len = len;
    if (len > 2 && h[0] == '*' && h[1] == '.') {
        r->host_kind = FX_CONF_HOST_SUBDOMAINS;
        r->host_pat = h + 1; /* ".example.com" */
        r->host_pat_len = len - 1;
    } else if (len > 1 && h[0] == '.') {
        r->host_kind = FX_CONF_HOST_DOMAIN;
    } else if (len > 2 && h[len - 1] == '*' && h[len - 2] == '.') {
        r->host_kind = FX_CONF_HOST_PREFIX;
        r->host_pat_len = len - 1; /* "www.example." */
    }
    const char *rest = r->host_kind == FX_CONF_HOST_PREFIX ? h : r->host_pat + 1;
    size_t rest_len = r->host_kind == FX_CONF_HOST_PREFIX ? len - 2 : strlen(rest);
    if (r->host_kind == FX_CONF_HOST_EXACT)
        return strchr(h, '*') == NULL;
    return h[0] != '[' && rest_len > 0 && rest[0] != '.' && rest[rest_len - 1] != '.' &&
           memchr(rest, '*', rest_len) == NULL;
}

static int parse_host(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                      void *obj)
{
    (void)f;
    struct fx_conf_route *r = obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    const char *s = scalar(val);
    if (s[0] == '\0' || !is_visible(s, false) || strchr(s, '/') != NULL)
        return fail_key(ld, val, "invalid host %s", quote_node(q, val));
    const char *colon = strrchr(s, ':');
    if (colon != NULL && (s[0] != '[' || strchr(colon, ']') == NULL))
        return fail_key(ld, val, "%s: host must not include a port", quote_node(q, val));
    FX_FREE(r->host);
    rc = dup_string(ld, val, &r->host);
    if (rc == 0 && !classify_host(r))
        return fail_key(ld, val,
                        "invalid host %s: a wildcard is a whole first label (\"*.example.com\"), "
                        "a whole last label (\"www.example.*\") or a leading dot "
                        "(\".example.com\")",
                        quote_node(q, val));
    return rc;
}

static int parse_match_header(struct fx_conf_loader *ld, struct fx_conf_route *r, yaml_node_t *k,
                              yaml_node_t *v)
{
    char q[QBUF];
    char why[QBUF];
    if (check_string(why, k) != NULL)
        return fail_key(ld, k, "invalid header name: %s", why);
    if (!is_token(scalar(k)))
        return fail_key(ld, k, "invalid header name %s", quote_node(q, k));
    for (size_t j = 0; j < r->nheaders; j++) {
        if (fx_str_eqi(fx_str_c(r->headers[j].name), fx_str_c(scalar(k))))
            return fail_key(ld, k, "duplicate header %s", quote_node(q, k));
    }
    if (check_string(why, v) != NULL)
        return fail_key(ld, v, "%s: %s", quote_node(q, k), why);
    if (!is_visible(scalar(v), true)) {
        return fail_key(ld, v, "%s: value contains control characters", quote_node(q, k));
    }
    struct fx_conf_match_header *h = &r->headers[r->nheaders];
    int rc = dup_string(ld, k, &h->name);
    if (rc == 0)
        rc = dup_string(ld, v, &h->value);
    r->nheaders++; /* counted even when half-filled so that it gets freed */
    return rc;
}

static int parse_match_headers(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                               yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_route *r = obj;
    int rc = expect_map(ld, val);
    if (rc != 0)
        return rc;
    size_t n = map_len(val);
    if (n == 0)
        return 0;
    r->headers = calloc(n, sizeof(*r->headers));
    if (r->headers == NULL)
        return fail_oom(ld);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &val->data.mapping.pairs.start[i];
        yaml_node_t *k = get_node(ld, p->key);
        yaml_node_t *v = get_node(ld, p->value);
        if (k == NULL || v == NULL)
            return fail(ld, val, "malformed YAML document");
        rc = parse_match_header(ld, r, k, v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_match(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                       void *obj)
{
    (void)f;
    static const struct fx_conf_key fields[] = {
        FIELD("path_prefix", parse_path_prefix, false),
        FIELD("path_regex", parse_path_regex, false),
        FIELD("methods", parse_methods, false),
        FIELD("host", parse_host, false),
        FIELD("headers", parse_match_headers, false),
    };
    int rc = walk_nested(ld, val, " match", fields, NFIELDS(fields), obj);
    const yaml_node_t *re = rc == 0 ? find_scalar(ld, val, "path_regex") : NULL;
    if (re != NULL && find_scalar(ld, val, "path_prefix") != NULL)
        return fail_ctx(ld, re,
                        "match.path_regex: cannot be combined with match.path_prefix "
                        "(anchor the regex instead: \"^/api/...\")");
    return rc;
}

static int parse_route_name(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                            yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_route *r = obj;
    const struct fx_conf *c = ld->conf;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc == 0)
        rc = check_name(ld, val, "route");
    if (rc != 0)
        return rc;
    for (size_t j = 0; j < ld->route_idx; j++) {
        if (c->routes[j].name != NULL && strcmp(c->routes[j].name, scalar(val)) == 0) {
            return fail(ld, val, "duplicate route name %s (first defined at line %u)",
                        quote_node(q, val), c->routes[j].line);
        }
    }
    return dup_string(ld, val, &r->name);
}

static struct fx_conf_upstream *find_upstream(const struct fx_conf *c, const char *name)
{
    for (size_t i = 0; i < c->nupstreams; i++) {
        if (c->upstreams[i].name != NULL && strcmp(c->upstreams[i].name, name) == 0)
            return &c->upstreams[i];
    }
    return NULL;
}

static int parse_route_to(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                          void *obj)
{
    (void)f;
    struct fx_conf_route *r = obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    r->to = find_upstream(ld->conf, scalar(val));
    if (r->to == NULL)
        return fail_ctx(ld, val, "upstream %s is not defined", quote_node(q, val));
    return dup_string(ld, val, &r->to_name);
}

/* ---- route migrate section ---------------------------------------------- */

static int parse_migrate_to(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                            yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_migrate *m = obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    m->to = find_upstream(ld->conf, scalar(val));
    if (m->to == NULL)
        return fail_key(ld, val, "upstream %s is not defined", quote_node(q, val));
    ld->mig_to = val;
    return dup_string(ld, val, &m->to_name);
}

/* A query parameter name as it appears in the URL: visible ASCII without
 * the separators of a query string (nor those of the fingerprint text). */
static bool is_query_name(const char *s)
{
    return s[0] != '\0' && is_visible(s, false) && strpbrk(s, "&=#;,") == NULL;
}

static int parse_sticky(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                        void *obj)
{
    (void)f;
    static const struct {
        const char *prefix;
        enum fx_sticky kind;
        const char *what;
    } kinds[] = {
        { "header:", FX_STICKY_HEADER, "header" },
        { "cookie:", FX_STICKY_COOKIE, "cookie" },
        { "query:", FX_STICKY_QUERY, "query parameter" },
    };
    struct fx_conf_migrate *m = obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    const char *s = scalar(val);
    if (strcmp(s, "ip") == 0) {
        m->sticky = FX_STICKY_IP;
        return 0;
    }
    for (size_t i = 0; i < NFIELDS(kinds); i++) {
        size_t plen = strlen(kinds[i].prefix);
        if (strncmp(s, kinds[i].prefix, plen) != 0)
            continue;
        const char *name = s + plen;
        bool ok = kinds[i].kind == FX_STICKY_QUERY ? is_query_name(name) : is_token(name);
        if (!ok) {
            return fail_key(ld, val, "invalid %s name %s", kinds[i].what,
                            quote(q, name, strlen(name)));
        }
        m->sticky = kinds[i].kind;
        FX_FREE(m->sticky_name);
        m->sticky_name = strdup(name);
        return m->sticky_name == NULL ? fail_oom(ld) : 0;
    }
    return fail_key(ld, val, "expected header:NAME, cookie:NAME, query:NAME or ip, got %s",
                    quote_node(q, val));
}

static int parse_ramp_steps(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                            yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_migrate *m = obj;
    char q[QBUF];
    if (val->type != YAML_SEQUENCE_NODE)
        return fail_key(ld, val, "expected a list of percentages, got %s", describe(q, val));
    size_t n = seq_len(val);
    if (n == 0)
        return fail_key(ld, val, "at least one step is required");
    m->steps_bp = calloc(n, sizeof(*m->steps_bp));
    if (m->steps_bp == NULL)
        return fail_oom(ld);
    const yaml_node_t *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
        if (item == NULL)
            return fail(ld, val, "malformed YAML document");
        int rc = expect_percent(ld, item, i, 1, PCT_MAX_BP, &m->steps_bp[i]);
        if (rc != 0)
            return rc;
        if (prev != NULL && m->steps_bp[i] <= m->steps_bp[i - 1]) {
            return fail_key(ld, item, "steps must increase (%s after %s)", scalar(item),
                            scalar(prev));
        }
        m->nsteps = i + 1;
        prev = item;
    }
    return 0;
}

static int parse_ramp(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                      void *obj)
{
    (void)f;
    static const struct fx_conf_key fields[] = {
        FIELD("steps", parse_ramp_steps, true),
        FIELD_NUM_REQ("interval", FX_CONF_T_DURATION, struct fx_conf_migrate, ramp_interval_ms,
                      RAMP_MIN_MS, RAMP_MAX_MS),
    };
    return walk_nested(ld, val, ".ramp", fields, NFIELDS(fields), obj);
}

static int parse_guard(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                       void *obj)
{
    (void)f;
    const struct fx_conf_section *sec = fx_conf__section("routes[].migrate.guard");
    return walk_nested(ld, val, ".guard", sec->keys, sec->nkeys, obj);
}

/* Parse "10.0.0.0/8", "::1/128" or a bare address (a /32 or /128 block).
 * Returns NULL, or the reason the text is refused. */
static const char *parse_cidr(const char *s, struct fx_cidr *out)
{
    static const char *const bad = "expected an address block like 10.0.0.0/8 or ::1/128";
    char host[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
    if (hlen == 0 || hlen >= sizeof(host))
        return bad;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    memset(out, 0, sizeof(*out));
    unsigned int bits = 32;
    out->family = AF_INET;
    if (inet_pton(AF_INET, host, out->addr) != 1) {
        bits = 128;
        out->family = AF_INET6;
        if (inet_pton(AF_INET6, host, out->addr) != 1)
            return bad;
    }
    uint64_t prefix = bits;
    if (slash != NULL && !parse_uint(slash + 1, &prefix))
        return bad;
    if (prefix > bits)
        return bits == 32 ? "prefix length must be 0..32" : "prefix length must be 0..128";
    out->prefix = (unsigned int)prefix;
    for (unsigned int i = 0; i < bits / 8; i++) {
        unsigned int keep = out->prefix > i * 8 ? out->prefix - i * 8 : 0;
        unsigned int host_mask = keep >= 8 ? 0 : 0xffu >> keep;
        if ((out->addr[i] & host_mask) != 0)
            return "host bits set";
    }
    return NULL;
}

/* Canonical text of a block: "10.0.0.0/8", "::1/128". */
static const char *format_cidr(char *buf, size_t cap, const struct fx_cidr *b)
{
    char host[INET6_ADDRSTRLEN];
    if (inet_ntop(b->family, b->addr, host, sizeof(host)) == NULL)
        host[0] = '\0';
    (void)snprintf(buf, cap, "%s/%u", host, b->prefix);
    return buf;
}

static int parse_override_header(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                                 yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_migrate *m = obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    if (!is_token(scalar(val)))
        return fail_key(ld, val, "invalid header name %s", quote_node(q, val));
    FX_FREE(m->override_header);
    return dup_string(ld, val, &m->override_header);
}

static int parse_override_from(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                               yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_migrate *m = obj;
    char q[QBUF];
    if (val->type != YAML_SEQUENCE_NODE)
        return fail_key(ld, val, "expected a list of address blocks, got %s", describe(q, val));
    size_t n = seq_len(val);
    if (n == 0)
        return 0;
    m->override_from = calloc(n, sizeof(*m->override_from));
    if (m->override_from == NULL)
        return fail_oom(ld);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
        if (item == NULL)
            return fail(ld, val, "malformed YAML document");
        int rc = expect_string(ld, item, i);
        if (rc != 0)
            return rc;
        const char *why = parse_cidr(scalar(item), &m->override_from[i]);
        if (why != NULL)
            return fail_item(ld, item, i, "invalid CIDR %s: %s", quote_node(q, item), why);
        m->noverride_from = i + 1;
    }
    return 0;
}

static int parse_override(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                          void *obj)
{
    (void)f;
    static const struct fx_conf_key fields[] = {
        FIELD("header", parse_override_header, true),
        FIELD("from", parse_override_from, false),
    };
    return walk_nested(ld, val, ".override", fields, NFIELDS(fields), obj);
}

static int parse_migrate(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                         void *obj)
{
    (void)f;
    static const struct fx_conf_key fields[] = {
        FIELD("to", parse_migrate_to, true),
        FIELD_NUM("weight", FX_CONF_T_PERCENT, struct fx_conf_migrate, weight_bp, 0, PCT_MAX_BP),
        FIELD("sticky", parse_sticky, false),
        FIELD("ramp", parse_ramp, false),
        FIELD("guard", parse_guard, false),
        FIELD("override", parse_override, false),
    };
    struct fx_conf_route *r = obj;
    if (val->type != YAML_MAPPING_NODE)
        return expect_map(ld, val);
    struct fx_conf_migrate *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return fail_oom(ld);
    r->migrate = m;
    m->sticky = FX_STICKY_NONE;
    fx_conf_schema_defaults(fx_conf__section("routes[].migrate.guard"), m);
    m->line = (unsigned int)val->start_mark.line + 1;
    return walk_nested(ld, val, " migrate", fields, NFIELDS(fields), m);
}

/* ---- route shadow section ------------------------------------------------- */

typedef bool name_check_fn(const char *s);

/* A JSON path pattern: "$" then ".key", ".*", "[N]", "[*]" or "['key']" steps. */
static bool is_json_path(const char *s)
{
    if (s[0] != '$')
        return false;
    const char *p = s + 1;
    while (*p != '\0') {
        if (*p == '.') {
            size_t n = strcspn(p + 1, ".[");
            if (n == 0)
                return false;
            p += 1 + n;
        } else if (p[0] == '[' && p[1] == '\'') {
            const char *end = strstr(p + 2, "']");
            if (end == NULL)
                return false;
            p = end + 2;
        } else if (*p == '[') {
            size_t n = strspn(p + 1, "0123456789");
            if (n == 0 && p[1] == '*')
                n = 1;
            if (n == 0 || p[1 + n] != ']')
                return false;
            p += n + 2;
        } else {
            return false;
        }
    }
    return true;
}

/* A list of strings each accepted by `check`, into a new owned array. */
static int parse_string_list(struct fx_conf_loader *ld, yaml_node_t *val, name_check_fn *check,
                             const char *what, char ***out, size_t *nout)
{
    char q[QBUF];
    if (val->type != YAML_SEQUENCE_NODE)
        return fail_key(ld, val, "expected a list, got %s", describe(q, val));
    size_t n = seq_len(val);
    *out = calloc(n > 0 ? n : 1, sizeof(**out));
    if (*out == NULL)
        return fail_oom(ld);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
        if (item == NULL)
            return fail(ld, val, "malformed YAML document");
        int rc = expect_string(ld, item, i);
        if (rc != 0)
            return rc;
        if (!check(scalar(item)))
            return fail_item(ld, item, i, "invalid %s %s", what, quote_node(q, item));
        rc = dup_string(ld, item, &(*out)[i]);
        if (rc != 0)
            return rc;
        *nout = i + 1;
    }
    return 0;
}

static int parse_shadow_upstream(struct fx_conf_loader *ld, yaml_node_t *val,
                                 struct fx_conf_upstream **up, char **name)
{
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    *up = find_upstream(ld->conf, scalar(val));
    if (*up == NULL)
        return fail_key(ld, val, "upstream %s is not defined", quote_node(q, val));
    return dup_string(ld, val, name);
}

static int parse_shadow_to(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                           void *obj)
{
    (void)f;
    struct fx_conf_shadow *sh = obj;
    ld->shadow_to = val;
    return parse_shadow_upstream(ld, val, &sh->to, &sh->to_name);
}

static int parse_shadow_secondary(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                                  yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_shadow *sh = obj;
    ld->shadow_secondary = val;
    return parse_shadow_upstream(ld, val, &sh->secondary, &sh->secondary_name);
}

static int parse_shadow_methods(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                                yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_shadow *sh = obj;
    for (size_t i = 0; i < sh->nmethods; i++)
        FX_FREE(sh->methods[i]);
    FX_FREE(sh->methods);
    sh->nmethods = 0;
    int rc = parse_string_list(ld, val, is_token, "method", &sh->methods, &sh->nmethods);
    for (size_t i = 0; rc == 0 && i < sh->nmethods; i++)
        rc = check_method(ld, get_node(ld, val->data.sequence.items.start[i]), i);
    return rc;
}

static int parse_ignore_headers(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                                yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_shadow *sh = obj;
    return parse_string_list(ld, val, is_token, "header name", &sh->ignore_headers,
                             &sh->nignore_headers);
}

static int parse_ignore_json(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                             yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_shadow *sh = obj;
    return parse_string_list(ld, val, is_json_path,
                             "JSON path (expected $.key, $.list[*].key, $['odd key'] ...)",
                             &sh->ignore_json, &sh->nignore_json);
}

static int parse_redact(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                        void *obj)
{
    (void)f;
    struct fx_conf_shadow *sh = obj;
    return parse_string_list(ld, val, is_token, "header name", &sh->redact, &sh->nredact);
}

static int parse_compare(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                         void *obj)
{
    (void)f;
    static const struct fx_conf_key fields[] = {
        FIELD("ignore_headers", parse_ignore_headers, false),
        FIELD("ignore_json", parse_ignore_json, false),
    };
    return walk_nested(ld, val, ".compare", fields, NFIELDS(fields), obj);
}

static int shadow_defaults(struct fx_conf_shadow *sh)
{
    sh->sample_bp = PCT_MAX_BP;
    sh->max_body = 64u << 10;
    sh->max_inflight = 256;
    sh->block_bp = FX_SHADOW_NO_BLOCK;
    sh->methods = calloc(2, sizeof(*sh->methods));
    if (sh->methods == NULL)
        return FX_ENOMEM;
    sh->methods[0] = strdup("GET");
    sh->nmethods = sh->methods[0] != NULL ? 1 : 0;
    sh->methods[1] = strdup("HEAD");
    sh->nmethods = sh->methods[1] != NULL && sh->nmethods == 1 ? 2 : sh->nmethods;
    return sh->nmethods == 2 ? 0 : FX_ENOMEM;
}

static int parse_shadow(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                        void *obj)
{
    (void)f;
    static const struct fx_conf_key fields[] = {
        FIELD("to", parse_shadow_to, true),
        FIELD_NUM("sample", FX_CONF_T_PERCENT, struct fx_conf_shadow, sample_bp, 0, PCT_MAX_BP),
        FIELD("methods", parse_shadow_methods, false),
        FIELD_NUM("max_body", FX_CONF_T_SIZE, struct fx_conf_shadow, max_body, 0, 64u << 20),
        FIELD_NUM("max_inflight", FX_CONF_T_UINT, struct fx_conf_shadow, max_inflight, 1, 100000),
        FIELD("secondary", parse_shadow_secondary, false),
        FIELD("compare", parse_compare, false),
        FIELD("redact", parse_redact, false),
        FIELD_NUM("block_promotion_above", FX_CONF_T_PERCENT, struct fx_conf_shadow, block_bp, 0,
                  PCT_MAX_BP),
    };
    struct fx_conf_route *r = obj;
    if (val->type != YAML_MAPPING_NODE)
        return expect_map(ld, val);
    struct fx_conf_shadow *sh = calloc(1, sizeof(*sh));
    if (sh == NULL)
        return fail_oom(ld);
    r->shadow = sh;
    if (shadow_defaults(sh) != 0)
        return fail_oom(ld);
    sh->line = (unsigned int)val->start_mark.line + 1;
    return walk_nested(ld, val, " shadow", fields, NFIELDS(fields), sh);
}

/* Checks that need the whole route, once its keys are parsed. */
static int check_shadow(struct fx_conf_loader *ld, const struct fx_conf_route *r, const char *ctx)
{
    const struct fx_conf_shadow *sh = r->shadow;
    char q[QBUF];
    if (sh == NULL)
        return 0;
    if (sh->to == r->to) {
        return fail(ld, ld->shadow_to,
                    "%sshadow.to: must differ from the route's to (%s): the copies would go "
                    "to the primary itself",
                    ctx, quote(q, r->to_name, strlen(r->to_name)));
    }
    if (sh->secondary != NULL && sh->secondary == sh->to) {
        return fail(ld, ld->shadow_secondary,
                    "%sshadow.secondary: must differ from shadow.to (%s): the secondary is a "
                    "second legacy instance",
                    ctx, quote(q, sh->to_name, strlen(sh->to_name)));
    }
    return 0;
}

/* ---- fingerprint -------------------------------------------------------- */

/* SHA-256 fed piece by piece; `ok` turns false on the first failure. */
struct hasher {
    EVP_MD_CTX *ctx; /* owned */
    bool ok;
};

static void hash_str(struct hasher *h, const char *s)
{
    if (s != NULL && s[0] != '\0')
        h->ok = h->ok && EVP_DigestUpdate(h->ctx, s, strlen(s)) == 1;
}

__attribute__((format(printf, 2, 3))) static void hash_fmt(struct hasher *h, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    h->ok = h->ok && n >= 0 && (size_t)n < sizeof(buf);
    if (h->ok)
        hash_str(h, buf);
}

/* Feed the canonical text of `m`: every field in a fixed order, defaults
 * resolved, numbers in their stored units (see docs/configuration.md):
 * to=orders;weight=500;sticky=1:X-User-Id;steps=100,500;interval=600000;
 * guard=100,1.5,200,300000,2;override=X-Ficus-Target:127.0.0.1/32,::1/128 */
static void hash_migrate(struct hasher *h, const struct fx_conf_migrate *m)
{
    char a[32];
    char b[32];
    char cidr[INET6_ADDRSTRLEN + 8];
    hash_str(h, "to=");
    hash_str(h, m->to_name);
    hash_fmt(h, ";weight=%u;sticky=%d:", (unsigned int)m->weight_bp, (int)m->sticky);
    hash_str(h, m->sticky_name);
    hash_str(h, ";steps=");
    for (size_t i = 0; i < m->nsteps; i++)
        hash_fmt(h, "%s%u", i == 0 ? "" : ",", (unsigned int)m->steps_bp[i]);
    hash_fmt(h, ";interval=%llu;guard=%u,%s,%llu,%llu,%s;override=",
             (unsigned long long)m->ramp_interval_ms, (unsigned int)m->guard_max_err_increase_bp,
             fx_conf__format_fixed(a, sizeof(a), to_milli(m->guard_max_p99_ratio), 3),
             (unsigned long long)m->guard_min_requests, (unsigned long long)m->guard_window_ms,
             fx_conf__format_fixed(b, sizeof(b), to_milli(m->guard_rollback_factor), 3));
    if (m->override_header == NULL)
        return;
    hash_str(h, m->override_header);
    hash_str(h, ":");
    for (size_t i = 0; i < m->noverride_from; i++) {
        hash_str(h, i == 0 ? "" : ",");
        hash_str(h, format_cidr(cidr, sizeof(cidr), &m->override_from[i]));
    }
}

/* Fill m->fingerprint with the hex SHA-256 of the canonical text. */
static bool fingerprint_migrate(struct fx_conf_migrate *m)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    struct hasher h = { .ctx = EVP_MD_CTX_new(), .ok = true };
    h.ok = h.ctx != NULL && EVP_DigestInit_ex(h.ctx, EVP_sha256(), NULL) == 1;
    hash_migrate(&h, m);
    h.ok = h.ok && EVP_DigestFinal_ex(h.ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(h.ctx);
    if (!h.ok)
        return false;
    for (size_t i = 0; i < 32; i++) {
        m->fingerprint[2 * i] = hex_digits[md[i] >> 4];
        m->fingerprint[2 * i + 1] = hex_digits[md[i] & 15];
    }
    m->fingerprint[64] = '\0';
    return true;
}

/* Checks that need the whole route, once its keys are parsed. */
static int check_migrate(struct fx_conf_loader *ld, const struct fx_conf_route *r, const char *ctx)
{
    struct fx_conf_migrate *m = r->migrate;
    char q[QBUF];
    if (m == NULL)
        return 0;
    if (m->to == r->to) {
        return fail(ld, ld->mig_to, "%smigrate.to: must differ from the route's to (%s)", ctx,
                    quote(q, r->to_name, strlen(r->to_name)));
    }
    if (!fingerprint_migrate(m))
        return fail_oom(ld);
    return 0;
}

/* Find the value of `key` in `map` if it is a scalar, for labels. */
static const yaml_node_t *find_scalar(struct fx_conf_loader *ld, const yaml_node_t *map,
                                      const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = get_node(ld, p->key);
        const yaml_node_t *v = get_node(ld, p->value);
        if (k != NULL && v != NULL && k->type == YAML_SCALAR_NODE && strcmp(scalar(k), key) == 0 &&
            v->type == YAML_SCALAR_NODE && !is_null(v))
            return v;
    }
    return NULL;
}

/* ---- route rewrites (strip_prefix, set_headers, remove_headers) ---------- */

/* strip_prefix: like path_prefix, a normalised path; "/" and a trailing '/'
 * are refused (the boundary is the '/' after the prefix). */
static int parse_strip_prefix(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                              yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_route *r = obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    const char *s = scalar(val);
    size_t len = strlen(s);
    if (s[0] != '/' || len < 2 || s[len - 1] == '/')
        return fail_key(ld, val, "must start with '/' and not end with one (\"/api\"), got %s",
                        quote_node(q, val));
    if (!is_visible(s, false) || strchr(s, '?') != NULL || strchr(s, '#') != NULL)
        return fail_key(ld, val, "%s contains spaces, control characters, '?' or '#'",
                        quote_node(q, val));
    rc = check_prefix_normal(ld, val, s);
    if (rc == 0)
        rc = dup_string(ld, val, &r->strip_prefix);
    r->strip_prefix_len = rc == 0 ? len : 0;
    return rc;
}

/* Why request header `name` may not be set (or, when `removing`, removed) by
 * a route, or NULL when it may. Framing and hop-by-hop names would desync the
 * upstream connection; X-Forwarded-* and X-Ficus-* are Ficus's own. */
static const char *rewrite_refused(const char *name, bool removing)
{
    static const char *const framing[] = { "content-length",
                                           "transfer-encoding",
                                           "connection",
                                           "upgrade",
                                           "te",
                                           "trailer",
                                           "keep-alive",
                                           "expect",
                                           "proxy-connection",
                                           "x-forwarded-for",
                                           "x-forwarded-proto",
                                           "x-forwarded-host" };
    struct fx_str n = fx_str_c(name);
    for (size_t i = 0; i < sizeof(framing) / sizeof(framing[0]); i++) {
        if (fx_str_eqi(n, fx_str_c(framing[i])))
            return "is framing, hop-by-hop or set by Ficus";
    }
    if (n.len > 6 && fx_str_eqi((struct fx_str){ n.ptr, 6 }, FX_STR("proxy-")))
        return "is hop-by-hop";
    if (n.len >= 8 && fx_str_eqi((struct fx_str){ n.ptr, 8 }, FX_STR("x-ficus-")))
        return "is reserved for Ficus (X-Ficus-*)";
    if (removing && fx_str_eqi(n, FX_STR("host")))
        return "is required (replace it with set_headers)";
    return NULL;
}

/* A header name for set_headers/remove_headers: a token, allowed, not yet listed. */
static int check_rewrite_name(struct fx_conf_loader *ld, const struct fx_conf_route *r,
                              yaml_node_t *k, bool removing)
{
    char q[QBUF];
    char why[QBUF];
    if (check_string(why, k) != NULL)
        return fail_key(ld, k, "invalid header name: %s", why);
    struct fx_str n = fx_str_c(scalar(k));
    if (!is_token(scalar(k)))
        return fail_key(ld, k, "invalid header name %s", quote_node(q, k));
    const char *refused = rewrite_refused(scalar(k), removing);
    if (refused != NULL)
        return fail_key(ld, k, "%s %s", quote_node(q, k), refused);
    for (size_t i = 0; i < r->nset_headers; i++) {
        if (fx_str_eqi(n, fx_str_c(r->set_headers[i].name)))
            return fail_key(ld, k, "%s is already in set_headers", quote_node(q, k));
    }
    for (size_t i = 0; i < r->nremove_headers; i++) {
        if (fx_str_eqi(n, fx_str_c(r->remove_headers[i])))
            return fail_key(ld, k, "%s is already in remove_headers", quote_node(q, k));
    }
    return 0;
}

static int parse_set_headers(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                             yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_route *r = obj;
    char q[QBUF];
    char why[QBUF];
    int rc = expect_map(ld, val);
    size_t n = rc == 0 ? map_len(val) : 0;
    if (rc != 0 || n == 0)
        return rc;
    r->set_headers = calloc(n, sizeof(*r->set_headers));
    if (r->set_headers == NULL)
        return fail_oom(ld);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = get_node(ld, val->data.mapping.pairs.start[i].key);
        yaml_node_t *v = get_node(ld, val->data.mapping.pairs.start[i].value);
        if (k == NULL || v == NULL)
            return fail(ld, val, "malformed YAML document");
        rc = check_rewrite_name(ld, r, k, false);
        if (rc != 0)
            return rc;
        if (check_string(why, v) != NULL)
            return fail_key(ld, v, "%s: %s", quote_node(q, k), why);
        const char *s = scalar(v);
        size_t len = strlen(s);
        if (!is_visible(s, true) || (len > 0 && (is_space(s[0]) || is_space(s[len - 1]))))
            return fail_key(ld, v, "%s: not a field value (control characters or edge spaces)",
                            quote_node(q, k));
        struct fx_conf_match_header *h = &r->set_headers[r->nset_headers++];
        rc = dup_string(ld, k, &h->name);
        rc = rc != 0 ? rc : dup_string(ld, v, &h->value);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_remove_headers(struct fx_conf_loader *ld, const struct fx_conf_key *f,
                                yaml_node_t *val, void *obj)
{
    (void)f;
    struct fx_conf_route *r = obj;
    char q[QBUF];
    if (val->type != YAML_SEQUENCE_NODE)
        return fail_key(ld, val, "expected a list, got %s", describe(q, val));
    size_t n = seq_len(val);
    r->remove_headers = calloc(n > 0 ? n : 1, sizeof(*r->remove_headers));
    if (r->remove_headers == NULL)
        return fail_oom(ld);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
        if (item == NULL)
            return fail(ld, val, "malformed YAML document");
        int rc = check_rewrite_name(ld, r, item, true);
        rc = rc != 0 ? rc : dup_string(ld, item, &r->remove_headers[i]);
        if (rc != 0)
            return rc;
        r->nremove_headers = i + 1;
    }
    return 0;
}

static int parse_route(struct fx_conf_loader *ld, yaml_node_t *node, size_t idx)
{
    static const struct fx_conf_key fields[] = {
        FIELD("name", parse_route_name, true),
        FIELD("match", parse_match, false),
        FIELD("to", parse_route_to, true),
        FIELD("migrate", parse_migrate, false),
        FIELD("shadow", parse_shadow, false),
        FIELD("strip_prefix", parse_strip_prefix, false),
        FIELD("set_headers", parse_set_headers, false),
        FIELD("remove_headers", parse_remove_headers, false),
    };
    struct fx_conf_route *r = &ld->conf->routes[idx];
    char q[QBUF];
    char where[sizeof(ld->where)];
    char ctx[sizeof(where) + 4];
    if (node->type != YAML_MAPPING_NODE)
        return fail(ld, node, "routes[%zu]: expected a mapping, got %s", idx, describe(q, node));
    const yaml_node_t *name = find_scalar(ld, node, "name");
    if (name != NULL)
        (void)snprintf(where, sizeof(where), "route %s", quote_node(q, name));
    else
        (void)snprintf(where, sizeof(where), "routes[%zu]", idx);
    (void)snprintf(ctx, sizeof(ctx), "%s: ", where);
    ld->conf->nroutes = idx + 1;
    ld->route_idx = idx;
    r->line = (unsigned int)node->start_mark.line + 1;
    r->path_prefix = strdup("/");
    if (r->path_prefix == NULL)
        return fail_oom(ld);
    r->path_prefix_len = 1;
    ld->mig_to = NULL;
    ld->shadow_to = NULL;
    ld->shadow_secondary = NULL;
    int rc = walk_section(ld, node, where, ctx, fields, NFIELDS(fields), r);
    rc = rc != 0 ? rc : check_migrate(ld, r, ctx);
    return rc != 0 ? rc : check_shadow(ld, r, ctx);
}

static int parse_routes(struct fx_conf_loader *ld, yaml_node_t *val)
{
    size_t n = seq_len(val);
    int result = 0;
    ld->key = "routes";
    ld->conf->routes = calloc(n, sizeof(*ld->conf->routes));
    if (ld->conf->routes == NULL)
        return fail_oom(ld);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = get_node(ld, val->data.sequence.items.start[i]);
        if (item == NULL)
            return fail(ld, val, "malformed YAML document");
        int rc = parse_route(ld, item, i);
        if (rc == FX_ENOMEM)
            return rc;
        result = rc != 0 ? FX_ECONF : result;
    }
    return result;
}

/* Routes refer to upstreams, which may come later in the file: only check
 * the shape here and parse them after the top-level walk. */
int fx_conf__top_routes(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                        void *obj)
{
    (void)f;
    (void)obj;
    char q[QBUF];
    if (val->type != YAML_SEQUENCE_NODE)
        return fail_key(ld, val, "expected a list, got %s", describe(q, val));
    if (seq_len(val) == 0)
        return fail_key(ld, val, "at least one route is required");
    ld->routes = val;
    return 0;
}

/* ---- process identity (user, group, pidfile) ----------------------------- */

/* `user:` / `group:` (a name or a numeric id, resolved by `serve`, not here:
 * `check` may run where the account does not exist) and `pidfile:`
 * (relative to the config's directory). */
int fx_conf__top_process(struct fx_conf_loader *ld, const struct fx_conf_key *f, yaml_node_t *val,
                         void *obj)
{
    struct fx_conf *c = obj;
    char q[QBUF];
    int rc = expect_string(ld, val, NO_INDEX);
    if (rc != 0)
        return rc;
    const char *s = scalar(val);
    bool pid = strcmp(f->name, "pidfile") == 0;
    size_t len = strlen(s);
    bool ok = len > 0 && (pid ? s[len - 1] != '/' : is_valid_name(s));
    if (!ok)
        return fail_key(ld, val,
                        pid ? "expected a file path, got %s"
                            : "expected a user or group name or a numeric id, got %s",
                        quote_node(q, val));
    char **dst = pid ? &c->proc.pidfile : f->name[0] == 'u' ? &c->proc.user : &c->proc.group;
    FX_FREE(*dst);
    *dst = pid ? resolve_path(c->path, s) : strdup(s);
    return *dst == NULL ? fail_oom(ld) : 0;
}

/* ---- snapshot lifecycle ------------------------------------------------- */

static void free_migrate(struct fx_conf_migrate *m)
{
    if (m == NULL)
        return;
    FX_FREE(m->to_name);
    m->to = NULL;
    FX_FREE(m->sticky_name);
    FX_FREE(m->steps_bp);
    FX_FREE(m->override_header);
    FX_FREE(m->override_from);
    free(m);
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        FX_FREE(v[i]);
    free(v);
}

static void free_shadow(struct fx_conf_shadow *sh)
{
    if (sh == NULL)
        return;
    FX_FREE(sh->to_name);
    FX_FREE(sh->secondary_name);
    free_strings(sh->methods, sh->nmethods);
    free_strings(sh->ignore_headers, sh->nignore_headers);
    free_strings(sh->ignore_json, sh->nignore_json);
    free_strings(sh->redact, sh->nredact);
    free(sh);
}

static void free_route(struct fx_conf_route *r)
{
    FX_FREE(r->name);
    FX_FREE(r->path_prefix);
    FX_FREE(r->path_regex);
    pcre2_code_free(r->path_re);
    r->path_re = NULL;
    FX_FREE(r->strip_prefix);
    for (size_t i = 0; i < r->nset_headers; i++) {
        FX_FREE(r->set_headers[i].name);
        FX_FREE(r->set_headers[i].value);
    }
    FX_FREE(r->set_headers);
    free_strings(r->remove_headers, r->nremove_headers);
    r->remove_headers = NULL;
    for (size_t i = 0; i < r->nmethods; i++)
        FX_FREE(r->methods[i]);
    FX_FREE(r->methods);
    FX_FREE(r->host);
    for (size_t i = 0; i < r->nheaders; i++) {
        FX_FREE(r->headers[i].name);
        FX_FREE(r->headers[i].value);
    }
    FX_FREE(r->headers);
    FX_FREE(r->to_name);
    r->to = NULL;
    free_migrate(r->migrate);
    r->migrate = NULL;
    free_shadow(r->shadow);
    r->shadow = NULL;
}

static void conf_free(struct fx_conf *c)
{
    for (size_t i = 0; i < c->nroutes; i++)
        free_route(&c->routes[i]);
    FX_FREE(c->routes);
    for (size_t i = 0; i < c->nupstreams; i++) {
        FX_FREE(c->upstreams[i].name);
        FX_FREE(c->upstreams[i].servers);
    }
    FX_FREE(c->upstreams);
    for (size_t i = 0; c->listen_tls != NULL && i < c->nlisten; i++) {
        struct fx_conf_listen e = { .tls = c->listen_tls[i] };
        fx_conf__section("listen[]")->release(&e);
    }
    FX_FREE(c->listen_tls);
    FX_FREE(c->listen);
    FX_FREE(c->access_path);
    /* Wipe the secrets so that they do not linger in freed heap memory. */
    for (size_t i = 0; i < c->nadmin_tokens; i++) {
        if (c->admin_tokens[i] != NULL)
            explicit_bzero(c->admin_tokens[i], strlen(c->admin_tokens[i]));
        FX_FREE(c->admin_tokens[i]);
        FX_FREE(c->admin_token_names[i]);
    }
    FX_FREE(c->admin_tokens);
    FX_FREE(c->admin_token_names);
    FX_FREE(c->admin_token_roles);
    free_strings(c->admin_allowed_hosts, c->nadmin_allowed_hosts);
    c->admin_allowed_hosts = NULL;
    FX_FREE(c->admin_token_file);
    FX_FREE(c->store_path);
    FX_FREE(c->proc.user);
    FX_FREE(c->proc.group);
    FX_FREE(c->proc.pidfile);
    FX_FREE(c->path);
    free(c);
}

static struct fx_conf *conf_new(const char *path)
{
    struct fx_conf *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->path = strdup(path);
    if (c->path == NULL) {
        free(c);
        return NULL;
    }
    c->workers = 0;
    c->access_mode = FX_CONF_LOG_STDOUT;
    fx_conf_schema_defaults(&fx_conf_limits_section, &c->limits);
    fx_conf_schema_defaults(fx_conf__section("timeouts"), &c->timeouts);
    fx_conf_schema_defaults(fx_conf__section("upgrade"), &c->upgrade);
    fx_conf_schema_defaults(&fx_conf_paths_section, &c->paths);
    fx_conf_paths_section.finish(&c->paths);
    atomic_init(&c->refcnt, 1);
    return c;
}

void fx_conf_ref(struct fx_conf *c)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->refcnt, 1, memory_order_relaxed);
}

void fx_conf_unref(struct fx_conf *c)
{
    if (c == NULL)
        return;
    if (atomic_fetch_sub_explicit(&c->refcnt, 1, memory_order_acq_rel) == 1)
        conf_free(c);
}

/* ---- loading ------------------------------------------------------------ */

/* Report a libyaml failure; reader errors carry a byte offset, not a mark. */
static int fail_yaml(struct fx_conf_loader *ld, const yaml_parser_t *p, const char *text,
                     size_t len)
{
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_MEMORY_ERROR)
        return fail_oom(ld);
    if (p->error == YAML_READER_ERROR) {
        yaml_mark_t m = { 0 };
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            m.column = text[i] == '\n' ? 0 : m.column + 1;
            m.line += text[i] == '\n' ? 1 : 0;
        }
        if (p->problem_value != -1)
            return fail_mark(ld, &m, "invalid YAML: %s (byte 0x%02x)", problem,
                             (unsigned int)p->problem_value & 0xffu);
        return fail_mark(ld, &m, "invalid YAML: %s", problem);
    }
    if (p->context != NULL) {
        return fail_mark(ld, &p->problem_mark, "invalid YAML: %s (%s that started at line %zu)",
                         problem, p->context, p->context_mark.line + 1);
    }
    return fail_mark(ld, &p->problem_mark, "invalid YAML: %s", problem);
}

static int check_event(struct fx_conf_loader *ld, const yaml_event_t *ev, size_t *depth,
                       size_t *docs)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1)
            return fail_mark(ld, &ev->start_mark, "multiple YAML documents are not supported");
        return 0;
    case YAML_ALIAS_EVENT:
        return fail_mark(ld, &ev->start_mark, "YAML aliases are not supported");
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (++*depth > CONF_MAX_DEPTH) {
            return fail_mark(ld, &ev->start_mark, "nesting deeper than %d levels", CONF_MAX_DEPTH);
        }
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        --*depth;
        return 0;
    default:
        return 0;
    }
}

/* Event pass: syntax errors, aliases, extra documents and depth. */
static int check_events(struct fx_conf_loader *ld, const char *text, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return fail_oom(ld);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    size_t depth = 0;
    size_t docs = 0;
    int rc = 0;
    bool done = false;
    while (rc == 0 && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = fail_yaml(ld, &p, text, len);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = check_event(ld, &ev, &depth, &docs);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

/* Cross-key checks once everything is parsed. */
static int check_conf(struct fx_conf_loader *ld, const struct fx_conf *c)
{
    if (!c->admin_enabled || !addr_has_port(&c->admin_listen))
        return 0;
    for (size_t i = 0; i < c->nlisten; i++) {
        if (strcmp(c->listen[i].text, c->admin_listen.text) == 0) {
            return fail(ld, ld->admin, "admin.listen: address \"%s\" is also in listen",
                        c->admin_listen.text);
        }
    }
    return 0;
}

static int build_conf(struct fx_conf_loader *ld, struct fx_conf **out)
{
    yaml_node_t *root = yaml_document_get_root_node(ld->doc);
    char q[QBUF];
    if (root == NULL || is_null(root))
        return fail(ld, NULL, "empty configuration");
    if (root->type != YAML_MAPPING_NODE)
        return fail(ld, root, "expected a mapping at top level, got %s", describe(q, root));
    struct fx_conf *c = conf_new(ld->name);
    if (c == NULL)
        return fail_oom(ld);
    ld->conf = c;
    (void)snprintf(ld->where, sizeof(ld->where), "top level");
    const struct fx_conf_section *top = fx_conf__section("top level");
    int rc = walk_map(ld, root, top->keys, top->nkeys, c);
    if (rc != FX_ENOMEM && c->store_path == NULL) {
        c->store_path = resolve_path(c->path, STORE_DEFAULT);
        rc = c->store_path == NULL ? fail_oom(ld) : rc;
    }
    /* Routes are parsed even after errors above, so that theirs are listed
     * too; a route naming an upstream in error still finds it by name. */
    if (rc != FX_ENOMEM && ld->routes != NULL) {
        int rrc = parse_routes(ld, ld->routes);
        rc = rc == 0 || rrc == FX_ENOMEM ? rrc : rc;
    }
    if (rc == 0)
        rc = check_conf(ld, c);
    ld->conf = NULL;
    if (rc != 0) {
        conf_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Check and load `text` with the loader `ld` prepared by load_string(). */
static int load_doc(struct fx_conf_loader *ld, const char *text, size_t len, struct fx_conf **out)
{
    if (out == NULL || (text == NULL && len > 0))
        return FX_ERR_SET(ld->err, FX_EINVAL, "%s: invalid arguments", ld->name);
    *out = NULL;
    if (len > CONF_MAX_BYTES)
        return fail(ld, NULL, "configuration larger than %u bytes", CONF_MAX_BYTES);
    if (text == NULL)
        text = "";
    int rc = check_events(ld, text, len);
    if (rc != 0)
        return rc;
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p))
        return fail_oom(ld);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        rc = fail_yaml(ld, &p, text, len);
        yaml_parser_delete(&p);
        return rc;
    }
    yaml_parser_delete(&p);
    ld->doc = &doc;
    rc = build_conf(ld, out);
    ld->doc = NULL;
    yaml_document_delete(&doc);
    return rc;
}

static int load_string(const char *name, const char *text, size_t len, struct fx_conf **out,
                       struct fx_err *err, FILE *diag, size_t *nerrors)
{
    struct fx_conf_loader ld = { .name = name ? name : "<config>", .err = err, .diag = diag };
    int rc = load_doc(&ld, text, len, out);
    if (nerrors != NULL)
        *nerrors = ld.nerrors;
    return rc;
}

int fx_conf_load_string(const char *name, const char *text, size_t len, struct fx_conf **out,
                        struct fx_err *err)
{
    return load_string(name, text, len, out, err, NULL, NULL);
}

/* Read all of `f` (at most CONF_MAX_BYTES) into a new buffer. */
static int read_all(FILE *f, char **out, size_t *len)
{
    size_t cap = 4096;
    size_t n = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return FX_ENOMEM;
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0 || n > CONF_MAX_BYTES)
            break;
        if (n == cap) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                return FX_ENOMEM;
            }
            buf = grown;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        free(buf);
        return FX_EIO;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int load_file(const char *path, struct fx_conf **out, struct fx_err *err, FILE *diag,
                     size_t *nerrors)
{
    char ebuf[128];
    if (path == NULL || out == NULL)
        return FX_ERR_SET(err, FX_EINVAL, "conf: no path or output given");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return FX_ERR_SET(err, FX_ECONF, "%s: cannot open: %s", path,
                          strerror_r(errno, ebuf, sizeof(ebuf)));
    }
    char *text = NULL;
    size_t len = 0;
    int rc = read_all(f, &text, &len);
    int saved = errno;
    (void)fclose(f);
    if (rc == FX_ENOMEM)
        return FX_ERR_SET(err, FX_ENOMEM, "%s: out of memory", path);
    if (rc != 0) {
        return FX_ERR_SET(err, FX_ECONF, "%s: cannot read: %s", path,
                          strerror_r(saved, ebuf, sizeof(ebuf)));
    }
    rc = load_string(path, text, len, out, err, diag, nerrors);
    free(text);
    return rc;
}

int fx_conf_load(const char *path, struct fx_conf **out, struct fx_err *err)
{
    return load_file(path, out, err, NULL, NULL);
}

int fx_conf_check(const char *path, FILE *diag, struct fx_conf **out, struct fx_err *err)
{
    struct fx_err first = { 0 };
    size_t nerrors = 0;
    int rc = load_file(path, out, err != NULL ? err : &first, diag, &nerrors);
    /* Failures before the document is walked (open, read) are not listed. */
    if (rc != 0 && diag != NULL && nerrors == 0) {
        (void)fprintf(diag, "%s\n", err != NULL ? err->msg : first.msg);
    }
    return rc;
}

/* ---- scalar syntax ------------------------------------------------------ */

int fx_conf_parse_duration(const char *s, uint64_t *ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
    uint64_t v = 0;
    if (s == NULL || ms == NULL)
        return FX_EINVAL;
    size_t n = parse_digits(s, &v);
    if (n == 0)
        return FX_EINVAL;
    if (s[n] == '\0') {
        if (v != 0)
            return FX_EINVAL;
        *ms = 0;
        return 0;
    }
    for (size_t i = 0; i < NFIELDS(units); i++) {
        if (strcmp(s + n, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].ms)
                return FX_EINVAL;
            *ms = v * units[i].ms;
            return 0;
        }
    }
    return FX_EINVAL;
}

int fx_conf_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *suffix;
        uint64_t mul;
    } suffixes[] = {
        { "", 1 },         { "KiB", 1u << 10 }, { "KB", 1u << 10 }, { "K", 1u << 10 },
        { "k", 1u << 10 }, { "MiB", 1u << 20 }, { "MB", 1u << 20 }, { "M", 1u << 20 },
        { "m", 1u << 20 }, { "GiB", 1u << 30 }, { "GB", 1u << 30 }, { "G", 1u << 30 },
        { "g", 1u << 30 },
    };
    uint64_t v = 0;
    if (s == NULL || bytes == NULL)
        return FX_EINVAL;
    size_t n = parse_digits(s, &v);
    if (n == 0)
        return FX_EINVAL;
    for (size_t i = 0; i < NFIELDS(suffixes); i++) {
        if (strcmp(s + n, suffixes[i].suffix) == 0) {
            if (v > UINT64_MAX / suffixes[i].mul)
                return FX_EINVAL;
            *bytes = v * suffixes[i].mul;
            return 0;
        }
    }
    return FX_EINVAL;
}

/* ---- JSON dump ---------------------------------------------------------- */

/* Add `v` (a new reference, may be NULL) to `obj`; false on failure. */
static bool put(json_t *obj, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(obj, key, v) == 0;
}

/* The addresses of an FX_CONF_T_ADDRS key as a new JSON list of text. */
static json_t *dump_addrs(const struct fx_conf_key *k, const void *obj)
{
    const unsigned char *arr = NULL;
    size_t n = 0;
    memcpy(&arr, (const unsigned char *)obj + k->off, sizeof(arr));
    memcpy(&n, (const unsigned char *)obj + k->count_off, sizeof(n));
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        const struct fx_addr *a = (const struct fx_addr *)(const void *)(arr + i * k->elem_size);
        if (json_array_append_new(list, json_string(a->text)) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

/* The names of an FX_CONF_T_TOKENS key as a new JSON list. */
static json_t *dump_tokens(const struct fx_conf_key *k, const void *obj)
{
    const char *arr = (const char *)obj + k->off;
    size_t n = 0;
    memcpy(&n, (const char *)obj + k->count_off, sizeof(n));
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        if (json_array_append_new(list, json_string(arr + i * k->elem_size)) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

/* The value of a scalar key in stored units. */
static uint64_t load_uint(const struct fx_conf_key *k, const void *obj)
{
    const unsigned char *p = (const unsigned char *)obj + k->off;
    if (k->size == sizeof(uint64_t)) {
        uint64_t v = 0;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    uint32_t x = 0;
    memcpy(&x, p, sizeof(x));
    return x;
}

/* Add each key of `sec` in `obj` that the engine parsed to `o`, in table
 * order: durations as NAME_ms, percentages as NAME_bp, in stored units. */
static bool dump_keys(json_t *o, const struct fx_conf_section *sec, const void *obj)
{
    char name[80];
    bool ok = o != NULL;
    for (size_t i = 0; ok && i < sec->nkeys; i++) {
        const struct fx_conf_key *k = &sec->keys[i];
        if (k->type == FX_CONF_T_CUSTOM || (k->flags & FX_CONF_K_NO_DUMP) != 0)
            continue;
        const char *suffix = k->type == FX_CONF_T_DURATION  ? "_ms"
                             : k->type == FX_CONF_T_PERCENT ? "_bp"
                                                            : "";
        (void)snprintf(name, sizeof(name), "%s%s", k->name, suffix);
        if (k->type == FX_CONF_T_ADDRS) {
            ok = put(o, name, dump_addrs(k, obj));
        } else if (k->type == FX_CONF_T_TOKENS) {
            ok = put(o, name, dump_tokens(k, obj));
        } else if (k->type == FX_CONF_T_DECIMAL) {
            double d = 0;
            memcpy(&d, (const unsigned char *)obj + k->off, sizeof(d));
            ok = put(o, name, json_real(d));
        } else if (k->type == FX_CONF_T_BOOL) {
            bool b = false;
            memcpy(&b, (const unsigned char *)obj + k->off, sizeof(b));
            ok = put(o, name, json_boolean(b));
        } else {
            ok = put(o, name, json_integer((json_int_t)load_uint(k, obj)));
        }
    }
    return ok;
}

/* A section on the schema as a new JSON object. */
static json_t *dump_section(const struct fx_conf_section *sec, const void *obj)
{
    json_t *o = json_object();
    if (!dump_keys(o, sec, obj)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The log section; `fields` is always written out, the default list included. */
static json_t *dump_log(const struct fx_conf *c, const char *access)
{
    size_t n = c->nlog_fields ? c->nlog_fields : FX_CONF_LOG_NDEFAULT;
    json_t *fields = json_array();
    for (size_t i = 0; fields != NULL && i < n; i++) {
        unsigned int id = c->nlog_fields ? c->log_fields[i] : (unsigned int)i;
        if (json_array_append_new(fields, json_string(fx_conf_log_field_name(id))) != 0) {
            json_decref(fields);
            return NULL;
        }
    }
    return fields != NULL
               ? json_pack("{s:s,s:s,s:o}", "access", access, "format", "json", "fields", fields)
               : NULL;
}

static json_t *dump_listen(const struct fx_conf *c)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < c->nlisten; i++) {
        if (json_array_append_new(arr, json_string(c->listen[i].text)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *dump_upstreams(const struct fx_conf *c)
{
    json_t *all = json_object();
    for (size_t i = 0; all != NULL && i < c->nupstreams; i++) {
        if (!put(all, c->upstreams[i].name,
                 dump_section(fx_conf__section("upstreams.NAME"), &c->upstreams[i]))) {
            json_decref(all);
            return NULL;
        }
    }
    return all;
}

static json_t *dump_match(const struct fx_conf_route *r)
{
    json_t *m = json_pack("{s:s,s:[]}", "path_prefix", r->path_prefix, "methods");
    json_t *methods = json_object_get(m, "methods");
    bool ok = m != NULL;
    for (size_t i = 0; ok && i < r->nmethods; i++)
        ok = json_array_append_new(methods, json_string(r->methods[i])) == 0;
    if (ok && r->host != NULL)
        ok = put(m, "host", json_string(r->host));
    if (ok && r->path_regex != NULL)
        ok = put(m, "path_regex", json_string(r->path_regex));
    json_t *headers = ok ? json_object() : NULL;
    ok = ok && put(m, "headers", headers);
    for (size_t i = 0; ok && i < r->nheaders; i++)
        ok = put(headers, r->headers[i].name, json_string(r->headers[i].value));
    if (!ok) {
        json_decref(m);
        return NULL;
    }
    return m;
}

static json_t *dump_sticky(const struct fx_conf_migrate *m)
{
    switch (m->sticky) {
    case FX_STICKY_HEADER:
        return json_sprintf("header:%s", m->sticky_name);
    case FX_STICKY_COOKIE:
        return json_sprintf("cookie:%s", m->sticky_name);
    case FX_STICKY_QUERY:
        return json_sprintf("query:%s", m->sticky_name);
    case FX_STICKY_IP:
        return json_string("ip");
    case FX_STICKY_NONE:
    default:
        return json_string("none");
    }
}

static json_t *dump_ramp(const struct fx_conf_migrate *m)
{
    if (m->nsteps == 0)
        return json_null();
    json_t *o = json_pack("{s:[],s:I}", "steps_bp", "interval_ms", (json_int_t)m->ramp_interval_ms);
    json_t *steps = json_object_get(o, "steps_bp");
    bool ok = o != NULL;
    for (size_t i = 0; ok && i < m->nsteps; i++)
        ok = json_array_append_new(steps, json_integer((json_int_t)m->steps_bp[i])) == 0;
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *dump_override(const struct fx_conf_migrate *m)
{
    char cidr[INET6_ADDRSTRLEN + 8];
    if (m->override_header == NULL)
        return json_null();
    json_t *o = json_pack("{s:s,s:[]}", "header", m->override_header, "from");
    json_t *from = json_object_get(o, "from");
    bool ok = o != NULL;
    for (size_t i = 0; ok && i < m->noverride_from; i++) {
        const char *text = format_cidr(cidr, sizeof(cidr), &m->override_from[i]);
        ok = json_array_append_new(from, json_string(text)) == 0;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *dump_guard(const struct fx_conf_migrate *m)
{
    return dump_section(fx_conf__section("routes[].migrate.guard"), m);
}

/* The migrate section with defaults resolved; weights in basis points. */
static json_t *dump_migrate(const struct fx_conf_migrate *m)
{
    if (m == NULL)
        return json_null();
    json_t *o = json_object();
    bool ok = o != NULL && put(o, "to", json_string(m->to_name)) &&
              put(o, "weight_bp", json_integer((json_int_t)m->weight_bp)) &&
              put(o, "sticky", dump_sticky(m)) && put(o, "ramp", dump_ramp(m)) &&
              put(o, "guard", dump_guard(m)) && put(o, "override", dump_override(m)) &&
              put(o, "fingerprint", json_string(m->fingerprint));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *dump_strings(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_string(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The shadow section with defaults resolved; shares in basis points. */
static json_t *dump_shadow(const struct fx_conf_shadow *sh)
{
    if (sh == NULL)
        return json_null();
    json_t *o = json_object();
    json_t *cmp = json_object();
    bool ok =
        o != NULL && cmp != NULL && put(o, "to", json_string(sh->to_name)) &&
        put(o, "sample_bp", json_integer((json_int_t)sh->sample_bp)) &&
        put(o, "methods", dump_strings(sh->methods, sh->nmethods)) &&
        put(o, "max_body", json_integer((json_int_t)sh->max_body)) &&
        put(o, "max_inflight", json_integer((json_int_t)sh->max_inflight)) &&
        put(o, "secondary", sh->secondary_name ? json_string(sh->secondary_name) : json_null()) &&
        put(cmp, "ignore_headers", dump_strings(sh->ignore_headers, sh->nignore_headers)) &&
        put(cmp, "ignore_json", dump_strings(sh->ignore_json, sh->nignore_json)) &&
        put(o, "compare", json_incref(cmp)) &&
        put(o, "redact", dump_strings(sh->redact, sh->nredact)) &&
        put(o, "block_promotion_above_bp",
            sh->block_bp == FX_SHADOW_NO_BLOCK ? json_null()
                                               : json_integer((json_int_t)sh->block_bp));
    json_decref(cmp);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* strip_prefix (null when unset), set_headers {} and remove_headers [] into `o`. */
static bool dump_rewrites(json_t *o, const struct fx_conf_route *r)
{
    json_t *set = json_object(); /* owned by `o` once put (put releases it on failure) */
    bool ok =
        put(o, "set_headers", set) &&
        put(o, "strip_prefix", r->strip_prefix ? json_string(r->strip_prefix) : json_null()) &&
        put(o, "remove_headers", dump_strings(r->remove_headers, r->nremove_headers));
    for (size_t i = 0; ok && i < r->nset_headers; i++)
        ok = put(set, r->set_headers[i].name, json_string(r->set_headers[i].value));
    return ok;
}

static json_t *dump_routes(const struct fx_conf *c)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < c->nroutes; i++) {
        const struct fx_conf_route *r = &c->routes[i];
        json_t *o = json_object();
        bool ok = o != NULL && put(o, "name", json_string(r->name)) &&
                  put(o, "match", dump_match(r)) && put(o, "to", json_string(r->to_name)) &&
                  put(o, "migrate", dump_migrate(r->migrate)) &&
                  put(o, "shadow", dump_shadow(r->shadow)) && dump_rewrites(o, r);
        if (!ok)
            json_decref(o);
        if (!ok || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* The admin section: tokens are counted, never shown. */
static json_t *dump_admin(const struct fx_conf *c)
{
    json_t *open = json_array();
    if (open != NULL && (c->admin_open & FX_CONF_ADMIN_OPEN_HEALTHZ) != 0)
        (void)json_array_append_new(open, json_string("healthz"));
    if (open != NULL && (c->admin_open & FX_CONF_ADMIN_OPEN_METRICS) != 0)
        (void)json_array_append_new(open, json_string("metrics"));
    return json_pack("{s:s,s:s?,s:I,s:o?,s:o?}", "listen", c->admin_listen.text, "token_file",
                     c->admin_token_file, "token_count", (json_int_t)c->nadmin_tokens,
                     "allowed_hosts", dump_strings(c->admin_allowed_hosts, c->nadmin_allowed_hosts),
                     "open", open);
}

static json_t *dump_conf(const struct fx_conf *c)
{
    json_t *root = json_object();
    bool ok = root != NULL && put(root, "path", json_string(c->path)) &&
              put(root, "listen", dump_listen(c));
    /* Tokens are secrets: only where they come from and how many. */
    if (ok && c->admin_enabled)
        ok = put(root, "admin", dump_admin(c));
    else if (ok)
        ok = put(root, "admin", json_null());
    ok =
        ok && put(root, "store", json_pack("{s:s,s:s}", "scheme", "sqlite", "path", c->store_path));
    if (ok && c->workers == 0)
        ok = put(root, "workers", json_string("auto"));
    else if (ok)
        ok = put(root, "workers", json_integer((json_int_t)c->workers));
    const char *access = c->access_mode == FX_CONF_LOG_OFF    ? "off"
                         : c->access_mode == FX_CONF_LOG_FILE ? c->access_path
                                                              : "stdout";
    ok = ok && put(root, "log", dump_log(c, access)) &&
         put(root, "limits", dump_section(&fx_conf_limits_section, &c->limits)) &&
         put(root, "timeouts", dump_section(fx_conf__section("timeouts"), &c->timeouts)) &&
         put(root, "upgrade", dump_section(fx_conf__section("upgrade"), &c->upgrade)) &&
         put(root, "upstreams", dump_upstreams(c)) && put(root, "routes", dump_routes(c));
    ok = ok && put(root, "paths", dump_section(&fx_conf_paths_section, &c->paths));
    ok = ok &&
         json_object_update_new(root, json_pack("{s:s?,s:s?,s:s?}", "user", c->proc.user, "group",
                                                c->proc.group, "pidfile", c->proc.pidfile)) == 0;
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

int fx_conf_dump_json(const struct fx_conf *c, FILE *f)
{
    if (c == NULL || f == NULL)
        return FX_EIO;
    json_t *root = dump_conf(c);
    if (root == NULL)
        return FX_EIO;
    int rc = json_dumpf(root, f, JSON_COMPACT);
    json_decref(root);
    return rc == 0 ? 0 : FX_EIO;
}
