/* `ficus ctl`: a small blocking HTTP/1.1 client of the admin API. One
 * request per run, Connection: close, the answer read to EOF and framed by
 * its Content-Length. JSON answers are decoded with jansson and printed as
 * aligned tables for people. */
#include "ctl.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../conf/conf.h"
#include "../migrate/migrate.h"
#include "../shadow/shadow.h"

#ifndef FX_VERSION
#define FX_VERSION "0.0.0"
#endif

#define EXIT_SERVER    1 /* the server refused, or could not be reached */
#define EXIT_USAGE     2
#define IO_TIMEOUT_S   10
#define RESP_MAX       (64u << 20) /* largest answer read */
#define TOKEN_FILE_MAX (64u << 10)
#define MAX_POS        4

/* Printed with fputs, never as a format: a '%' here is a literal percent sign. */
static const char usage_ctl[] =
    "usage: ficus ctl [--admin URL | -c FILE] [--token-file PATH] COMMAND [ARGS]\n"
    "\n"
    "Operate progressive migrations through the admin API.\n"
    "\n"
    "commands:\n"
    "  routes [NAME]              migrating routes: weight, ramp step, status, guard figures\n"
    "  weight NAME PERCENT        set the new side's share (e.g. 25%); stops a running ramp\n"
    "  pause NAME                 hold the weight, stop the ramp\n"
    "  resume NAME                resume the ramp (also after a rollback)\n"
    "  promote NAME               send 100% to the new side\n"
    "  rollback NAME              send 0% to the new side until resumed\n"
    "  events [NAME] [--limit N]  audit log, oldest first (default 100, at most 10000)\n"
    "  diffs NAME [--limit N]     shadow comparison: mismatches by endpoint and path, samples\n"
    "  tunnels close NAME SIDE    close route NAME's open WebSocket tunnels on SIDE (legacy, new)\n"
    "\n"
    "options:\n"
    "  --admin URL         admin API address: http://HOST:PORT or HOST:PORT\n"
    "  -c, --config FILE   read the admin address from FILE's admin.listen\n"
    "  --token-file PATH   bearer token for changes: the first token in PATH (lines\n"
    "                      NAME:TOKEN or TOKEN); default: $FICUS_ADMIN_TOKEN\n"
    "  -h, --help          print this help (ficus ctl COMMAND --help for one command)\n";

/* Parsed command line. Every pointer borrows argv. */
struct ctl_args {
    const char *admin;
    const char *conf;
    const char *token_file;
    const char *limit;
    const char *pos[MAX_POS]; /* command and its operands */
    size_t npos;
    bool help;
};

/* Where the admin API listens. */
struct endpoint {
    char host[256];
    char port[8];
    char text[272]; /* "host:port" for messages */
};

/* An answer of the admin API. */
struct answer {
    int status;
    char *raw;        /* owned: every byte received */
    const char *body; /* borrowed: into raw */
    size_t blen;
};

struct ctl;
typedef int ctl_cmd_fn(struct ctl *c);

struct ctl_cmd {
    const char *name;
    size_t min_ops; /* operands after the command name */
    size_t max_ops;
    const char *usage;
    ctl_cmd_fn *run;
};

/* State of one run. */
struct ctl {
    struct ctl_args args;
    const struct ctl_cmd *cmd;
    struct endpoint ep;
    char token[512];
};

__attribute__((format(printf, 1, 2))) static int fail_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)fputs("ficus ctl: ", stderr);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    (void)vfprintf(stderr, fmt, ap);
    (void)fputs("\n(ficus ctl --help for usage)\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

__attribute__((format(printf, 1, 2))) static int fail_run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)fputs("ficus ctl: ", stderr);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    (void)vfprintf(stderr, fmt, ap);
    (void)fputc('\n', stderr);
    va_end(ap);
    return EXIT_SERVER;
}

/* ---- command line ----------------------------------------------------------- */

/* The value of option argv[*i] ("--opt VALUE" or "--opt=VALUE"), or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (argv[*i] == NULL || strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return NULL;
    (*i)++;
    return argv[*i];
}

/* Store option argv[*i] into a. Returns 0, or EXIT_USAGE after a message. */
static int take_option(struct ctl_args *a, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *v = NULL;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
        a->help = true;
    else if ((v = opt_value(argc, argv, i, "--admin")) != NULL)
        a->admin = v;
    else if ((v = opt_value(argc, argv, i, "--token-file")) != NULL)
        a->token_file = v;
    else if ((v = opt_value(argc, argv, i, "--config")) != NULL ||
             (v = opt_value(argc, argv, i, "-c")) != NULL)
        a->conf = v;
    else if ((v = opt_value(argc, argv, i, "--limit")) != NULL)
        a->limit = v;
    else
        return fail_usage("unknown option or missing value: %s", arg);
    return 0;
}

