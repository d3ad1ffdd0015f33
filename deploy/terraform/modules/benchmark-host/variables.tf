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

variable "name" {
  description = "What to call the host and its resources, e.g. matching-engine or matching-engine-standby."
  type        = string
}

variable "role" {
  description = "The engine's role at start: primary or standby (docs/ha.md)."
  type        = string

  validation {
    condition     = contains(["primary", "standby"], var.role)
    error_message = "role is primary or standby."
  }
}

variable "engine_id" {
  description = "The engine (shard) id; its journal topic is journal.<engine_id>."
  type        = string
}

variable "placement_group" {
  description = "A cluster placement group to join, or null for one of its own."
  type        = string
  default     = null
}
