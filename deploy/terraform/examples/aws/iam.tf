# ndf's access to its bucket: objects under <s3_prefix>/ only, through the KMS key only.
# By default an IAM role bound to the NdfCluster's ServiceAccount (named like the release) by
# EKS Pod Identity: no stored credential. With s3_credentials = "access-key", an IAM user's
# access key instead, handed to ndf in a Kubernetes Secret (for clusters without Pod Identity).

data "aws_iam_policy_document" "ndf_s3" {
  statement {
    sid       = "ListOwnPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.ndf.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.s3_prefix}/*"]
    }
  }

  statement {
    sid = "ObjectsUnderOwnPrefix"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.ndf.arn}/${var.s3_prefix}/*"]
  }

  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.ndf.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "ndf_s3" {
  name        = "${var.name}-s3"
  description = "ndf: objects under s3://${var.bucket_name}/${var.s3_prefix}/ and the bucket's KMS key"
  policy      = data.aws_iam_policy_document.ndf_s3.json
}

# ---------------------------------------------------------------- pod-identity

data "aws_iam_policy_document" "pod_identity_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "ndf" {
  count = var.s3_credentials == "pod-identity" ? 1 : 0

  name               = "${var.name}-pods"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_assume.json
}

resource "aws_iam_role_policy_attachment" "ndf" {
  count = var.s3_credentials == "pod-identity" ? 1 : 0

  role       = aws_iam_role.ndf[0].name
  policy_arn = aws_iam_policy.ndf_s3.arn
}

# The operator names the NdfCluster's ServiceAccount after the cluster (the release name).
resource "aws_eks_pod_identity_association" "ndf" {
  count = var.s3_credentials == "pod-identity" ? 1 : 0

  cluster_name    = var.eks_cluster_name
  namespace       = var.namespace
  service_account = var.name
  role_arn        = aws_iam_role.ndf[0].arn
}

# ---------------------------------------------------------------- access-key

resource "aws_iam_user" "ndf" {
  count = var.s3_credentials == "access-key" ? 1 : 0

  name = "${var.name}-s3"
  #checkov:skip=CKV_AWS_273:A workload, not a person: SSO does not apply. Used only when the cluster cannot use EKS Pod Identity (s3_credentials = "access-key").
}

resource "aws_iam_group" "ndf" {
  count = var.s3_credentials == "access-key" ? 1 : 0

  name = "${var.name}-s3"
}

resource "aws_iam_group_policy_attachment" "ndf" {
  count = var.s3_credentials == "access-key" ? 1 : 0

  group      = aws_iam_group.ndf[0].name
  policy_arn = aws_iam_policy.ndf_s3.arn
}

resource "aws_iam_user_group_membership" "ndf" {
  count = var.s3_credentials == "access-key" ? 1 : 0

  user   = aws_iam_user.ndf[0].name
  groups = [aws_iam_group.ndf[0].name]
}

resource "aws_iam_access_key" "ndf" {
  count = var.s3_credentials == "access-key" ? 1 : 0

  user = aws_iam_user.ndf[0].name
}

# The operator's egress NetworkPolicy allows DNS, PostgreSQL, S3 (443) and OTLP only; the EKS Pod
# Identity Agent answers credential requests on the node's link-local address, port 80.
# NetworkPolicies add up: this one opens exactly that for ndf's pods.
resource "kubernetes_network_policy_v1" "pod_identity" {
  count = var.s3_credentials == "pod-identity" ? 1 : 0

  metadata {
    name      = "${var.name}-eks-pod-identity"
    namespace = var.namespace
  }

  spec {
    pod_selector {
      match_labels = {
        "app.kubernetes.io/name"     = "ndf"
        "app.kubernetes.io/instance" = var.name
      }
    }

    policy_types = ["Egress"]

    egress {
      to {
        ip_block {
          cidr = "169.254.170.23/32"
        }
      }
      to {
        ip_block {
          cidr = "fd00:ec2::23/128"
        }
      }
      ports {
        port     = "80"
        protocol = "TCP"
      }
    }
  }

  depends_on = [module.ndf]
}
