/* TLS server contexts and the TLS transport, on OpenSSL 3.
 *
 * A listener's certificates are grouped by the names they claim (their DNS
 * subjectAltNames, else their CN): every distinct set "the first chain of
 * each key type claiming this name" gets one SSL_CTX holding those chains
 * (OpenSSL then picks RSA or ECDSA from the client's signature algorithms).
 * The default context holds the first chain of each key type. The
 * servername callback switches a connection to the context of its name:
 * exact first, then "*.rest" for the name's first label replaced.
 *
 * The contexts belong to a reference-counted struct fx_tls_server: the
 * config snapshot holds one reference and every connection another, so a
 * reload (new certificates) never pulls contexts from under a handshake. */
#include "tls.h"

#include <sys/uio.h>

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "../core/err.h"
#include "../net/net.h"

#define NAME_MAX_LEN    253
#define WRITE_COALESCE  16384 /* spans up to this total go out as one record */
#define EXPIRY_WARN_SEC (14L * 86400)

/* Mozilla server-side TLS, version 5.7. */
#define INTERMEDIATE_CIPHERS                                                                   \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"   \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define GROUPS       "X25519:prime256v1:secp384r1"

struct cert {
    char *path;    /* owned: as configured */
    char *keypath; /* owned */
    X509 *leaf;
    STACK_OF(X509) * chain; /* intermediates, in file order */
    EVP_PKEY *key;
    int ktype; /* EVP_PKEY base id */
    char **names;
    size_t nnames;
    time_t not_after;
};

struct sni {
    char *name;   /* borrowed from a cert's names (lower case; "*.x" for wildcards) */
    SSL_CTX *ctx; /* borrowed from ctxs */
};

struct fx_tls_server {
    atomic_uint refs;
    struct cert *certs; /* owned array */
    size_t ncerts;
    SSL_CTX **ctxs; /* owned */
    uint64_t *masks;
    size_t nctxs;
    SSL_CTX *def;    /* borrowed from ctxs */
    struct sni *sni; /* owned array, sorted by name */
    size_t nsni;
};

static const char *const cipher_names[FX_TLS_NCIPHERS - 1] = {
    "TLS_AES_128_GCM_SHA256",       "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",  "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",  "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",  "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",    "DHE-RSA-CHACHA20-POLY1305",
};

static const char *const fail_names[FX_TLS_FAIL_N] = {
#define FX_TLS_FAIL_NAME(e, name) name,
    FX_TLS_FAIL_REASONS(FX_TLS_FAIL_NAME)
#undef FX_TLS_FAIL_NAME
};

const char *fx_tls_fail_name(enum fx_tls_fail why)
{
    return (unsigned int)why < FX_TLS_FAIL_N ? fail_names[why] : "bad_message";
}

/* The reason of the last OpenSSL error, or `dflt`. Clears the queue. */
static const char *ssl_reason(char *buf, size_t cap, const char *dflt)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    (void)snprintf(buf, cap, "%s", r != NULL ? r : dflt);
    ERR_clear_error();
    return buf;
}

static const char *key_name(int ktype)
{
    switch (ktype) {
    case EVP_PKEY_RSA:
        return "rsa";
    case EVP_PKEY_EC:
        return "ecdsa";
    case EVP_PKEY_ED25519:
        return "ed25519";
    case EVP_PKEY_ED448:
        return "ed448";
    default:
        return "other";
    }
}

/* ---- loading certificates ------------------------------------------------- */

static int add_name(struct cert *c, const char *p, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN || memchr(p, '\0', len) != NULL)
        return 0; /* not a usable host name: never matched */
    char **v = realloc(c->names, (c->nnames + 1) * sizeof(*v));
    if (v == NULL)
        return FX_ENOMEM;
    c->names = v;
    char *s = malloc(len + 1);
    if (s == NULL)
        return FX_ENOMEM;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)tolower((unsigned char)p[i]);
    s[len] = '\0';
    c->names[c->nnames++] = s;
    return 0;
}