static int parse_args(struct ctl_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof(*a));
    for (int i = 2; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            int rc = take_option(a, argc, argv, &i);
            if (rc != 0)
                return rc;
            continue;
        }
        if (a->npos == MAX_POS)
            return fail_usage("too many arguments: %s", argv[i]);
        a->pos[a->npos++] = argv[i];
    }
    return 0;
}

/* ---- admin address and token -------------------------------------------------- */

/* Parse "http://HOST:PORT[/...]", "HOST:PORT" or "[V6]:PORT" into ep. */
static int parse_endpoint(const char *s, struct endpoint *ep)
{
    if (strncmp(s, "https://", 8) == 0)
        return fail_usage("--admin %s: the admin API speaks plain http", s);
    if (strncmp(s, "http://", 7) == 0)
        s += 7;
    size_t len = strcspn(s, "/");
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        colon = s[i] == ':' ? s + i : colon;
    const char *host = s;
    size_t hlen = colon != NULL ? (size_t)(colon - s) : 0;
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    size_t plen = colon != NULL ? (size_t)(s + len - colon - 1) : 0;
    char *end = NULL;
    unsigned long port = plen > 0 && plen < 6 ? strtoul(colon + 1, &end, 10) : 0;
    if (hlen == 0 || hlen >= sizeof(ep->host) || end != colon + 1 + plen || port == 0 ||
        port > 65535)
        return fail_usage("invalid admin address \"%.*s\": expected http://HOST:PORT", (int)len, s);
    memcpy(ep->host, host, hlen);
    ep->host[hlen] = '\0';
    (void)snprintf(ep->port, sizeof(ep->port), "%lu", port);
    (void)snprintf(ep->text, sizeof(ep->text), "%.*s", (int)len, s);
    return 0;
}

/* The admin address from the config file's admin.listen. A wildcard listen
 * address is reached through the loopback interface. */
static int endpoint_from_conf(const char *path, struct endpoint *ep)
{
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    if (fx_conf_load(path, &c, &err) != 0)
        return fail_usage("%s", err.msg);
    char addr[80];
    (void)snprintf(addr, sizeof(addr), "%s", c->admin_listen.text);
    bool enabled = c->admin_enabled;
    fx_conf_unref(c);
    if (!enabled)
        return fail_usage("%s has no admin.listen: pass --admin URL", path);
    const char *colon = strrchr(addr, ':');
    char port[8];
    (void)snprintf(port, sizeof(port), "%s", colon != NULL ? colon + 1 : "");
    if (strncmp(addr, "0.0.0.0:", 8) == 0)
        (void)snprintf(addr, sizeof(addr), "127.0.0.1:%s", port);
    else if (strncmp(addr, "[::]:", 5) == 0)
        (void)snprintf(addr, sizeof(addr), "[::1]:%s", port);
    if (strcmp(port, "0") == 0)
        return fail_usage("%s: admin.listen uses port 0: pass --admin URL", path);
    return parse_endpoint(addr, ep);
}

static int resolve_endpoint(struct ctl *c)
{
    if (c->args.admin != NULL)
        return parse_endpoint(c->args.admin, &c->ep);
    if (c->args.conf != NULL)
        return endpoint_from_conf(c->args.conf, &c->ep);
    return fail_usage("no admin API address: pass --admin http://HOST:PORT or -c FILE");
}

static const char *trim_space(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* The token of the first non-empty, non-comment line of text (NAME:TOKEN or
 * TOKEN) into out[cap]. Returns true when one was found. */
static bool first_token(char *text, char *out, size_t cap)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        const char *l = trim_space(line);
        if (l[0] == '\0' || l[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        const char *tok = colon != NULL ? trim_space(colon + 1) : l;
        if (tok[0] == '\0' || strlen(tok) >= cap)
            return false;
        (void)snprintf(out, cap, "%s", tok);
        return true;
    }
    return false;
}

static int read_token_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return fail_usage("--token-file %s: %m", path);
    char *text = calloc(1, TOKEN_FILE_MAX + 1);
    size_t n = text != NULL ? fread(text, 1, TOKEN_FILE_MAX, f) : 0;
    bool bad = ferror(f) != 0;
    (void)fclose(f);
    bool found = !bad && text != NULL && first_token(text, out, cap);
    if (text != NULL)
        explicit_bzero(text, n);
    free(text);
    if (!found)
        return fail_usage("--token-file %s holds no token", path);
    return 0;
}

