/* Rendezvous: how the workers of a job learn where their aggregator listens, without an
 * address on their command line. The aggregator publishes its bound address (port 0
 * resolved) once it listens; the workers look it up. Only the address travels this way:
 * the job secret never does (every peer still proves it holds the secret when it
 * connects, so a wrong or forged address costs a failed join, not the job).
 *
 * Two media live here (a launcher's own channel, such as MPI, is the application's):
 *   environment  PENNANT_AGGREGATOR=HOST:PORT given to every process (the aggregator
 *                listens there, the workers connect there; the port must be fixed);
 *   a file       on a filesystem every host shares. The aggregator writes it atomically
 *                (a temporary file, then rename) and removes it when it exits; workers
 *                poll until it exists and parses. Stale files: the file names the job
 *                (pn_rendezvous_job_id: the launcher's job id) and a worker takes only
 *                its own job's file. Without any job id the file says "job -" and a
 *                worker takes it only if it was written after the worker started, less
 *                PN_RENDEZVOUS_GRACE_S (clock skew, an aggregator that started first).
 *
 * File format (text, at most PN_RENDEZVOUS_FILE_MAX bytes):
 *   pennant-rendezvous 1
 *   job JOBID            (or "-")
 *   addr HOST:PORT
 */
#ifndef PENNANT_RENDEZVOUS_H
#define PENNANT_RENDEZVOUS_H

#include <signal.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PN_RENDEZVOUS_ENV "PENNANT_AGGREGATOR"
#define PN_RENDEZVOUS_ADDR_MAX 256
#define PN_RENDEZVOUS_JOB_MAX 128
#define PN_RENDEZVOUS_FILE_MAX 1024
#define PN_RENDEZVOUS_GRACE_S 120

/* This job's id from the launcher's environment, in this order: PENNANT_JOB_ID,
 * PMIX_NAMESPACE, OMPI_MCA_ess_base_jobid, SLURM_JOB_ID (with ".SLURM_STEP_ID" when set).
 * Writes it to buf and returns the variable's name; NULL (buf "") when none is set or the
 * value is not a plain token ([A-Za-z0-9._:@+-], shorter than PN_RENDEZVOUS_JOB_MAX). */
const char *pn_rendezvous_job_id(char *buf, size_t len);

/* The address to tell workers for the bound address `bound` (HOST:PORT, [V6]:PORT): a
 * wildcard host (0.0.0.0, [::], empty) becomes this host's name, which the workers
 * resolve. Returns 0, or -ENOSPC / -EINVAL (malformed `bound`) with a line in err. */
int pn_rendezvous_advertised(const char *bound, char *out, size_t len, char *err, size_t errlen);

/* PENNANT_AGGREGATOR when set: copies it to addr and returns 1; 0 when unset; -EINVAL with
 * a line in err when it is not HOST:PORT. */
int pn_rendezvous_from_env(char *addr, size_t len, char *err, size_t errlen);

/* Writes the file atomically (PATH.tmp.HOST.PID, fsync, rename over PATH). job_id NULL or
 * "": "job -". Returns 0 or -errno with a line in err naming the path. */
int pn_rendezvous_file_publish(const char *path, const char *job_id, const char *addr, char *err,
			       size_t errlen);

/* Parses a rendezvous file's bytes (not NUL-terminated). Returns 0 and fills job (the
 * file's job id, "" for "-") and addr; -EINVAL on anything malformed (wrong header,
 * missing or repeated key, a value that is not a plain token or HOST:PORT, NUL bytes,
 * over-long lines); -ENOSPC when a buffer is too small. */
int pn_rendezvous_parse(const char *text, size_t len, char *job, size_t joblen, char *addr, size_t addrlen);

/* Polls PATH every 100 ms until it holds this job's address, for up to timeout_ms (or
 * until *stop becomes nonzero; stop may be NULL). job_id NULL or "": no job id; then the
 * file must say "job -" and be modified no earlier than not_before - PN_RENDEZVOUS_GRACE_S
 * (not_before: the caller's start, seconds since the epoch). Returns 0 with the address;
 * -ETIMEDOUT (or -EINTR) with a line in err naming the path, the job id expected and what
 * the file held at the last look (missing, another job, unparsable, too old). */
int pn_rendezvous_file_lookup(const char *path, const char *job_id, double not_before, int timeout_ms,
			      const volatile sig_atomic_t *stop, char *addr, size_t addrlen, char *err,
			      size_t errlen);

/* Removes PATH if it still holds (job_id, addr), so a newer job's file is never removed.
 * Returns 0 when removed, 1 when left (someone else's, or gone), -errno on a failure. */
int pn_rendezvous_file_remove(const char *path, const char *job_id, const char *addr);

#ifdef __cplusplus
}
#endif
#endif
