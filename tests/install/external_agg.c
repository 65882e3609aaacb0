/* A program outside the repository: only agg.h and `pkg-config --cflags --libs pennant`.
 * Median of three workers over four coordinates; prints the output. */
#include <pennant/agg.h>

#include <stdio.h>

int main(void)
{
	const float x[3 * 4] = {1, 2, 3, 4, /* worker 0 */
				2, 3, 4, 5, /* worker 1 */
				100, -100, 100, -100 /* worker 2: an outlier */};
	float out[4];
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, 3, 4, (pn_rule)pn_rule_from_name("median"));
	cfg.threads = 1;
	char err[256];
	pn_agg_report rep;
	int rc = pn_aggregate(&cfg, x, out, &rep, NULL, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "pn_aggregate: %s\n", err);
		return 1;
	}
	for (int c = 0; c < 4; c++)
		printf("%s%g", c ? " " : "", out[c]);
	printf("\nused=%d status0=%s\n", rep.used, pn_agg_status_name(PN_AGG_USED));
	return 0;
}
