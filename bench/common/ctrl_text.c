#include "ctrl_text.h"

#include <string.h>

void bench_ctrl_text(const pn_tp_completion *c, char text[PN_TP_CTRL_MAX + 1])
{
	size_t n = c->len < PN_TP_CTRL_MAX ? c->len : PN_TP_CTRL_MAX;
	memcpy(text, c->data, n);
	text[n] = '\0';
}
