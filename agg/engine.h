/* The engine's state, shared by engine.c (round state, landing), engine_pool.c (the
 * persistent thread pool and its tasks) and engine_finish.c (solve, combine, checks). */
#ifndef PENNANT_AGG_ENGINE_H
#define PENNANT_AGG_ENGINE_H

#include "agg_internal.h"
#include "range_set.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum pn_task_kind {
	PN_TASK_GRAM = 1,  /* accumulate block b into the thread's partial Gram */
	PN_TASK_COORD,     /* coordinate-wise rule over block b */
	PN_TASK_CHECK,     /* NaN/Inf check of block b (fixed weights) */
	PN_TASK_COMBINE,   /* combination range t */
};

typedef struct pn_task {
	int kind;
	size_t arg;
} pn_task;

/* What one thread needs to process a task (pool threads, and the caller when inline). */
typedef struct pn_agg_scratch {
	const float **rows; /* p */
	int *ids;           /* p */
	uint64_t *cnt;      /* p */
	void *coord;        /* p × pn_coord_scratch_size() */
	double *G;          /* p×p partial Gram (Gram rules) */
	float *tile;        /* half rows: p × PN_AGG_BLOCK floats, one block widened */
	double busy_s;      /* time spent processing this round */
} pn_agg_scratch;

typedef struct pn_pool_thread {
	struct pn_agg *agg;
	pthread_t tid;
	pn_agg_scratch s;
} pn_pool_thread;

struct pn_agg {
	pn_agg_config cfg;          /* defaults resolved */
	const pn_rule_desc *rule;
	int p;
	size_t d, nblocks;
	int words;                  /* 64-bit words per participant mask */
	pn_dtype dtype;             /* cfg.grad_dtype */
	size_t esize;               /* bytes per element */
	float **rows;               /* float32 rows (NULL entries for half engines) */
	const uint16_t **hrows;     /* half rows (bf16/f16 engines) */
	void *owned;                /* storage when the caller gave no landing buffers */
	bool open;                  /* a round was started by reset */
	bool finished;

	uint32_t *landed;           /* p × nblocks: floats landed per (worker, block) */
	pn_range_set *ranges;       /* per worker: element ranges landed (refuses overlaps) */
	int32_t *missing;           /* per block: active workers not yet complete */
	uint8_t *state;             /* per block: 0 waiting, 1 queued/processed */
	uint64_t *mask;             /* per block: rows the block was processed with */
	uint32_t *used;             /* coordinate stage: p × nblocks usage counts */
	int *status;                /* per worker: pn_agg_worker_status */
	int *nonfinite_seen;        /* set by pool threads (atomic) */
	float *cout;                /* coordinate stage: output being built (cout_own or
				     * the caller's out, see pn_agg_output_direct) */
	float *cout_own;            /* allocated at the first reset that needs it */
	float *cout_direct;         /* one-shot: the caller's out, written block by block */
	pn_coord_params coord;

	/* pool (persistent across rounds) */
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	pn_task *queue;
	size_t qcap, qhead, qtail, pending;
	bool stop;
	int nthreads;               /* 0: tasks run inline on the caller */
	pn_pool_thread *threads;
	pn_agg_scratch inline_s;

	/* combination pass */
	pn_combine_coefs cf;
	size_t comb_per;
	float *comb_out;
	int comb_bad;               /* a range found a non-finite piece (atomic) */

	pn_agg_consumer consume;
	void *consume_ctx;
	pn_agg_weight_fn weight_fn;
	void *weight_ctx;
	double *fixed_w;
	bool have_fixed_w;

	/* finish scratch (length p or p×p) */
	int *ids, *selected;
	double *alpha, *score, *Gk, *norms;
	bool *usable;
	uint64_t *final_mask;

	/* results */
	double *G;                  /* final Gram, p×p full symmetric */
	double *weights, *scores;
	pn_agg_report rep;
	char err[256];
};

/* ---- engine.c ---- */
static inline bool pn_agg_active(const struct pn_agg *a, int i)
{
	return a->status[i] == PN_AGG_USED;
}
static inline uint64_t *pn_agg_block_mask(const struct pn_agg *a, size_t b)
{
	return a->mask + b * (size_t)a->words;
}
static inline bool pn_mask_has(const uint64_t *m, int i)
{
	return (m[i / 64] >> (i % 64)) & 1;
}
static inline void pn_mask_set(uint64_t *m, int i, bool on)
{
	if (on)
		m[i / 64] |= 1ull << (i % 64);
	else
		m[i / 64] &= ~(1ull << (i % 64));
}
size_t pn_agg_block_len(const struct pn_agg *a, size_t b);
/* Before reset: the coordinate stage writes its blocks straight into out (length d),
 * which finish then checks in place instead of copying it from the engine's buffer.
 * For the one-shot pn_aggregate, whose out is known before the first block is ready and
 * does not overlap the rows; out is then unspecified when finish fails. NULL: back to
 * the engine's own buffer. */
void pn_agg_output_direct(struct pn_agg *a, float *out);
/* Worker i leaves the round with status why: blocks that only waited for it get ready. */
void pn_agg_deactivate(struct pn_agg *a, int i, int why);

/* ---- engine_pool.c ---- */
int pn_pool_start(struct pn_agg *a, char *err, size_t errlen);
void pn_pool_stop(struct pn_agg *a);
int pn_scratch_init(pn_agg_scratch *s, int p, bool gram, bool half);
void pn_scratch_free(pn_agg_scratch *s);
/* Runs the task on the pool (or here when inline). */
void pn_pool_submit(struct pn_agg *a, int kind, size_t arg);
void pn_pool_wait_idle(struct pn_agg *a);
/* Sum of the partial Gram matrices into a->G (full symmetric). */
void pn_pool_collect_gram(struct pn_agg *a);
double pn_pool_busy_seconds(const struct pn_agg *a);
/* Clears per-round pool state (partial Grams, busy times). */
void pn_pool_reset(struct pn_agg *a);
/* out = Σ alpha_i rows_i on the pool; false if the output is not finite. */
bool pn_pool_combine(struct pn_agg *a, const double *alpha, float *out);

/* ---- engine_finish.c ---- */
int pn_agg_finish_rule(struct pn_agg *a, float *out);
/* pn_agg_settle / pn_agg_finish_shared past their argument checks (agg.h). */
int pn_agg_settle_rule(struct pn_agg *a, int *status, double *G);
int pn_agg_finish_shared_rule(struct pn_agg *a, const int *status, const double *G, float *out);

#endif
