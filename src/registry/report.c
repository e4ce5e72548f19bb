/* `ficus report`: scaffold, replaced by the report implementation. */
#include "registry.h"

int fx_reg_report_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    (void)fputs("ficus report: not built yet\n", stderr);
    return 1;
}
