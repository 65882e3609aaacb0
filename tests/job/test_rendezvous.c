/* The rendezvous library (pennant/rendezvous.h): the file round trip, stale files of
 * another job or of an earlier run, the parser's refusals, the environment, the
 * advertised address of a wildcard listener. */
#include "pennant/rendezvous.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/pn-rdv-test-XXXXXX");
	cr_assert(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

TestSuite(rendezvous, .init = make_dir, .fini = remove_dir);

Test(rendezvous, file_round_trip_then_removed)
{
	char path[128], addr[PN_RENDEZVOUS_ADDR_MAX], err[512];
	snprintf(path, sizeof path, "%s/agg", dir);
	cr_assert_eq(pn_rendezvous_file_publish(path, "job-42.0", "10.1.2.3:7470", err, sizeof err), 0, "%s", err);
	cr_assert_eq(pn_rendezvous_file_lookup(path, "job-42.0", now_s(), 1000, NULL, addr, sizeof addr, err,
					       sizeof err), 0, "%s", err);
	cr_assert_str_eq(addr, "10.1.2.3:7470");
	/* another job's address is left in place; ours is removed */
	cr_assert_eq(pn_rendezvous_file_remove(path, "job-43.0", "10.1.2.3:7470"), 1);
	cr_assert_eq(access(path, F_OK), 0);
	cr_assert_eq(pn_rendezvous_file_remove(path, "job-42.0", "10.1.2.3:7470"), 0);
	cr_assert_neq(access(path, F_OK), 0);
	cr_assert_eq(pn_rendezvous_file_remove(path, "job-42.0", "10.1.2.3:7470"), 1);
}

Test(rendezvous, another_jobs_file_is_not_taken)
{
	char path[128], addr[PN_RENDEZVOUS_ADDR_MAX] = "", err[512];
	snprintf(path, sizeof path, "%s/agg", dir);
	cr_assert_eq(pn_rendezvous_file_publish(path, "111", "127.0.0.1:9", err, sizeof err), 0);
	cr_assert_eq(pn_rendezvous_file_lookup(path, "222", now_s(), 300, NULL, addr, sizeof addr, err,
					       sizeof err), -ETIMEDOUT);
	cr_assert(strstr(err, path) && strstr(err, "wanted job 222") && strstr(err, "names job 111"), "%s", err);
	cr_assert_str_eq(addr, "");
	/* a job id never matches a file without one, and the other way round */
	cr_assert_eq(pn_rendezvous_file_lookup(path, NULL, now_s(), 200, NULL, addr, sizeof addr, err,
					       sizeof err), -ETIMEDOUT);
	cr_assert_eq(pn_rendezvous_file_publish(path, NULL, "127.0.0.1:9", err, sizeof err), 0);
	cr_assert_eq(pn_rendezvous_file_lookup(path, "222", now_s(), 200, NULL, addr, sizeof addr, err,
					       sizeof err), -ETIMEDOUT);
}

Test(rendezvous, without_a_job_id_an_old_file_is_stale)
{
	char path[128], addr[PN_RENDEZVOUS_ADDR_MAX], err[512];
	snprintf(path, sizeof path, "%s/agg", dir);
	cr_assert_eq(pn_rendezvous_file_publish(path, "", "127.0.0.1:9", err, sizeof err), 0);
	cr_assert_eq(pn_rendezvous_file_lookup(path, "", now_s(), 500, NULL, addr, sizeof addr, err,
					       sizeof err), 0, "%s", err);
	/* written long before this process started: an earlier job's */
	struct timespec old[2] = {{.tv_sec = time(NULL) - 3600}, {.tv_sec = time(NULL) - 3600}};
	cr_assert_eq(utimensat(AT_FDCWD, path, old, 0), 0);
	cr_assert_eq(pn_rendezvous_file_lookup(path, "", now_s(), 200, NULL, addr, sizeof addr, err,
					       sizeof err), -ETIMEDOUT);
	cr_assert(strstr(err, "before this process started"), "%s", err);
}

Test(rendezvous, missing_file_times_out_naming_it)
{
	char path[128], addr[PN_RENDEZVOUS_ADDR_MAX], err[512];
	snprintf(path, sizeof path, "%s/never", dir);
	cr_assert_eq(pn_rendezvous_file_lookup(path, "7", now_s(), 200, NULL, addr, sizeof addr, err,
					       sizeof err), -ETIMEDOUT);
	cr_assert(strstr(err, path) && strstr(err, "does not exist"), "%s", err);
	volatile sig_atomic_t stop = 1;
	cr_assert_eq(pn_rendezvous_file_lookup(path, "7", now_s(), 60000, &stop, addr, sizeof addr, err,
					       sizeof err), -EINTR);
}

Test(rendezvous, parser_refuses_malformed_files)
{
	char job[PN_RENDEZVOUS_JOB_MAX], addr[PN_RENDEZVOUS_ADDR_MAX];
	static const char *const bad[] = {
		"",
		"pennant-rendezvous 1\njob 5\naddr 1.2.3.4:80",        /* torn: no final newline */
		"pennant-rendezvous 2\njob 5\naddr 1.2.3.4:80\n",      /* another version */
		"pennant-rendezvous 1\naddr 1.2.3.4:80\njob 5\n",      /* keys out of order */
		"pennant-rendezvous 1\njob 5\naddr 1.2.3.4:80\nx\n",   /* trailing line */
		"pennant-rendezvous 1\njob 5 6\naddr 1.2.3.4:80\n",    /* not a token */
		"pennant-rendezvous 1\njob $(x)\naddr 1.2.3.4:80\n",
		"pennant-rendezvous 1\njob 5\naddr 1.2.3.4\n",         /* no port */
		"pennant-rendezvous 1\njob 5\naddr 1.2.3.4:65536\n",
		"pennant-rendezvous 1\njob 5\naddr :80\n",
		"pennant-rendezvous 1\njob 5\naddr a b:80\n",
		"pennant-rendezvous 1\njob 5\naddr [::1:80\n",
		"pennant-rendezvous 1\njob\naddr 1.2.3.4:80\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		cr_assert_eq(pn_rendezvous_parse(bad[i], strlen(bad[i]), job, sizeof job, addr, sizeof addr),
			     -EINVAL, "accepted case %zu", i);
	static const char nul[] = "pennant-rendezvous 1\njob 5\0\naddr 1.2.3.4:80\n";
	cr_assert_eq(pn_rendezvous_parse(nul, sizeof nul - 1, job, sizeof job, addr, sizeof addr), -EINVAL);
	static const char v6[] = "pennant-rendezvous 1\njob -\naddr [fe80::1%eth0]:7470\n";
	cr_assert_eq(pn_rendezvous_parse(v6, sizeof v6 - 1, job, sizeof job, addr, sizeof addr), 0);
	cr_assert_str_eq(job, "");
	cr_assert_str_eq(addr, "[fe80::1%eth0]:7470");
	char small[4];
	cr_assert_eq(pn_rendezvous_parse(v6, sizeof v6 - 1, job, sizeof job, small, sizeof small), -ENOSPC);
}

Test(rendezvous, environment_and_job_id)
{
	char addr[PN_RENDEZVOUS_ADDR_MAX], err[256], id[PN_RENDEZVOUS_JOB_MAX];
	unsetenv(PN_RENDEZVOUS_ENV);
	cr_assert_eq(pn_rendezvous_from_env(addr, sizeof addr, err, sizeof err), 0);
	setenv(PN_RENDEZVOUS_ENV, "node17:7470", 1);
	cr_assert_eq(pn_rendezvous_from_env(addr, sizeof addr, err, sizeof err), 1);
	cr_assert_str_eq(addr, "node17:7470");
	setenv(PN_RENDEZVOUS_ENV, "node17", 1);
	cr_assert_eq(pn_rendezvous_from_env(addr, sizeof addr, err, sizeof err), -EINVAL);
	cr_assert(strstr(err, PN_RENDEZVOUS_ENV), "%s", err);

	static const char *const vars[] = {"PENNANT_JOB_ID", "SLURM_JOB_ID", "SLURM_STEP_ID", "PMIX_NAMESPACE",
					   "OMPI_MCA_ess_base_jobid"};
	for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
		unsetenv(vars[i]);
	cr_assert_null(pn_rendezvous_job_id(id, sizeof id));
	cr_assert_str_eq(id, "");
	setenv("SLURM_JOB_ID", "4242", 1);
	setenv("SLURM_STEP_ID", "3", 1);
	cr_assert_str_eq(pn_rendezvous_job_id(id, sizeof id), "SLURM_JOB_ID");
	cr_assert_str_eq(id, "4242.3");
	/* mpirun inside an allocation: PMIx's id, which every rank has, wins */
	setenv("OMPI_MCA_ess_base_jobid", "1895563265", 1);
	cr_assert_str_eq(pn_rendezvous_job_id(id, sizeof id), "OMPI_MCA_ess_base_jobid");
	cr_assert_str_eq(id, "1895563265");
	setenv("PMIX_NAMESPACE", "slurm.pmix.4242.3", 1);
	cr_assert_str_eq(pn_rendezvous_job_id(id, sizeof id), "PMIX_NAMESPACE");
	cr_assert_str_eq(id, "slurm.pmix.4242.3");
	setenv("PENNANT_JOB_ID", "bad id/..", 1);
	cr_assert_null(pn_rendezvous_job_id(id, sizeof id));
	setenv("PENNANT_JOB_ID", "run-9", 1);
	cr_assert_str_eq(pn_rendezvous_job_id(id, sizeof id), "PENNANT_JOB_ID");
	cr_assert_str_eq(id, "run-9");
}

Test(rendezvous, wildcard_listener_is_advertised_by_host_name)
{
	char host[256], want[300], out[PN_RENDEZVOUS_ADDR_MAX], err[256];
	cr_assert_eq(gethostname(host, sizeof host), 0);
	snprintf(want, sizeof want, "%s:41000", host);
	cr_assert_eq(pn_rendezvous_advertised("0.0.0.0:41000", out, sizeof out, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(out, want);
	cr_assert_eq(pn_rendezvous_advertised("[::]:41000", out, sizeof out, err, sizeof err), 0);
	cr_assert_str_eq(out, want);
	cr_assert_eq(pn_rendezvous_advertised("127.0.0.1:5", out, sizeof out, err, sizeof err), 0);
	cr_assert_str_eq(out, "127.0.0.1:5");
	cr_assert_eq(pn_rendezvous_advertised("nonsense", out, sizeof out, err, sizeof err), -EINVAL);
}
