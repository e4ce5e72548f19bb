/* Registry schema, time formatting and SQLite helpers shared by the
 * registry's files. Schema in docs/registry.md. */
#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/err.h"
#include "../store/store.h"
#include "registry_int.h"

/* Items are numbered by their integer primary key (DEBT-<num>); rows are
 * never deleted, so a new item takes max(num) + 1. Routes are stored joined
 * with ';' (route names cannot hold one). */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS debt_items("
    " num INTEGER PRIMARY KEY,"
    " title TEXT NOT NULL,"
    " description TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " routes TEXT NOT NULL,"
    " component TEXT NOT NULL,"
    " owner TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " stability INTEGER NOT NULL,"
    " velocity INTEGER NOT NULL,"
    " effort_days REAL NOT NULL,"
    " notes TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS debt_history("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " num INTEGER NOT NULL,"
    " time_ms INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " field TEXT NOT NULL,"
    " old_value TEXT,"
    " new_value TEXT);"
    "CREATE INDEX IF NOT EXISTS debt_history_num ON debt_history(num, id);"
    "CREATE TABLE IF NOT EXISTS progress_samples("
    " route TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL,"
    " interval_ms INTEGER NOT NULL,"
    " migrating INTEGER NOT NULL,"
    " weight_bp INTEGER NOT NULL,"
    " req_legacy INTEGER NOT NULL,"
    " req_new INTEGER NOT NULL,"
    " err_legacy INTEGER NOT NULL,"
    " err_new INTEGER NOT NULL,"
    " p99_legacy REAL NOT NULL,"
    " p99_new REAL NOT NULL,"
    " shadow_compared INTEGER NOT NULL,"
    " shadow_mismatched INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS progress_samples_route ON progress_samples(route, time_ms);"
    "CREATE INDEX IF NOT EXISTS progress_samples_time ON progress_samples(time_ms);";

int fx_reg__db_error(struct fx_store *st, const char *what, struct fx_err *err)
{
    return FX_ERR_SET(err, FX_EIO, "registry: %s: %s: %s", fx_store_path(st), what,
                      sqlite3_errmsg(fx_store_db(st)));
}

int fx_reg__schema(struct fx_store *st, struct fx_err *err)
{
    if (sqlite3_exec(fx_store_db(st), schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        return fx_reg__db_error(st, "cannot create the registry tables", err);
    return 0;
}

int fx_reg__begin(struct fx_store *st, struct fx_err *err)
{
    if (sqlite3_exec(fx_store_db(st), "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fx_reg__db_error(st, "cannot begin a transaction", err);
    return 0;
}

int fx_reg__commit(struct fx_store *st, struct fx_err *err)
{
    if (sqlite3_exec(fx_store_db(st), "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = fx_reg__db_error(st, "cannot commit", err);
        fx_reg__rollback(st);
        return rc;
    }
    return 0;
}

void fx_reg__rollback(struct fx_store *st)
{
    /* Fails harmlessly when SQLite already rolled back on its own. */
    (void)sqlite3_exec(fx_store_db(st), "ROLLBACK", NULL, NULL, NULL);
}

uint64_t fx_reg__now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Read exactly `n` digits at *p into *v and advance. */
static bool take_digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

static bool take_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* Milliseconds of an optional ".fff..." fraction; extra digits truncated. */
static int take_fraction(const char **p)
{
    if (**p != '.')
        return 0;
    (*p)++;
    int ms = 0;
    int scale = 100;
    while (isdigit((unsigned char)**p)) {
        ms += (**p - '0') * scale;
        scale /= 10;
        (*p)++;
    }
    return ms;
}

/* Offset in seconds east of UTC of "Z", "+HH:MM" or "-HH:MM"; false if bad. */
static bool take_offset(const char **p, long *off)
{
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *off = 0;
        return true;
    }
    char sign = **p;
    if (sign != '+' && sign != '-')
        return false;
    (*p)++;
    int hh = 0;
    int mm = 0;
    if (!take_digits(p, 2, &hh) || !take_char(p, ':') || !take_digits(p, 2, &mm) || hh > 23 ||
        mm > 59)
        return false;
    *off = (sign == '-' ? -1L : 1L) * (hh * 3600L + mm * 60L);
    return true;
}

int fx_reg__parse_time(const char *s, uint64_t *ms)
{
    if (s == NULL)
        return FX_EINVAL;
    const char *p = s;
    int y = 0;
    int mo = 0;
    int d = 0;
    int h = 0;
    int mi = 0;
    int sec = 0;
    bool ok = take_digits(&p, 4, &y) && take_char(&p, '-') && take_digits(&p, 2, &mo) &&
              take_char(&p, '-') && take_digits(&p, 2, &d) &&
              (take_char(&p, 'T') || take_char(&p, 't') || take_char(&p, ' ')) &&
              take_digits(&p, 2, &h) && take_char(&p, ':') && take_digits(&p, 2, &mi) &&
              take_char(&p, ':') && take_digits(&p, 2, &sec);
    if (!ok || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return FX_EINVAL;
    int frac = take_fraction(&p);
    long off = 0;
    if (!take_offset(&p, &off) || *p != '\0')
        return FX_EINVAL;
    struct tm tm = { 0 };
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || (long long)t - off < 0)
        return FX_EINVAL;
    *ms = (uint64_t)((long long)t - off) * 1000u + (uint64_t)frac;
    return 0;
}

/* The build links no libm (Makefile LIBS), so rounding and the logarithm
 * below are done by hand; values stay far inside the exact range of a
 * 64-bit integer. */
bool fx_reg__integral(double v)
{
    return v > -9.0e15 && v < 9.0e15 && v == (double)(long long)v;
}

double fx_reg__round(double v, int digits)
{
    double f = 1.0;
    for (int i = 0; i < digits; i++)
        f *= 10.0;
    double x = v * f;
    if (!(x > -9.0e15 && x < 9.0e15))
        return v;
    long long r = (long long)(x + (x >= 0.0 ? 0.5 : -0.5));
    /* No "-0" in the output. */
    return r == 0 ? 0.0 : (double)r / f;
}

double fx_reg__log10(double x)
{
    if (!(x > 0.0))
        return 0.0;
    double k = 0.0;
    while (x >= 10.0) {
        x /= 10.0;
        k += 1.0;
    }
    while (x < 1.0) {
        x *= 10.0;
        k -= 1.0;
    }
    /* ln(x) = 2 atanh(z), z = (x - 1) / (x + 1) <= 9/11: the series
     * converges to double precision in under 100 terms. */
    double z = (x - 1.0) / (x + 1.0);
    double z2 = z * z;
    double term = z;
    double ln = 0.0;
    for (int n = 1; n < 400 && term > 1e-17; n += 2) {
        ln += term / n;
        term *= z2;
    }
    return k + 2.0 * ln / 2.302585092994045684;
}

json_t *fx_reg__json_num(double v)
{
    if (fx_reg__integral(v))
        return json_integer((json_int_t)v);
    return json_real(isfinite(v) ? v : 0.0);
}
