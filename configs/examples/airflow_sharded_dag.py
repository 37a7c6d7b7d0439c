"""Airflow DAG scoring each night's snapshot in 4 shards, then committing them.

Dynamic task mapping runs `batchscore run --shard K/4` once per shard
(map_index K), each on its own worker; the commit task runs when all
succeeded and publishes the shards as one version. Shards publish nothing:
a reader sees the previous version until the commit's single step. The job
file is churn_nightly_s3.yaml from this folder (see airflow_dag.py): with
the table on S3, each shard uploads what it staged and the commit, on any
worker, downloads it, so workers share nothing but the bucket.

Exit codes, as for single runs: 0 success or already current; 1, 4 and 130
retry; 2 and 3 fail without retrying. A retried shard redoes the same rows
(the split is a pure function of the snapshot) and replaces what it staged;
a commit retried after it published is a no-op. The logical date is the end
of the data interval (see airflow_dag.py).
"""
import subprocess
from datetime import datetime, timedelta

from airflow import DAG
from airflow.decorators import task
from airflow.exceptions import AirflowException, AirflowFailException

JOB = "/opt/batchscore/jobs/churn_nightly_s3.yaml"
SHARDS = 4


def batchscore(*args):
    code = subprocess.run(["/opt/batchscore/batchscore", *args], stdin=subprocess.DEVNULL).returncode
    if code in (2, 3):
        raise AirflowFailException(f"batchscore exited {code}: fix the job file or the data; not retrying")
    if code != 0:
        raise AirflowException(f"batchscore exited {code}: will retry")


with DAG(
    dag_id="churn_nightly_sharded",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=True,
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=10)},
) as dag:

    @task
    def score_shard(shard, data_interval_end=None):
        date = data_interval_end.strftime("%Y-%m-%d")
        batchscore("run", JOB, "--date", date, "--shard", f"{shard}/{SHARDS}", "--trigger", "schedule")

    @task
    def commit(data_interval_end=None):
        date = data_interval_end.strftime("%Y-%m-%d")
        batchscore("commit", JOB, "--date", date, "--shards", str(SHARDS))

    score_shard.expand(shard=list(range(SHARDS))) >> commit()
