"""What the Python tests that launch jobs share: mpirun kept on loopback (the job, MPI's own
traffic and its out-of-band channel), and the environment with no launcher's variables (a
test may itself run inside a launched job), root allowed for mpirun."""
import os

MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root", "--mca", "btl", "self,tcp",
          "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]
LAUNCH_VARS = ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS",
               "SLURM_STEP_ID", "SLURM_JOB_ID", "PMIX_RANK", "PMIX_SIZE", "PMIX_NAMESPACE",
               "OMPI_MCA_ess_base_jobid", "PENNANT_JOB_ID", "PENNANT_AGGREGATOR")


def without_launcher(**extra):
    """os.environ less LAUNCH_VARS, root allowed for mpirun, plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    env.update(extra)
    return env
