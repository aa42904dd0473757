# Inputs of the ndf chart's values. Terraform 1.0 has no optional object attributes, so every
# setting is its own typed variable with a default; rules between variables are in ./rules.
# Secrets: give either the value (sensitive; the ndf module creates a Secret from it) or the
# name of an existing Secret (`existing_*`) holding it under the documented key, never both.

variable "name" {
  type        = string
  default     = "ndf"
  description = "Helm release name; also the NdfCluster's name and the prefix of the Secrets created (`<name>-postgres`, ...)."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$", var.name))
    error_message = "The name must be a DNS label of at most 32 characters (lower case letters, digits, '-')."
  }
}

variable "operator_enabled" {
  type        = bool
  default     = true
  description = "Run the operator in this release (chart value `operator.enabled`); false: another release or `ndf deploy operator-install` runs it."
}

variable "operator_image" {
  type        = string
  default     = ""
  description = "Image the operator and the `helm test` Pod run (the same `ndf` image; chart value `image`), by tag or digest; empty: the chart's default."

  validation {
    condition     = var.operator_image == "" || (can(regex("^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$", var.operator_image)) && can(regex("(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", var.operator_image)) && !can(regex(":latest$", var.operator_image)))
    error_message = "The operator_image must be an image reference with a tag or a digest (repository[:tag][@sha256:digest]), not :latest."
  }
}

variable "operator_resources" {
  type = object({
    cpu_request    = string
    memory_request = string
    cpu_limit      = string
    memory_limit   = string
  })
  default = {
    cpu_request    = "100m"
    memory_request = "128Mi"
    cpu_limit      = "500m"
    memory_limit   = "256Mi"
  }
  description = "Requests and limits of the operator's container (Kubernetes quantities)."

  validation {
    condition     = alltrue([for q in values(var.operator_resources) : can(regex("^([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$", q))])
    error_message = "Each of operator_resources must be a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi)."
  }
}

variable "cluster_enabled" {
  type        = bool
  default     = true
  description = "Create the NdfCluster from these values (chart value `cluster.enabled`); false installs the CRD and the operator only."
}

variable "image" {
  type        = string
  default     = ""
  description = "Image of ndf for the NdfCluster (spec.image), pinned by tag or, better, digest. Required when cluster_enabled."

  validation {
    condition     = var.image == "" || (can(regex("^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$", var.image)) && can(regex("(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", var.image)) && !can(regex(":latest$", var.image)))
    error_message = "The image must be an image reference with a tag or a digest (repository[:tag][@sha256:digest]), not :latest."
  }
}

variable "image_pull_policy" {
  type        = string
  default     = "IfNotPresent"
  description = "spec.imagePullPolicy: IfNotPresent, Always or Never."

  validation {
    condition     = contains(["IfNotPresent", "Always", "Never"], var.image_pull_policy)
    error_message = "The image_pull_policy must be one of IfNotPresent, Always, Never."
  }
}

variable "image_pull_secrets" {
  type        = list(string)
  default     = []
  description = "Names of existing docker-registry Secrets the pods pull the image with."

  validation {
    condition     = alltrue([for s in var.image_pull_secrets : can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", s))])
    error_message = "Each of image_pull_secrets must be a Secret name (a DNS subdomain)."
  }
}

variable "storage_mode" {
  type        = string
  default     = "embedded"
  description = "embedded: one replica, SQLite and blobs on a volume; scale-out: PostgreSQL and S3, any number of replicas."

  validation {
    condition     = contains(["embedded", "scale-out"], var.storage_mode)
    error_message = "The storage_mode must be embedded or scale-out."
  }
}

variable "embedded_volume_size" {
  type        = string
  default     = "10Gi"
  description = "Size of the embedded store's PersistentVolumeClaim (a Kubernetes quantity)."

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$", var.embedded_volume_size))
    error_message = "The embedded_volume_size must be a Kubernetes quantity such as 20Gi."
  }
}

variable "embedded_storage_class" {
  type        = string
  default     = ""
  description = "StorageClass of the embedded store's volume; empty: the cluster's default."

  validation {
    condition     = var.embedded_storage_class == "" || can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.embedded_storage_class))
    error_message = "The embedded_storage_class must be a StorageClass name (a DNS subdomain) or empty."
  }
}

variable "api_replicas" {
  type        = number
  default     = 1
  description = "API replicas (exactly 1 with the embedded store)."

  validation {
    condition     = var.api_replicas >= 0 && var.api_replicas <= 100 && can(regex("^[0-9]+$", tostring(var.api_replicas)))
    error_message = "The api_replicas must be a whole number from 0 to 100."
  }
}