/* The DNS subjectAltNames of the leaf, else its subject CN. */
static int load_names(struct cert *c)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
    int rc = 0;
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            rc = add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                          (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    if (rc != 0 || c->nnames > 0)
        return rc;
    const X509_NAME *subj = X509_get_subject_name(c->leaf);
    int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (idx < 0)
        return 0;
    const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
    return add_name(c, (const char *)ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
}

static time_t asn1_epoch(const ASN1_TIME *t)
{
    struct tm tm = { 0 };
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

static void format_time(char *buf, size_t cap, time_t t)
{
    struct tm tm = { 0 };
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        (void)snprintf(buf, cap, "%lld", (long long)t);
}

/* Each certificate of the file is valid now and issued by the next one. */
static int check_chain(const struct cert *c, struct fx_err *err)
{
    int n = sk_X509_num(c->chain);
    time_t now = time(NULL);
    for (int i = 0; i <= n; i++) {
        X509 *cur = i == 0 ? c->leaf : sk_X509_value(c->chain, i - 1);
        char when[32];
        time_t na = asn1_epoch(X509_get0_notAfter(cur));
        time_t nb = asn1_epoch(X509_get0_notBefore(cur));
        if (na <= now) {
            format_time(when, sizeof(when), na);
            return FX_ERR_SET(err, FX_ECONF, "%s: certificate %d of the chain expired on %s",
                              c->path, i + 1, when);
        }
        if (nb > now) {
            format_time(when, sizeof(when), nb);
            return FX_ERR_SET(err, FX_ECONF,
                              "%s: certificate %d of the chain is not valid before %s", c->path,
                              i + 1, when);
        }
        if (i == n)
            break;
        X509 *next = sk_X509_value(c->chain, i);
        if (X509_check_issued(next, cur) != X509_V_OK ||
            X509_verify(cur, X509_get0_pubkey(next)) != 1) {
            ERR_clear_error();
            return FX_ERR_SET(err, FX_ECONF,
                              "%s: certificate %d of the chain is not issued by certificate %d "
                              "(the file must hold the leaf first, then each issuer)",
                              c->path, i + 1, i + 2);
        }
    }
    return 0;
}

static int read_chain(struct cert *c, struct fx_err *err)
{
    char why[256];
    BIO *b = BIO_new_file(c->path, "r");
    if (b == NULL) {
        int e = errno;
        ERR_clear_error();
        return FX_ERR_SET(err, FX_ECONF, "%s: cannot open: %s", c->path,
                          e != 0 ? strerrordesc_np(e) : "unknown error");
    }
    c->leaf = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL);
    if (c->leaf == NULL) {
        BIO_free(b);
        return FX_ERR_SET(err, FX_ECONF, "%s: no PEM certificate: %s", c->path,
                          ssl_reason(why, sizeof(why), "unreadable"));
    }
    c->chain = sk_X509_new_null();
    X509 *x;
    while (c->chain != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(c->chain, x) <= 0) {
            X509_free(x);
            break;
        }
    }
    unsigned long e = ERR_peek_last_error();
    BIO_free(b);
    if (c->chain == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "%s: out of memory", c->path);
    if (e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
        return FX_ERR_SET(err, FX_ECONF, "%s: bad certificate after the first: %s", c->path,
                          ssl_reason(why, sizeof(why), "unreadable"));
    ERR_clear_error();
    c->not_after = asn1_epoch(X509_get0_notAfter(c->leaf));
    return check_chain(c, err);
}

static int read_key(struct cert *c, struct fx_err *err)
{
    char why[256];
    BIO *b = BIO_new_file(c->keypath, "r");
    if (b == NULL) {
        int e = errno;
        ERR_clear_error();
        return FX_ERR_SET(err, FX_ECONF, "%s: cannot open: %s", c->keypath,
                          e != 0 ? strerrordesc_np(e) : "unknown error");
    }
    c->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (c->key == NULL)
        return FX_ERR_SET(err, FX_ECONF, "%s: no PEM private key: %s", c->keypath,
                          ssl_reason(why, sizeof(why), "unreadable"));
    if (X509_check_private_key(c->leaf, c->key) != 1) {
        ERR_clear_error();
        return FX_ERR_SET(err, FX_ECONF, "%s: key does not match the certificate in %s", c->keypath,
                          c->path);
    }
    c->ktype = EVP_PKEY_get_base_id(c->key);
    return 0;
}

static int load_cert(struct cert *c, const struct fx_tls_cert_conf *cc, struct fx_err *err)
{
    c->path = strdup(cc->cert);
    c->keypath = strdup(cc->key);
    if (c->path == NULL || c->keypath == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "out of memory");
    int rc = read_chain(c, err);
    if (rc == 0)
        rc = read_key(c, err);
    if (rc == 0 && load_names(c) != 0)
        rc = FX_ERR_SET(err, FX_ENOMEM, "out of memory");
    return rc;
}

static void free_cert(struct cert *c)
{
    for (size_t i = 0; i < c->nnames; i++)
        free(c->names[i]);
    FX_FREE(c->names);
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    FX_FREE(c->path);
    FX_FREE(c->keypath);
}

/* ---- contexts ---------------------------------------------------------------- */

static int sni_cmp(const void *a, const void *b)
{
    const char *x = ((const struct sni *)a)->name;
    const char *y = ((const struct sni *)b)->name;
    if (x == NULL || y == NULL)
        return (x != NULL) - (y != NULL); /* never NULL in a built table */
    return strcmp(x, y);
}

static SSL_CTX *sni_lookup(const struct fx_tls_server *s, const char *name)
{
    struct sni key = { .name = (char *)(uintptr_t)name, .ctx = NULL };
    const struct sni *hit = bsearch(&key, s->sni, s->nsni, sizeof(*s->sni), sni_cmp);
    return hit != NULL ? hit->ctx : NULL;
}

/* Context for the client's server name: exact, then the wildcard of its parent. */
static SSL_CTX *sni_find(const struct fx_tls_server *s, const char *servername)
{
    char name[NAME_MAX_LEN + 2];
    size_t len = strlen(servername);
    if (len == 0 || len > NAME_MAX_LEN)
        return NULL;
    for (size_t i = 0; i <= len; i++)
        name[i] = (char)tolower((unsigned char)servername[i]);
    if (name[len - 1] == '.')
        name[--len] = '\0'; /* absolute form "a.example.com." */
    SSL_CTX *ctx = sni_lookup(s, name);
    if (ctx != NULL)
        return ctx;
    char *dot = strchr(name, '.');
    if (dot == NULL || dot == name || dot[1] == '\0')
        return NULL;
    dot[-1] = '*';
    return sni_lookup(s, dot - 1);
}

/* NOLINTNEXTLINE(readability-non-const-parameter): OpenSSL's callback type */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const struct fx_tls_server *s = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    SSL_CTX *ctx = sni_find(s, name);
    if (ctx != NULL && ctx != SSL_get_SSL_CTX(ssl) && SSL_set_SSL_CTX(ssl, ctx) == NULL)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 or nothing (RFC 7301 3.2: no match is a fatal alert). */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned int i = 0; i < inlen;) {
        unsigned int n = in[i];
        if (i + 1 + n > inlen)
            break;
        if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int ctx_settings(SSL_CTX *ctx, const struct fx_tls_conf *c, struct fx_tls_server *s,
                        struct fx_err *err)
{
    char why[256];
    bool tls13_only = c->min_version == FX_TLS_V_1_3 ||
                      (c->min_version == FX_TLS_V_PROFILE && c->profile == FX_TLS_PROFILE_MODERN);
    if (SSL_CTX_set_min_proto_version(ctx, tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
        return FX_ERR_SET(err, FX_ECONF, "protocol versions: %s",
                          ssl_reason(why, sizeof(why), "refused"));
    /* No compression (CRIME), no renegotiation, server cipher order off
     * (Mozilla: clients pick, they know whether they have AES hardware), and
     * a truncated stream is an EOF: HTTP framing finds truncated bodies. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    const char *ciphers = c->ciphers != NULL ? c->ciphers : INTERMEDIATE_CIPHERS;
    if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1)
        return FX_ERR_SET(err, FX_ECONF, "ciphers \"%s\": %s", ciphers,
                          ssl_reason(why, sizeof(why), "no usable cipher"));
    const char *suites = c->ciphersuites != NULL ? c->ciphersuites : TLS13_SUITES;
    if (SSL_CTX_set_ciphersuites(ctx, suites) != 1)
        return FX_ERR_SET(err, FX_ECONF, "ciphersuites \"%s\": %s", suites,
                          ssl_reason(why, sizeof(why), "no usable suite"));
    if (SSL_CTX_set1_groups_list(ctx, GROUPS) != 1 || SSL_CTX_set_dh_auto(ctx, 1) != 1 ||
        SSL_CTX_set_max_early_data(ctx, 0) != 1 || SSL_CTX_set_recv_max_early_data(ctx, 0) != 1 ||
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"ficus", 5) != 1)
        return FX_ERR_SET(err, FX_ECONF, "TLS settings: %s",
                          ssl_reason(why, sizeof(why), "refused"));
    (void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    (void)SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    (void)SSL_CTX_set_tlsext_servername_arg(ctx, s);
    return 0;
}

/* The context holding the certificates of `mask` (built once per mask). */
static int ctx_for(struct fx_tls_server *s, const struct fx_tls_conf *c, uint64_t mask,
                   SSL_CTX **out, struct fx_err *err)
{
    char why[256];
    for (size_t i = 0; i < s->nctxs; i++) {
        if (s->masks[i] == mask) {
            *out = s->ctxs[i];
            return 0;
        }
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "out of memory");
    s->ctxs[s->nctxs] = ctx;
    s->masks[s->nctxs++] = mask;
    int rc = ctx_settings(ctx, c, s, err);
    for (size_t i = 0; rc == 0 && i < s->ncerts; i++) {
        struct cert *ce = &s->certs[i];
        if ((mask & ((uint64_t)1 << i)) == 0)
            continue;
        if (SSL_CTX_use_cert_and_key(ctx, ce->leaf, ce->key, ce->chain, 1) != 1)
            rc = FX_ERR_SET(err, FX_ECONF, "%s: %s", ce->path,
                            ssl_reason(why, sizeof(why), "certificate refused"));
    }
    *out = ctx;
    return rc;
}

/* Certificates (bit i: certs[i]) claiming `name`; the first of each key type. */
static int name_mask(const struct fx_tls_server *s, const char *name, uint64_t *mask,
                     struct fx_err *err)
{
    *mask = 0;
    int owner[FX_TLS_MAX_CERTS];
    size_t nown = 0;
    for (size_t i = 0; i < s->ncerts; i++) {
        for (size_t j = 0; j < s->certs[i].nnames; j++) {
            if (strcmp(s->certs[i].names[j], name) != 0)
                continue;
            for (size_t k = 0; k < nown; k++) {
                const struct cert *o = &s->certs[owner[k]];
                if (o->ktype == s->certs[i].ktype)
                    return FX_ERR_SET(err, FX_ECONF,
                                      "%s: name \"%s\" is also claimed by %s, a %s certificate "
                                      "too: give each name one chain per key type",
                                      s->certs[i].path, name, o->path, key_name(o->ktype));
            }
            owner[nown++] = (int)i;
            *mask |= (uint64_t)1 << i;
            break;
        }
    }
    return 0;
}

static int build_contexts(struct fx_tls_server *s, const struct fx_tls_conf *c, struct fx_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < s->ncerts; i++)
        total += s->certs[i].nnames;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    s->ctxs = calloc(total + 1, sizeof(*s->ctxs));
    s->masks = calloc(total + 1, sizeof(*s->masks));
    s->sni = calloc(total + 1, sizeof(*s->sni));
    if (s->ctxs == NULL || s->masks == NULL || s->sni == NULL)
        return FX_ERR_SET(err, FX_ENOMEM, "out of memory");
    uint64_t def = 0;
    for (size_t i = 0; i < s->ncerts; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= s->certs[j].ktype == s->certs[i].ktype;
        if (!seen)
            def |= (uint64_t)1 << i;
    }
    int rc = ctx_for(s, c, def, &s->def, err);
    for (size_t i = 0; rc == 0 && i < s->ncerts; i++) {
        for (size_t j = 0; rc == 0 && j < s->certs[i].nnames; j++) {
            const char *name = s->certs[i].names[j];
            struct sni key = { .name = (char *)(uintptr_t)name, .ctx = NULL };
            bool dup = false;
            for (size_t k = 0; k < s->nsni && !dup; k++)
                dup = sni_cmp(&key, &s->sni[k]) == 0;
            if (dup)
                continue;
            uint64_t mask = 0;
            rc = name_mask(s, name, &mask, err);
            if (rc == 0)
                rc = ctx_for(s, c, mask, &key.ctx, err);
            if (rc == 0)
                s->sni[s->nsni++] = key;
        }
    }
    if (rc == 0)
        qsort(s->sni, s->nsni, sizeof(*s->sni), sni_cmp);
    return rc;
}

static void server_free(struct fx_tls_server *s)
{
    for (size_t i = 0; i < s->nctxs; i++)
        SSL_CTX_free(s->ctxs[i]);
    FX_FREE(s->ctxs);
    FX_FREE(s->masks);
    FX_FREE(s->sni);
    for (size_t i = 0; i < s->ncerts; i++)
        free_cert(&s->certs[i]);
    FX_FREE(s->certs);
    free(s);
}

int fx_tls_server_new(const struct fx_tls_conf *c, struct fx_tls_server **out, struct fx_err *err)
{
    *out = NULL;
    if (c->ncerts == 0 || c->ncerts > FX_TLS_MAX_CERTS)
        return FX_ERR_SET(err, FX_ECONF, "certificates: give 1 to %d chains", FX_TLS_MAX_CERTS);
    struct fx_tls_server *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->certs = calloc(c->ncerts, sizeof(*s->certs))) == NULL) {
        free(s);
        return FX_ERR_SET(err, FX_ENOMEM, "out of memory");
    }
    atomic_init(&s->refs, 1);
    int rc = 0;
    for (size_t i = 0; i < c->ncerts && rc == 0; i++) {
        s->ncerts++;
        rc = load_cert(&s->certs[i], &c->certs[i], err);
    }
    if (rc == 0)
        rc = build_contexts(s, c, err);
    if (rc != 0) {
        server_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void fx_tls_server_unref(struct fx_tls_server *s)
{
    if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        server_free(s);
}

static void join_names(char *buf, size_t cap, const struct cert *c)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->nnames && o < cap; i++) {
        int n = snprintf(buf + o, cap - o, "%s%s", i ? "," : "", c->names[i]);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

int fx_tls_server_describe(const struct fx_tls_server *s, FILE *out, FILE *warn)
{
    int nwarn = 0;
    time_t now = time(NULL);
    for (size_t i = 0; s != NULL && i < s->ncerts; i++) {
        const struct cert *c = &s->certs[i];
        char names[1024];
        char when[32];
        join_names(names, sizeof(names), c);
        format_time(when, sizeof(when), c->not_after);
        (void)fprintf(out, "  tls %s: names=%s key=%s not_after=%s\n", c->path,
                      names[0] ? names : "(none)", key_name(c->ktype), when);
        if (c->not_after - now < EXPIRY_WARN_SEC) {
            (void)fprintf(warn, "warning: %s: certificate expires in %lld days (%s)\n", c->path,
                          (long long)((c->not_after - now) / 86400), when);
            nwarn++;
        }
    }
    return nwarn;
}

void fx_tls_server_render(const struct fx_tls_server *s, FILE *f)
{
    for (size_t i = 0; s != NULL && i < s->ncerts; i++) {
        const struct cert *c = &s->certs[i];
        for (size_t j = 0; j < c->nnames; j++)
            (void)fprintf(f, "ficus_tls_cert_not_after_seconds{name=\"%s\",key=\"%s\"} %lld\n",
                          c->names[j], key_name(c->ktype), (long long)c->not_after);
    }
}

/* ---- connections ------------------------------------------------------------- */

int fx_tls_conn_accept(struct fx_tls_server *s, int fd, struct fx_xprt *x)
{
    SSL *ssl = SSL_new(s->def);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return FX_ENOMEM;
    }
    SSL_set_accept_state(ssl);
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    (void)SSL_set_app_data(ssl, s);
    x->ops = &fx_tls_io_ops;
    x->ctx = ssl;
    return 0;
}

static enum fx_tls_fail classify(int sslerr)
{
    if (sslerr == SSL_ERROR_SYSCALL || sslerr == SSL_ERROR_ZERO_RETURN)
        return FX_TLS_FAIL_CLOSED;
    switch (ERR_GET_REASON(ERR_peek_error())) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
        return FX_TLS_FAIL_PROTOCOL_VERSION;
    case SSL_R_NO_SHARED_CIPHER:
        return FX_TLS_FAIL_NO_SHARED_CIPHER;
    case SSL_R_NO_APPLICATION_PROTOCOL:
        return FX_TLS_FAIL_NO_ALPN;
    case SSL_R_HTTP_REQUEST:
        return FX_TLS_FAIL_HTTP_REQUEST;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return FX_TLS_FAIL_CLOSED;
    default:
        return FX_TLS_FAIL_BAD_MESSAGE;
    }
}

int fx_tls_conn_handshake(struct fx_xprt *x, enum fx_tls_fail *why)
{
    SSL *ssl = x->ctx;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return 0;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return FX_IO_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return FX_IO_WANT_WRITE;
    *why = classify(e);
    ERR_clear_error();
    return FX_IO_ERROR;
}

void fx_tls_conn_shutdown(struct fx_xprt *x)
{
    SSL *ssl = x->ctx;
    if (!fx_tls_conn_is(x) || ssl == NULL || !SSL_is_init_finished(ssl))
        return;
    ERR_clear_error();
    (void)SSL_shutdown(ssl);
    ERR_clear_error();
}

void fx_tls_conn_free(struct fx_xprt *x)
{
    if (fx_tls_conn_is(x) && x->ctx != NULL) {
        SSL *ssl = x->ctx;
        struct fx_tls_server *s = SSL_get_app_data(ssl);
        SSL_free(ssl);
        fx_tls_server_unref(s);
    }
    x->ops = &fx_net_plain_ops;
    x->ctx = NULL;
}

const char *fx_tls_conn_version(const struct fx_xprt *x)
{
    if (!fx_tls_conn_is(x) || x->ctx == NULL)
        return "";
    return SSL_get_version(x->ctx);
}

static ssize_t io_result(SSL *ssl, int r)
{
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return FX_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return FX_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return FX_IO_EOF;
    default:
        ERR_clear_error();
        return FX_IO_ERROR;
    }
}

