#include "pennant/version.h"
#include "pennant_config.h"

const char *pn_version(void)
{
	return PN_VERSION;
}
