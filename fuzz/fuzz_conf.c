/* libFuzzer target: the YAML configuration loader must reject or accept any
 * input without crashing, leaking or reading out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../src/conf/conf.h"
#include "../src/core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fx_conf *c = NULL;
    struct fx_err err = { 0 };
    int rc = fx_conf_load_string("fuzz.yaml", (const char *)data, size, &c, &err);
    if (rc == 0) {
        /* Exercise the dump too: it walks every field of the snapshot. */
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull != NULL) {
            (void)fx_conf_dump_json(c, devnull);
            (void)fclose(devnull);
        }
        fx_conf_unref(c);
    } else if (err.msg[sizeof(err.msg) - 1] != '\0' || strlen(err.msg) == 0) {
        __builtin_trap(); /* every failure must carry a terminated message */
    }
    return 0;
}
