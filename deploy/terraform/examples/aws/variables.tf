variable "region" {
  type        = string
  description = "AWS region of the database, the bucket and the EKS cluster."

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "The region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  type        = string
  default     = "ndf"
  description = "Name of the release and prefix of every AWS resource's name."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$", var.name))
    error_message = "The name must be a DNS label of at most 22 characters."
  }
}

variable "tags" {
  type        = map(string)
  default     = { "app" = "ndf" }
  description = "Tags on every AWS resource (provider default_tags)."
}

variable "eks_cluster_name" {
  type        = string
  description = "Existing EKS cluster ndf is installed into (with the EKS Pod Identity Agent add-on when s3_credentials is pod-identity)."
}

variable "namespace" {
  type        = string
  default     = "ndf"
  description = "Kubernetes namespace of the release (created by the module)."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "The namespace must be a DNS label."
  }
}

# ---------------------------------------------------------------- network

variable "vpc_id" {
  type        = string
  description = "VPC of the EKS cluster; the database goes into it."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "The vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "db_subnet_ids" {
  type        = list(string)
  description = "Private subnets (two availability zones at least) of the database."

  validation {
    condition     = length(var.db_subnet_ids) >= 2 && alltrue([for s in var.db_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "The db_subnet_ids must be at least two subnet ids (subnet-...)."
  }
}

variable "db_client_security_group_ids" {
  type        = list(string)
  description = "Security groups allowed to reach PostgreSQL (the EKS nodes' or pods' groups)."

  validation {
    condition     = length(var.db_client_security_group_ids) >= 1 && alltrue([for s in var.db_client_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "The db_client_security_group_ids must be at least one security group id (sg-...)."
  }
}

# ---------------------------------------------------------------- database

variable "db_instance_class" {
  type        = string
  default     = "db.t4g.medium"
  description = "RDS instance class."

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "The db_instance_class must be an RDS class such as db.t4g.medium."
  }
}

variable "db_engine_version" {
  type        = string
  default     = "16.4"
  description = "PostgreSQL engine version (major.minor; minor upgrades are applied automatically)."

  validation {
    condition     = can(regex("^1[4-9]\\.[0-9]+$", var.db_engine_version))
    error_message = "The db_engine_version must be PostgreSQL 14 or later, as major.minor (e.g. 16.4)."
  }
}

variable "db_allocated_storage_gb" {
  type        = number
  default     = 50
  description = "Initial storage of the database in GiB (gp3; grows up to db_max_allocated_storage_gb)."

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 65536
    error_message = "The db_allocated_storage_gb must be from 20 to 65536."
  }
}

variable "db_max_allocated_storage_gb" {
  type        = number
  default     = 500
  description = "Storage autoscaling ceiling in GiB."

  validation {
    condition     = var.db_max_allocated_storage_gb >= 20 && var.db_max_allocated_storage_gb <= 65536
    error_message = "The db_max_allocated_storage_gb must be from 20 to 65536."
  }
}

variable "db_backup_retention_days" {
  type        = number
  default     = 14
  description = "Days automated backups (point-in-time recovery) are kept."

  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "The db_backup_retention_days must be from 7 to 35."
  }
}

variable "db_multi_az" {
  type        = bool
  default     = true
  description = "A standby in a second availability zone (failover in about a minute)."
}

variable "db_performance_insights" {
  type        = bool
  default     = true
  description = "Performance Insights (7 days, KMS-encrypted)."
}

variable "db_deletion_protection" {
  type        = bool
  default     = true
  description = "Refuse to delete the database (set false, apply, then destroy); a final snapshot is taken either way."
}

# ---------------------------------------------------------------- bucket

variable "bucket_name" {
  type        = string
  description = "Name of the S3 bucket (globally unique)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "The bucket_name must be a valid S3 bucket name."
  }
}

variable "s3_prefix" {
  type        = string
  default     = "ndf"
  description = "Key prefix ndf writes under; its IAM policy grants only this prefix."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{0,62}$", var.s3_prefix))
    error_message = "The s3_prefix must be one path segment (lower case letters, digits, '.', '_', '-')."
  }
}

