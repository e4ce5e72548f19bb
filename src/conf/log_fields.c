/* The access log's field names (log.fields): lookup and did-you-mean. Kept
 * apart from conf.c so that the section parser there stays one helper. */
#include <string.h>

#include "conf.h"

static const char *const names[FX_CONF_LOG_NFIELDS] = {
#define FX_CONF_LOG_NAME(e, name) name,
    FX_CONF_LOG_FIELDS(FX_CONF_LOG_NAME)
#undef FX_CONF_LOG_NAME
};

const char *fx_conf_log_field_name(enum fx_conf_log_field f)
{
    return (unsigned int)f < FX_CONF_LOG_NFIELDS ? names[f] : "";
}

/* Levenshtein distance of a and b, both at most 63 bytes (longer: 64). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            best = row[j] + 1 < best ? row[j] + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

int fx_conf_log_field_find(const char *name, const char **suggest)
{
    size_t best = SIZE_MAX;
    *suggest = NULL;
    for (size_t i = 0; i < FX_CONF_LOG_NFIELDS; i++) {
        if (strcmp(name, names[i]) == 0) {
            *suggest = NULL;
            return (int)i;
        }
        size_t d = edit_distance(name, names[i]);
        /* "useragent" and "agent" should still find user_agent: a name that
         * contains the input (or the reverse) is a good guess too. */
        if (strlen(name) >= 4 && (strstr(names[i], name) != NULL || strstr(name, names[i]) != NULL))
            d = d < 2 ? d : 2;
        if (d < best) {
            best = d;
            *suggest = names[i];
        }
    }
    size_t len = strlen(name);
    if (best > 3 || best * 2 > len)
        *suggest = NULL;
    return -1;
}