static int resolve_token(struct ctl *c)
{
    c->token[0] = '\0';
    if (c->args.token_file != NULL)
        return read_token_file(c->args.token_file, c->token, sizeof(c->token));
    /* The CLI is single-threaded: nothing can change the environment meanwhile. */
    const char *env = getenv("FICUS_ADMIN_TOKEN"); // NOLINT(concurrency-mt-unsafe)
    if (env != NULL)
        (void)snprintf(c->token, sizeof(c->token), "%s", env);
    return 0;
}

/* ---- HTTP client --------------------------------------------------------------- */

static int dial(const struct endpoint *ep)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    int g = getaddrinfo(ep->host, ep->port, &hints, &res);
    if (g != 0)
        return fail_run("cannot resolve admin API host %s: %s", ep->host, gai_strerror(g)), -1;
    int fd = -1;
    int saved = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = { IO_TIMEOUT_S, 0 };
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            saved = errno;
            (void)close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        errno = saved;
        (void)fail_run("cannot reach the admin API at %s: %m", ep->text);
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read until EOF into a new buffer (*out, *len). Returns false on error. */
static bool read_all(int fd, char **out, size_t *len)
{
    size_t cap = 16384;
    size_t n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        if (n == cap) {
            char *bigger = cap < RESP_MAX ? realloc(buf, cap * 2 + 1) : NULL;
            if (bigger == NULL)
                break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (r == 0) {
            buf[n] = '\0';
            *out = buf;
            *len = n;
            return true;
        }
        n += (size_t)r;
    }
    free(buf);
    return false;
}

/* Frame the raw answer: status line, Content-Length body. */
static bool parse_answer(struct answer *a, size_t len)
{
    const char *p = a->raw;
    if (len < 12 || strncmp(p, "HTTP/1.", 7) != 0)
        return false;
    a->status = atoi(p + 9); // NOLINT(cert-err34-c): checked to be 3 digits below
    const char *end = strstr(p, "\r\n\r\n");
    if (a->status < 100 || a->status > 599 || end == NULL)
        return false;
    a->body = end + 4;
    a->blen = len - (size_t)(a->body - p);
    for (const char *h = strstr(p, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "Content-Length:", 15) == 0) {
            unsigned long long cl = strtoull(h + 17, NULL, 10);
            if (cl > a->blen)
                return false;
            a->blen = (size_t)cl;
        }
    }
    return true;
}

/* Send one request and read the answer. Returns 0, or EXIT_SERVER after a
 * message. */
static int http_call(struct ctl *c, const char *method, const char *path, const char *body,
                     struct answer *a)
{
    memset(a, 0, sizeof(*a));
    int fd = dial(&c->ep);
    if (fd < 0)
        return EXIT_SERVER;
    size_t blen = body != NULL ? strlen(body) : 0;
    char *req = NULL;
    int n = asprintf(
        &req,
        "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ficus-ctl/%s\r\n"
        "Accept: application/json\r\nConnection: close\r\n%s%s%s%s"
        "Content-Length: %zu\r\n\r\n%s",
        method, path, c->ep.text, FX_VERSION, c->token[0] ? "Authorization: Bearer " : "", c->token,
        c->token[0] ? "\r\n" : "", body != NULL ? "Content-Type: application/json\r\n" : "", blen,
        body != NULL ? body : "");
    size_t len = 0;
    bool ok = n > 0 && send_all(fd, req, (size_t)n) && read_all(fd, &a->raw, &len);
    if (req != NULL)
        explicit_bzero(req, strlen(req));
    free(req);
    (void)close(fd);
    if (!ok)
        return fail_run("no answer from the admin API at %s: %m", c->ep.text);
    if (!parse_answer(a, len))
        return fail_run("malformed answer from the admin API at %s", c->ep.text);
    return 0;
}

