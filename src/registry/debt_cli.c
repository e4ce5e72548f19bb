/* `ficus debt`: the technical debt registry from the command line, on the
 * store of a config (-c FILE, no server needed) or through the admin API of
 * a running server (--admin URL). docs/registry.md describes every command. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../conf/conf.h"
#include "../core/err.h"
#include "../ctl/ctl.h"
#include "../store/store.h"
#include "registry.h"
#include "registry_int.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2
#define MAX_POS    2
#define FILE_MAX   (64u << 20)

static const char usage_debt[] =
    "usage: ficus debt (-c FILE | --admin URL [--token-file PATH]) COMMAND [ARGS]\n"
    "\n"
    "The technical debt registry: items ranked by declared impact and live traffic.\n"
    "\n"
    "commands:\n"
    "  add --title T [ITEM OPTIONS]            create an item (prints its id)\n"
    "  list [--sort S] [--status S] [--format F]\n"
    "                                          items ranked by priority\n"
    "  show ID [--format table|json]           one item: live figures, score terms, history\n"
    "  update ID [ITEM OPTIONS] [--status S]   change fields (each change is in the history)\n"
    "  close ID --as paid|accepted             close an item\n"
    "  import FILE                             add items from JSON or CSV, all or nothing\n"
    "  export [--format json|csv] [-o FILE]    every item's stored fields\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   work on the store named by FILE (store: sqlite:PATH)\n"
    "  --admin URL         go through the admin API of a running server\n"
    "  --token-file PATH   bearer token for changes (default: $FICUS_ADMIN_TOKEN)\n"
    "  -h, --help          this help; ficus debt COMMAND --help for one command\n";

#define ITEM_OPTIONS                                                                        \
    "  --title T           one line of text\n"                                              \
    "  --description D     free text\n"                                                     \
    "  --route NAME        a linked route (repeat for several; replaces the list)\n"        \
    "  --no-routes         unlink every route (update)\n"                                   \
    "  --component C       component name\n"                                                \
    "  --kind K            architecture, code (default), data, infrastructure, security,\n" \
    "                      testing, dependency\n"                                           \
    "  --stability N       declared stability impact 1..5 (default 3)\n"                    \
    "  --velocity N        declared velocity impact 1..5 (default 3)\n"                     \
    "  --effort D          estimated effort in days (0 = not estimated)\n"                  \
    "  --owner O           owner\n"                                                         \
    "  --notes N           free text\n"

/* Option ids; each command lists the ones it takes. */
enum opt_id {
    O_TITLE,
    O_DESCRIPTION,
    O_ROUTE,
    O_NO_ROUTES,
    O_COMPONENT,
    O_KIND,
    O_STABILITY,
    O_VELOCITY,
    O_EFFORT,
    O_OWNER,
    O_NOTES,
    O_STATUS,
    O_SORT,
    O_FORMAT,
    O_OUTPUT,
    O_AS,
    O_COUNT
};

struct opt {
    const char *name;
    const char *field; /* item field it sets, or NULL */
    bool arg;
};

static const struct opt opts[O_COUNT] = {
    [O_TITLE] = { "--title", "title", true },
    [O_DESCRIPTION] = { "--description", "description", true },
    [O_ROUTE] = { "--route", NULL, true },
    [O_NO_ROUTES] = { "--no-routes", NULL, false },
    [O_COMPONENT] = { "--component", "component", true },
    [O_KIND] = { "--kind", "kind", true },
    [O_STABILITY] = { "--stability", "stability", true },
    [O_VELOCITY] = { "--velocity", "velocity", true },
    [O_EFFORT] = { "--effort", "effort_days", true },
    [O_OWNER] = { "--owner", "owner", true },
    [O_NOTES] = { "--notes", "notes", true },
    [O_STATUS] = { "--status", NULL, true },
    [O_SORT] = { "--sort", NULL, true },
    [O_FORMAT] = { "--format", NULL, true },
    [O_OUTPUT] = { "-o", NULL, true },
    [O_AS] = { "--as", NULL, true },
};

