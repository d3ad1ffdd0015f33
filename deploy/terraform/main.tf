# One dedicated c6i.4xlarge in a cluster placement group with an encrypted
# gp3 journal volume, and a three-broker MSK cluster with TLS and IAM.

module "msk" {
  source = "./modules/msk"

  vpc_id               = var.vpc_id
  subnet_ids           = var.msk_subnet_ids
  client_sg_id         = module.benchmark_host.security_group_id
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
}

# The engine's topics (docs/kafka.md): orders in, the four outputs back,
# each keyed by symbol. Replicated three times; a write needs two.
locals {
  topics = ["orders", "fills", "trades", "depth", "order_status"]
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
