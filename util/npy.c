/* NumPy .npy float32 I/O. The header is a Python dict literal, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (15, 1000), }
 * padded with spaces and a newline so the data starts 64-byte aligned. */
#include "pennant/npy.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* Finds the value text that follows 'key': in the header dict. */
static const char *dict_value(const char *hdr, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "'%s'", key);
	const char *k = strstr(hdr, pat);
	if (!k)
		return NULL;
	k += strlen(pat);
	while (isspace((unsigned char)*k))
		k++;
	if (*k != ':')
		return NULL;
	k++;
	while (isspace((unsigned char)*k))
		k++;
	return k;
}

static int parse_shape(const char *v, size_t *shape, int *ndim)
{
	if (*v != '(')
		return -1;
	v++;
	int n = 0;
	for (;;) {
		while (isspace((unsigned char)*v))
			v++;
		if (*v == ')')
			break;
		if (!isdigit((unsigned char)*v) || n == PN_NPY_MAX_DIMS)
			return -1;
		char *end;
		errno = 0;
		unsigned long long x = strtoull(v, &end, 10);
		if (errno || x > SIZE_MAX / 4)
			return -1;
		shape[n++] = (size_t)x;
		v = end;
		while (isspace((unsigned char)*v))
			v++;
		if (*v == ',')
			v++;
		else if (*v != ')')
			return -1;
	}
	*ndim = n;
	return 0;
}

int pn_npy_parse_f32(const unsigned char *buf, size_t len, float **data,
		     size_t shape[PN_NPY_MAX_DIMS], int *ndim, char *err, size_t errlen)
{
	*data = NULL;
	if (len < 10 || memcmp(buf, MAGIC, sizeof MAGIC) != 0) {
		pn_errf(err, errlen, "not a .npy file (bad magic)");
		return -EINVAL;
	}
	unsigned major = buf[6];
	size_t hlen, hoff;
	if (major == 1) {
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
		hoff = 10;
	} else if (major == 2 || major == 3) {
		if (len < 12) {
			pn_errf(err, errlen, "truncated .npy header");
			return -EINVAL;
		}
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
		hoff = 12;
	} else {
		pn_errf(err, errlen, "unsupported .npy format version %u.%u", major, buf[7]);
		return -EINVAL;
	}
	if (hlen > len - hoff) {
		pn_errf(err, errlen, "truncated .npy header (%zu bytes declared, %zu present)", hlen,
			len - hoff);
		return -EINVAL;
	}
	char *hdr = malloc(hlen + 1);
	if (!hdr)
		return -ENOMEM;
	memcpy(hdr, buf + hoff, hlen);
	hdr[hlen] = 0;
	int rc = -EINVAL;
	const char *descr = dict_value(hdr, "descr");
	const char *fo = dict_value(hdr, "fortran_order");
	const char *sh = dict_value(hdr, "shape");
	if (!descr || !fo || !sh || hdr[0] != '{') {
		pn_errf(err, errlen, "malformed .npy header: need descr, fortran_order and shape");
		goto out;
	}
	if (strncmp(descr, "'<f4'", 5) != 0) {
		char got[16] = {0};
		for (int i = 0; i < 15 && descr[i] && descr[i] != ','; i++)
			got[i] = descr[i];
		pn_errf(err, errlen, "wrong dtype %s: expected float32 little-endian '<f4'", got);
		goto out;
	}
	if (strncmp(fo, "False", 5) != 0) {
		pn_errf(err, errlen, "Fortran-order arrays are not supported (save with C order)");
		goto out;
	}
	if (parse_shape(sh, shape, ndim) != 0) {
		pn_errf(err, errlen, "malformed shape in .npy header");
		goto out;
	}
	size_t count = 1;
	for (int i = 0; i < *ndim; i++) {
		if (shape[i] != 0 && count > SIZE_MAX / 4 / shape[i]) {
			pn_errf(err, errlen, "array too large");
			goto out;
		}
		count *= shape[i];
	}
	size_t have = len - hoff - hlen;
	if (have < count * 4) {
		pn_errf(err, errlen, "truncated .npy data: %zu bytes, shape needs %zu", have, count * 4);
		goto out;
	}
	if (have > count * 4) {
		pn_errf(err, errlen, ".npy has %zu trailing bytes after the data", have - count * 4);
		goto out;
	}
	*data = malloc(count ? count * 4 : 1);
	if (!*data) {
		rc = -ENOMEM;
		pn_errf(err, errlen, "out of memory for %zu floats", count);
		goto out;
	}
	memcpy(*data, buf + hoff + hlen, count * 4); /* x86-64 is little-endian like '<f4' */
	rc = 0;
out:
	free(hdr);
	return rc;
}

int pn_npy_read_f32(const char *path, float **data, size_t shape[PN_NPY_MAX_DIMS], int *ndim,
		    char *err, size_t errlen)
{
	*data = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		pn_errf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			unsigned char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				pn_errf(err, errlen, "%s: out of memory", path);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	int rd_err = ferror(f);
	fclose(f);
	if (rd_err) {
		free(buf);
		pn_errf(err, errlen, "%s: read error", path);
		return -EIO;
	}
	char msg[256];
	int rc = pn_npy_parse_f32(buf, len, data, shape, ndim, msg, sizeof msg);
	free(buf);
	if (rc != 0)
		pn_errf(err, errlen, "%s: %s", path, msg);
	return rc;
}

int pn_npy_write_f32(const char *path, const float *data, const size_t *shape, int ndim,
		     char *err, size_t errlen)
{
	if (ndim < 0 || ndim > PN_NPY_MAX_DIMS) {
		pn_errf(err, errlen, "bad number of dimensions %d", ndim);
		return -EINVAL;
	}
	char dict[512];
	int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
	size_t count = 1;
	for (int i = 0; i < ndim; i++) {
		n += snprintf(dict + n, sizeof dict - (size_t)n, "%zu%s", shape[i],
			      ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
		count *= shape[i];
	}
	n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
	/* Pad with spaces + newline so magic(6)+version(2)+len(2)+header is a multiple of 64. */
	size_t total = 10 + (size_t)n + 1;
	size_t pad = (64 - total % 64) % 64;
	size_t hlen = (size_t)n + pad + 1;
	FILE *f = fopen(path, "wb");
	if (!f) {
		int e = errno;
		pn_errf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
				 (unsigned char)(hlen >> 8)};
	int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
	for (size_t i = 0; ok && i < pad; i++)
		ok = fputc(' ', f) != EOF;
	ok = ok && fputc('\n', f) != EOF;
	ok = ok && fwrite(data, 4, count, f) == count;
	ok = (fclose(f) == 0) && ok;
	if (!ok) {
		pn_errf(err, errlen, "%s: write failed", path);
		return -EIO;
	}
	return 0;
}
