/* The configuration schema: each section's keys declared once, in a table
 * owned by the module that uses them (like nginx's ngx_command_t), from
 * which src/conf/ derives parsing, validation, defaults, the canonical JSON
 * dump and the configuration reference.
 *
 * A module writes `<mod>_conf.c` with a `const struct fx_conf_section` and
 * lists it in src/conf/sections.c; the engine never includes a module. */
#ifndef FX_CONF_SCHEMA_H
#define FX_CONF_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/err_types.h"

struct fx_conf_loader; /* opaque: the loader walking a document (conf.c) */
struct yaml_node_s;    /* libyaml's yaml_node_t */
struct fx_conf_key;

/* Parse `val` for key `k` into `obj` (the section's struct). Returns 0, or
 * FX_ECONF after reporting the error through the loader, or FX_ENOMEM. */
typedef int fx_conf_parse_fn(struct fx_conf_loader *ld, const struct fx_conf_key *k,
                             struct yaml_node_s *val, void *obj);

/* Called once a section's keys are parsed (also after errors), to derive
 * stored fields from the parsed ones. */
typedef void fx_conf_finish_fn(void *obj);

enum fx_conf_type {
    FX_CONF_T_CUSTOM = 0, /* parsed by key->parse, documented by type_doc/def_doc/range_doc */
    FX_CONF_T_DURATION,   /* uint64_t milliseconds: "250ms", "10s", "5m", "1h"; dumped NAME_ms */
    FX_CONF_T_SIZE,       /* bytes (uint64_t or size_t): "16384", "16KiB", "1m" */
    FX_CONF_T_UINT,       /* decimal integer (unsigned int, uint64_t or size_t) */
    FX_CONF_T_BOOL,       /* true or false (bool) */
    FX_CONF_T_PERCENT,    /* "5%", "0.25%": uint32_t basis points; dumped NAME_bp */
    FX_CONF_T_DECIMAL,    /* "1.5": at most three decimals, a double; min/max/def in
                             thousandths */
    FX_CONF_T_ADDRS,      /* an address or a non-empty list: an owned array at `off` of
                             `elem_size` elements, each starting with a struct fx_addr, and
                             its length (size_t) at `count_off`; dumped as a list of text */
    FX_CONF_T_TOKENS,     /* a list (maybe empty) of distinct RFC 9110 tokens, compared
                             case-insensitively, into an inline array at `off` of at most
                             `max` strings of `elem_size` bytes (NUL-terminated), count
                             (size_t) at `count_off`; default `def_list` (comma-separated) */
};

/* Key flags. */
#define FX_CONF_K_REQUIRED 0x1u  /* the key must be present */
#define FX_CONF_K_NO_DUMP  0x2u  /* the dump of this key is written by the section's owner */
#define FX_CONF_K_PORT0    0x4u  /* FX_CONF_T_ADDRS: port 0 (pick a free port) allowed */
#define FX_CONF_K_UNIQUE   0x8u  /* FX_CONF_T_ADDRS: an address (other than port 0) only once */
#define FX_CONF_K_ABOVE    0x10u /* FX_CONF_T_DECIMAL: min is exclusive */

/* One key of a section. Scalar types store into the member at `off` (of
 * `size` bytes) after checking min..max (stored units); `def` is the default
 * in stored units, applied before the section is walked. */
struct fx_conf_key {
    const char *name;
    enum fx_conf_type type;
    unsigned int flags; /* FX_CONF_K_* */
    size_t off;
    size_t size;
    uint64_t min;
    uint64_t max;
    uint64_t def;
    size_t count_off;        /* FX_CONF_T_ADDRS: offset of the element count */
    size_t elem_size;        /* FX_CONF_T_ADDRS, FX_CONF_T_TOKENS: bytes per element */
    const char *def_list;    /* FX_CONF_T_TOKENS: default list, "a,b" ("": empty) */
    fx_conf_parse_fn *parse; /* FX_CONF_T_CUSTOM only */
    const char *type_doc;    /* reference "type" column; NULL: from the type */
    const char *def_doc;     /* reference "default" column; NULL: from def (or "required") */
    const char *range_doc;   /* reference "range" column; NULL: from min..max */
    const char *doc;         /* one line: what the key does */
};

/* A mapping of keys: a top-level section ("limits") or a nested one
 * ("upstreams.NAME"). */
