"""Airflow DAG running batchscore's image with the KubernetesPodOperator.

The pod runs the image `make image` builds (README, Install): its
entrypoint is batchscore, so `arguments` are batchscore's own, and it runs
as the user batchscore (uid 10001). Nothing the job writes stays in the
pod:

- the job file comes from a ConfigMap made from churn_nightly_s3.yaml in
  this folder, mounted read-only at /etc/batchscore:
      kubectl create configmap churn-nightly-s3-job \\
          --from-file=churn_nightly_s3.yaml=churn_nightly_s3.yaml
- the model and the baseline it reads are on a read-only claim,
  churn-models, mounted where the job file names them;
- the snapshot and the result table are on S3, so a retried pod, on any
  node, finds its date already current. Credentials come from the pod's
  service account (IRSA or workload identity): the pod sets no variable.

Exit codes, as in airflow_dag.py: 0 success or already current, 1, 4 and
130 retry; 2 (job file or model) and 3 (the data failed its checks) fail
the same way again. The logical date is the end of the data interval.
"""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

IMAGE = "registry.example.com/batchscore:1.0.0"
JOB = "/etc/batchscore/churn_nightly_s3.yaml"

volumes = [
    k8s.V1Volume(name="job", config_map=k8s.V1ConfigMapVolumeSource(name="churn-nightly-s3-job")),
    k8s.V1Volume(name="models", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name="churn-models", read_only=True)),
]
volume_mounts = [
    k8s.V1VolumeMount(name="job", mount_path="/etc/batchscore", read_only=True),
    k8s.V1VolumeMount(name="models", mount_path="/opt/batchscore/models", sub_path="models", read_only=True),
    k8s.V1VolumeMount(name="models", mount_path="/opt/batchscore/baseline", sub_path="baseline", read_only=True),
]

with DAG(
    dag_id="churn_nightly_k8s",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=True,
    max_active_runs=2,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=10)},
) as dag:
    KubernetesPodOperator(
        task_id="score",
        name="churn-nightly",
        service_account_name="batchscore",
        image=IMAGE,
        arguments=["run", JOB, "--date", "{{ data_interval_end | ds }}", "--trigger", "schedule"],
        volumes=volumes,
        volume_mounts=volume_mounts,
        security_context=k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user=10001, run_as_group=10001),
        get_logs=True,
    )
