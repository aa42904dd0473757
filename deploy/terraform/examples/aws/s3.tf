# The bucket of ndf's documents and results: private, owner-enforced, versioned, SSE-KMS, TLS
# only; expired job objects, old versions and unfinished uploads are removed by lifecycle rules.

# Access logging is optional (access_log_bucket; aws_s3_bucket_logging below): logs go to a bucket
# the account already has, which this example cannot assume.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "ndf" {
  bucket = var.bucket_name
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage for data ndf deletes after its retention; versioning and backups cover accidental deletion. Add a replica for disaster recovery if needed.
  #checkov:skip=CKV2_AWS_62:ndf reads and writes the bucket itself; nothing consumes S3 event notifications.
  #checkov:skip=CKV_AWS_18:Access logging is optional (variable access_log_bucket, aws_s3_bucket_logging below): the log bucket is the account's own.
}

resource "aws_s3_bucket_ownership_controls" "ndf" {
  bucket = aws_s3_bucket.ndf.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "ndf" {
  bucket                  = aws_s3_bucket.ndf.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "ndf" {
  bucket = aws_s3_bucket.ndf.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "ndf" {
  bucket = aws_s3_bucket.ndf.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.ndf.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "ndf" {
  bucket = aws_s3_bucket.ndf.id

  # Jobs' inputs and results (<prefix>/jobs/<id>/...): ndf deletes them after its retention; this
  # is the backstop for anything left behind.
  rule {
    id     = "expire-job-objects"
    status = "Enabled"

    filter {
      prefix = "${var.s3_prefix}/jobs/"
    }

    expiration {
      days = var.job_results_expiration_days
    }
  }

  rule {
    id     = "noncurrent-versions-and-uploads"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }

    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.ndf]
}

resource "aws_s3_bucket_logging" "ndf" {
  count = var.access_log_bucket == "" ? 0 : 1

  bucket        = aws_s3_bucket.ndf.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.bucket_name}/"
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.ndf.arn, "${aws_s3_bucket.ndf.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOldTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.ndf.arn, "${aws_s3_bucket.ndf.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "ndf" {
  bucket = aws_s3_bucket.ndf.id
  policy = data.aws_iam_policy_document.bucket.json

  depends_on = [aws_s3_bucket_public_access_block.ndf]
}
