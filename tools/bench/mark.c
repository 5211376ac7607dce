// SPDX-License-Identifier: GPL-2.0
/*
 * mark: execute the marker instruction that tools/insncount reports.
 *
 *   mark        xchg %bx,%bx  (66 87 db): the plugin prints its counters
 *   mark -p     xchg %cx,%cx  (66 87 c9): counters plus, with profile=on,
 *               a per-block profile since the previous "mark -p"
 *
 * Both are no-ops for the CPU; without the plugin this does nothing.
 * Linked statically so that the guest needs nothing but this file, and
 * kept tiny so that its own cost is small and the same every time.
 */
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "-p"))
		asm volatile("xchg %%cx, %%cx" ::: "memory");
	else
		asm volatile("xchg %%bx, %%bx" ::: "memory");
	return 0;
}
