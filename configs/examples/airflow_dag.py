"""Airflow DAG running batchscore for each scheduled date.

batchscore's logical date is the day of the fire time (cron, the daemon and
the Kubernetes example agree). Airflow 2's cron timetable makes {{ ds }} the
start of the data interval, the day before; the DAG passes the end of the
interval instead, which is the fire date on Airflow 2 and 3 alike.

batchscore's exit codes tell Airflow what to do:
  0    success, or the date is already current (a no-op): the task succeeds
  1    I/O, database, runtime failure: retry
  2    job-file or model error: fail without retrying, fix the job file
  3    the data failed its checks (report and manifest say why): fail without retrying
  4    another execution of the same job and date is running: retry later
  130  interrupted: retry
A rerun of a date that already succeeded is a no-op, so Airflow's retries and
`airflow tasks clear` are safe.

The job file is churn_nightly_s3.yaml from this folder, installed on every
worker as JOB with its model and baseline (the worker image). Its snapshot
and result table are on S3: a task may run on any worker, and a retry on
another one sees the same history. A local table would be on whichever
worker ran the task, and "already current" would not hold.
"""
import subprocess
from datetime import datetime, timedelta

from airflow import DAG
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.operators.python import PythonOperator

JOB = "/opt/batchscore/jobs/churn_nightly_s3.yaml"


def score(data_interval_end, **_):
    date = data_interval_end.strftime("%Y-%m-%d")
    code = subprocess.run(
        ["batchscore", "run", JOB, "--date", date, "--trigger", "schedule"],
        stdin=subprocess.DEVNULL,
    ).returncode
    if code in (2, 3):
        raise AirflowFailException(f"batchscore exited {code}: fix the job file or the data; not retrying")
    if code != 0:
        raise AirflowException(f"batchscore exited {code}: will retry")


with DAG(
    dag_id="churn_nightly",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=True,
    max_active_runs=2,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=10)},
) as dag:
    PythonOperator(task_id="score", python_callable=score)