variable "api_resources" {
  type = object({
    cpu_request    = string
    memory_request = string
    cpu_limit      = string
    memory_limit   = string
  })
  default = {
    cpu_request    = "500m"
    memory_request = "512Mi"
    cpu_limit      = "2"
    memory_limit   = "2Gi"
  }
  description = "Requests and limits of each API pod (Kubernetes quantities)."

  validation {
    condition     = alltrue([for q in values(var.api_resources) : can(regex("^([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$", q))])
    error_message = "Each of api_resources must be a Kubernetes quantity (e.g. 500m, 2, 512Mi, 2Gi)."
  }
}

variable "worker_replicas" {
  type        = number
  default     = 0
  description = "Separate worker replicas (0 with the embedded store: the API replica runs the jobs)."

  validation {
    condition     = var.worker_replicas >= 0 && var.worker_replicas <= 500 && can(regex("^[0-9]+$", tostring(var.worker_replicas)))
    error_message = "The worker_replicas must be a whole number from 0 to 500."
  }
}

variable "worker_job_concurrency" {
  type        = number
  default     = 2
  description = "Jobs each worker runs at once."

  validation {
    condition     = var.worker_job_concurrency >= 1 && var.worker_job_concurrency <= 256 && can(regex("^[0-9]+$", tostring(var.worker_job_concurrency)))
    error_message = "The worker_job_concurrency must be a whole number from 1 to 256."
  }
}

variable "worker_resources" {
  type = object({
    cpu_request    = string
    memory_request = string
    cpu_limit      = string
    memory_limit   = string
  })
  default = {
    cpu_request    = "1"
    memory_request = "1Gi"
    cpu_limit      = "2"
    memory_limit   = "4Gi"
  }
  description = "Requests and limits of each worker pod (Kubernetes quantities)."

  validation {
    condition     = alltrue([for q in values(var.worker_resources) : can(regex("^([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$", q))])
    error_message = "Each of worker_resources must be a Kubernetes quantity (e.g. 1, 1500m, 1Gi)."
  }
}

variable "autoscaling_enabled" {
  type        = bool
  default     = false
  description = "Autoscale workers on queue depth (KEDA) and the API on CPU (HPA); scale-out storage only."
}

variable "autoscaling_min_workers" {
  type        = number
  default     = 1
  description = "Fewest workers when autoscaling."

  validation {
    condition     = var.autoscaling_min_workers >= 0 && var.autoscaling_min_workers <= 500 && can(regex("^[0-9]+$", tostring(var.autoscaling_min_workers)))
    error_message = "The autoscaling_min_workers must be a whole number from 0 to 500."
  }
}

variable "autoscaling_max_workers" {
  type        = number
  default     = 10
  description = "Most workers when autoscaling."

  validation {
    condition     = var.autoscaling_max_workers >= 1 && var.autoscaling_max_workers <= 500 && can(regex("^[0-9]+$", tostring(var.autoscaling_max_workers)))
    error_message = "The autoscaling_max_workers must be a whole number from 1 to 500."
  }
}

variable "autoscaling_api_min_replicas" {
  type        = number
  default     = null
  description = "Fewest API replicas when autoscaling (null: the operator's default)."

  validation {
    condition     = var.autoscaling_api_min_replicas == null ? true : var.autoscaling_api_min_replicas >= 1 && var.autoscaling_api_min_replicas <= 100
    error_message = "The autoscaling_api_min_replicas must be from 1 to 100."
  }
}

variable "autoscaling_api_max_replicas" {
  type        = number
  default     = null
  description = "Most API replicas when autoscaling (null: the operator's default)."

  validation {
    condition     = var.autoscaling_api_max_replicas == null ? true : var.autoscaling_api_max_replicas >= 1 && var.autoscaling_api_max_replicas <= 100
    error_message = "The autoscaling_api_max_replicas must be from 1 to 100."
  }
}

variable "target_queued_jobs_per_worker" {
  type        = number
  default     = 4
  description = "Queued plus running jobs per worker the autoscaler aims at."

  validation {
    condition     = var.target_queued_jobs_per_worker >= 1 && var.target_queued_jobs_per_worker <= 10000
    error_message = "The target_queued_jobs_per_worker must be from 1 to 10000."
  }
}

