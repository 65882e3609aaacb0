/* NumPy .npy I/O of gradient arrays. The header is a Python dict literal, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (15, 1000), }
 * padded with spaces and a newline so the data starts 64-byte aligned. Element types:
 * '<f4' float32, '<f2' fp16, and bfloat16 as the structured type [('bf16', '<u2')]
 * (NumPy has no bfloat16; this descr loads in plain NumPy as the raw bits, see npy.h). */
#include "pennant/npy.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* The descr written and accepted for each pn_dtype. */
static const char *const DESCR[PN_DTYPE_COUNT_] = {
	[PN_DTYPE_F32] = "'<f4'", [PN_DTYPE_F16] = "'<f2'", [PN_DTYPE_BF16] = "[('bf16', '<u2')]"};

static int descr_dtype(const char *v)
{
	for (int t = 0; t < PN_DTYPE_COUNT_; t++)
		if (strncmp(v, DESCR[t], strlen(DESCR[t])) == 0)
			return t;
	return -1;
}

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

/* Validates the magic, version, header dict and data length of a .npy image; on success
 * *data_off is where the data starts and *dtype its element type (float32 only unless
 * any_dtype). */
static int parse_header(const unsigned char *buf, size_t len, bool any_dtype, pn_dtype *dtype,
			size_t *data_off, size_t shape[PN_NPY_MAX_DIMS], int *ndim, char *err,
			size_t errlen)
{
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
	int t = descr_dtype(descr);
	if (t < 0 || (!any_dtype && t != PN_DTYPE_F32)) {
		char got[24] = {0};
		char stop = descr[0] == '[' ? ']' : ',';
		for (int i = 0; i < 23 && descr[i] && descr[i] != stop; i++)
			got[i] = descr[i];
		if (any_dtype)
			pn_errf(err, errlen, "wrong dtype %s: expected '<f4', '<f2' or bf16 %s", got,
				DESCR[PN_DTYPE_BF16]);
		else
			pn_errf(err, errlen, "wrong dtype %s: expected float32 little-endian '<f4'", got);
		goto out;
	}
	*dtype = (pn_dtype)t;
	size_t es = pn_dtype_size(*dtype);
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
		if (shape[i] != 0 && count > SIZE_MAX / es / shape[i]) {
			pn_errf(err, errlen, "array too large");
			goto out;
		}
		count *= shape[i];
	}
	size_t have = len - hoff - hlen;
	if (have < count * es) {
		pn_errf(err, errlen, "truncated .npy data: %zu bytes, shape needs %zu", have, count * es);
		goto out;
	}
	if (have > count * es) {
		pn_errf(err, errlen, ".npy has %zu trailing bytes after the data", have - count * es);
		goto out;
	}
	*data_off = hoff + hlen;
	rc = 0;
out:
	free(hdr);
	return rc;
}

static size_t element_count(const size_t *shape, int ndim)
{
	size_t count = 1;
	for (int i = 0; i < ndim; i++)
		count *= shape[i]; /* parse_header checked the product */
	return count;
}

static int parse_any(const unsigned char *buf, size_t len, bool any_dtype, void **data,
		     pn_dtype *dtype, size_t shape[PN_NPY_MAX_DIMS], int *ndim, char *err,
		     size_t errlen)
{
	*data = NULL;
	size_t off;
	int rc = parse_header(buf, len, any_dtype, dtype, &off, shape, ndim, err, errlen);
	if (rc != 0)
		return rc;
	size_t bytes = element_count(shape, *ndim) * pn_dtype_size(*dtype);
	*data = malloc(bytes ? bytes : 1);
	if (!*data) {
		pn_errf(err, errlen, "out of memory for %zu bytes", bytes);
		return -ENOMEM;
	}
	memcpy(*data, buf + off, bytes); /* x86-64 is little-endian like '<f4' / '<f2' / '<u2' */
	return 0;
}

int pn_npy_parse_f32(const unsigned char *buf, size_t len, float **data,
		     size_t shape[PN_NPY_MAX_DIMS], int *ndim, char *err, size_t errlen)
{
	pn_dtype t;
	return parse_any(buf, len, false, (void **)data, &t, shape, ndim, err, errlen);
}

int pn_npy_parse_typed(const unsigned char *buf, size_t len, void **data, pn_dtype *dtype,
		       size_t shape[PN_NPY_MAX_DIMS], int *ndim, char *err, size_t errlen)
{
	return parse_any(buf, len, true, data, dtype, shape, ndim, err, errlen);
}

