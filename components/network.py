"""The VPC: public and private subnets per AZ, NAT, routes and load-balancer subnet tags."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.config.cluster import FlowLogsConfig, NetworkConfig


@dataclass
class NetworkArgs:
    cluster_name: str
    """Subnets are tagged for this cluster's discovery (kubernetes.io/cluster/<name>)."""
    config: NetworkConfig
    zones: list[str]
    """Availability zones, already cut to config.az_count."""
    tags: dict[str, str] = field(default_factory=dict)


def subnet_plan(vpc_cidr: str, zone_count: int) -> tuple[list[str], list[str]]:
    """(private, public) CIDRs: big private subnets for pod IPs (the VPC CNI gives every pod a
    VPC address), small public ones that only hold load balancers and NAT gateways."""
    vpc = ipaddress.ip_network(vpc_cidr)
    eighths = list(vpc.subnets(prefixlen_diff=3))
    private = [str(block) for block in eighths[:zone_count]]
    public = [str(block) for block in list(eighths[-1].subnets(prefixlen_diff=3))[:zone_count]]
    return private, public


def flow_log_delivery_trust(partition: str, region: str, account_id: str) -> str:
    """The flow-logs service may assume the delivery role only for this account's flow logs."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id},
                      "ArnLike": {"aws:SourceArn": f"arn:{partition}:ec2:{region}:{account_id}:vpc-flow-log/*"}},
    }]})


def flow_log_delivery_policy(log_group_arn: str) -> str:
    """Write streams of one log group, nothing else."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
         "Resource": [log_group_arn, f"{log_group_arn}:*"]},
        {"Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": ["*"]},
    ]})


