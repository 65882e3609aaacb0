/* Version and provenance of the tools: `<prog> --version`, and the "pennant" block of
 * every JSON record. */
#ifndef PENNANT_TOOLS_VERSION_H
#define PENNANT_TOOLS_VERSION_H

#include <stdio.h>

const char *pn_tools_version(void); /* project version, e.g. "0.1.0" */
const char *pn_tools_commit(void);  /* git describe of the build tree, "unknown" outside git */
/* Prints "<prog> <version> (<commit>)\n". */
void pn_tools_print_version(FILE *f, const char *prog);

#endif