static int map_any(const char *path, bool any_dtype, pn_npy_map *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof *m);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		pn_errf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int e = errno ? errno : EINVAL;
		close(fd);
		pn_errf(err, errlen, "%s: not a regular file", path);
		return -e;
	}
	size_t len = (size_t)st.st_size;
	if (len < 10) { /* also keeps mmap away from an empty file */
		close(fd);
		pn_errf(err, errlen, "%s: not a .npy file (bad magic)", path);
		return -EINVAL;
	}
	/* MAP_POPULATE fills the page tables from the page cache in one go instead of one
	 * fault per 4 KiB page while the engine walks the rows. */
	void *base = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	int e = errno;
	close(fd);
	if (base == MAP_FAILED) {
		pn_errf(err, errlen, "%s: mmap: %s", path, strerror(e));
		return -e;
	}
	madvise(base, len, MADV_SEQUENTIAL);
	char msg[256];
	size_t off;
	int rc = parse_header(base, len, any_dtype, &m->dtype, &off, m->shape, &m->ndim, msg,
			      sizeof msg);
	if (rc != 0) {
		munmap(base, len);
		pn_errf(err, errlen, "%s: %s", path, msg);
		return rc;
	}
	m->base = base;
	m->len = len;
	size_t es = pn_dtype_size(m->dtype);
	if (off % es == 0) {
		m->raw = (const unsigned char *)base + off;
	} else {
		/* A header whose length is not a multiple of the element size (not written by
		 * NumPy): the elements are not aligned in the mapping, so they are copied once. */
		size_t bytes = element_count(m->shape, m->ndim) * es;
		m->copy = malloc(bytes ? bytes : 1);
		if (!m->copy) {
			pn_npy_unmap(m);
			pn_errf(err, errlen, "%s: out of memory for %zu bytes", path, bytes);
			return -ENOMEM;
		}
		memcpy(m->copy, (const unsigned char *)base + off, bytes);
		m->raw = m->copy;
	}
	m->data = m->dtype == PN_DTYPE_F32 ? m->raw : NULL;
	return 0;
}

int pn_npy_map_f32(const char *path, pn_npy_map *m, char *err, size_t errlen)
{
	return map_any(path, false, m, err, errlen);
}

int pn_npy_map_typed(const char *path, pn_npy_map *m, char *err, size_t errlen)
{
	return map_any(path, true, m, err, errlen);
}

void pn_npy_unmap(pn_npy_map *m)
{
	if (m->base)
		munmap(m->base, m->len);
	free(m->copy);
	memset(m, 0, sizeof *m);
}

static int read_any(const char *path, bool any_dtype, void **data, pn_dtype *dtype,
		    size_t shape[PN_NPY_MAX_DIMS], int *ndim, char *err, size_t errlen)
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
	int rc = parse_any(buf, len, any_dtype, data, dtype, shape, ndim, msg, sizeof msg);
	free(buf);
	if (rc != 0)
		pn_errf(err, errlen, "%s: %s", path, msg);
	return rc;
}

int pn_npy_read_f32(const char *path, float **data, size_t shape[PN_NPY_MAX_DIMS], int *ndim,
		    char *err, size_t errlen)
{
	pn_dtype t;
	return read_any(path, false, (void **)data, &t, shape, ndim, err, errlen);
}

int pn_npy_read_typed(const char *path, void **data, pn_dtype *dtype,
		      size_t shape[PN_NPY_MAX_DIMS], int *ndim, char *err, size_t errlen)
{
	return read_any(path, true, data, dtype, shape, ndim, err, errlen);
}

int pn_npy_write_f32(const char *path, const float *data, const size_t *shape, int ndim,
		     char *err, size_t errlen)
{
	return pn_npy_write_typed(path, data, PN_DTYPE_F32, shape, ndim, err, errlen);
}

int pn_npy_write_typed(const char *path, const void *data, pn_dtype dtype, const size_t *shape,
		       int ndim, char *err, size_t errlen)
{
	if (ndim < 0 || ndim > PN_NPY_MAX_DIMS) {
		pn_errf(err, errlen, "bad number of dimensions %d", ndim);
		return -EINVAL;
	}
	size_t es = pn_dtype_size(dtype);
	if (es == 0) {
		pn_errf(err, errlen, "unknown dtype %d", (int)dtype);
		return -EINVAL;
	}
	char dict[512];
	int n = snprintf(dict, sizeof dict, "{'descr': %s, 'fortran_order': False, 'shape': (",
			 DESCR[dtype]);
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
	ok = ok && fwrite(data, es, count, f) == count;
	ok = (fclose(f) == 0) && ok;
	if (!ok) {
		pn_errf(err, errlen, "%s: write failed", path);
		return -EIO;
	}
	return 0;
}