variable "target_cpu_utilization" {
  type        = number
  default     = 70
  description = "API CPU utilisation (percent of requests) the HPA aims at."

  validation {
    condition     = var.target_cpu_utilization >= 1 && var.target_cpu_utilization <= 100
    error_message = "The target_cpu_utilization must be a percentage from 1 to 100."
  }
}

variable "prometheus_address" {
  type        = string
  default     = ""
  description = "Prometheus the autoscaler reads the queue depth from (required with autoscaling_enabled)."

  validation {
    condition     = var.prometheus_address == "" || can(regex("^https?://[^\\s/]+(/\\S*)?$", var.prometheus_address))
    error_message = "The prometheus_address must be an http(s) URL."
  }
}

variable "rollout_strategy" {
  type        = string
  default     = "Rolling"
  description = "Rolling (the only one for the embedded store) or BlueGreen."

  validation {
    condition     = contains(["Rolling", "BlueGreen"], var.rollout_strategy)
    error_message = "The rollout_strategy must be Rolling or BlueGreen."
  }
}

variable "tls_secret_name" {
  type        = string
  default     = ""
  description = "Existing kubernetes.io/tls Secret the API serves TLS with; empty: plain HTTP (TLS at the ingress)."

  validation {
    condition     = var.tls_secret_name == "" || can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.tls_secret_name))
    error_message = "The tls_secret_name must be a Secret name (a DNS subdomain) or empty."
  }
}

variable "otlp_endpoint" {
  type        = string
  default     = ""
  description = "OTLP/HTTP endpoint traces are sent to; empty: none."

  validation {
    condition     = var.otlp_endpoint == "" || can(regex("^https?://[^\\s/]+(/\\S*)?$", var.otlp_endpoint))
    error_message = "The otlp_endpoint must be an http(s) URL."
  }
}

variable "monitoring" {
  type = object({
    service_monitor   = bool
    prometheus_rule   = bool
    grafana_dashboard = bool
  })
  default = {
    service_monitor   = false
    prometheus_rule   = false
    grafana_dashboard = false
  }
  description = "prometheus-operator ServiceMonitor and PrometheusRule, Grafana dashboard ConfigMap."
}

variable "monitoring_labels" {
  type        = map(string)
  default     = {}
  description = "Labels on the monitoring objects (e.g. the one your Prometheus selects on)."
}

variable "cluster_spec_overrides" {
  type        = any
  default     = {}
  description = "Top-level NdfCluster spec fields set as given (e.g. gpu, network, pod, rollout.analysis); each replaces the field these variables would build. The chart's schema checks them."
}

# ---------------------------------------------------------------- scale-out storage

variable "postgres_url" {
  type        = string
  default     = ""
  sensitive   = true
  description = "PostgreSQL connection URL (postgres:// with user, password, host, port, database and sslmode=require); stored in the Secret <name>-postgres."

  validation {
    condition     = var.postgres_url == "" || can(regex("^postgres(ql)?://", var.postgres_url))
    error_message = "The postgres_url must start with postgres:// or postgresql://."
  }
}

variable "existing_postgres_secret" {
  type        = string
  default     = ""
  description = "Existing Secret holding the PostgreSQL URL under the key `url` (instead of postgres_url)."

  validation {
    condition     = var.existing_postgres_secret == "" || can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.existing_postgres_secret))
    error_message = "The existing_postgres_secret must be a Secret name (a DNS subdomain) or empty."
  }
}

variable "s3_bucket" {
  type        = string
  default     = ""
  description = "S3 bucket of the documents and results (scale-out)."

  validation {
    condition     = var.s3_bucket == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.s3_bucket))
    error_message = "The s3_bucket must be a valid bucket name (3-63 lower case letters, digits, '.', '-')."
  }
}

variable "s3_prefix" {
  type        = string
  default     = ""
  description = "Key prefix inside the bucket (no leading or trailing '/')."

  validation {
    condition     = var.s3_prefix == "" || can(regex("^[^/].*[^/]$|^[^/]$", var.s3_prefix))
    error_message = "The s3_prefix must not start or end with '/'."
  }
}

variable "s3_region" {
  type        = string
  default     = ""
  description = "Region of the bucket; empty: the SDK's default."

  validation {
    condition     = can(regex("^[a-z0-9-]{0,32}$", var.s3_region))
    error_message = "The s3_region must be a region name such as eu-west-1 (lower case letters, digits, '-')."
  }
}

