/* Compatibility include for code that still includes "runtime/agg_internal.h": the
 * aggregation engine's internal header now lives in agg/. */
#include "agg/agg_internal.h"
