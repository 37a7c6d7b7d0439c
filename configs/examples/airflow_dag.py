"""Airflow DAG running batchscore for each logical date ({{ ds }}).

batchscore's exit codes tell Airflow what to do:
  0    success, or the date is already current (a no-op): the task succeeds
  1    I/O, database, runtime failure: retry
  2    job-file or model error: do not retry, fix the job file
  3    the data failed its checks (report and manifest say why): do not retry
  4    another execution of the same job and date is running: retry later
  130  interrupted: retry
A rerun of a date that already succeeded is a no-op, so Airflow's retries and
`airflow tasks clear` are safe; `batchscore run --from/--to` backfills
outside Airflow too.
"""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.exceptions import AirflowFailException
from airflow.operators.bash import BashOperator

NO_RETRY = {2, 3}

with DAG(
    dag_id="churn_nightly",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=True,
    max_active_runs=2,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=10)},
) as dag:
    score = BashOperator(
        task_id="score",
        bash_command=(
            "batchscore run /opt/batchscore/configs/churn_nightly.yaml "
            "--date {{ ds }} --trigger schedule --json > /tmp/churn_{{ ds }}.json; "
            "code=$?; "
            # Exit 99 is Airflow's skip code; map 2 and 3 to a failure that is not retried.
            "if [ $code -eq 2 ] || [ $code -eq 3 ]; then exit 99; fi; exit $code"
        ),
        skip_on_exit_code=None,
    )