#define BIT(o) (1u << (o))
#define ITEM_BITS                                                                        \
    (BIT(O_TITLE) | BIT(O_DESCRIPTION) | BIT(O_ROUTE) | BIT(O_COMPONENT) | BIT(O_KIND) | \
     BIT(O_STABILITY) | BIT(O_VELOCITY) | BIT(O_EFFORT) | BIT(O_OWNER) | BIT(O_NOTES))

/* The parsed command line. Strings borrow argv. */
struct cli {
    const char *conf;
    const char *admin;
    const char *token_file;
    const char *cmd;
    const char *pos[MAX_POS];
    size_t npos;
    const char *val[O_COUNT]; /* last value of each option */
    unsigned int seen;        /* BIT() of each option given */
    json_t *fields;           /* owned: item fields from the options */
    json_t *routes;           /* owned: --route values */
    bool help;
    /* Where the commands go: a store, or the admin API. */
    struct fx_conf *cf;  /* owned */
    struct fx_store *st; /* owned */
    const char *actor;   /* borrowed: $USER or "cli" */
};

struct cmd {
    const char *name;
    int (*run)(struct cli *c);
    unsigned int opts; /* BIT() of the options it takes */
    size_t npos;       /* operands */
    const char *usage;
};

/* Print "ficus debt: MSG" (with " 'ARG'" when arg is not NULL) and a hint;
 * returns EXIT_USAGE. */
static int usage_error(const struct cli *c, const char *msg, const char *arg)
{
    (void)fprintf(stderr, "ficus debt: %s%s%s%s\n(ficus debt %s%s--help for usage)\n", msg,
                  arg != NULL ? " '" : "", arg != NULL ? arg : "", arg != NULL ? "'" : "",
                  c->cmd != NULL ? c->cmd : "", c->cmd != NULL ? " " : "");
    return EXIT_USAGE;
}

/* Print a registry error; messages start with "debt: " already. */
static int fail_msg(const char *msg)
{
    if (strncmp(msg, "debt: ", 6) == 0)
        msg += 6;
    (void)fprintf(stderr, "ficus debt: %s\n", msg);
    return EXIT_FAIL;
}

/* ---- parsing ------------------------------------------------------------------ */

static int find_opt(const char *arg, size_t len)
{
    for (int i = 0; i < O_COUNT; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0)
            return i;
    }
    if (len == 8 && strncmp(arg, "--output", 8) == 0)
        return O_OUTPUT;
    return -1;
}

/* An integer when `s` is one, a number for the effort, else the text: the
 * registry names the field and the bad value. */
static json_t *typed_value(int o, const char *s)
{
    if (o != O_STABILITY && o != O_VELOCITY && o != O_EFFORT)
        return json_string(s);
    char *end = NULL;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || isspace((unsigned char)*s))
        return json_string(s);
    return fx_reg__json_num(d);
}

static int take_item_opt(struct cli *c, int o, const char *v)
{
    if (o == O_ROUTE)
        return json_array_append_new(c->routes, json_string(v));
    if (opts[o].field != NULL)
        return json_object_set_new(c->fields, opts[o].field, typed_value(o, v));
    return 0;
}

/* One "--name value", "--name=value" or flag at argv[*i]. */
static int take_opt(struct cli *c, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    int o = find_opt(arg, len);
    if (o < 0)
        return usage_error(c, "unknown option", arg);
    const char *v = eq != NULL ? eq + 1 : NULL;
    if (opts[o].arg && v == NULL) {
        if (*i + 1 >= argc)
            return usage_error(c, "this option needs a value:", arg);
        v = argv[++*i];
    } else if (!opts[o].arg && v != NULL) {
        return usage_error(c, "this option takes no value:", arg);
    }
    c->seen |= BIT(o);
    c->val[o] = v;
    if (take_item_opt(c, o, v != NULL ? v : "") != 0)
        return usage_error(c, "out of memory", NULL);
    return 0;
}

