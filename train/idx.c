/* IDX file loading (the MNIST family's format), gzip or raw, through zlib. */
#include "pennant/train.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void errf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t len, const char *fmt, ...)
{
	if (!err || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* Reads exactly n bytes; -1 on short read (truncated or corrupt gzip). */
static int read_exact(gzFile f, void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		unsigned chunk = n > (1u << 30) ? 1u << 30 : (unsigned)n;
		int got = gzread(f, p, chunk);
		if (got <= 0)
			return -1;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Opens an IDX file of unsigned bytes with `ndims` dimensions; fills dims. */
static gzFile open_idx(const char *path, int ndims, uint32_t *dims, char *err, size_t errlen)
{
	gzFile f = gzopen(path, "rb");
	if (!f) {
		errf(err, errlen, "%s: %s", path, errno ? strerror(errno) : "cannot open");
		return NULL;
	}
	unsigned char hdr[4 + 4 * 3];
	if (read_exact(f, hdr, 4 + 4 * (size_t)ndims) != 0) {
		errf(err, errlen, "%s: truncated or corrupt IDX header", path);
		gzclose(f);
		return NULL;
	}
	if (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] != ndims) {
		errf(err, errlen, "%s: not an IDX%d unsigned-byte file (magic %02x%02x%02x%02x)", path,
		     ndims, hdr[0], hdr[1], hdr[2], hdr[3]);
		gzclose(f);
		return NULL;
	}
	for (int i = 0; i < ndims; i++) {
		dims[i] = be32(hdr + 4 + 4 * i);
		if (dims[i] == 0 || dims[i] > 10000000) {
			errf(err, errlen, "%s: implausible dimension %u", path, dims[i]);
			gzclose(f);
			return NULL;
		}
	}
	return f;
}

int pn_dataset_load_idx(const char *images, const char *labels, pn_dataset *ds, char *err,
			size_t errlen)
{
	memset(ds, 0, sizeof *ds);
	uint32_t di[3], dl[1];
	gzFile fi = open_idx(images, 3, di, err, errlen);
	if (!fi)
		return -EINVAL;
	gzFile fl = open_idx(labels, 1, dl, err, errlen);
	if (!fl) {
		gzclose(fi);
		return -EINVAL;
	}
	int rc = -EINVAL;
	unsigned char *raw = NULL;
	if (di[0] != dl[0]) {
		errf(err, errlen, "%s has %u images but %s has %u labels", images, di[0], labels, dl[0]);
		goto out;
	}
	size_t n = di[0], dim = (size_t)di[1] * di[2];
	if (dim > 1u << 20) {
		errf(err, errlen, "%s: images of %ux%u are too large", images, di[1], di[2]);
		goto out;
	}
	raw = malloc(n * dim);
	ds->x = malloc(sizeof(float) * n * dim);
	ds->y = malloc(n);
	if (!raw || !ds->x || !ds->y) {
		errf(err, errlen, "out of memory for %zu images", n);
		rc = -ENOMEM;
		goto out;
	}
	if (read_exact(fi, raw, n * dim) != 0) {
		errf(err, errlen, "%s: truncated or corrupt image data", images);
		goto out;
	}
	if (read_exact(fl, ds->y, n) != 0) {
		errf(err, errlen, "%s: truncated or corrupt label data", labels);
		goto out;
	}
	int maxl = 0;
	for (size_t k = 0; k < n; k++)
		maxl = ds->y[k] > maxl ? ds->y[k] : maxl;
	if (maxl > 99) {
		errf(err, errlen, "%s: label %d out of range", labels, maxl);
		goto out;
	}
	for (size_t k = 0; k < n * dim; k++)
		ds->x[k] = raw[k] * (1.0f / 255.0f);
	ds->n = (int)n;
	ds->dim = (int)dim;
	ds->classes = maxl + 1;
	rc = 0;
out:
	free(raw);
	gzclose(fi);
	gzclose(fl);
	if (rc != 0)
		pn_dataset_free(ds);
	return rc;
}

int pn_fmnist_load(const char *dir, int train, pn_dataset *ds, char *err, size_t errlen)
{
	char im[4096], lb[4096];
	const char *pre = train ? "train" : "t10k";
	snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte.gz", dir, pre);
	snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte.gz", dir, pre);
	int rc = pn_dataset_load_idx(im, lb, ds, err, errlen);
	if (rc == 0 && (ds->dim != 784 || ds->classes > 10)) {
		errf(err, errlen, "%s: not Fashion-MNIST (%d features, %d classes)", dir, ds->dim,
		     ds->classes);
		pn_dataset_free(ds);
		return -EINVAL;
	}
	return rc;
}

void pn_dataset_free(pn_dataset *ds)
{
	free(ds->x);
	free(ds->y);
	memset(ds, 0, sizeof *ds);
}
