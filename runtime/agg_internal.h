#include "agg/agg_internal.h"