/* Options that hold for every command: -c, --admin, --token-file, --help.
 * Returns 1 when argv[*i] is not one of them. */
static int take_global(struct cli *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char **slot = NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        c->help = true;
        return 0;
    }
    if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
        slot = &c->conf;
    else if (strcmp(a, "--admin") == 0)
        slot = &c->admin;
    else if (strcmp(a, "--token-file") == 0)
        slot = &c->token_file;
    if (slot == NULL)
        return 1;
    if (*i + 1 >= argc)
        return usage_error(c, "this option needs a value:", a);
    *slot = argv[++*i];
    return 0;
}

static int parse_args(struct cli *c, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        int rc = take_global(c, argc, argv, &i);
        if (rc != 1) {
            if (rc != 0)
                return rc;
            continue;
        }
        const char *a = argv[i];
        if (a[0] == '-' && a[1] != '\0') {
            if ((rc = take_opt(c, argc, argv, &i)) != 0)
                return rc;
        } else if (c->cmd == NULL) {
            c->cmd = a;
        } else if (c->npos < MAX_POS) {
            c->pos[c->npos++] = a;
        } else {
            return usage_error(c, "unexpected argument", a);
        }
    }
    return 0;
}

/* ---- where the commands go ------------------------------------------------------- */

static int open_store(struct cli *c)
{
    struct fx_err err = { 0 };
    if (fx_conf_load(c->conf, &c->cf, &err) != 0) {
        c->cf = NULL;
        (void)fprintf(stderr, "ficus debt: %s\n", err.msg);
        return EXIT_FAIL;
    }
    if (fx_store_open(c->cf->store_path, &c->st, &err) != 0) {
        c->st = NULL;
        (void)fprintf(stderr, "ficus debt: %s\n", err.msg);
        return EXIT_FAIL;
    }
    return 0;
}

/* One admin API call; on success 0 and the decoded JSON answer in *out. A
 * refusal prints the server's error. */
static int api_call(const struct cli *c, const char *method, const char *path, const json_t *body,
                    json_t **out, char *errmsg, size_t errcap)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    int status = 0;
    char *resp = NULL;
    size_t len = 0;
    int rc = fx_ctl_request(c->admin, c->token_file, method, path, text, &status, &resp, &len);
    free(text);
    if (rc != 0)
        return rc;
    json_error_t jerr;
    json_t *j = json_loadb(resp, len, 0, &jerr);
    free(resp);
    if (status >= 400 || j == NULL) {
        const char *e = json_string_value(json_object_get(j, "error"));
        (void)snprintf(errmsg, errcap, "%s (HTTP %d from %s)", e != NULL ? e : "malformed answer",
                       status, c->admin);
        json_decref(j);
        return -1;
    }
    *out = j;
    return 0;
}

/* Either path's failure: a registry error (-1 with the message) or a
 * ficus ctl exit status (already printed). */
static int failed(int rc, const char *msg)
{
    return rc > 0 ? rc : fail_msg(msg);
}

/* A registry call made locally: fills *out or err. */
typedef int local_fn(struct cli *c, json_t **out, struct fx_err *err);

/* Run a command on the store (`local`) or through the admin API (method,
 * path, body). Returns 0 with *out, or the exit status after printing. */
static int exec(struct cli *c, local_fn *local, const char *method, const char *path,
                const json_t *body, json_t **out)
{
    if (c->st != NULL) {
        struct fx_err err = { 0 };
        if (local(c, out, &err) != 0)
            return fail_msg(err.msg[0] != '\0' ? err.msg : "failed");
        return 0;
    }
    char msg[700] = "";
    int rc = api_call(c, method, path, body, out, msg, sizeof(msg));
    return rc != 0 ? failed(rc, msg) : 0;
}