def flow_log_bucket_policy(bucket_arn: str, partition: str, region: str, account_id: str) -> str:
    """Log delivery writes this account's flow logs under AWSLogs/<account>/; nothing over plain HTTP."""
    source = {"StringEquals": {"aws:SourceAccount": account_id},
              "ArnLike": {"aws:SourceArn": f"arn:{partition}:logs:{region}:{account_id}:*"}}
    delivery = {"Service": "delivery.logs.amazonaws.com"}
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AWSLogDeliveryWrite", "Effect": "Allow", "Principal": delivery, "Action": "s3:PutObject",
         "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
         "Condition": {**source, "StringEquals": {**source["StringEquals"],
                                                  "s3:x-amz-acl": "bucket-owner-full-control"}}},
        {"Sid": "AWSLogDeliveryAclCheck", "Effect": "Allow", "Principal": delivery, "Action": "s3:GetBucketAcl",
         "Resource": bucket_arn, "Condition": source},
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]})


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.config.cidr,
            enable_dns_hostnames=True,  # EKS private endpoint and node registration need DNS names
            enable_dns_support=True,
            tags={**tags, "Name": f"{args.cluster_name}-vpc"},
            opts=child,
        )
        # CIS AWS 5.4: the default security group allows nothing; nothing should use it.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[],
                                     tags={**tags, "Name": f"{args.cluster_name}-default-deny"}, opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)

        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={**tags, "Name": f"{args.cluster_name}-public"}, opts=child,
        )

        private_cidrs, public_cidrs = subnet_plan(args.config.cidr, len(args.zones))
        nat_count = len(args.zones) if args.config.nat_gateways == "perAz" else 1
        self.public_subnet_ids, self.private_subnet_ids = [], []
        nat_gateways = []
        for index, zone in enumerate(args.zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}", vpc_id=vpc.id, cidr_block=public_cidrs[index],
                availability_zone=zone, map_public_ip_on_launch=False,
                tags={**tags, **cluster_tag, "kubernetes.io/role/elb": "1",
                      "Name": f"{args.cluster_name}-public-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=public.id,
                                          route_table_id=public_rt.id, opts=child)
            self.public_subnet_ids.append(public.id)
            if index < nat_count:
                eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=tags, opts=child)
                nat_gateways.append(aws.ec2.NatGateway(
                    f"{name}-nat-{zone}", allocation_id=eip.id, subnet_id=public.id,
                    tags={**tags, "Name": f"{args.cluster_name}-nat-{zone}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                ))

        for index, zone in enumerate(args.zones):
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}", vpc_id=vpc.id, cidr_block=private_cidrs[index],
                availability_zone=zone,
                # karpenter.sh/discovery: where Karpenter's EC2NodeClass launches nodes (harmless without it).
                tags={**tags, **cluster_tag, "kubernetes.io/role/internal-elb": "1",
                      "karpenter.sh/discovery": args.cluster_name, "Name": f"{args.cluster_name}-private-{zone}"},
                opts=child,
            )
            # With one NAT gateway every zone egresses through it (dev); per-AZ NAT keeps a
            # zone's egress alive when another zone fails (prod).
            nat = nat_gateways[index if index < len(nat_gateways) else 0]
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{zone}", vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags={**tags, "Name": f"{args.cluster_name}-private-{zone}"}, opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=private.id,
                                          route_table_id=private_rt.id, opts=child)
            self.private_subnet_ids.append(private.id)

        if args.config.flow_logs.enabled:
            self._flow_logs(name, args, vpc.id)

        self.vpc_id = vpc.id
        self.register_outputs({
            "vpcId": vpc.id,
            "privateSubnetIds": self.private_subnet_ids,
            "publicSubnetIds": self.public_subnet_ids,
        })

    def _flow_logs(self, name: str, args: NetworkArgs, vpc_id: pulumi.Output[str]) -> None:
        """VPC flow logs (CIS AWS 3.9) to CloudWatch Logs or S3, kept for flowLogs.retentionDays."""
        config: FlowLogsConfig = args.config.flow_logs
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "Name": f"{args.cluster_name}-flow-logs"}
        partition = aws.get_partition().partition
        region = aws.get_region().region
        account_id = aws.get_caller_identity().account_id
        if config.destination == "cloudwatch":
            log_group = aws.cloudwatch.LogGroup(
                f"{name}-flow-logs", name=f"/aws/vpc/{args.cluster_name}/flow-logs",
                retention_in_days=config.retention_days, tags=tags, opts=child,
            )
            role = aws.iam.Role(
                f"{name}-flow-logs", assume_role_policy=flow_log_delivery_trust(partition, region, account_id),
                description=f"VPC flow log delivery of {args.cluster_name}", tags=tags, opts=child,
            )
            aws.iam.RolePolicy(f"{name}-flow-logs", role=role.id,
                               policy=log_group.arn.apply(flow_log_delivery_policy), opts=child)
            destination = {"log_destination_type": "cloud-watch-logs", "log_destination": log_group.arn,
                           "iam_role_arn": role.arn}
        else:
            bucket = aws.s3.Bucket(f"{name}-flow-logs", force_destroy=False, tags=tags, opts=child)
            aws.s3.BucketPublicAccessBlock(f"{name}-flow-logs", bucket=bucket.id, block_public_acls=True,
                                           block_public_policy=True, ignore_public_acls=True,
                                           restrict_public_buckets=True, opts=child)
            aws.s3.BucketOwnershipControls(
                f"{name}-flow-logs", bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child)
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-flow-logs", bucket=bucket.id,
                rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.
                    BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"))],
                opts=child)
            aws.s3.BucketLifecycleConfiguration(
                f"{name}-flow-logs", bucket=bucket.id,
                rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-flow-logs", status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="AWSLogs/"),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=config.retention_days),
                )],
                opts=child)
            policy = aws.s3.BucketPolicy(
                f"{name}-flow-logs", bucket=bucket.id,
                policy=bucket.arn.apply(lambda arn: flow_log_bucket_policy(arn, partition, region, account_id)),
                opts=child)
            destination = {"log_destination_type": "s3", "log_destination": bucket.arn}
            child = pulumi.ResourceOptions(parent=self, depends_on=[policy])
        aws.ec2.FlowLog(f"{name}-flow-logs", vpc_id=vpc_id, traffic_type=config.traffic_type,
                        max_aggregation_interval=600, tags=tags, opts=child, **destination)