/* Print "ficus ctl: STATUS: message" for an error answer. */
static int report_error(const struct ctl *c, const struct answer *a)
{
    json_error_t jerr;
    const char *body = a->body != NULL ? a->body : "";
    json_t *o = json_loadb(body, a->blen, 0, &jerr);
    const char *msg = json_string_value(json_object_get(o, "error"));
    int rc;
    if (msg != NULL)
        rc = fail_run("%d: %s", a->status, msg);
    else
        rc = fail_run("%d: %.*s", a->status, (int)strcspn(body, "\r\n"), body);
    json_decref(o);
    if (a->status == 401 && c->token[0] == '\0')
        (void)fputs("(pass --token-file PATH or set FICUS_ADMIN_TOKEN)\n", stderr);
    return rc;
}

int fx_ctl_request(const char *admin, const char *token_file, const char *method, const char *path,
                   const char *body, int *status, char **resp, size_t *resp_len)
{
    struct ctl c;
    memset(&c, 0, sizeof(c));
    c.args.admin = admin;
    c.args.token_file = token_file;
    int rc = parse_endpoint(admin, &c.ep);
    if (rc == 0)
        rc = resolve_token(&c);
    struct answer a;
    if (rc == 0)
        rc = http_call(&c, method, path, body, &a);
    explicit_bzero(c.token, sizeof(c.token));
    if (rc != 0)
        return rc;
    size_t blen = a.blen;
    char *out = malloc(blen + 1);
    if (out == NULL) {
        free(a.raw);
        return fail_run("out of memory");
    }
    memcpy(out, a.body, blen);
    out[blen] = '\0';
    free(a.raw);
    *status = a.status;
    *resp = out;
    *resp_len = blen;
    return 0;
}

/* GET or POST `path`; on 2xx returns 0 and the decoded JSON in *out. */
static int call_json(struct ctl *c, const char *method, const char *path, const char *body,
                     json_t **out)
{
    struct answer a;
    int rc = http_call(c, method, path, body, &a);
    if (rc == 0 && (a.status < 200 || a.status > 299))
        rc = report_error(c, &a);
    if (rc == 0) {
        json_error_t jerr;
        *out = json_loadb(a.body, a.blen, 0, &jerr);
        if (*out == NULL)
            rc = fail_run("invalid JSON from the admin API: %s", jerr.text);
    }
    free(a.raw);
    return rc;
}

/* Percent-encode a path segment or query value into out[cap]. */
static void url_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s != '\0' && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~';
        if (plain) {
            out[o++] = (char)ch;
            continue;
        }
        out[o++] = '%';
        out[o++] = hex[ch >> 4];
        out[o++] = hex[ch & 15];
    }
    out[o] = '\0';
}

/* ---- tables --------------------------------------------------------------------- */

/* Rows of cells printed with aligned columns (the last one unpadded). */
struct table {
    size_t ncols;
    size_t nrows;
    size_t cap;   /* rows allocated */
    char **cells; /* owned: nrows * ncols owned strings */
    bool oom;
};

static void table_add(struct table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **bigger = realloc(t->cells, cap * t->ncols * sizeof(*bigger));
        if (bigger == NULL) {
            t->oom = true;
            return;
        }
        t->cells = bigger;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        char *s = strdup(row[i] != NULL && row[i][0] != '\0' ? row[i] : "-");
        t->oom |= s == NULL;
        t->cells[t->nrows * t->ncols + i] = s;
    }
    t->nrows++;
}

/* Display width of UTF-8 text: one column per code point. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; s != NULL && *s != '\0'; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void table_print(const struct table *t)
{
    size_t *width = calloc(t->ncols, sizeof(*width));
    if (width == NULL)
        return;
    for (size_t k = 0; k < t->nrows * t->ncols; k++) {
        size_t w = text_width(t->cells[k]);
        width[k % t->ncols] = w > width[k % t->ncols] ? w : width[k % t->ncols];
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++) {
            const char *cell = t->cells[r * t->ncols + i];
            int pad = i + 1 == t->ncols ? 0 : (int)(width[i] - text_width(cell) + 2);
            (void)printf("%s%*s", cell != NULL ? cell : "", pad, "");
        }
        (void)putchar('\n');
    }
    free(width);
}

static void table_free(struct table *t)
{
    for (size_t k = 0; k < t->nrows * t->ncols; k++)
        free(t->cells[k]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
}

/* ---- commands ------------------------------------------------------------------- */

#define ROUTE_COLS 13
#define CELL       48 /* bytes of a formatted number cell */

