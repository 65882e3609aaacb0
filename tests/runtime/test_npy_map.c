/* The mapped .npy reader: same header checks as the copying reader, rows straight from
 * the mapping, and a copy only when the header leaves the floats misaligned. */
#include "helpers.h"
#include "pennant/npy.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_file(const char *path, const void *buf, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert(f);
	cr_assert_eq(fwrite(buf, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

static const char *temp_path(void)
{
	const char *path = npy_temp_path();
	cr_assert(path, "cannot create a temporary file");
	return path;
}

Test(npy_map, maps_what_the_writer_wrote_without_a_copy)
{
	const char *path = temp_path();
	float v[12];
	for (int i = 0; i < 12; i++)
		v[i] = (float)i * 0.5f - 2.0f;
	size_t shape[2] = {3, 4};
	char err[256];
	cr_assert_eq(pn_npy_write_f32(path, v, shape, 2, err, sizeof err), 0, "%s", err);
	pn_npy_map m;
	cr_assert_eq(pn_npy_map_f32(path, &m, err, sizeof err), 0, "%s", err);
	cr_expect_eq(m.ndim, 2);
	cr_expect_eq(m.shape[0], 3);
	cr_expect_eq(m.shape[1], 4);
	cr_expect_arr_eq(m.data, v, sizeof v);
	cr_expect_null(m.copy, "aligned data must not be copied");
	uintptr_t lo = (uintptr_t)m.base, hi = lo + m.len, at = (uintptr_t)m.data;
	cr_expect(at > lo && at < hi, "data points into the mapping");
	pn_npy_unmap(&m);
	cr_expect_null(m.base);
	unlink(path);
}

Test(npy_map, misaligned_header_gets_an_aligned_copy)
{
	const char *path = temp_path();
	float v[6] = {1, 2, 3, 4, 5, -6.5f};
	unsigned char img[256];
	/* one extra space: the data starts at an odd offset */
	const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (6,),  }";
	size_t n = npy_image(img, dict, v, sizeof v, 1);
	cr_assert_neq((n - sizeof v) % 4, 0, "test needs a misaligned header");
	write_file(path, img, n);
	pn_npy_map m;
	char err[256];
	cr_assert_eq(pn_npy_map_f32(path, &m, err, sizeof err), 0, "%s", err);
	cr_expect_not_null(m.copy);
	cr_expect_eq((uintptr_t)m.data % sizeof(float), 0);
	cr_expect_arr_eq(m.data, v, sizeof v);
	pn_npy_unmap(&m);
	unlink(path);
}

Test(npy_map, malformed_files_are_rejected_like_the_reader_does)
{
	const char *path = temp_path();
	float v[6] = {0};
	unsigned char img[512];
	char err[256], err2[256];
	pn_npy_map m;
	for (size_t k = 0; k < npy_bad_case_count; k++) {
		const struct npy_bad_case *c = &npy_bad_cases[k];
		size_t n = npy_image(img, c->dict, v, c->dlen, 1);
		write_file(path, img, n);
		err[0] = 0;
		cr_expect_neq(pn_npy_map_f32(path, &m, err, sizeof err), 0, "case %zu", k);
		cr_expect_null(m.base, "case %zu: nothing stays mapped", k);
		cr_expect(strstr(err, c->expect) != NULL, "case %zu: '%s' lacks '%s'", k, err,
			  c->expect);
		/* the same message as the copying reader */
		float *r = NULL;
		size_t sh[PN_NPY_MAX_DIMS];
		int nd;
		cr_expect_neq(pn_npy_read_f32(path, &r, sh, &nd, err2, sizeof err2), 0);
		cr_expect_str_eq(err, err2, "case %zu", k);
	}
	write_file(path, "", 0);
	cr_expect_neq(pn_npy_map_f32(path, &m, err, sizeof err), 0);
	cr_expect(strstr(err, "magic") != NULL, "%s", err);
	write_file(path, "garbage!!!!!", 12);
	cr_expect_neq(pn_npy_map_f32(path, &m, err, sizeof err), 0);
	cr_expect(strstr(err, "magic") != NULL, "%s", err);
	unlink(path);
	cr_expect_neq(pn_npy_map_f32("/nonexistent/x.npy", &m, err, sizeof err), 0);
	cr_expect(strstr(err, "No such file") != NULL, "%s", err);
	cr_expect_neq(pn_npy_map_f32("/tmp", &m, err, sizeof err), 0);
}
