variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Three private subnets in three AZs."
  type        = list(string)
}

variable "client_sg_id" {
  description = "The security group of the clients allowed in (the benchmark host)."
  type        = string
}

variable "kafka_version" {
  description = "Kafka version."
  type        = string
}

variable "broker_instance_type" {
  description = "Broker size."
  type        = string
}