struct fx_conf_section {
    const char *path;               /* as written in the reference: "limits", "upstreams.NAME" */
    const struct fx_conf_key *keys; /* borrowed: static table */
    size_t nkeys;
    fx_conf_finish_fn *finish;  /* may be NULL */
    fx_conf_finish_fn *release; /* may be NULL: frees what the custom parsers stored in obj */
};

#define FX_CONF_MEMBER(st, member) .off = offsetof(st, member), .size = sizeof(((st *)NULL)->member)

#define FX_CONF_NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* Define section `var` named `p` over the static key table `table`. */
#define FX_CONF_SECTION(var, p, table, fin)                                          \
    const struct fx_conf_section var = {                                             \
        .path = (p), .keys = (table), .nkeys = FX_CONF_NKEYS(table), .finish = (fin) \
    }

#define FX_CONF_DURATION_MAX_MS (24ull * 3600 * 1000) /* 24h: the range of most durations */
#define FX_CONF_PCT_MAX_BP      10000u                /* 100% in basis points */

/* Every section on the schema, in reference order; NULL-terminated
 * (src/conf/sections.c). */
extern const struct fx_conf_section *const fx_conf_sections[];

/* Store each scalar key's default into `obj`. */
void fx_conf_schema_defaults(const struct fx_conf_section *s, void *obj);

/* The section whose path is `path`, or NULL. */
const struct fx_conf_section *fx_conf_schema_find(const char *path);

/* Write the reference of every section as Markdown tables to `f`, each
 * between "<!-- BEGIN GENERATED: ficus config reference PATH -->" and
 * "<!-- END GENERATED -->" lines (docs/configuration.md embeds them).
 * Returns 0 or FX_EIO. */
int fx_conf_schema_reference_md(FILE *f);

/* Parse a percentage "25%", "0.01%", "12.5%", "100%" into basis points
 * (1 bp = 0.01%): digits, at most two decimals, then an optional '%' (a bare
 * number is a percentage: "5" = 5%); no sign, no spaces, no exponent. The one
 * grammar for the configuration, `ficus ctl weight` and the admin API.
 * Returns 0, FX_EINVAL for any other syntax (NULL included) or FX_ELIMIT
 * above 100%. */
int fx_conf_parse_percent(const char *s, uint32_t *bp);

/* The closest of the `n` candidates to `word` by Damerau-Levenshtein (optimal
 * string alignment) distance, if that distance is at most 2 and smaller than
 * the word; otherwise NULL. Candidates are read with `stride` bytes between
 * consecutive `const char *` pointers, so a table of structs whose first
 * member is the name can be passed directly. */
const char *fx_conf_suggest(const char *word, const void *candidates, size_t n, size_t stride);

/* ---- services for the custom parsers of modules' tables ----------------- */

/* Report an error at node `n` (NULL: no position) naming the current key:
 * "FILE:LINE:COL: listen[1].tls.profile: cause". Returns FX_ECONF. */
int fx_conf_fail(struct fx_conf_loader *ld, const struct yaml_node_s *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The text of `n` when it is a usable string (a non-null scalar without NUL
 * bytes); otherwise NULL after reporting why. Borrowed from the document:
 * copy it. */
const char *fx_conf_string(struct fx_conf_loader *ld, const struct yaml_node_s *n);

/* Items of `n` when it is a list: their count, and item `i` (NULL when `n`
 * is not a list or the document is malformed). */
size_t fx_conf_list_len(const struct yaml_node_s *n);
struct yaml_node_s *fx_conf_list_item(struct fx_conf_loader *ld, const struct yaml_node_s *n,
                                      size_t i);

/* Walk the mapping `n` against `sec` into `obj` (defaults stored first):
 * key errors say "in <where>", value errors start "<where>.". Returns 0,
 * FX_ECONF (reported; a non-mapping too) or FX_ENOMEM. */
int fx_conf_walk(struct fx_conf_loader *ld, struct yaml_node_s *n,
                 const struct fx_conf_section *sec, const char *where, void *obj);

/* The key path being parsed ("listen[1].tls."), for the `where` of a nested
 * walk. Borrowed: valid until the parser returns. */
const char *fx_conf_context(const struct fx_conf_loader *ld);

/* `p` joined to the directory of the configuration file unless absolute: a
 * new string (caller frees), or NULL when out of memory. */
char *fx_conf_resolve(const struct fx_conf_loader *ld, const char *p);

#endif
