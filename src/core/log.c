#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void fx_log_time(char *out, unsigned long cap)
{
    struct timespec ts;
    struct tm tm;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    (void)gmtime_r(&ts.tv_sec, &tm);
    (void)snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000);
}

void fx_log_write(const struct fx_log *log, enum fx_log_level lvl, const char *fmt, ...)
{
    char line[2048];
    char ts[32];
    fx_log_time(ts, sizeof(ts));
    int n = snprintf(line, sizeof(line), "time=%s level=%s ", ts, level_names[lvl]);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(log->fd, line, len);
    (void)w;
}

const char *fx_log_quote(char *out, unsigned long cap, const char *src)
{
    unsigned long o = 0;
    for (; *src != '\0' && o + 1 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        bool esc = c == '"' || c == '\\';
        if (esc && o + 2 >= cap)
            break; /* never cut an escape in half */
        if (esc)
            out[o++] = '\\';
        if (c < 0x20 || c == 0x7f)
            out[o++] = '?';
        else
            out[o++] = *src;
    }
    if (cap > 0)
        out[o] = '\0';
    return out;
}