static const char *const route_head[ROUTE_COLS] = {
    "ROUTE", "LEGACY", "NEW",     "WEIGHT", "STEP",   "STATUS",  "WINDOW",
    "L.REQ", "L.ERR%", "L.P99ms", "N.REQ",  "N.ERR%", "N.P99ms",
};

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "-";
}

/* Requests, error rate and p99 of one side into three cells. */
static void side_cells(const json_t *side, char cells[][CELL])
{
    json_int_t req = json_integer_value(json_object_get(side, "requests"));
    (void)snprintf(cells[0], CELL, "%lld", (long long)req);
    if (req == 0) {
        (void)snprintf(cells[1], CELL, "-");
        (void)snprintf(cells[2], CELL, "-");
        return;
    }
    (void)snprintf(cells[1], CELL, "%.2f",
                   json_number_value(json_object_get(side, "error_rate")) * 100.0);
    (void)snprintf(cells[2], CELL, "%.1f", json_number_value(json_object_get(side, "p99_ms")));
}

static void add_route_row(struct table *t, const json_t *r)
{
    char cells[ROUTE_COLS][CELL];
    size_t nsteps = json_array_size(json_object_get(r, "steps"));
    json_int_t step = json_integer_value(json_object_get(r, "step"));
    json_int_t win = json_integer_value(json_object_get(r, "window_seconds"));
    if (nsteps == 0)
        (void)snprintf(cells[4], CELL, "-");
    else
        (void)snprintf(cells[4], CELL, "%lld/%zu", (long long)(step < 0 ? 0 : step + 1), nsteps);
    if (win % 60 == 0 && win > 0)
        (void)snprintf(cells[6], CELL, "%lldm", (long long)(win / 60));
    else
        (void)snprintf(cells[6], CELL, "%llds", (long long)win);
    const json_t *sides = json_object_get(r, "sides");
    side_cells(json_object_get(sides, "legacy"), &cells[7]);
    side_cells(json_object_get(sides, "new"), &cells[10]);
    const char *row[ROUTE_COLS] = { jstr(r, "name"),   jstr(r, "legacy"), jstr(r, "new"),
                                    jstr(r, "weight"), cells[4],          jstr(r, "status"),
                                    cells[6],          cells[7],          cells[8],
                                    cells[9],          cells[10],         cells[11],
                                    cells[12] };
    table_add(t, row);
}

static int print_routes(const json_t *doc)
{
    const json_t *list = json_object_get(doc, "routes");
    struct table t = { .ncols = ROUTE_COLS };
    table_add(&t, route_head);
    if (list == NULL) {
        add_route_row(&t, doc);
    } else {
        for (size_t i = 0; i < json_array_size(list); i++)
            add_route_row(&t, json_array_get(list, i));
    }
    int rc = 0;
    if (t.oom)
        rc = fail_run("out of memory");
    else if (t.nrows == 1)
        (void)puts("no migrating routes");
    else
        table_print(&t);
    table_free(&t);
    return rc;
}

static int run_routes(struct ctl *c)
{
    char path[256] = "/api/v1/routes";
    if (c->args.npos > 1) {
        char name[200];
        url_encode(c->args.pos[1], name, sizeof(name));
        (void)snprintf(path, sizeof(path), "/api/v1/routes/%s", name);
    }
    json_t *doc = NULL;
    int rc = call_json(c, "GET", path, NULL, &doc);
    if (rc == 0)
        rc = print_routes(doc);
    json_decref(doc);
    return rc;
}

#define EVENT_COLS 6

static int print_events(const json_t *doc)
{
    static const char *const head[EVENT_COLS] = { "TIME", "ROUTE",     "ACTOR",
                                                  "KIND", "OLD → NEW", "REASON" };
    const json_t *list = json_object_get(doc, "events");
    struct table t = { .ncols = EVENT_COLS };
    table_add(&t, head);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *e = json_array_get(list, i);
        char change[160];
        (void)snprintf(change, sizeof(change), "%s → %s", jstr(e, "old"), jstr(e, "new"));
        const char *row[EVENT_COLS] = { jstr(e, "time"), jstr(e, "route"), jstr(e, "actor"),
                                        jstr(e, "kind"), change,           jstr(e, "reason") };
        table_add(&t, row);
    }
    int rc = 0;
    if (t.oom)
        rc = fail_run("out of memory");
    else if (t.nrows == 1)
        (void)puts("no events");
    else
        table_print(&t);
    table_free(&t);
    return rc;
}

