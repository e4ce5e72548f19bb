/* Error names, messages and the FX_ERR_SET helper. */
#ifndef FX_CORE_ERR_H
#define FX_CORE_ERR_H

#include <errno.h>
#include <stdlib.h>

#include "err_types.h"

/* Return the symbolic name ("EAGAIN") of an FX_E* code; never NULL. */
const char *fx_err_name(int code);

/* Return a static English description of an FX_E* code; never NULL. */
const char *fx_strerror(int code);

/* Fill `err` (may be NULL: then nothing happens) with a formatted message.
 * Records the caller's function, line and the current errno. Returns `code`
 * so callers can write `return FX_ERR_SET(...)`. */
int fx_err_set(struct fx_err *err, int code, const char *func, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define FX_ERR_SET(err, code, ...) fx_err_set((err), (code), __func__, __LINE__, __VA_ARGS__)

/* Free `p` and set it to NULL. */
#define FX_FREE(p)  \
    do {            \
        free(p);    \
        (p) = NULL; \
    } while (0)

/* Internal invariant check: aborts with a message when `cond` is false.
 * Never use on network or config input. */
#define FX_ASSERT(cond)                                \
    do {                                               \
        if (!(cond))                                   \
            fx_assert_fail(#cond, __FILE__, __LINE__); \
    } while (0)

_Noreturn void fx_assert_fail(const char *expr, const char *file, int line);

#endif
