variable "region" {
  description = "AWS region, e.g. ap-northeast-2."
  type        = string
}

variable "vpc_id" {
  description = "The VPC holding the host and the cluster."
  type        = string
}

variable "host_subnet_id" {
  description = "Private subnet for the benchmark host; put it in the AZ of one broker."
  type        = string
}

variable "msk_subnet_ids" {
  description = "Three private subnets in three AZs for the brokers."
  type        = list(string)

  validation {
    condition     = length(var.msk_subnet_ids) == 3
    error_message = "MSK here runs three brokers: give three subnets in three AZs."
  }
}

variable "admin_cidr" {
  description = "Where SSH and the metrics port may be reached from (a bastion or VPN range). Never 0.0.0.0/0."
  type        = string

  validation {
    condition     = var.admin_cidr != "0.0.0.0/0"
    error_message = "Open SSH to the internet? Give the bastion's or VPN's range."
  }
}

variable "key_name" {
  description = "EC2 key pair for SSH; null to use SSM Session Manager only."
  type        = string
  default     = null
}

variable "engine_release_url" {
  description = "HTTPS URL of a tarball with bin/engine, bin/tuning, bin/bench and deploy/ (a release build)."
  type        = string
}

variable "journal_volume_gib" {
  description = "Size of the journal volume."
  type        = number
  default     = 500
}

variable "journal_iops" {
  description = "Provisioned IOPS of the gp3 journal volume (3000-16000)."
  type        = number
  default     = 16000
}

variable "journal_throughput_mibs" {
  description = "Provisioned throughput of the gp3 journal volume in MiB/s (125-1000)."
  type        = number
  default     = 1000
}

variable "kafka_version" {
  description = "MSK Kafka version."
  type        = string
  default     = "3.6.0"
}

variable "broker_instance_type" {
  description = "MSK broker size."
  type        = string
  default     = "kafka.m5.xlarge"
}

variable "topic_partitions" {
  description = "Partitions of each topic. Orders are keyed by symbol, so a symbol's orders stay in order in one partition."
  type        = number
  default     = 4
}

variable "standby_subnet_id" {
  description = "The standby host's private subnet: the primary's for the shortest catch-up, another AZ's to survive the loss of the primary's AZ (deploy/README.md)."
  type        = string
}

variable "engine_id" {
  description = "The engine (shard) id: its journal topic is journal.<engine_id>."
  type        = string
  default     = "engine-1"
}

variable "operator_principal_arns" {
  description = "Who may assume the operator role that alone writes the admin topic (docs/shards.md); empty means the account's own IAM administrators"
  type        = list(string)
  default     = []
}
