"""Log retention enforced inside Elasticsearch: an index lifecycle policy that deletes daily
log indices after N days, and the index template that attaches it to new indices.

ILM lives behind the Elasticsearch API, not the Kubernetes one, so a Job applies it. Its spec
carries the retention, so changing `logging.retentionDays` replaces the Job and re-applies.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from components.hardening import RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT

CURL_IMAGE = "curlimages/curl:8.11.1"


def ilm_policy(retention_days: int) -> dict:
    return {"policy": {"phases": {
        "hot": {"actions": {}},
        "delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}},
    }}}


def index_template(index_prefix: str, policy_name: str) -> dict:
    # Priority above the built-in templates, and a pattern outside their logs-*-* data streams.
    return {"index_patterns": [f"{index_prefix}-*"], "priority": 200,
            "template": {"settings": {"index.lifecycle.name": policy_name}}}


SCRIPT = """set -eu
es() { curl -fsS --cacert /es-ca/ca.crt -u "${ES_USER}:${ES_PASSWORD}" -H 'Content-Type: application/json' "$@"; }
until es "${ES_URL}/_cluster/health?wait_for_status=yellow&timeout=30s" >/dev/null; do
  echo "waiting for Elasticsearch"; sleep 10
done
es -X PUT "${ES_URL}/_ilm/policy/${POLICY_NAME}" -d "${POLICY}"
es -X PUT "${ES_URL}/_index_template/${TEMPLATE_NAME}" -d "${TEMPLATE}"
"""


RETENTION_LABELS = {"app.kubernetes.io/name": "log-retention"}


def ilm_job(resource_name: str, *, namespace: str, es_url: str, user: str, user_secret: str, ca_secret: str,
            index_prefix: str, retention_days: int, opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
    """`user` logs in with the password under `password` in `user_secret` (a basic-auth Secret)."""
    policy_name = f"{index_prefix}-retention"
    env = {"ES_URL": es_url, "ES_USER": user, "POLICY_NAME": policy_name, "TEMPLATE_NAME": index_prefix,
           "POLICY": json.dumps(ilm_policy(retention_days)),
           "TEMPLATE": json.dumps(index_template(index_prefix, policy_name))}
    return k8s.batch.v1.Job(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=RETENTION_LABELS),
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=6,
            active_deadline_seconds=1800,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=RETENTION_LABELS),
                spec=k8s.core.v1.PodSpecArgs(
                    restart_policy="OnFailure",
                    automount_service_account_token=False,
                    security_context=RESTRICTED_POD_SECURITY_CONTEXT,
                    containers=[k8s.core.v1.ContainerArgs(
                        name="apply-ilm",
                        image=CURL_IMAGE,
                        command=["/bin/sh", "-c", SCRIPT],
                        env=[*(k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()),
                             k8s.core.v1.EnvVarArgs(name="ES_PASSWORD", value_from=k8s.core.v1.EnvVarSourceArgs(
                                 secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=user_secret, key="password")))],
                        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="es-ca", mount_path="/es-ca", read_only=True)],
                        security_context=RESTRICTED_CONTAINER_SECURITY_CONTEXT,
                        resources=k8s.core.v1.ResourceRequirementsArgs(
                            requests={"cpu": "10m", "memory": "16Mi"}, limits={"cpu": "100m", "memory": "64Mi"}),
                    )],
                    volumes=[k8s.core.v1.VolumeArgs(name="es-ca", secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=ca_secret))],
                ),
            ),
        ),
        # Elasticsearch's first start can take longer than the default 10-minute wait.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m"))),
    )
