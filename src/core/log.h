/* Process log: one logfmt line per event on stderr (STYLE.md §8). */
#ifndef FX_CORE_LOG_H
#define FX_CORE_LOG_H

enum fx_log_level {
    FX_LOG_ERROR = 0,
    FX_LOG_WARN,
    FX_LOG_INFO,
    FX_LOG_DEBUG,
};

struct fx_log {
    enum fx_log_level level; /* events above this level are dropped */
    int fd;                  /* borrowed: usually 2 */
};

/* Write "time=... level=... <formatted fields>\n" in one write(2).
 * Thread-safe (one write per line); never fails visibly. */
void fx_log_write(const struct fx_log *log, enum fx_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks the level before evaluating arguments (Redis's serverLog). */
/* NOLINTNEXTLINE(readability-identifier-naming): reads as a function, like serverLog */
#define fx_log(log, lvl, ...)                        \
    do {                                             \
        if ((lvl) <= (log)->level)                   \
            fx_log_write((log), (lvl), __VA_ARGS__); \
    } while (0)

/* Copy `src` into out[cap] (NUL-terminated, truncated) escaping '"' and '\\' and
 * replacing control bytes with '?', so it can sit inside a quoted logfmt value. */
const char *fx_log_quote(char *out, unsigned long cap, const char *src);

/* Format the current UTC time as "2026-11-25T16:40:00.123Z" into out[cap >= 32]. */
void fx_log_time(char *out, unsigned long cap);

#endif
