"""AWS regions this platform can be deployed to, with the Availability Zones each offers.

Source: the AWS "Regions and Availability Zones" guide, page "AWS Availability Zones"
(https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html),
as of November 2025. The count is the number of zones every account can use: us-west-1 lists
three AZ IDs but accounts created since 2013 get two, and ap-northeast-1's apne1-az3 and
ca-central-1's cac1-az3 take no new subnets. `aws ec2 describe-availability-zones --region R`
is the authority for one account; add a region here when AWS opens one.
"""

from __future__ import annotations

AVAILABILITY_ZONES: dict[str, int] = {
    # North America
    "us-east-1": 6, "us-east-2": 3, "us-west-1": 2, "us-west-2": 4,
    "ca-central-1": 3, "ca-west-1": 3, "mx-central-1": 3,
    "us-gov-east-1": 3, "us-gov-west-1": 3,
    # South America
    "sa-east-1": 3,
    # Europe
    "eu-central-1": 3, "eu-central-2": 3, "eu-west-1": 3, "eu-west-2": 3, "eu-west-3": 3,
    "eu-south-1": 3, "eu-south-2": 3, "eu-north-1": 3,
    # Middle East and Africa
    "il-central-1": 3, "me-south-1": 3, "me-central-1": 3, "af-south-1": 3,
    # Asia Pacific
    "ap-east-1": 3, "ap-east-2": 3, "ap-south-1": 3, "ap-south-2": 3,
    "ap-southeast-1": 3, "ap-southeast-2": 3, "ap-southeast-3": 3, "ap-southeast-4": 3,
    "ap-southeast-5": 3, "ap-southeast-7": 3,
    "ap-northeast-1": 3, "ap-northeast-2": 4, "ap-northeast-3": 3,
    # China (aws-cn partition)
    "cn-north-1": 3, "cn-northwest-1": 3,
}


def zone_count(region: str) -> int:
    """How many Availability Zones `region` offers (KeyError for a region not in the table)."""
    return AVAILABILITY_ZONES[region]
