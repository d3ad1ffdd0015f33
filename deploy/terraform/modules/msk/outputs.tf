output "cluster_arn" {
  description = "The cluster, for IAM policies."
  value       = aws_msk_cluster.engine.arn
}

output "bootstrap_brokers_sasl_iam" {
  description = "The IAM listener's bootstrap servers (TLS, port 9098)."
  value       = aws_msk_cluster.engine.bootstrap_brokers_sasl_iam
}
