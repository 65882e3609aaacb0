/* The register tiles of the Gram kernels (gram_kernel.c, gram_kernel_f32.c): an R×4 tile
 * keeps one accumulator a<i><j> per row pair, row registers x0..x(R-1), and one column
 * register y. The kernels differ only in vector type and intrinsics, passed in as LOAD
 * and FMA (and HSUM for the final sums); the macros spell out the unrolled steps so the
 * accumulators stay named registers. */
#ifndef PENNANT_AGG_GRAM_TILE_H
#define PENNANT_AGG_GRAM_TILE_H

/* Column j of the tile: y = LOAD(yp), then a<i>j += x<i>·y for the tile's rows. */
#define GRAM_COL2(LOAD, FMA, yp, j)                                                           \
	y = LOAD(yp);                                                                          \
	a0##j = FMA(x0, y, a0##j);                                                             \
	a1##j = FMA(x1, y, a1##j)
#define GRAM_COL3(LOAD, FMA, yp, j)                                                           \
	GRAM_COL2(LOAD, FMA, yp, j);                                                           \
	a2##j = FMA(x2, y, a2##j)
#define GRAM_COL4(LOAD, FMA, yp, j)                                                           \
	GRAM_COL3(LOAD, FMA, yp, j);                                                           \
	a3##j = FMA(x3, y, a3##j)

/* The four columns of one step (column vectors of type VT), COL being GRAM_COL2/3/4 for
 * the tile's rows. */
#define GRAM_TILE_STEP(VT, COL, LOAD, FMA, y0, y1, y2, y3)                                    \
	do {                                                                                   \
		VT y;                                                                          \
		COL(LOAD, FMA, y0, 0);                                                         \
		COL(LOAD, FMA, y1, 1);                                                         \
		COL(LOAD, FMA, y2, 2);                                                         \
		COL(LOAD, FMA, y3, 3);                                                         \
	} while (0)

/* Row i of the tile into acc: acc[i][j] += HSUM(a<i>j) for the four columns. */
#define GRAM_ROW_SUM(HSUM, i)                                                                 \
	do {                                                                                   \
		acc[i][0] += HSUM(a##i##0);                                                    \
		acc[i][1] += HSUM(a##i##1);                                                    \
		acc[i][2] += HSUM(a##i##2);                                                    \
		acc[i][3] += HSUM(a##i##3);                                                    \
	} while (0)

/* All rows of a 2-, 3- or 4-row tile into acc. */
#define GRAM_TILE_SUM2(HSUM) GRAM_ROW_SUM(HSUM, 0); GRAM_ROW_SUM(HSUM, 1)
#define GRAM_TILE_SUM3(HSUM) GRAM_TILE_SUM2(HSUM); GRAM_ROW_SUM(HSUM, 2)
#define GRAM_TILE_SUM4(HSUM) GRAM_TILE_SUM3(HSUM); GRAM_ROW_SUM(HSUM, 3)

#endif
