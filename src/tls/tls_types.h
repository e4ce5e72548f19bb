/* TLS: listener settings as configured, built contexts, per-worker counters. */
#ifndef FX_TLS_TYPES_H
#define FX_TLS_TYPES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FX_TLS_MAX_CERTS 64 /* certificates of one listener */

/* tls.profile: Mozilla's server-side recommendations (version 5.7). */
enum fx_tls_profile {
    FX_TLS_PROFILE_INTERMEDIATE = 0, /* TLS 1.2 and 1.3, AEAD ciphers with forward secrecy */
    FX_TLS_PROFILE_MODERN,           /* TLS 1.3 only */
};

/* tls.min_version. */
enum fx_tls_version {
    FX_TLS_V_PROFILE = 0, /* the profile's */
    FX_TLS_V_1_2,
    FX_TLS_V_1_3,
};

/* One certificate chain and its key (tls.certificates[]). */
struct fx_tls_cert_conf {
    char *cert; /* owned: PEM chain file, leaf first (resolved against the config's directory) */
    char *key;  /* owned: PEM private key file */
};

struct fx_tls_server; /* the SSL contexts built from a struct fx_tls_conf (tls.c) */

/* A listener's `tls` mapping. */
struct fx_tls_conf {
    struct fx_tls_cert_conf *certs; /* owned array, at least one; the first of each key type is
                                       the default for clients whose name matches no cert */
    size_t ncerts;
    unsigned int profile;      /* enum fx_tls_profile */
    unsigned int min_version;  /* enum fx_tls_version */
    char *ciphers;             /* owned or NULL: TLS 1.2 cipher list (OpenSSL syntax) */
    char *ciphersuites;        /* owned or NULL: TLS 1.3 suites */
    struct fx_tls_server *srv; /* owned reference: built at load */
};

/* Why a handshake failed (label `reason` of ficus_tls_handshake_failures_total). */
#define FX_TLS_FAIL_REASONS(X)                                                             \
    X(TIMEOUT, "timeout")                   /* limits.handshake_timeout passed */          \
    X(CLOSED, "closed")                     /* the client went away mid-handshake */       \
    X(PROTOCOL_VERSION, "protocol_version") /* no version in common (TLS 1.1 and older) */ \
    X(NO_SHARED_CIPHER, "no_shared_cipher")                                                \
    X(NO_ALPN, "no_application_protocol") /* the client offered ALPN without http/1.1 */   \
    X(HTTP_REQUEST, "http_request")       /* plain HTTP sent to a TLS listener */          \
    X(BAD_MESSAGE, "bad_message")         /* anything else the TLS stack refused */

enum fx_tls_fail {
#define FX_TLS_FAIL_ENUM(e, name) FX_TLS_FAIL_##e,
    FX_TLS_FAIL_REASONS(FX_TLS_FAIL_ENUM)
#undef FX_TLS_FAIL_ENUM
    FX_TLS_FAIL_N,
};

#define FX_TLS_NCIPHERS 13 /* cipher slots counted by name (the last one is "other") */

/* Per-worker counters: written by the worker only, read by the admin thread. */
struct fx_tls_stats {
    atomic_uint_fast64_t handshakes[2][FX_TLS_NCIPHERS][2]; /* [TLS 1.2, 1.3][cipher][resumed] */
    atomic_uint_fast64_t failures[FX_TLS_FAIL_N];
};

#endif
