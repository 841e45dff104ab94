/* Dispatches to the committed vmlinux.h of the architecture being built for.
 * Regenerate with `cmake --build build --target vmlinux`. */
#if defined(__TARGET_ARCH_x86)
#include "x86/vmlinux.h"
#else
#error "guardrail: no vmlinux.h for this architecture; generate one under vmlinux/<arch>/"
#endif