static int run_events(struct ctl *c)
{
    char path[512] = "/api/v1/events?";
    char enc[200];
    if (c->args.npos > 1) {
        url_encode(c->args.pos[1], enc, sizeof(enc));
        (void)snprintf(path + strlen(path), sizeof(path) - strlen(path), "route=%s&", enc);
    }
    if (c->args.limit != NULL) {
        url_encode(c->args.limit, enc, sizeof(enc));
        (void)snprintf(path + strlen(path), sizeof(path) - strlen(path), "limit=%s", enc);
    }
    json_t *doc = NULL;
    int rc = call_json(c, "GET", path, NULL, &doc);
    if (rc == 0)
        rc = print_events(doc);
    json_decref(doc);
    return rc;
}

/* POST a state change (the command's name is the action) and print the
 * route's new weight and status. */
static int run_change(struct ctl *c)
{
    char name[200];
    char path[300];
    url_encode(c->args.pos[1], name, sizeof(name));
    (void)snprintf(path, sizeof(path), "/api/v1/routes/%s/%s", name, c->cmd->name);
    char *body = NULL;
    if (strcmp(c->cmd->name, "weight") == 0) {
        json_t *o = json_pack("{s:s}", "weight", c->args.pos[2]);
        body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (body == NULL)
            return fail_run("out of memory");
    }
    json_t *doc = NULL;
    int rc = call_json(c, "POST", path, body, &doc);
    free(body);
    if (rc == 0) {
        (void)printf("%s: weight %s, status %s\n", jstr(doc, "name"), jstr(doc, "weight"),
                     jstr(doc, "status"));
    }
    json_decref(doc);
    return rc;
}

/* GET /api/v1/routes/NAME/diffs and print it as text. */
static int run_diffs(struct ctl *c)
{
    char name[200];
    char lim[64];
    char path[320];
    url_encode(c->args.pos[1], name, sizeof(name));
    url_encode(c->args.limit != NULL ? c->args.limit : "5", lim, sizeof(lim));
    (void)snprintf(path, sizeof(path), "/api/v1/routes/%s/diffs?samples=%s", name, lim);
    struct answer a;
    int rc = http_call(c, "GET", path, NULL, &a);
    if (rc == 0 && (a.status < 200 || a.status > 299))
        rc = report_error(c, &a);
    if (rc == 0 && fx_shadow_print_report(a.body, a.blen, stdout) != 0)
        rc = fail_run("unexpected diffs document from the admin API");
    free(a.raw);
    return rc;
}

/* POST /api/v1/routes/NAME/tunnels/close {"side": SIDE}. */
static int run_tunnels(struct ctl *c)
{
    char name[200];
    char path[300];
    url_encode(c->args.pos[2], name, sizeof(name));
    (void)snprintf(path, sizeof(path), "/api/v1/routes/%s/tunnels/close", name);
    json_t *o = json_pack("{s:s}", "side", c->args.pos[3]);
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body == NULL)
        return fail_run("out of memory");
    json_t *doc = NULL;
    int rc = call_json(c, "POST", path, body, &doc);
    free(body);
    if (rc == 0) {
        json_int_t n = json_integer_value(json_object_get(doc, "closing"));
        (void)printf("%s: closing %lld open tunnel%s on the %s side\n", jstr(doc, "route"),
                     (long long)n, n == 1 ? "" : "s", jstr(doc, "side"));
    }
    json_decref(doc);
    return rc;
}

