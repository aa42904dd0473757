output "release" {
  description = "The Helm release (name, namespace, chart, version, revision)."
  value       = module.ndf.release
}

output "bucket" {
  description = "Bucket name and the prefix ndf writes under."
  value       = { name = aws_s3_bucket.ndf.id, prefix = var.s3_prefix }
}

output "database_endpoint" {
  description = "Host:port of the PostgreSQL instance (private)."
  value       = aws_db_instance.ndf.endpoint
}

output "database_secret_arn" {
  description = "Secrets Manager secret with the database credentials."
  value       = aws_secretsmanager_secret.db.arn
}

output "postgres_url" {
  description = "The URL ndf connects with (password included)."
  value       = "postgres://${aws_db_instance.ndf.username}:${random_password.db.result}@${aws_db_instance.ndf.endpoint}/${aws_db_instance.ndf.db_name}?sslmode=require"
  sensitive   = true
}

output "s3_role_arn" {
  description = "IAM role of ndf's pods (pod-identity), else null."
  value       = one(aws_iam_role.ndf[*].arn)
}
