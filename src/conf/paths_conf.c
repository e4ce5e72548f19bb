/* The `paths` section: how request paths are normalised before routing. */
#include <stdbool.h>
#include <stddef.h>

#include "../http/http_types.h"
#include "conf_int.h"
#include "conf_types.h"
#include "schema.h"

#define PATHKEY(k, member, text)                                                           \
    {                                                                                      \
        .name = (k), .type = FX_CONF_T_BOOL, FX_CONF_MEMBER(struct fx_conf_paths, member), \
        .max = 1, .def = 1, .doc = (text)                                                  \
    }

static const struct fx_conf_key paths_keys[] = {
    PATHKEY("merge_slashes", merge_slashes, "Runs of `/` become one."),
    PATHKEY("decode_unreserved", decode_unreserved,
            "`%XX` of an unreserved character (`A-Z a-z 0-9 - . _ ~`, RFC 3986 §2.3) is decoded; "
            "every other `%XX` is kept with its hex digits in upper case, so `%2f` stays an "
            "encoded slash `%2F` and never separates segments. A `%` not followed by two hex "
            "digits gets a **400**. Off: `%` is an ordinary byte."),
    PATHKEY("resolve_dots", resolve_dots,
            "`.` and `..` segments are removed (RFC 3986 §5.2.4), also those produced by "
            "decoding (`%2e%2e`); a path ending in one keeps a trailing `/`. A `..` that would "
            "climb above `/` gets a **400**."),
};

/* FX_H1_PATH_* bits of the three keys, for fx_h1_path_normalize(). */
static void paths_finish(void *obj)
{
    struct fx_conf_paths *p = obj;
    p->flags = (p->merge_slashes ? FX_H1_PATH_MERGE_SLASHES : 0u) |
               (p->decode_unreserved ? FX_H1_PATH_DECODE : 0u) |
               (p->resolve_dots ? FX_H1_PATH_DOTS : 0u);
}

FX_CONF_SECTION(fx_conf_paths_section, "paths", paths_keys, paths_finish);
