/*
 * core_includes_stages_private.c - layering probe (test/CMakeLists.txt):
 * with core's flags, a private stages/src header must not be found.
 */
#include "marc.h"

int mp__probe_core_includes_stages_private(void);

int mp__probe_core_includes_stages_private(void)
{
    return MP_OK;
}
