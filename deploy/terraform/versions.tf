# The benchmark host (a dedicated c6i.4xlarge) and its Kafka (MSK, TLS and
# IAM). See README.md for apply and destroy.
terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    # Topics: the AWS provider manages clusters, not topics.
    kafka = {
      source  = "Mongey/kafka"
      version = "~> 0.8"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project = "matching-engine"
      Purpose = "latency-benchmark"
    }
  }
}

# Topics are created through the cluster's IAM listener, so the second
# apply (README.md) runs once the cluster exists.
provider "kafka" {
  bootstrap_servers = split(",", module.msk.bootstrap_brokers_sasl_iam)
  tls_enabled       = true
  sasl_mechanism    = "aws-iam"
  sasl_aws_region   = var.region
}