/* Path segment or query value, percent-encoded. */
static void url_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s != '\0' && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[o++] = (char)ch;
            continue;
        }
        out[o++] = '%';
        out[o++] = hex[ch >> 4];
        out[o++] = hex[ch & 15];
    }
    out[o] = '\0';
}

static void item_path(const char *id, const char *suffix, char *out, size_t cap)
{
    char enc[200];
    url_encode(id, enc, sizeof(enc));
    (void)snprintf(out, cap, "/api/v1/debt/%s%s", enc, suffix);
}

static void print_saved(const json_t *item, const char *what)
{
    (void)printf("%s %s: %s (priority %.2f)\n", json_string_value(json_object_get(item, "id")),
                 what, json_string_value(json_object_get(item, "title")),
                 json_number_value(json_object_get(item, "priority")));
}

/* ---- add, update, close ------------------------------------------------------ */

static int local_add(struct cli *c, json_t **out, struct fx_err *err)
{
    return fx_reg_debt_add(c->st, c->fields, c->actor, out, err);
}

static int run_add(struct cli *c)
{
    json_t *out = NULL;
    int rc = exec(c, local_add, "POST", "/api/v1/debt", c->fields, &out);
    if (rc != 0)
        return rc;
    print_saved(out, "created");
    json_decref(out);
    return 0;
}

static int local_update(struct cli *c, json_t **out, struct fx_err *err)
{
    return fx_reg_debt_update(c->st, c->pos[0], c->fields, c->actor, out, err);
}

static int run_update(struct cli *c)
{
    if (c->seen & BIT(O_STATUS))
        (void)json_object_set_new(c->fields, "status", json_string(c->val[O_STATUS]));
    if (json_object_size(c->fields) == 0)
        return usage_error(c, "nothing to change (give at least one item option)", NULL);
    char path[300];
    item_path(c->pos[0], "", path, sizeof(path));
    json_t *out = NULL;
    int rc = exec(c, local_update, "PATCH", path, c->fields, &out);
    if (rc != 0)
        return rc;
    print_saved(out, "updated");
    json_decref(out);
    return 0;
}

static int local_close(struct cli *c, json_t **out, struct fx_err *err)
{
    return fx_reg_debt_close(c->st, c->pos[0], c->val[O_AS], c->actor, out, err);
}

static int run_close(struct cli *c)
{
    if (c->val[O_AS] == NULL)
        return usage_error(c, "close needs --as paid or --as accepted", NULL);
    char path[300];
    item_path(c->pos[0], "/close", path, sizeof(path));
    json_t *body = json_pack("{s:s}", "as", c->val[O_AS]);
    json_t *out = NULL;
    int rc =
        body == NULL ? fail_msg("out of memory") : exec(c, local_close, "POST", path, body, &out);
    json_decref(body);
    if (rc != 0)
        return rc;
    print_saved(out, c->val[O_AS][0] == 'p' ? "closed as paid" : "closed as accepted");
    json_decref(out);
    return 0;
}

/* ---- list, show ---------------------------------------------------------------- */

static int parse_format(struct cli *c, unsigned int allowed, enum fx_reg_format *fmt)
{
    static const char *const names[] = { "table", "json", "csv", "md" };
    const char *v = c->val[O_FORMAT];
    if (v == NULL)
        return 0;
    for (size_t i = 0; i < 4; i++) {
        if ((allowed & (1u << i)) && strcmp(v, names[i]) == 0) {
            *fmt = (enum fx_reg_format)i;
            return 0;
        }
    }
    return usage_error(c, "unknown format", v);
}

static int local_list(struct cli *c, json_t **out, struct fx_err *err)
{
    return fx_reg_debt_list(c->st, c->val[O_SORT], c->val[O_STATUS], out, err);
}