variable "s3_endpoint" {
  type        = string
  default     = ""
  description = "S3-compatible endpoint URL; empty: AWS S3."

  validation {
    condition     = var.s3_endpoint == "" || can(regex("^https?://[^\\s/]+/?$", var.s3_endpoint))
    error_message = "The s3_endpoint must be an http(s) URL without a path."
  }
}

variable "s3_credentials" {
  type        = string
  default     = "secret"
  description = "secret: an access key in a Secret (s3_access_key_id and s3_secret_access_key, or existing_s3_secret); ambient: the pods' own identity (e.g. EKS Pod Identity), no Secret."

  validation {
    condition     = contains(["secret", "ambient"], var.s3_credentials)
    error_message = "The s3_credentials must be secret or ambient."
  }
}

variable "s3_access_key_id" {
  type        = string
  default     = ""
  sensitive   = true
  description = "S3 access key id (with s3_secret_access_key; s3_credentials = secret); stored in the Secret <name>-s3."
}

variable "s3_secret_access_key" {
  type        = string
  default     = ""
  sensitive   = true
  description = "S3 secret access key (with s3_access_key_id)."
}

variable "existing_s3_secret" {
  type        = string
  default     = ""
  description = "Existing Secret with the keys `accessKeyId` and `secretAccessKey` (instead of the two variables)."

  validation {
    condition     = var.existing_s3_secret == "" || can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.existing_s3_secret))
    error_message = "The existing_s3_secret must be a Secret name (a DNS subdomain) or empty."
  }
}

# ---------------------------------------------------------------- keys

variable "master_key" {
  type        = string
  default     = ""
  sensitive   = true
  description = "Master key (a line from `ndf keys generate-master`), required with scale-out storage; stored in the Secret <name>-master-key."
}

variable "existing_master_key_secret" {
  type        = string
  default     = ""
  description = "Existing Secret with the master key under the key `masterKey`."

  validation {
    condition     = var.existing_master_key_secret == "" || can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.existing_master_key_secret))
    error_message = "The existing_master_key_secret must be a Secret name (a DNS subdomain) or empty."
  }
}

variable "api_key_hash_secret" {
  type        = string
  default     = ""
  sensitive   = true
  description = "Secret the API keys are hashed under (spec.security.apiKeySecret); stored in the Secret <name>-api-key-hash."

  validation {
    condition     = var.api_key_hash_secret == "" || length(var.api_key_hash_secret) >= 32
    error_message = "The api_key_hash_secret must be at least 32 characters long."
  }
}

variable "existing_api_key_hash_secret" {
  type        = string
  default     = ""
  description = "Existing Secret with the API key hashing secret under the key `apiKeySecret`."

  validation {
    condition     = var.existing_api_key_hash_secret == "" || can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.existing_api_key_hash_secret))
    error_message = "The existing_api_key_hash_secret must be a Secret name (a DNS subdomain) or empty."
  }
}

variable "bootstrap_keys" {
  type        = string
  default     = ""
  sensitive   = true
  description = "First API keys, one line each from `ndf keys generate` (TENANT SCOPE[,SCOPE...] NAME... KEY); stored in the Secret <name>-bootstrap-keys."

  validation {
    condition     = alltrue([for line in split("\n", var.bootstrap_keys) : trimspace(line) == "" || length(split(" ", trimspace(line))) >= 4])
    error_message = "Each line of bootstrap_keys must read TENANT SCOPE[,SCOPE...] NAME... KEY (at least four fields)."
  }
}

variable "existing_bootstrap_keys_secret" {
  type        = string
  default     = ""
  description = "Existing Secret with the bootstrap keys under the key `bootstrapKeys`."

  validation {
    condition     = var.existing_bootstrap_keys_secret == "" || can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.existing_bootstrap_keys_secret))
    error_message = "The existing_bootstrap_keys_secret must be a Secret name (a DNS subdomain) or empty."
  }
}

variable "test_api_key" {
  type        = string
  default     = ""
  sensitive   = true
  description = "An API key with the extract scope for `helm test` (chart value tests.apiKeySecret); stored in the Secret <name>-test-api-key. Empty with no existing secret: no test key."
}

variable "existing_test_api_key_secret" {
  type        = string
  default     = ""
  description = "Existing Secret with the `helm test` API key under the key `apiKey`."

  validation {
    condition     = var.existing_test_api_key_secret == "" || can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.existing_test_api_key_secret))
    error_message = "The existing_test_api_key_secret must be a Secret name (a DNS subdomain) or empty."
  }
}
