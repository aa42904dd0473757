# Rules between the ndf-values variables. Terraform 1.0's validation blocks may only read the
# variable they belong to (and it has no preconditions), so the settings the rules need are
# passed in as one object and each rule is a validation block on it: `terraform plan` refuses a
# bad combination with the message below, as it refuses a bad single variable. The NdfCluster
# CRD's CEL rules say the same for the cluster's spec; checking here fails before anything is
# applied. No resources, no outputs.
terraform {
  required_version = "~> 1.0"
}

variable "settings" {
  type = object({
    cluster_enabled      = bool
    image                = string
    embedded             = bool
    api_replicas         = number
    worker_replicas      = number
    autoscaling          = bool
    min_workers          = number
    max_workers          = number
    api_min_replicas     = number
    api_max_replicas     = number
    prometheus_address   = string
    rollout_strategy     = string
    has_postgres_value   = bool
    has_postgres_secret  = bool
    has_s3_bucket        = bool
    s3_ambient           = bool
    has_s3_key_id        = bool
    has_s3_secret_key    = bool
    has_s3_secret        = bool
    has_master_value     = bool
    has_master_secret    = bool
    has_hash_value       = bool
    has_hash_secret      = bool
    has_bootstrap_value  = bool
    has_bootstrap_secret = bool
    has_test_value       = bool
    has_test_secret      = bool
  })
  description = "The settings the rules read (built by the ndf-values module from its variables)."

  validation {
    condition     = !var.settings.cluster_enabled || var.settings.image != ""
    error_message = "The image is required when cluster_enabled is true."
  }

  validation {
    condition     = !var.settings.embedded || var.settings.api_replicas == 1
    error_message = "The embedded store runs exactly one API replica: set api_replicas = 1 or storage_mode = \"scale-out\"."
  }

  validation {
    condition     = !var.settings.embedded || var.settings.worker_replicas == 0
    error_message = "The embedded store has no separate workers (the API replica runs the jobs): set worker_replicas = 0."
  }

  validation {
    condition     = !var.settings.embedded || !var.settings.autoscaling
    error_message = "The embedded store cannot autoscale: set autoscaling_enabled = false or use scale-out storage."
  }

  validation {
    condition     = !var.settings.embedded || var.settings.rollout_strategy == "Rolling"
    error_message = "The embedded store needs rollout_strategy = \"Rolling\" (one volume cannot serve two colours)."
  }

  validation {
    condition     = !var.settings.embedded || !(var.settings.has_postgres_value || var.settings.has_postgres_secret || var.settings.has_s3_bucket || var.settings.has_s3_key_id || var.settings.has_s3_secret)
    error_message = "PostgreSQL and S3 settings are for scale-out storage: set storage_mode = \"scale-out\" or remove them."
  }

  validation {
    condition     = var.settings.embedded || (var.settings.has_postgres_value || var.settings.has_postgres_secret)
    error_message = "Scale-out storage needs a database: set postgres_url or existing_postgres_secret."
  }

  validation {
    condition     = var.settings.embedded || var.settings.has_s3_bucket
    error_message = "Scale-out storage needs a bucket: set s3_bucket."
  }

  validation {
    condition     = var.settings.embedded || (var.settings.has_master_value || var.settings.has_master_secret)
    error_message = "Scale-out storage needs a master key: set master_key or existing_master_key_secret."
  }

  validation {
    condition     = var.settings.has_s3_key_id == var.settings.has_s3_secret_key
    error_message = "Set both s3_access_key_id and s3_secret_access_key, or neither."
  }

  validation {
    condition     = var.settings.embedded || var.settings.s3_ambient || var.settings.has_s3_key_id || var.settings.has_s3_secret
    error_message = "Scale-out storage needs S3 credentials: set s3_access_key_id and s3_secret_access_key, or existing_s3_secret, or s3_credentials = \"ambient\"."
  }

  validation {
    condition     = !var.settings.s3_ambient || !(var.settings.has_s3_key_id || var.settings.has_s3_secret)
    error_message = "With s3_credentials = \"ambient\" the pods use their own identity: remove the S3 access key and existing_s3_secret."
  }

  validation {
    condition = !(var.settings.has_postgres_value && var.settings.has_postgres_secret) && !(var.settings.has_s3_key_id && var.settings.has_s3_secret) && !(var.settings.has_master_value && var.settings.has_master_secret) && !(var.settings.has_hash_value && var.settings.has_hash_secret) && !(var.settings.has_bootstrap_value && var.settings.has_bootstrap_secret) && !(var.settings.has_test_value && var.settings.has_test_secret)
    # Which one would win is not obvious to a reader of the configuration: refuse both.
    error_message = "Give each secret either as a value or as an existing Secret (existing_*), not both."
  }

  validation {
    condition     = var.settings.min_workers <= var.settings.max_workers
    error_message = "The autoscaling_min_workers must not exceed autoscaling_max_workers."
  }

  validation {
    condition     = var.settings.api_min_replicas <= var.settings.api_max_replicas
    error_message = "The autoscaling_api_min_replicas must not exceed autoscaling_api_max_replicas."
  }

  validation {
    condition     = !var.settings.autoscaling || var.settings.prometheus_address != ""
    error_message = "Autoscaling reads the queue depth from Prometheus: set prometheus_address."
  }
}
