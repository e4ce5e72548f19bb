/* `ficus debt`: scaffold, replaced by the registry implementation. */
#include "registry.h"

int fx_reg_debt_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    (void)fputs("ficus debt: not built yet\n", stderr);
    return 1;
}
