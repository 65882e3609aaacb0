/* .npy with half elements: '<f2' (fp16) and Pennant's bf16 convention [('bf16', '<u2')]
 * round-trip through write/map/read; the float32-only readers refuse them; descrs that
 * are not one of the three (plain '<u2', big-endian, float64) are refused by the typed
 * readers; a half file's data length is checked at two bytes per element. */
#include "helpers.h"
#include "pennant/npy.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *temp_path(void)
{
	const char *path = npy_temp_path();
	cr_assert(path, "cannot create a temporary file");
	return path;
}

static void round_trip(pn_dtype t, const char *descr)
{
	const char *path = temp_path();
	float v[15];
	uint16_t h[15];
	for (int i = 0; i < 15; i++)
		v[i] = (float)i * 0.37f - 2.0f;
	pn_f32_to_half(t, h, v, 15);
	size_t shape[2] = {3, 5};
	char err[256];
	cr_assert_eq(pn_npy_write_typed(path, h, t, shape, 2, err, sizeof err), 0, "%s", err);
	/* the header carries the descr NumPy understands */
	FILE *f = fopen(path, "rb");
	char hdr[129] = {0};
	cr_assert(f && fread(hdr, 1, 128, f) == 128);
	fclose(f);
	cr_expect(strstr(hdr + 10, descr), "header %s lacks %s", hdr + 10, descr);

	pn_npy_map m;
	cr_assert_eq(pn_npy_map_typed(path, &m, err, sizeof err), 0, "%s", err);
	cr_expect_eq(m.dtype, t);
	cr_expect_eq(m.ndim, 2);
	cr_expect_eq(m.shape[0], 3);
	cr_expect_eq(m.shape[1], 5);
	cr_expect_null(m.data, "no float view of half data");
	cr_expect_arr_eq(m.raw, h, sizeof h);
	pn_npy_unmap(&m);

	void *data;
	pn_dtype got;
	size_t sh[PN_NPY_MAX_DIMS];
	int nd;
	cr_assert_eq(pn_npy_read_typed(path, &data, &got, sh, &nd, err, sizeof err), 0, "%s", err);
	cr_expect_eq(got, t);
	cr_expect_arr_eq(data, h, sizeof h);
	free(data);

	cr_expect_neq(pn_npy_map_f32(path, &m, err, sizeof err), 0);
	cr_expect(strstr(err, "wrong dtype"), "%s", err);
	float *fd;
	cr_expect_neq(pn_npy_read_f32(path, &fd, sh, &nd, err, sizeof err), 0);
	unlink(path);
}

Test(npy_half, f16_round_trip)
{
	round_trip(PN_DTYPE_F16, "'descr': '<f2'");
}

Test(npy_half, bf16_round_trip)
{
	round_trip(PN_DTYPE_BF16, "'descr': [('bf16', '<u2')]");
}

Test(npy_half, typed_reader_still_reads_f32)
{
	const char *path = temp_path();
	float v[4] = {1, -2, 3.5f, 0};
	size_t shape[1] = {4};
	char err[256];
	cr_assert_eq(pn_npy_write_f32(path, v, shape, 1, err, sizeof err), 0);
	pn_npy_map m;
	cr_assert_eq(pn_npy_map_typed(path, &m, err, sizeof err), 0, "%s", err);
	cr_expect_eq(m.dtype, PN_DTYPE_F32);
	cr_expect_arr_eq(m.data, v, sizeof v);
	pn_npy_unmap(&m);
	unlink(path);
}

Test(npy_half, other_descrs_and_short_data_are_refused)
{
	static const struct npy_bad_case bad[] = {
		{"{'descr': '<u2', 'fortran_order': False, 'shape': (4,), }", 8, "wrong dtype '<u2'"},
		{"{'descr': '>f2', 'fortran_order': False, 'shape': (4,), }", 8, "wrong dtype"},
		{"{'descr': [('x', '<u2')], 'fortran_order': False, 'shape': (4,), }", 8, "wrong dtype"},
		{"{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", 32, "wrong dtype"},
		{"{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", 6, "truncated"},
		{"{'descr': [('bf16', '<u2')], 'fortran_order': False, 'shape': (4,), }", 10, "trailing"},
	};
	unsigned char data[64] = {0}, img[512];
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		size_t n = npy_image(img, bad[i].dict, data, bad[i].dlen, 1);
		void *out;
		pn_dtype t;
		size_t sh[PN_NPY_MAX_DIMS];
		int nd;
		char err[256] = "";
		cr_expect_eq(pn_npy_parse_typed(img, n, &out, &t, sh, &nd, err, sizeof err), -EINVAL,
			     "%s accepted", bad[i].dict);
		cr_expect(strstr(err, bad[i].expect), "%s: message '%s' lacks '%s'", bad[i].dict, err,
			  bad[i].expect);
	}
}
