"""Answers the mock runtime gives where the real engine would ask AWS.

Every output the program reads must be here: a computed output the mock leaves out resolves
to None and silently vanishes from its consumers' inputs (../shared/NOTES.md), which would
make the plan lie. IDs are derived from the resource name, so plans are reproducible.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi

from components.config.regions import zone_count

ACCOUNT_ID = "123456789012"


def _hex(seed: str, length: int = 17) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _autoname(name: str) -> str:
    # What Pulumi's auto-naming does: the logical name plus a random suffix.
    return f"{name}-{_hex(name, 7)}"


class PlatformMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str):
        self.region = region

    # -- resources -------------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        handler = getattr(self, "_" + _method_name(args.typ), None)
        outputs = dict(args.inputs)
        resource_id = f"{args.name}-id"
        if handler is not None:
            resource_id, extra = handler(args)
            outputs.update(extra)
        elif args.typ.startswith("aws:"):
            outputs.setdefault("arn", self._arn(args.typ, args.name))
        return resource_id, outputs

    def _arn(self, typ: str, name: str) -> str:
        service = typ.split(":")[1].split("/")[0]
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{typ.split(':')[-1].lower()}/{name}"

    def _eks_index_Cluster(self, args):
        name = args.inputs.get("name") or _autoname(args.name)
        oidc_id = _hex(name, 32).upper()
        issuer = f"oidc.eks.{self.region}.amazonaws.com/id/{oidc_id}"
        endpoint = f"https://{oidc_id}.gr7.{self.region}.eks.amazonaws.com"
        kubeconfig = {
            "apiVersion": "v1", "kind": "Config", "current-context": "aws",
            "clusters": [{"name": "kubernetes", "cluster": {
                "server": endpoint, "certificate-authority-data": "LS0tLS1CRUdJTi1NT0NLLUNBLS0tLS0="}}],
            "contexts": [{"name": "aws", "context": {"cluster": "kubernetes", "user": "aws"}}],
            "users": [{"name": "aws", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                "args": ["eks", "get-token", "--cluster-name", name, "--output", "json"]}}}],
        }
        return name, {
            "kubeconfig": kubeconfig,
            "kubeconfigJson": json.dumps(kubeconfig),
            "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
            "oidcProviderUrl": f"https://{issuer}",
            "oidcIssuer": issuer,
            "clusterSecurityGroupId": f"sg-{_hex(name + 'cluster')}",
        }

    def _aws_iam_role_Role(self, args):
        name = args.inputs.get("name") or _autoname(args.name)
        return name, {"name": name, "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}",
                      "uniqueId": "AROA" + _hex(name, 17).upper()}

    def _aws_iam_policy_Policy(self, args):
        name = args.inputs.get("name") or _autoname(args.name)
        return f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}", {
            "name": name, "arn": f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}"}

    def _aws_kms_key_Key(self, args):
        key_id = f"{_hex(args.name, 8)}-{_hex(args.name + '1', 4)}-{_hex(args.name + '2', 4)}-" \
                 f"{_hex(args.name + '3', 4)}-{_hex(args.name + '4', 12)}"
        return key_id, {"keyId": key_id, "arn": f"arn:aws:kms:{self.region}:{ACCOUNT_ID}:key/{key_id}"}

    def _aws_ec2_vpc_Vpc(self, args):
        vpc_id = f"vpc-{_hex(args.name)}"
        return vpc_id, {"arn": f"arn:aws:ec2:{self.region}:{ACCOUNT_ID}:vpc/{vpc_id}",
                        "defaultSecurityGroupId": f"sg-{_hex(args.name + 'default')}"}

    def _aws_ec2_subnet_Subnet(self, args):
        return f"subnet-{_hex(args.name)}", {}

    def _aws_ec2_internetGateway_InternetGateway(self, args):
        return f"igw-{_hex(args.name)}", {}

    def _aws_ec2_eip_Eip(self, args):
        return f"eipalloc-{_hex(args.name)}", {"allocationId": f"eipalloc-{_hex(args.name)}",
                                               "publicIp": "198.51.100.10"}

    def _aws_ec2_natGateway_NatGateway(self, args):
        return f"nat-{_hex(args.name)}", {}

    def _aws_ec2_routeTable_RouteTable(self, args):
        return f"rtb-{_hex(args.name)}", {}

    def _aws_ec2_securityGroup_SecurityGroup(self, args):
        return f"sg-{_hex(args.name)}", {}

    def _aws_ec2_launchTemplate_LaunchTemplate(self, args):
        return f"lt-{_hex(args.name)}", {"latestVersion": 1, "defaultVersion": 1}

    def _aws_s3_bucket_Bucket(self, args):
        name = args.inputs.get("bucket") or _autoname(args.name)
        return name, {"bucket": name, "arn": f"arn:aws:s3:::{name}"}

    def _aws_cloudwatch_logGroup_LogGroup(self, args):
        name = args.inputs.get("name") or _autoname(args.name)
        return name, {"name": name, "arn": f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{name}"}

    def _aws_sqs_queue_Queue(self, args):
        name = args.inputs.get("name") or _autoname(args.name)
        url = f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{name}"
        return url, {"name": name, "url": url, "arn": f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{name}"}

    def _aws_cloudwatch_eventRule_EventRule(self, args):
        name = args.inputs.get("name") or _autoname(args.name)
        return name, {"name": name, "arn": f"arn:aws:events:{self.region}:{ACCOUNT_ID}:rule/{name}"}

    def _random_index_randomPassword_RandomPassword(self, args):
        return args.name, {"result": "preflight-generated-password"}

    # -- invokes ---------------------------------------------------------------------------
    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        token = args.token
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            # As many zones as the region really has (a plan must not spread over invented AZs).
            letters = "abcdefgh"[:zone_count(self.region)]
            return {"names": [f"{self.region}{c}" for c in letters],
                    "zoneIds": [f"{self.region[:3]}1-az{i + 1}" for i in range(len(letters))],
                    "id": self.region, "state": "available"}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/preflight",
                    "userId": "AIDAPREFLIGHT", "id": ACCOUNT_ID}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws",
                    "reverseDnsPrefix": "com.amazonaws"}
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region,
                    "endpoint": f"ec2.{self.region}.amazonaws.com"}
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": _policy_json(args.args), "id": "policy"}
        raise NotImplementedError(
            f"preflight has no mock answer for invoke {token}; add one to preflight/mocks.py"
        )


def _method_name(typ: str) -> str:
    # "aws:iam/role:Role" -> "aws_iam_role_Role"; "eks:index:Cluster" -> "eks_index_Cluster"
    return typ.replace(":", "_").replace("/", "_").replace("-", "_")


def _policy_json(args: dict) -> str:
    """Render getPolicyDocument's statements as the IAM JSON AWS would return."""
    statements = []
    for statement in args.get("statements", []):
        rendered: dict[str, Any] = {"Effect": statement.get("effect", "Allow")}
        if statement.get("sid"):
            rendered["Sid"] = statement["sid"]
        for key, wire in (("actions", "Action"), ("resources", "Resource"),
                          ("notActions", "NotAction"), ("notResources", "NotResource")):
            if statement.get(key):
                rendered[wire] = statement[key]
        for principal in statement.get("principals", []):
            rendered.setdefault("Principal", {})[principal["type"]] = principal["identifiers"]
        for condition in statement.get("conditions", []):
            rendered.setdefault("Condition", {}).setdefault(condition["test"], {})[
                condition["variable"]] = condition["values"]
        statements.append(rendered)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
