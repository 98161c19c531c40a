"""The VPC: public and private subnets per AZ, NAT, routes and load-balancer subnet tags."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.config.cluster import NetworkConfig


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
                tags={**tags, **cluster_tag, "kubernetes.io/role/internal-elb": "1",
                      "Name": f"{args.cluster_name}-private-{zone}"},
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

        self.vpc_id = vpc.id
        self.register_outputs({
            "vpcId": vpc.id,
            "privateSubnetIds": self.private_subnet_ids,
            "publicSubnetIds": self.public_subnet_ids,
        })
