# An engine host: one c6i.4xlarge on dedicated hardware in a cluster
# placement group, an encrypted gp3 journal volume with its IOPS and
# throughput set, and user-data that installs the engine, applies
# `tuning plan --write` and reboots once into the tuned kernel line. The
# root module makes two: the primary and its hot standby (docs/ha.md).

data "aws_ami" "debian" {
  most_recent = true
  owners      = ["136693071363"] # Debian's official account

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
}

data "aws_subnet" "host" {
  id = var.subnet_id
}

# Its own group, unless it joins another host's (a standby in the
# primary's AZ, for the shortest catch-up).
resource "aws_placement_group" "engine" {
  count    = var.placement_group == null ? 1 : 0
  name     = var.name
  strategy = "cluster"
}

locals {
  placement_group = var.placement_group == null ? aws_placement_group.engine[0].id : var.placement_group
  # The topics the engine reads and writes, its journal topic and the
  # ownership record included, and its groups. `admin` is not among them:
  # the engine only reads it (docs/shards.md).
  topics = ["orders", "fills", "trades", "depth", "order_status", "admin_status", "assignments", "handover", "journal.${var.engine_id}"]
}

resource "aws_kms_key" "volumes" {
  description             = "EBS encryption for the matching engine's root and journal volumes"
  deletion_window_in_days = 7
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.account_key.json
}

data "aws_caller_identity" "current" {}

# AWS's default key policy, written out: the account administers the key
# through IAM; EBS uses it through grants when it attaches the volumes.
data "aws_iam_policy_document" "account_key" {
  # checkov:skip=CKV_AWS_111:In a key policy "*" means this key alone; the account root is the only principal.
  # checkov:skip=CKV_AWS_356:In a key policy "*" means this key alone.
  # checkov:skip=CKV_AWS_109:The account root administering its own key is the default key policy.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_security_group" "host" {
  name        = "${var.name}-host"
  description = "The matching engine benchmark host"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  security_group_id = aws_security_group.host.id
  description       = "SSH from the admin range (bastion or VPN)"
  cidr_ipv4         = var.admin_cidr
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
}

resource "aws_vpc_security_group_ingress_rule" "metrics" {
  security_group_id = aws_security_group.host.id
  description       = "Prometheus scrapes /metrics from the admin range"
  cidr_ipv4         = var.admin_cidr
  ip_protocol       = "tcp"
  from_port         = 9464
  to_port           = 9464
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.host.id
  description       = "HTTPS: the release tarball, Debian packages, AWS APIs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "kafka" {
  security_group_id = aws_security_group.host.id
  description       = "MSK's IAM TLS listener inside the VPC"
  cidr_ipv4         = data.aws_vpc.this.cidr_block
  ip_protocol       = "tcp"
  from_port         = 9098
  to_port           = 9098
}

data "aws_vpc" "this" {
  id = var.vpc_id
}

# The engine signs in to MSK with this role (OAUTHBEARER, docs/kafka.md)
# and may only use the engine's topics and groups.
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

locals {
  cluster_path = replace(var.msk_cluster_arn, ":cluster/", ":%s/")
}

data "aws_iam_policy_document" "msk" {
  statement {
    sid       = "Connect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [var.msk_cluster_arn]
  }
  statement {
    sid = "EngineTopics"
    actions = [
      "kafka-cluster:DescribeTopic",
      "kafka-cluster:ReadData",
      "kafka-cluster:WriteData",
      "kafka-cluster:WriteDataIdempotently",
    ]
    resources = [for topic in local.topics : "${format(local.cluster_path, "topic")}/${topic}"]
  }
  statement {
    sid       = "AdminReadOnly"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = ["${format(local.cluster_path, "topic")}/admin"]
  }
  statement {
    sid       = "EngineGroups"
    actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    resources = ["${format(local.cluster_path, "group")}/matching-engine*"]
  }
}

resource "aws_iam_role" "host" {
  name               = "${var.name}-host"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "msk" {
  name   = "msk-engine-topics"
  role   = aws_iam_role.host.id
  policy = data.aws_iam_policy_document.msk.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.host.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "host" {
  name = "${var.name}-host"
  role = aws_iam_role.host.name
}

resource "aws_instance" "host" {
  ami                    = data.aws_ami.debian.id
  instance_type          = "c6i.4xlarge"
  tenancy                = "dedicated"
  placement_group        = local.placement_group
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [aws_security_group.host.id]
  iam_instance_profile   = aws_iam_instance_profile.host.name
  key_name               = var.key_name
  ebs_optimized          = true
  monitoring             = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 40
    encrypted   = true
    kms_key_id  = aws_kms_key.volumes.arn
  }

  user_data = templatefile("${path.module}/user-data.sh.tftpl", {
    engine_release_url = var.engine_release_url
    msk_brokers        = var.msk_bootstrap_brokers
    region             = var.region
    journal_volume_id  = replace(aws_ebs_volume.journal.id, "-", "")
    engine_id          = var.engine_id
    role               = var.role
  })
  # The tuned kernel line is applied once, by user-data; a change here
  # means a new host, not an edit in place.
  user_data_replace_on_change = true

  tags = {
    Name = var.name
  }
}

resource "aws_ebs_volume" "journal" {
  availability_zone = data.aws_subnet.host.availability_zone
  type              = "gp3"
  size              = var.journal_volume_gib
  iops              = var.journal_iops
  throughput        = var.journal_throughput_mibs
  encrypted         = true
  kms_key_id        = aws_kms_key.volumes.arn

  tags = {
    Name = "${var.name}-journal"
  }
}

resource "aws_volume_attachment" "journal" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.journal.id
  instance_id = aws_instance.host.id
}