/* Fill `buf` until it is full or the socket is drained, so that a short
 * count means "drained", as it does for plain TCP (read_ahead may hold
 * several records in OpenSSL's buffer: they are all taken here). */
static ssize_t tls_read(struct fx_xprt *x, int fd, char *buf, size_t len)
{
    (void)fd;
    SSL *ssl = x->ctx;
    size_t got = 0;
    ERR_clear_error();
    while (got < len) {
        size_t n = 0;
        int r = SSL_read_ex(ssl, buf + got, len - got, &n);
        if (r == 1) {
            got += n;
            continue;
        }
        ssize_t res = io_result(ssl, r);
        return got > 0 ? (ssize_t)got : res;
    }
    return (ssize_t)got;
}

/* Write one span completely, or until the socket is full. */
static ssize_t write_span(SSL *ssl, const char *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t n = 0;
        int r = SSL_write_ex(ssl, p + done, len - done, &n);
        if (r != 1) {
            ssize_t res = io_result(ssl, r);
            return done > 0 ? (ssize_t)done : (res == FX_IO_EOF ? FX_IO_ERROR : res);
        }
        done += n;
    }
    return (ssize_t)done;
}

/* OpenSSL has no writev: small spans are joined into one record (one
 * write(2)); larger ones go out span by span. A span cut by a full socket
 * was encrypted already; the retry presents the same bytes again first. */
