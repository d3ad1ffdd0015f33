output "instance_id" {
  description = "The benchmark host."
  value       = module.benchmark_host.instance_id
}

output "private_ip" {
  description = "Its private address (SSH through the bastion, metrics on :9464)."
  value       = module.benchmark_host.private_ip
}

output "journal_volume_id" {
  description = "The journal volume."
  value       = module.benchmark_host.journal_volume_id
}

output "msk_bootstrap_brokers_sasl_iam" {
  description = "MSK's IAM listener (TLS, port 9098): the engine's brokers."
  value       = module.msk.bootstrap_brokers_sasl_iam
}

output "standby_instance_id" {
  description = "The hot standby host."
  value       = module.standby_host.instance_id
}

output "standby_private_ip" {
  description = "Its private address (metrics on :9464)."
  value       = module.standby_host.private_ip
}

output "operator_role_arn" {
  description = "The role that alone may write the admin topic; assume it to run `engine admin` (docs/shards.md)."
  value       = aws_iam_role.operator.arn
}
