# One customer-managed key for what ndf keeps at rest on AWS: the bucket, the database and its
# Performance Insights, the database password in Secrets Manager. Rotated yearly by KMS.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's resource "*" is this key alone; kms:* for the account root is AWS's default key policy, which delegates access to IAM policies (iam.tf grants ndf Decrypt and GenerateDataKey only).
  #checkov:skip=CKV_AWS_356:Same: in a key policy "*" means this key.
  #checkov:skip=CKV_AWS_109:Same: the account root administers its key through IAM (AWS's default key policy).
  # The account administers the key through IAM (the AWS default key policy).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "ndf" {
  description             = "${var.name}: S3 objects, RDS storage and Performance Insights, Secrets Manager"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "ndf" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.ndf.key_id
}