static const struct ctl_cmd commands[] = {
    { "routes", 0, 1,
      "usage: ficus ctl [OPTIONS] routes [NAME]\n\n"
      "Print every migrating route (or NAME): legacy and new upstreams, the new\n"
      "side's weight, the ramp step, the status, and per side (L. legacy, N.\n"
      "new) the requests, error rate and p99 latency over the guard window.\n",
      run_routes },
    { "weight", 2, 2,
      "usage: ficus ctl [OPTIONS] weight NAME PERCENT\n\n"
      "Send PERCENT (0%..100%, at most two decimals) of route NAME's sticky keys\n"
      "to the new side. A running ramp is paused. Needs a token.\n",
      run_change },
    { "pause", 1, 1,
      "usage: ficus ctl [OPTIONS] pause NAME\n\n"
      "Hold route NAME's weight and stop its ramp. Needs a token.\n",
      run_change },
    { "resume", 1, 1,
      "usage: ficus ctl [OPTIONS] resume NAME\n\n"
      "Resume a paused or rolled-back route: the ramp continues from its\n"
      "current step. Needs a token.\n",
      run_change },
    { "promote", 1, 1,
      "usage: ficus ctl [OPTIONS] promote NAME\n\n"
      "Send all of route NAME's traffic to the new side. Needs a token.\n",
      run_change },
    { "rollback", 1, 1,
      "usage: ficus ctl [OPTIONS] rollback NAME\n\n"
      "Send all of route NAME's traffic back to the legacy side until it is\n"
      "resumed. Needs a token.\n",
      run_change },
    { "events", 0, 1,
      "usage: ficus ctl [OPTIONS] events [NAME] [--limit N]\n\n"
      "Print the audit log of every change (of route NAME only), oldest first:\n"
      "the last N events (default 100, at most 10000).\n",
      run_events },
    { "diffs", 1, 1,
      "usage: ficus ctl [OPTIONS] diffs NAME [--limit N]\n\n"
      "Print route NAME's shadow comparison: copies compared, matched, mismatched,\n"
      "errored and dropped; mismatches by endpoint and JSON path; the noise\n"
      "learned from the secondary; then the N newest mismatch samples (default 5).\n",
      run_diffs },
    { "tunnels", 3, 3,
      "usage: ficus ctl [OPTIONS] tunnels close NAME SIDE\n\n"
      "Close every open upgrade tunnel (WebSocket) of route NAME on SIDE, legacy\n"
      "or new (a route without migrate has legacy tunnels only). Tunnels opened\n"
      "afterwards are not affected: after a rollback, this moves the users whose\n"
      "WebSocket is still open on the new side back when they reconnect. Needs a\n"
      "token.\n",
      run_tunnels },
};

static const struct ctl_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

/* Check the operands of c->cmd. Returns 0 or EXIT_USAGE after a message. */
static int check_operands(const struct ctl *c)
{
    size_t ops = c->args.npos - 1;
    const struct ctl_cmd *cmd = c->cmd;
    if (ops < cmd->min_ops || ops > cmd->max_ops)
        return fail_usage("%s: expected %s", cmd->name, cmd->usage + strlen("usage: "));
    if (c->args.limit != NULL && strcmp(cmd->name, "events") != 0 &&
        strcmp(cmd->name, "diffs") != 0)
        return fail_usage("%s: --limit applies to events and diffs only", cmd->name);

    if (c->args.limit != NULL && strspn(c->args.limit, "0123456789") != strlen(c->args.limit))
        return fail_usage("--limit %s: expected a number from 1 to 10000", c->args.limit);
    if (strcmp(cmd->name, "tunnels") == 0 &&
        (strcmp(c->args.pos[1], "close") != 0 ||
         (strcmp(c->args.pos[3], "legacy") != 0 && strcmp(c->args.pos[3], "new") != 0)))
        return fail_usage("tunnels: expected tunnels close NAME SIDE, SIDE legacy or new");
    uint32_t bp = 0;
    if (strcmp(cmd->name, "weight") == 0 && fx_mig_parse_weight(c->args.pos[2], &bp) != 0)
        return fail_usage("weight %s: expected a percentage from 0%% to 100%% like 25%%",
                          c->args.pos[2]);
    return 0;
}

int fx_ctl_main(int argc, char **argv)
{
    struct ctl c;
    memset(&c, 0, sizeof(c));
    int rc = parse_args(&c.args, argc, argv);
    if (rc != 0)
        return rc;
    const char *name = c.args.npos > 0 ? c.args.pos[0] : NULL;
    if (name == NULL || strcmp(name, "help") == 0) {
        (void)fputs(usage_ctl, c.args.help || name != NULL ? stdout : stderr);
        return c.args.help || name != NULL ? 0 : EXIT_USAGE;
    }
    c.cmd = find_cmd(name);
    if (c.cmd == NULL)
        return fail_usage("unknown command \"%s\"", name);
    if (c.args.help) {
        (void)fputs(c.cmd->usage, stdout);
        return 0;
    }
    rc = check_operands(&c);
    if (rc == 0)
        rc = resolve_endpoint(&c);
    if (rc == 0)
        rc = resolve_token(&c);
    if (rc == 0)
        rc = c.cmd->run(&c);
    explicit_bzero(c.token, sizeof(c.token));
    return rc;
}
