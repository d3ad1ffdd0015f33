variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Three private subnets in three AZs."
  type        = list(string)
}

variable "client_sg_ids" {
  description = "The security groups of the clients allowed in, by name: the primary and the standby engine hosts."
  type        = map(string)
}

variable "kafka_version" {
  description = "Kafka version."
  type        = string
}

variable "broker_instance_type" {
  description = "Broker size."
  type        = string
}
