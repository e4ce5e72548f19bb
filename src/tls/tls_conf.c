/* The keys of a listener given as a mapping (`listen: [{address: ..., tls:
 * {...}}]`) and of its `tls` settings. The certificates are loaded and the
 * contexts built while the configuration loads, so that a missing file, a
 * broken chain, a key that does not match or an expired certificate is a
 * configuration error ("PATH: cause"): `ficus check` reports it, and a
 * reload that meets it keeps the running configuration. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../conf/conf_types.h"
#include "../conf/schema.h"
#include "../core/err.h"
#include "../net/net.h"
#include "tls.h"

#define KEY(k, fn, fl, type, def, text)                                                  \
    {                                                                                    \
        .name = (k), .parse = (fn), .flags = (fl), .type_doc = (type), .def_doc = (def), \
        .doc = (text)                                                                    \
    }

extern const struct fx_conf_section fx_tls_conf_section;
extern const struct fx_conf_section fx_tls_cert_section;

/* Store a copy of the string `val` into the char * at k->off of `obj`. */
static int parse_string(struct fx_conf_loader *ld, const struct fx_conf_key *k, yaml_node_t *val,
                        void *obj)
{
    const char *s = fx_conf_string(ld, val);
    if (s == NULL)
        return FX_ECONF;
    if (s[0] == '\0')
        return fx_conf_fail(ld, val, "must not be empty");
    char *copy = strdup(s);
    if (copy == NULL)
        return FX_ENOMEM;
    char **slot = (char **)(void *)((unsigned char *)obj + k->off);
    free(*slot);
    *slot = copy;
    return 0;
}

/* A file path, resolved against the configuration file's directory. */
static int parse_path(struct fx_conf_loader *ld, const struct fx_conf_key *k, yaml_node_t *val,
                      void *obj)
{
    const char *s = fx_conf_string(ld, val);
    if (s == NULL)
        return FX_ECONF;
    if (s[0] == '\0')
        return fx_conf_fail(ld, val, "expected a file path, got an empty string");
    char *p = fx_conf_resolve(ld, s);
    if (p == NULL)
        return FX_ENOMEM;
    char **slot = (char **)(void *)((unsigned char *)obj + k->off);
    free(*slot);
    *slot = p;
    return 0;
}

/* One of `names` (NULL-terminated) into the unsigned int at k->off. */
static int parse_choice(struct fx_conf_loader *ld, const struct fx_conf_key *k, yaml_node_t *val,
                        void *obj, const char *const *names, const char *expected)
{
    const char *s = fx_conf_string(ld, val);
    if (s == NULL)
        return FX_ECONF;
    for (unsigned int i = 0; names[i] != NULL; i++) {
        if (names[i][0] != '\0' && strcmp(s, names[i]) == 0) {
            memcpy((unsigned char *)obj + k->off, &i, sizeof(i));
            return 0;
        }
    }
    return fx_conf_fail(ld, val, "unknown value \"%.64s\": expected %s", s, expected);
}

static int parse_profile(struct fx_conf_loader *ld, const struct fx_conf_key *k, yaml_node_t *val,
                         void *obj)
{
    static const char *const names[] = { "intermediate", "modern", NULL };
    return parse_choice(ld, k, val, obj, names, "intermediate or modern");
}

static int parse_min_version(struct fx_conf_loader *ld, const struct fx_conf_key *k,
                             yaml_node_t *val, void *obj)
{
    static const char *const names[] = { "", "TLSv1.2", "TLSv1.3", NULL };
    return parse_choice(ld, k, val, obj, names, "TLSv1.2 or TLSv1.3 (nothing older is offered)");
}

static int parse_certificates(struct fx_conf_loader *ld, const struct fx_conf_key *k,
                              yaml_node_t *val, void *obj)
{
    (void)k;
    struct fx_tls_conf *c = obj;
    size_t n = fx_conf_list_len(val);
    if (n == 0 || n > FX_TLS_MAX_CERTS)
        return fx_conf_fail(ld, val, "expected a list of 1 to %d {cert, key} mappings",
                            FX_TLS_MAX_CERTS);
    c->certs = calloc(n, sizeof(*c->certs));
    if (c->certs == NULL)
        return FX_ENOMEM;
    c->ncerts = n;
    int result = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = fx_conf_list_item(ld, val, i);
        if (item == NULL)
            return fx_conf_fail(ld, val, "malformed YAML document");
        char where[160];
        (void)snprintf(where, sizeof(where), "%scertificates[%zu]", fx_conf_context(ld), i);
        int rc = fx_conf_walk(ld, item, &fx_tls_cert_section, where, &c->certs[i]);
        if (rc == FX_ENOMEM)
            return rc;
        result = rc != 0 ? FX_ECONF : result;
    }
    return result;
}

static void tls_conf_free(struct fx_tls_conf *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->ncerts; i++) {
        FX_FREE(c->certs[i].cert);
        FX_FREE(c->certs[i].key);
    }
    FX_FREE(c->certs);
    FX_FREE(c->ciphers);
    FX_FREE(c->ciphersuites);
    fx_tls_server_unref(c->srv);
    c->srv = NULL;
    free(c);
}

