#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *fx_err_name(int code)
{
    switch (code) {
    case FX_OK:
        return "OK";
#define FX_ERR_NAME_(name, msg) \
    case FX_##name:             \
        return #name;
        FX_ERR_MAP(FX_ERR_NAME_)
#undef FX_ERR_NAME_
    default:
        return "EUNKNOWN";
    }
}

const char *fx_strerror(int code)
{
    switch (code) {
    case FX_OK:
        return "success";
#define FX_ERR_MSG_(name, msg) \
    case FX_##name:            \
        return msg;
        FX_ERR_MAP(FX_ERR_MSG_)
#undef FX_ERR_MSG_
    default:
        return "unknown error";
    }
}

int fx_err_set(struct fx_err *err, int code, const char *func, int line, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->sys_errno = errno;
    err->code = code;
    err->func = func;
    err->line = line;
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    (void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

void fx_assert_fail(const char *expr, const char *file, int line)
{
    (void)fprintf(stderr, "ficus: assertion failed: %s at %s:%d\n", expr, file, line);
    abort();
}
