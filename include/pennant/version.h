/* Pennant's version. */
#ifndef PENNANT_VERSION_H
#define PENNANT_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version string, e.g. "0.1.0" (the version it was built as, which may
 * differ from the headers a program was compiled against). */
const char *pn_version(void);

#ifdef __cplusplus
}
#endif
#endif