/* `tls:` of a listener: walk the settings, then load the certificates. */
static int parse_tls(struct fx_conf_loader *ld, const struct fx_conf_key *k, yaml_node_t *val,
                     void *obj)
{
    (void)k;
    struct fx_conf_listen *e = obj;
    struct fx_tls_conf *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return FX_ENOMEM;
    tls_conf_free(e->tls);
    e->tls = c;
    char where[160];
    (void)snprintf(where, sizeof(where), "%stls", fx_conf_context(ld));
    int rc = fx_conf_walk(ld, val, &fx_tls_conf_section, where, c);
    for (size_t i = 0; rc == 0 && i < c->ncerts; i++) {
        if (c->certs[i].cert == NULL || c->certs[i].key == NULL)
            rc = FX_ECONF; /* reported by the walk (required keys) */
    }
    if (rc != 0)
        return rc;
    struct fx_err err = { 0 };
    rc = fx_tls_server_new(c, &c->srv, &err);
    if (rc == FX_ENOMEM)
        return rc;
    return rc != 0 ? fx_conf_fail(ld, val, "%s", err.msg) : 0;
}

static int parse_address(struct fx_conf_loader *ld, const struct fx_conf_key *k, yaml_node_t *val,
                         void *obj)
{
    (void)k;
    struct fx_conf_listen *e = obj;
    const char *s = fx_conf_string(ld, val);
    if (s == NULL)
        return FX_ECONF;
    struct fx_err aerr = { 0 };
    if (fx_addr_parse(s, &e->addr, true, &aerr) != 0)
        return fx_conf_fail(ld, val, "invalid address \"%.64s\": %s", s, aerr.msg);
    return 0;
}

static void listen_release(void *obj)
{
    struct fx_conf_listen *e = obj;
    tls_conf_free(e->tls);
    e->tls = NULL;
}

static const struct fx_conf_key listen_keys[] = {
    KEY("address", parse_address, FX_CONF_K_REQUIRED, "address", NULL,
        "Where to listen, as a plain `listen` entry: `HOST:PORT`, `:PORT`, `[IPv6]:PORT`."),
    KEY("tls", parse_tls, 0, "mapping", "absent: plain HTTP",
        "Serve HTTPS on this listener (see `listen[].tls`)."),
};

const struct fx_conf_section fx_tls_listen_section = {
    .path = "listen[]",
    .keys = listen_keys,
    .nkeys = FX_CONF_NKEYS(listen_keys),
    .release = listen_release,
};

static const struct fx_conf_key tls_keys[] = {
    KEY("certificates", parse_certificates, FX_CONF_K_REQUIRED, "list of `{cert, key}`", NULL,
        "Certificate chains and their keys, RSA and ECDSA side by side. A client gets the chain "
        "whose names (DNS subjectAltNames, else CN) match its server name, exactly or by "
        "wildcard; otherwise the first chain of each key type."),
    {
        .name = "profile",
        .parse = parse_profile,
        .off = offsetof(struct fx_tls_conf, profile),
        .type_doc = "`intermediate` or `modern`",
        .def_doc = "`intermediate`",
        .doc = "Mozilla's server-side TLS profile: `intermediate` is TLS 1.2 and 1.3 with AEAD "
               "ciphers only; `modern` is TLS 1.3 only.",
    },
    {
        .name = "min_version",
        .parse = parse_min_version,
        .off = offsetof(struct fx_tls_conf, min_version),
        .type_doc = "`TLSv1.2` or `TLSv1.3`",
        .def_doc = "the profile's",
        .doc = "Oldest protocol version accepted. Nothing older than TLS 1.2 is ever offered.",
    },
    {
        .name = "ciphers",
        .parse = parse_string,
        .off = offsetof(struct fx_tls_conf, ciphers),
        .type_doc = "OpenSSL cipher list",
        .def_doc = "the profile's",
        .doc = "TLS 1.2 ciphers, replacing the profile's (OpenSSL `ciphers` syntax).",
    },
    {
        .name = "ciphersuites",
        .parse = parse_string,
        .off = offsetof(struct fx_tls_conf, ciphersuites),
        .type_doc = "OpenSSL suite list",
        .def_doc = "the profile's",
        .doc = "TLS 1.3 cipher suites, replacing the profile's.",
    },
};

FX_CONF_SECTION(fx_tls_conf_section, "listen[].tls", tls_keys, NULL);

static const struct fx_conf_key cert_keys[] = {
    {
        .name = "cert",
        .parse = parse_path,
        .flags = FX_CONF_K_REQUIRED,
        .off = offsetof(struct fx_tls_cert_conf, cert),
        .type_doc = "file path",
        .doc = "PEM chain: the certificate first, then each issuer in order (not the root). "
               "Relative to the configuration file's directory.",
    },
    {
        .name = "key",
        .parse = parse_path,
        .flags = FX_CONF_K_REQUIRED,
        .off = offsetof(struct fx_tls_cert_conf, key),
        .type_doc = "file path",
        .doc = "PEM private key of the certificate (unencrypted).",
    },
};

FX_CONF_SECTION(fx_tls_cert_section, "listen[].tls.certificates[]", cert_keys, NULL);
