output "instance_id" {
  description = "The host."
  value       = aws_instance.host.id
}

output "private_ip" {
  description = "The host's private address."
  value       = aws_instance.host.private_ip
}

output "journal_volume_id" {
  description = "The journal volume."
  value       = aws_ebs_volume.journal.id
}

output "security_group_id" {
  description = "The host's security group, which MSK admits."
  value       = aws_security_group.host.id
}

output "placement_group" {
  description = "The host's cluster placement group."
  value       = local.placement_group
}
