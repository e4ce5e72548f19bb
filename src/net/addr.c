/* Numeric socket addresses: parsing "HOST:PORT" and formatting sockaddrs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../core/err.h"
#include "../core/str.h"
#include "net.h"

/* Longest host part we look at; anything longer is invalid anyway. */
#define HOST_MAX 64
/* How much of an offending value an error message quotes. */
#define QUOTE_MAX 64

/* Parse the decimal port in [p, p + len). Returns 0 or FX_EINVAL with `err` set. */
static int parse_port(const char *p, size_t len, bool allow_port0, uint16_t *port,
                      struct fx_err *err)
{
    if (len == 0)
        return FX_ERR_SET(err, FX_EINVAL, "missing port");
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return FX_ERR_SET(err, FX_EINVAL, "invalid port '%.*s'",
                              (int)(len < QUOTE_MAX ? len : QUOTE_MAX), p);
        if (v <= 65535)
            v = v * 10 + (uint32_t)(p[i] - '0');
    }
    if (v > 65535)
        return FX_ERR_SET(err, FX_EINVAL, "port %.*s out of range",
                          (int)(len < QUOTE_MAX ? len : QUOTE_MAX), p);
    if (v == 0 && !allow_port0)
        return FX_ERR_SET(err, FX_EINVAL, "port 0 not allowed here (use 1..65535)");
    *port = (uint16_t)v;
    return 0;
}

static bool is_ipv4_text(struct fx_str host)
{
    for (size_t i = 0; i < host.len; i++) {
        char c = host.ptr[i];
        if (c != '.' && (c < '0' || c > '9'))
            return false;
    }
    return true;
}

static void set_ipv4(struct fx_addr *out, const struct in_addr *ip, uint16_t port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr = *ip;
    memcpy(&out->ss, &sin, sizeof(sin));
    out->len = (socklen_t)sizeof(sin);
}

/* Resolve the IPv4-ish host part: "*", "localhost" or a dotted quad. */
static int parse_ipv4_host(struct fx_str host, struct in_addr *ip, struct fx_err *err)
{
    int qlen = (int)(host.len < QUOTE_MAX ? host.len : QUOTE_MAX);
    if (host.len == 0)
        return FX_ERR_SET(err, FX_EINVAL, "missing host");
    if (fx_str_eq(host, FX_STR("*"))) {
        ip->s_addr = htonl(INADDR_ANY);
        return 0;
    }
    if (fx_str_eqi(host, FX_STR("localhost"))) {
        ip->s_addr = htonl(INADDR_LOOPBACK);
        return 0;
    }
    if (!is_ipv4_text(host)) {
        return FX_ERR_SET(err, FX_EINVAL, "DNS names are not supported ('%.*s'); use an IP address",
                          qlen, host.ptr);
    }
    char buf[HOST_MAX];
    if (host.len >= sizeof(buf))
        return FX_ERR_SET(err, FX_EINVAL, "invalid IPv4 address '%.*s'", qlen, host.ptr);
    memcpy(buf, host.ptr, host.len);
    buf[host.len] = '\0';
    if (inet_pton(AF_INET, buf, ip) != 1)
        return FX_ERR_SET(err, FX_EINVAL, "invalid IPv4 address '%s'", buf);
    return 0;
}

/* Parse "[IPv6]:PORT"; `text` starts with '['. */
static int parse_ipv6(const char *text, size_t len, struct fx_addr *out, bool allow_port0,
                      struct fx_err *err)
{
    const char *close = memchr(text, ']', len);
    if (close == NULL)
        return FX_ERR_SET(err, FX_EINVAL, "missing ']' after IPv6 address");
    size_t hlen = (size_t)(close - text - 1);
    size_t rest = len - (size_t)(close - text) - 1;
    if (rest == 0 || close[1] != ':')
        return FX_ERR_SET(err, FX_EINVAL, "missing port");
    uint16_t port = 0;
    int rc = parse_port(close + 2, rest - 1, allow_port0, &port, err);
    if (rc != 0)
        return rc;
    char buf[HOST_MAX];
    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof(sin6));
    if (hlen >= sizeof(buf))
        return FX_ERR_SET(err, FX_EINVAL, "invalid IPv6 address '%.*s'", QUOTE_MAX, text + 1);
    memcpy(buf, text + 1, hlen);
    buf[hlen] = '\0';
    if (inet_pton(AF_INET6, buf, &sin6.sin6_addr) != 1)
        return FX_ERR_SET(err, FX_EINVAL, "invalid IPv6 address '%s'", buf);
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    memcpy(&out->ss, &sin6, sizeof(sin6));
    out->len = (socklen_t)sizeof(sin6);
    return 0;
}

static int parse_host_port(const char *text, size_t len, struct fx_addr *out, bool allow_port0,
                           struct fx_err *err)
{
    if (text[0] == '[')
        return parse_ipv6(text, len, out, allow_port0, err);
    const char *colon = memchr(text, ':', len);
    if (colon == NULL)
        return FX_ERR_SET(err, FX_EINVAL, "missing port");
    size_t hlen = (size_t)(colon - text);
    if (memchr(colon + 1, ':', len - hlen - 1) != NULL) {
        return FX_ERR_SET(err, FX_EINVAL,
                          "IPv6 addresses must be written in brackets, like [::1]:8080");
    }
    struct in_addr ip;
    int rc = parse_ipv4_host((struct fx_str){ text, hlen }, &ip, err);
    if (rc != 0)
        return rc;
    uint16_t port = 0;
    rc = parse_port(colon + 1, len - hlen - 1, allow_port0, &port, err);
    if (rc != 0)
        return rc;
    set_ipv4(out, &ip, port);
    return 0;
}

int fx_addr_parse(const char *text, struct fx_addr *out, bool allow_port0, struct fx_err *err)
{
    if (out == NULL)
        return FX_ERR_SET(err, FX_EINVAL, "no output address");
    memset(out, 0, sizeof(*out));
    if (text == NULL || text[0] == '\0')
        return FX_ERR_SET(err, FX_EINVAL, "empty address");
    int rc = parse_host_port(text, strlen(text), out, allow_port0, err);
    if (rc != 0) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    fx_addr_format((const struct sockaddr *)&out->ss, out->text, sizeof(out->text));
    return 0;
}

void fx_addr_format(const struct sockaddr *sa, char *out, size_t cap)
{
    if (out == NULL || cap == 0)
        return;
    out[0] = '\0';
    if (sa == NULL)
        return;
    char ip[INET6_ADDRSTRLEN];
    int n = 0;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, sa, sizeof(sin));
        if (inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip)) == NULL)
            return;
        n = snprintf(out, cap, "%s:%u", ip, (unsigned int)ntohs(sin.sin_port));
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, sa, sizeof(sin6));
        if (inet_ntop(AF_INET6, &sin6.sin6_addr, ip, sizeof(ip)) == NULL)
            return;
        n = snprintf(out, cap, "[%s]:%u", ip, (unsigned int)ntohs(sin6.sin6_port));
    } else {
        n = snprintf(out, cap, "(family %d)", (int)sa->sa_family);
    }
    if (n < 0)
        out[0] = '\0';
}
