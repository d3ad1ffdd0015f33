variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_id" {
  description = "The host's private subnet."
  type        = string
}

variable "admin_cidr" {
  description = "Where SSH and the metrics port may be reached from."
  type        = string
}

variable "key_name" {
  description = "EC2 key pair, or null for SSM only."
  type        = string
}

variable "engine_release_url" {
  description = "The release tarball to install."
  type        = string
}

variable "journal_volume_gib" {
  description = "Journal volume size."
  type        = number
}

variable "journal_iops" {
  description = "Journal volume IOPS."
  type        = number
}

variable "journal_throughput_mibs" {
  description = "Journal volume throughput, MiB/s."
  type        = number
}

variable "msk_cluster_arn" {
  description = "The MSK cluster the engine may use."
  type        = string
}

variable "msk_bootstrap_brokers" {
  description = "MSK's IAM listener."
  type        = string
}

variable "region" {
  description = "AWS region, for the MSK IAM token."
  type        = string
}
