/* The commit comes from build/tools/common/pennant_commit.h, which meson's vcs_tag
 * regenerates on every build; only this file depends on it. */
#include "version.h"

#include "pennant_commit.h"
#include "pennant_config.h"

const char *pn_tools_version(void)
{
	return PN_VERSION;
}

const char *pn_tools_commit(void)
{
	return PN_GIT_COMMIT;
}

void pn_tools_print_version(FILE *f, const char *prog)
{
	fprintf(f, "%s %s (%s)\n", prog, PN_VERSION, PN_GIT_COMMIT);
}
