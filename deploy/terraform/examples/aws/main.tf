# NeuralDocFlow on an existing EKS cluster, scale-out over the RDS PostgreSQL and the S3 bucket
# this configuration creates (rds.tf, s3.tf, iam.tf).

module "ndf" {
  source = "../../modules/ndf"

  name             = var.name
  namespace        = var.namespace
  create_namespace = true
  chart_path       = var.chart_path
  chart_repository = var.chart_repository
  chart_version    = var.chart_version

  image           = var.image
  storage_mode    = "scale-out"
  api_replicas    = var.api_replicas
  worker_replicas = var.worker_replicas

  # sslmode=require: TLS always (the parameter group refuses anything else). verify-full needs
  # the RDS CA bundle in the pods; see README.md.
  postgres_url = "postgres://${aws_db_instance.ndf.username}:${random_password.db.result}@${aws_db_instance.ndf.address}:${aws_db_instance.ndf.port}/${aws_db_instance.ndf.db_name}?sslmode=require"

  s3_bucket            = aws_s3_bucket.ndf.id
  s3_prefix            = var.s3_prefix
  s3_region            = var.region
  s3_credentials       = var.s3_credentials == "pod-identity" ? "ambient" : "secret"
  s3_access_key_id     = var.s3_credentials == "access-key" ? aws_iam_access_key.ndf[0].id : ""
  s3_secret_access_key = var.s3_credentials == "access-key" ? aws_iam_access_key.ndf[0].secret : ""

  master_key          = var.master_key
  api_key_hash_secret = var.api_key_hash_secret
  bootstrap_keys      = var.bootstrap_keys

  # The bucket policy, lifecycle and encryption are in place before ndf writes.
  depends_on = [
    aws_s3_bucket_policy.ndf,
    aws_s3_bucket_server_side_encryption_configuration.ndf,
    aws_eks_pod_identity_association.ndf,
    aws_iam_user_group_membership.ndf,
  ]
}