static int run_list(struct cli *c)
{
    enum fx_reg_format fmt = FX_REG_TABLE;
    int rc = parse_format(c, 0xF, &fmt);
    if (rc != 0)
        return rc;
    char path[300] = "/api/v1/debt";
    char enc[200];
    for (int o = O_STATUS; o <= O_SORT; o++) {
        if (c->val[o] == NULL)
            continue;
        url_encode(c->val[o], enc, sizeof(enc));
        size_t n = strlen(path);
        (void)snprintf(path + n, sizeof(path) - n, "%c%s=%s", strchr(path, '?') ? '&' : '?',
                       o == O_SORT ? "sort" : "status", enc);
    }
    json_t *out = NULL;
    if ((rc = exec(c, local_list, "GET", path, NULL, &out)) != 0)
        return rc;
    const json_t *items = json_is_array(out) ? out : json_object_get(out, "items");
    rc = fx_reg__print_list(items, fmt, stdout) != 0 ? fail_msg("cannot write the list") : 0;
    json_decref(out);
    return rc;
}

static int local_show(struct cli *c, json_t **out, struct fx_err *err)
{
    return fx_reg_debt_get(c->st, c->pos[0], out, err);
}

static int run_show(struct cli *c)
{
    enum fx_reg_format fmt = FX_REG_TABLE;
    int rc = parse_format(c, 0x3, &fmt);
    if (rc != 0)
        return rc;
    char path[300];
    item_path(c->pos[0], "", path, sizeof(path));
    json_t *out = NULL;
    if ((rc = exec(c, local_show, "GET", path, NULL, &out)) != 0)
        return rc;
    if (fmt == FX_REG_JSON)
        rc = fx_reg__print_list(out, FX_REG_JSON, stdout);
    else
        rc = fx_reg__print_item(out, stdout);
    json_decref(out);
    return rc != 0 ? fail_msg("cannot write the item") : 0;
}

/* ---- import, export ------------------------------------------------------------ */

/* The whole file (NUL-terminated, malloc'd) or NULL after printing why. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        (void)fprintf(stderr, "ficus debt: %s: cannot open: %s\n", path,
                      strerror(errno)); // NOLINT(concurrency-mt-unsafe): CLI, one thread
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0;
    size_t cap = 0;
    bool ok = true;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *bigger = cap <= FILE_MAX ? realloc(buf, cap) : NULL;
            if ((ok = bigger != NULL) == false)
                break;
            buf = bigger;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    ok = ok && !ferror(f);
    (void)fclose(f);
    if (!ok) {
        (void)fprintf(stderr, "ficus debt: %s: cannot read (or over 64 MiB)\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* JSON by extension .json, CSV by .csv; otherwise JSON when the text
 * starts with '['. */
static bool looks_json(const char *path, const char *text)
{
    if (has_suffix(path, ".json"))
        return true;
    if (has_suffix(path, ".csv"))
        return false;
    while (isspace((unsigned char)*text))
        text++;
    return *text == '[';
}

/* The rows of an import file (and, for CSV, their lines). */
static int load_rows(const char *path, json_t **rows, size_t **lines)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    if (text == NULL)
        return EXIT_FAIL;
    int rc = 0;
    *lines = NULL;
    if (looks_json(path, text)) {
        json_error_t jerr;
        *rows = json_loadb(text, len, 0, &jerr);
        if (*rows == NULL) {
            (void)fprintf(stderr, "ficus debt: %s:%d:%d: %s\n", path, jerr.line, jerr.column,
                          jerr.text);
            rc = EXIT_FAIL;
        }
    } else {
        struct fx_err err = { 0 };
        if (fx_reg__csv_read(text, len, rows, lines, &err) != 0) {
            (void)fprintf(stderr, "ficus debt: %s: %s\n", path,
                          strncmp(err.msg, "debt: ", 6) == 0 ? err.msg + 6 : err.msg);
            rc = EXIT_FAIL;
        }
    }
    free(text);
    return rc;
}