variable "job_results_expiration_days" {
  type        = number
  default     = 14
  description = "Days after which objects under <s3_prefix>/jobs/ expire: a backstop above ndf's own job retention (7 days by default), not a replacement for it."

  validation {
    condition     = var.job_results_expiration_days >= 1 && var.job_results_expiration_days <= 3650
    error_message = "The job_results_expiration_days must be from 1 to 3650."
  }
}

variable "noncurrent_version_expiration_days" {
  type        = number
  default     = 30
  description = "Days a replaced or deleted object's older version is kept (undo window)."

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && var.noncurrent_version_expiration_days <= 3650
    error_message = "The noncurrent_version_expiration_days must be from 1 to 3650."
  }
}

variable "abort_incomplete_multipart_days" {
  type        = number
  default     = 2
  description = "Days after which unfinished multipart uploads are aborted (their parts are billed until then)."

  validation {
    condition     = var.abort_incomplete_multipart_days >= 1 && var.abort_incomplete_multipart_days <= 30
    error_message = "The abort_incomplete_multipart_days must be from 1 to 30."
  }
}

variable "access_log_bucket" {
  type        = string
  default     = ""
  description = "Existing bucket receiving the S3 server access logs; empty: no access logging."

  validation {
    condition     = var.access_log_bucket == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.access_log_bucket))
    error_message = "The access_log_bucket must be a valid S3 bucket name or empty."
  }
}

variable "s3_credentials" {
  type        = string
  default     = "pod-identity"
  description = "pod-identity: an IAM role bound to ndf's ServiceAccount by EKS Pod Identity (no stored key); access-key: an IAM user whose access key goes into a Secret."

  validation {
    condition     = contains(["pod-identity", "access-key"], var.s3_credentials)
    error_message = "The s3_credentials must be pod-identity or access-key."
  }
}

# ---------------------------------------------------------------- ndf

variable "chart_version" {
  type        = string
  description = "Exact version of the ndf chart."

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.chart_version))
    error_message = "The chart_version must be an exact version such as 0.1.0."
  }
}

variable "chart_repository" {
  type        = string
  default     = ""
  description = "OCI repository of the chart (oci://...); empty: chart_path."

  validation {
    condition     = var.chart_repository == "" || can(regex("^oci://", var.chart_repository))
    error_message = "The chart_repository must be an oci:// URL or empty."
  }
}

variable "chart_path" {
  type        = string
  default     = "../../../helm/ndf"
  description = "Local path of the chart when chart_repository is empty (default: this repository's chart)."
}

variable "image" {
  type        = string
  description = "The ndf image, pinned by digest (registry/ndf:0.1.0@sha256:...)."

  validation {
    condition     = can(regex("^[^\\s@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[a-f0-9]{64}$", var.image))
    error_message = "The image must be pinned by digest (repository[:tag]@sha256:...)."
  }
}

variable "api_replicas" {
  type        = number
  default     = 2
  description = "API replicas."

  validation {
    condition     = var.api_replicas >= 1 && var.api_replicas <= 100
    error_message = "The api_replicas must be from 1 to 100."
  }
}

variable "worker_replicas" {
  type        = number
  default     = 2
  description = "Worker replicas."

  validation {
    condition     = var.worker_replicas >= 0 && var.worker_replicas <= 500
    error_message = "The worker_replicas must be from 0 to 500."
  }
}

variable "master_key" {
  type        = string
  sensitive   = true
  description = "Master key, a line from `ndf keys generate-master` (pass it with TF_VAR_master_key, never in a file under version control)."
}

variable "bootstrap_keys" {
  type        = string
  sensitive   = true
  description = "First API keys, lines from `ndf keys generate` (TF_VAR_bootstrap_keys); the first one needs the extract and jobs scopes for `helm test`."
}

variable "api_key_hash_secret" {
  type        = string
  sensitive   = true
  description = "Secret the API keys are hashed under, at least 32 random characters (TF_VAR_api_key_hash_secret); the same for the life of the store."

  validation {
    condition     = length(var.api_key_hash_secret) >= 32
    error_message = "The api_key_hash_secret must be at least 32 characters long."
  }
}