static ssize_t tls_writev(struct fx_xprt *x, int fd, const struct iovec *iov, int n)
{
    (void)fd;
    SSL *ssl = x->ctx;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    ERR_clear_error();
    if (n > 1 && total <= WRITE_COALESCE) {
        char tmp[WRITE_COALESCE];
        size_t o = 0;
        for (int i = 0; i < n; i++) {
            memcpy(tmp + o, iov[i].iov_base, iov[i].iov_len);
            o += iov[i].iov_len;
        }
        return write_span(ssl, tmp, total);
    }
    size_t done = 0;
    for (int i = 0; i < n; i++) {
        ssize_t w = write_span(ssl, iov[i].iov_base, iov[i].iov_len);
        if (w < 0)
            return done > 0 ? (ssize_t)done : w;
        done += (size_t)w;
        if ((size_t)w < iov[i].iov_len)
            break;
    }
    return (ssize_t)done;
}

const struct fx_io_ops fx_tls_io_ops = {
    .name = "tls",
    .read = tls_read,
    .writev = tls_writev,
};

/* ---- statistics ---------------------------------------------------------------- */

static void bump(atomic_uint_fast64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

void fx_tls_stats_handshake(struct fx_tls_stats *st, const struct fx_xprt *x)
{
    SSL *ssl = x->ctx;
    const char *cn = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    size_t slot = FX_TLS_NCIPHERS - 1;
    for (size_t i = 0; cn != NULL && i < FX_TLS_NCIPHERS - 1; i++) {
        if (strcmp(cn, cipher_names[i]) == 0) {
            slot = i;
            break;
        }
    }
    int v = SSL_version(ssl) == TLS1_3_VERSION ? 1 : 0;
    bump(&st->handshakes[v][slot][SSL_session_reused(ssl) ? 1 : 0]);
}

void fx_tls_stats_fail(struct fx_tls_stats *st, enum fx_tls_fail why)
{
    bump(&st->failures[(unsigned int)why < FX_TLS_FAIL_N ? why : FX_TLS_FAIL_BAD_MESSAGE]);
}

void fx_tls_stats_render(const struct fx_tls_stats *const *st, size_t n, FILE *f)
{
    static const char *const versions[2] = { "TLSv1.2", "TLSv1.3" };
    (void)fputs("# HELP ficus_tls_handshakes_total Completed TLS handshakes with clients.\n"
                "# TYPE ficus_tls_handshakes_total counter\n",
                f);
    for (int v = 0; v < 2; v++) {
        for (size_t c = 0; c < FX_TLS_NCIPHERS; c++) {
            for (int r = 0; r < 2; r++) {
                uint64_t sum = 0;
                for (size_t i = 0; i < n; i++)
                    sum += atomic_load_explicit(&st[i]->handshakes[v][c][r], memory_order_relaxed);
                if (sum == 0)
                    continue;
                (void)fprintf(f,
                              "ficus_tls_handshakes_total{version=\"%s\",cipher=\"%s\","
                              "resumed=\"%s\"} %llu\n",
                              versions[v], c < FX_TLS_NCIPHERS - 1 ? cipher_names[c] : "other",
                              r ? "true" : "false", (unsigned long long)sum);
            }
        }
    }
    (void)fputs("# HELP ficus_tls_handshake_failures_total Failed TLS handshakes with clients.\n"
                "# TYPE ficus_tls_handshake_failures_total counter\n",
                f);
    for (size_t k = 0; k < FX_TLS_FAIL_N; k++) {
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += atomic_load_explicit(&st[i]->failures[k], memory_order_relaxed);
        (void)fprintf(f, "ficus_tls_handshake_failures_total{reason=\"%s\"} %llu\n", fail_names[k],
                      (unsigned long long)sum);
    }
}
