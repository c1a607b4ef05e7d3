/*
 * fuzz_build_write.c - libFuzzer target: build and edit a record as the
 * input program says, serialise it in every format, read the ISO 2709
 * back: no crash, every output well-formed, read = built (buildcheck.h).
 */
#include <stdint.h>
#include "buildcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return bc_run(data, size);
}
