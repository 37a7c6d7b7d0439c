"""Airflow DAG running batchscore from the release archive on the workers.

Each worker has the archive unpacked at /opt/batchscore (README, Install:
the binary with ONNX Runtime next to it) and the job file
churn_nightly_s3.yaml from this folder at /opt/batchscore/jobs/, with the
model and the baseline it names under /opt/batchscore. A BashOperator runs
the binary; airflow_kubernetes_dag.py runs the image instead.

batchscore's logical date is the day of the fire time (cron, the daemon and
the Kubernetes example agree). Airflow 2's cron timetable makes {{ ds }} the
start of the data interval, the day before; the DAG passes the end of the
interval instead, which is the fire date on Airflow 2 and 3 alike.

batchscore's exit codes:
  0    success, or the date is already current (a no-op): the task succeeds
  1    I/O, database, runtime failure: retry
  2    job-file or model error: fix the job file
  3    the data failed its checks (report and manifest say why): fix the data
  4    another execution of the same job and date is running: retry later
  130  interrupted: retry
A BashOperator fails the task on any non-zero exit and Airflow retries it;
2 and 3 fail again the same way (harmless: a failed run publishes nothing).
A rerun of a date that already succeeded is a no-op, so retries and
`airflow tasks clear` are safe.

The snapshot and the result table are on S3: a task may run on any worker,
and a retry on another one sees the same history. A local table would be on
whichever worker ran the task, and "already current" would not hold.
Credentials come from the AWS SDK's default chain (the worker's instance
role); the command sets no other variable.
"""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

BATCHSCORE = "/opt/batchscore/batchscore"
JOB = "/opt/batchscore/jobs/churn_nightly_s3.yaml"

with DAG(
    dag_id="churn_nightly",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=True,
    max_active_runs=2,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=10)},
) as dag:
    BashOperator(
        task_id="score",
        bash_command=f"{BATCHSCORE} run {JOB} --date {{{{ data_interval_end | ds }}}} --trigger schedule",
    )
