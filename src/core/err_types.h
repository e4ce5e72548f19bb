/* Error codes shared by every module (one list, libuv's UV_ERRNO_MAP style). */
#ifndef FX_CORE_ERR_TYPES_H
#define FX_CORE_ERR_TYPES_H

#define FX_ERR_MAP(X)                                         \
    X(EAGAIN, "resource temporarily unavailable, call again") \
    X(ENOMEM, "out of memory")                                \
    X(EINVAL, "invalid argument")                             \
    X(EIO, "input/output error")                              \
    X(ECONF, "invalid configuration")                         \
    X(ESYS, "system call failed")                             \
    X(EPARSE, "malformed HTTP message")                       \
    X(ESMUGGLE, "ambiguous HTTP message framing")             \
    X(ETOOLONG_LINE, "request line too long")                 \
    X(ETOOLONG_HEAD, "header section too large")              \
    X(ETOOMANY, "too many headers")                           \
    X(EVERSION, "unsupported HTTP version")                   \
    X(ECHUNK, "malformed chunked body")                       \
    X(ELIMIT, "limit exceeded")                               \
    X(ECLOSED, "connection closed by peer")                   \
    X(ETIMEDOUT, "timed out")                                 \
    X(ECONNECT, "upstream connect failed")                    \
    X(ENOTFOUND, "not found")

enum fx_errno {
    FX_OK = 0,
#define FX_ERR_ENUM_(name, msg) FX_##name,
    FX_ERR_BASE = -1000,
    FX_ERR_MAP(FX_ERR_ENUM_)
#undef FX_ERR_ENUM_
    FX_ERR_END
};

/* A human-readable failure, filled by FX_ERR_SET(). */
struct fx_err {
    int code;         /* FX_E* */
    int sys_errno;    /* errno at the time of FX_ERR_SET, 0 if none */
    const char *func; /* borrowed: static string from __func__ */
    int line;         /* source line of FX_ERR_SET */
    char msg[512];    /* NUL-terminated message naming place and cause */
};

#endif