/* Through the admin API the server names the row only: add its line. */
static void add_line(char *msg, size_t cap, const size_t *lines, size_t nrows)
{
    const char *p = strstr(msg, "import row ");
    if (lines == NULL || p == NULL)
        return;
    char *end = NULL;
    unsigned long row = strtoul(p + strlen("import row "), &end, 10);
    if (end == NULL || *end != ':' || row == 0 || row > nrows)
        return;
    size_t at = (size_t)(end - msg);
    char tail[700];
    (void)snprintf(tail, sizeof(tail), "%s", msg + at);
    (void)snprintf(msg + at, cap - at, " (line %zu)%s", lines[row - 1], tail);
}

static int import_rows(struct cli *c, const json_t *rows, const size_t *lines, size_t *n)
{
    if (c->st != NULL) {
        struct fx_err err = { 0 };
        if (fx_reg__import(c->st, rows, lines, c->actor, n, &err) != 0)
            return fail_msg(err.msg);
        return 0;
    }
    json_t *out = NULL;
    char msg[800] = "";
    int rc = api_call(c, "POST", "/api/v1/debt/import", rows, &out, msg, sizeof(msg) - 40);
    if (rc != 0) {
        add_line(msg, sizeof(msg), lines, json_array_size(rows));
        return failed(rc, msg);
    }
    *n = (size_t)json_integer_value(json_object_get(out, "imported"));
    json_decref(out);
    return 0;
}

static int run_import(struct cli *c)
{
    json_t *rows = NULL;
    size_t *lines = NULL;
    int rc = load_rows(c->pos[0], &rows, &lines);
    size_t n = 0;
    if (rc == 0 && (rc = import_rows(c, rows, lines, &n)) == 0)
        (void)printf("imported %zu item%s from %s\n", n, n == 1 ? "" : "s", c->pos[0]);
    json_decref(rows);
    free(lines);
    return rc;
}

static int local_export(struct cli *c, json_t **out, struct fx_err *err)
{
    return fx_reg_debt_export(c->st, out, err);
}

static int write_export(const json_t *records, bool csv, FILE *f)
{
    if (csv)
        return fx_reg__csv_write(records, f);
    if (json_dumpf(records, f, FX_REG_JSON_FLAGS) != 0 || fputc('\n', f) == EOF)
        return FX_EIO;
    return 0;
}

