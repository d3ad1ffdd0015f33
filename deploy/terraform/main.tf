# Two dedicated c6i.4xlarge engine hosts, the primary and its hot standby,
# each with an encrypted gp3 journal volume, and a three-broker MSK cluster
# with TLS and IAM. The standby follows the journal topic and takes over
# when the primary falls silent (docs/ha.md); where it lives is
# var.standby_subnet_id (deploy/README.md weighs the choices).

module "msk" {
  source = "./modules/msk"

  vpc_id     = var.vpc_id
  subnet_ids = var.msk_subnet_ids
  client_sg_ids = {
    primary = module.benchmark_host.security_group_id
    standby = module.standby_host.security_group_id
  }
  kafka_version        = var.kafka_version
  broker_instance_type = var.broker_instance_type
}

module "benchmark_host" {
  source = "./modules/benchmark-host"

  vpc_id                  = var.vpc_id
  subnet_id               = var.host_subnet_id
  admin_cidr              = var.admin_cidr
  key_name                = var.key_name
  engine_release_url      = var.engine_release_url
  journal_volume_gib      = var.journal_volume_gib
  journal_iops            = var.journal_iops
  journal_throughput_mibs = var.journal_throughput_mibs
  msk_cluster_arn         = module.msk.cluster_arn
  msk_bootstrap_brokers   = module.msk.bootstrap_brokers_sasl_iam
  region                  = var.region
  name                    = "matching-engine"
  role                    = "primary"
  engine_id               = var.engine_id
}

module "standby_host" {
  source = "./modules/benchmark-host"

  vpc_id                  = var.vpc_id
  subnet_id               = var.standby_subnet_id
  admin_cidr              = var.admin_cidr
  key_name                = var.key_name
  engine_release_url      = var.engine_release_url
  journal_volume_gib      = var.journal_volume_gib
  journal_iops            = var.journal_iops
  journal_throughput_mibs = var.journal_throughput_mibs
  msk_cluster_arn         = module.msk.cluster_arn
  msk_bootstrap_brokers   = module.msk.bootstrap_brokers_sasl_iam
  region                  = var.region
  name                    = "matching-engine-standby"
  role                    = "standby"
  engine_id               = var.engine_id
  # Beside the primary when it shares its subnet (and so its AZ); a group
  # of its own in another AZ.
  placement_group = var.standby_subnet_id == var.host_subnet_id ? module.benchmark_host.placement_group : null
}

# The engine's topics (docs/kafka.md): orders in, the outputs back, each
# keyed by symbol. Replicated three times; a write needs two.
locals {
  topics = ["orders", "fills", "trades", "depth", "order_status", "admin_status"]
}

# Operators' commands, the ownership record and moved partitions' exports
# (docs/shards.md): one partition each, so each has one order.
# `assignments` is compacted: its keys keep every claim that won, each
# move's verdict and each engine's newest lease.
resource "kafka_topic" "admin" {
  for_each = {
    admin       = "delete"
    assignments = "compact"
    handover    = "delete"
  }

  name               = each.key
  partitions         = 1
  replication_factor = 3

  config = {
    "min.insync.replicas" = "2"
    "cleanup.policy"      = each.value
    "retention.ms"        = "-1"
  }
}

# Only this role may write `admin`: whoever can write orders must not be
# able to halt a market. Engines read it (their host role); operators
# assume this one to run `engine admin` (docs/shards.md).
data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "operator_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = length(var.operator_principal_arns) > 0 ? var.operator_principal_arns : ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_iam_role" "operator" {
  name               = "matching-engine-operator"
  assume_role_policy = data.aws_iam_policy_document.operator_assume.json
}

locals {
  cluster_path = replace(module.msk.cluster_arn, ":cluster/", ":%s/")
}

data "aws_iam_policy_document" "operator" {
  statement {
    sid       = "Connect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [module.msk.cluster_arn]
  }
  statement {
    sid       = "WriteAdmin"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData", "kafka-cluster:WriteDataIdempotently"]
    resources = ["${format(local.cluster_path, "topic")}/admin"]
  }
  statement {
    sid       = "ReadAnswers"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = [for topic in ["admin_status", "assignments"] : "${format(local.cluster_path, "topic")}/${topic}"]
  }
  statement {
    sid       = "AdminGroups"
    actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    resources = ["${format(local.cluster_path, "group")}/matching-engine-a*"]
  }
}

resource "aws_iam_role_policy" "operator" {
  name   = "msk-admin-topic"
  role   = aws_iam_role.operator.id
  policy = data.aws_iam_policy_document.operator.json
}

resource "kafka_topic" "engine" {
  for_each = toset(local.topics)

  name               = each.value
  partitions         = var.topic_partitions
  replication_factor = 3

  config = {
    "min.insync.replicas" = "2"
    "cleanup.policy"      = "delete"
    "retention.ms"        = "604800000"
  }
}

# The journal topic: one partition, so Kafka's order is the one history
# every engine reads. Replicated three times and a write needs two, so an
# acknowledged record survives a broker; no unclean leader election, so a
# lagging replica never becomes leader and loses acknowledged records.
# Retention must cover the longest a standby may be down plus a snapshot
# interval (docs/ha.md); seven days.
resource "kafka_topic" "journal" {
  name               = "journal.${var.engine_id}"
  partitions         = 1
  replication_factor = 3

  config = {
    "min.insync.replicas"            = "2"
    "unclean.leader.election.enable" = "false"
    "cleanup.policy"                 = "delete"
    "retention.ms"                   = "604800000"
  }
}
