# A three-broker MSK cluster for the benchmark: TLS everywhere, IAM sign-in
# only, encrypted at rest with its own key, broker logs to CloudWatch.

resource "aws_kms_key" "msk" {
  description             = "MSK at-rest encryption for the matching engine benchmark"
  deletion_window_in_days = 7
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.account_key.json
}

# AWS's default key policy, written out: the account administers the key
# through IAM. MSK uses it through the cluster's grants.
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

resource "aws_cloudwatch_log_group" "msk" {
  name              = "/matching-engine/msk"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_kms_key" "logs" {
  description             = "CloudWatch Logs encryption for the MSK broker logs"
  deletion_window_in_days = 7
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.logs_key.json
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

data "aws_iam_policy_document" "logs_key" {
  # checkov:skip=CKV_AWS_111:In a key policy "*" means this key alone; writes are limited to the account root and CloudWatch Logs.
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
  statement {
    sid = "CloudWatchLogsUse"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:DescribeKey",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_security_group" "msk" {
  name        = "matching-engine-msk"
  description = "MSK brokers: the IAM TLS listener, from the engine hosts only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "iam_tls_from_host" {
  for_each = var.client_sg_ids

  security_group_id            = aws_security_group.msk.id
  description                  = "Kafka over TLS with IAM sign-in, from the ${each.key} engine"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
}

resource "aws_vpc_security_group_egress_rule" "brokers_within_vpc" {
  security_group_id = aws_security_group.msk.id
  description       = "Replication and answers to clients, inside the VPC"
  cidr_ipv4         = data.aws_vpc.this.cidr_block
  ip_protocol       = "-1"
}

data "aws_vpc" "this" {
  id = var.vpc_id
}

resource "aws_msk_configuration" "engine" {
  name           = "matching-engine"
  kafka_versions = [var.kafka_version]

  # Topics come from Terraform with their own settings; none appear by
  # accident. Three replicas, two in sync to acknowledge a write.
  server_properties = <<-EOT
    auto.create.topics.enable=false
    default.replication.factor=3
    min.insync.replicas=2
    num.partitions=4
    unclean.leader.election.enable=false
  EOT
}

resource "aws_msk_cluster" "engine" {
  cluster_name           = "matching-engine"
  kafka_version          = var.kafka_version
  number_of_broker_nodes = 3

  broker_node_group_info {
    instance_type   = var.broker_instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.msk.id]

    storage_info {
      ebs_storage_info {
        volume_size = 500
      }
    }

    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.engine.arn
    revision = aws_msk_configuration.engine.latest_revision
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = aws_kms_key.msk.arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      iam = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk.name
      }
    }
  }

  enhanced_monitoring = "PER_TOPIC_PER_PARTITION"
}