static int run_export(struct cli *c)
{
    const char *path = c->val[O_OUTPUT];
    enum fx_reg_format fmt = path != NULL && has_suffix(path, ".csv") ? FX_REG_CSV : FX_REG_JSON;
    int rc = parse_format(c, 0x6, &fmt);
    json_t *out = NULL;
    if (rc != 0 || (rc = exec(c, local_export, "GET", "/api/v1/debt/export", NULL, &out)) != 0)
        return rc;
    FILE *f = path != NULL ? fopen(path, "wb") : stdout;
    if (f == NULL) {
        json_decref(out);
        (void)fprintf(stderr, "ficus debt: %s: cannot create: %s\n", path,
                      strerror(errno)); // NOLINT(concurrency-mt-unsafe): CLI, one thread
        return EXIT_FAIL;
    }
    rc = write_export(out, fmt == FX_REG_CSV, f);
    json_decref(out);
    if (fflush(f) != 0)
        rc = FX_EIO;
    if (f != stdout && fclose(f) != 0)
        rc = FX_EIO;
    if (rc != 0) {
        (void)fprintf(stderr, "ficus debt: %s: write failed\n", path != NULL ? path : "stdout");
        return EXIT_FAIL;
    }
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------- */

static const struct cmd commands[] = {
    { "add", run_add, ITEM_BITS, 0,
      "usage: ficus debt add --title T [ITEM OPTIONS]\n\nCreate an item; prints its id.\n\n"
      "item options:\n" ITEM_OPTIONS },
    { "list", run_list, BIT(O_SORT) | BIT(O_STATUS) | BIT(O_FORMAT), 0,
      "usage: ficus debt list [--sort priority|created] [--status S] [--format F]\n\n"
      "Items with live figures, highest priority first.\n\n"
      "  --sort S      priority (default, descending) or created (oldest first)\n"
      "  --status S    only open, in_progress, paid or accepted items\n"
      "  --format F    table (default), json, csv or md\n" },
    { "show", run_show, BIT(O_FORMAT), 1,
      "usage: ficus debt show ID [--format table|json]\n\n"
      "One item: fields, live figures, every term of its priority score, history.\n" },
    { "update", run_update, ITEM_BITS | BIT(O_NO_ROUTES) | BIT(O_STATUS), 1,
      "usage: ficus debt update ID [ITEM OPTIONS] [--status S]\n\n"
      "Change the given fields; each change is recorded in the history.\n\n"
      "item options:\n" ITEM_OPTIONS
      "  --status S          open, in_progress, paid or accepted\n" },
    { "close", run_close, BIT(O_AS), 1,
      "usage: ficus debt close ID --as paid|accepted\n\n"
      "Close an item: paid back, or accepted as it is. Closed items score 0.\n" },
    { "import", run_import, 0, 1,
      "usage: ficus debt import FILE\n\n"
      "Add the items of FILE: a JSON array (the export format) or CSV with a header line\n"
      "(by extension, else by content). One transaction: a bad row imports nothing and\n"
      "the error names the row (and the line, for CSV). Rows keep their id when they\n"
      "have one (which must be free); others get the next ids.\n" },
    { "export", run_export, BIT(O_FORMAT) | BIT(O_OUTPUT), 0,
      "usage: ficus debt export [--format json|csv] [-o FILE]\n\n"
      "Every item's stored fields, ordered by id: JSON (default; csv when FILE ends in\n"
      ".csv) or CSV (RFC 4180, routes joined with ';'). Importing the output into an\n"
      "empty store and exporting again gives the same bytes.\n" },
};

static const struct cmd *find_cmd(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

static int check_usage(struct cli *c, const struct cmd *cmd)
{
    for (int o = 0; o < O_COUNT; o++) {
        if ((c->seen & BIT(o)) && !(cmd->opts & BIT(o)))
            return usage_error(c, "this option does not apply here:", opts[o].name);
    }
    if (c->npos != cmd->npos)
        return usage_error(c, cmd->npos ? "missing or extra operand" : "unexpected operand", NULL);
    if ((c->conf == NULL) == (c->admin == NULL))
        return usage_error(c, "give either -c FILE or --admin URL", NULL);
    if (c->seen & BIT(O_ROUTE))
        (void)json_object_set(c->fields, "routes", c->routes);
    else if (c->seen & BIT(O_NO_ROUTES))
        (void)json_object_set_new(c->fields, "routes", json_array());
    return 0;
}

static int run(struct cli *c, int argc, char **argv)
{
    int rc = parse_args(c, argc, argv);
    if (rc != 0)
        return rc;
    const struct cmd *cmd = find_cmd(c->cmd);
    if (c->help || c->cmd == NULL) {
        (void)fputs(cmd != NULL ? cmd->usage : usage_debt, c->help ? stdout : stderr);
        return c->help ? 0 : EXIT_USAGE;
    }
    if (cmd == NULL)
        return usage_error(c, "unknown command", c->cmd);
    if ((rc = check_usage(c, cmd)) != 0)
        return rc;
    if (c->conf != NULL && (rc = open_store(c)) != 0)
        return rc;
    const char *user = getenv("USER"); // NOLINT(concurrency-mt-unsafe): CLI, one thread
    c->actor = user != NULL && *user != '\0' ? user : "cli";
    return cmd->run(c);
}

int fx_reg_debt_main(int argc, char **argv)
{
    struct cli c = { 0 };
    c.fields = json_object();
    c.routes = json_array();
    int rc = c.fields == NULL || c.routes == NULL ? fail_msg("out of memory") : run(&c, argc, argv);
    json_decref(c.fields);
    json_decref(c.routes);
    fx_store_close(c.st);
    fx_conf_unref(c.cf);
    return rc;
}
