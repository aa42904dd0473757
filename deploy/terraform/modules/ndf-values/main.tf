# The ndf chart's values (image, operator, cluster.spec = the NdfCluster spec, tests) and the
# Secrets to create, from typed variables. No provider: the ndf module hands `values_yaml` to
# helm_release and creates `secrets` with kubernetes_secret.

module "rules" {
  source = "./rules"

  settings = {
    cluster_enabled    = var.cluster_enabled
    image              = var.image
    embedded           = local.embedded
    api_replicas       = var.api_replicas
    worker_replicas    = var.worker_replicas
    autoscaling        = var.autoscaling_enabled
    min_workers        = var.autoscaling_min_workers
    max_workers        = var.autoscaling_max_workers
    api_min_replicas   = coalesce(var.autoscaling_api_min_replicas, 1)
    api_max_replicas   = coalesce(var.autoscaling_api_max_replicas, 100)
    prometheus_address = var.prometheus_address
    rollout_strategy   = var.rollout_strategy
    has_s3_bucket      = var.s3_bucket != ""
    s3_ambient         = var.s3_credentials == "ambient"
    # Whether a value was given is not secret; the value is.
    has_postgres_value   = local.given.postgres
    has_postgres_secret  = var.existing_postgres_secret != ""
    has_s3_key_id        = local.given.s3_key_id
    has_s3_secret_key    = local.given.s3_secret_key
    has_s3_secret        = var.existing_s3_secret != ""
    has_master_value     = local.given.master
    has_master_secret    = var.existing_master_key_secret != ""
    has_hash_value       = local.given.hash
    has_hash_secret      = var.existing_api_key_hash_secret != ""
    has_bootstrap_value  = local.given.bootstrap
    has_bootstrap_secret = var.existing_bootstrap_keys_secret != ""
    has_test_value       = local.given.test
    has_test_secret      = var.existing_test_api_key_secret != ""
  }
}

locals {
  embedded = var.storage_mode == "embedded"

  # Whether each sensitive value was given, unmarked (that a value was given is not secret).
  # For the rules and the optional Secrets below. A value computed by a resource is unknown at
  # plan time: Terraform does not check a rule that reads it then.
  given = {
    postgres      = nonsensitive(var.postgres_url != "")
    s3_key_id     = nonsensitive(var.s3_access_key_id != "")
    s3_secret_key = nonsensitive(var.s3_secret_access_key != "")
    master        = nonsensitive(var.master_key != "")
    hash          = nonsensitive(var.api_key_hash_secret != "")
    bootstrap     = nonsensitive(var.bootstrap_keys != "")
    test          = nonsensitive(var.test_api_key != "")
  }

  # Which Secrets to create. for_each (in the ndf module) needs this at plan time, so the
  # required ones follow from the settings alone (their values may come from resources, e.g. a
  # generated database password); optional ones from whether a value was given, which must then
  # be known at plan time (a variable, not a resource's attribute).
  create = {
    postgres  = !local.embedded && var.existing_postgres_secret == ""
    s3        = !local.embedded && var.s3_credentials == "secret" && var.existing_s3_secret == ""
    master    = var.existing_master_key_secret == "" && (!local.embedded || local.given.master)
    hash      = var.existing_api_key_hash_secret == "" && local.given.hash
    bootstrap = var.existing_bootstrap_keys_secret == "" && local.given.bootstrap
    test      = var.existing_test_api_key_secret == "" && local.given.test
  }

  # Every Secret this module can create: whether it does and its data keys (not secret), then
  # its data (secret) apart, so that nothing computed from the first table is sensitive.
  secret_specs = {
    "${var.name}-postgres"       = { create = local.create.postgres, keys = ["url"] }
    "${var.name}-s3"             = { create = local.create.s3, keys = ["accessKeyId", "secretAccessKey"] }
    "${var.name}-master-key"     = { create = local.create.master, keys = ["masterKey"] }
    "${var.name}-api-key-hash"   = { create = local.create.hash, keys = ["apiKeySecret"] }
    "${var.name}-bootstrap-keys" = { create = local.create.bootstrap, keys = ["bootstrapKeys"] }
    "${var.name}-test-api-key"   = { create = local.create.test, keys = ["apiKey"] }
  }
  secret_values = {
    "${var.name}-postgres"       = { url = var.postgres_url }
    "${var.name}-s3"             = { accessKeyId = var.s3_access_key_id, secretAccessKey = var.s3_secret_access_key }
    "${var.name}-master-key"     = { masterKey = var.master_key }
    "${var.name}-api-key-hash"   = { apiKeySecret = var.api_key_hash_secret }
    "${var.name}-bootstrap-keys" = { bootstrapKeys = var.bootstrap_keys }
    "${var.name}-test-api-key"   = { apiKey = var.test_api_key }
  }
  created_keys = { for name, s in local.secret_specs : name => s.keys if s.create }
  created_data = { for name, s in local.secret_specs : name => local.secret_values[name] if s.create }

  # Secret each purpose reads, created or existing ("" when none).
  secret_names = {
    postgres       = local.create.postgres ? "${var.name}-postgres" : var.existing_postgres_secret
    s3             = local.create.s3 ? "${var.name}-s3" : var.existing_s3_secret
    master_key     = local.create.master ? "${var.name}-master-key" : var.existing_master_key_secret
    api_key_hash   = local.create.hash ? "${var.name}-api-key-hash" : var.existing_api_key_hash_secret
    bootstrap_keys = local.create.bootstrap ? "${var.name}-bootstrap-keys" : var.existing_bootstrap_keys_secret
    test_api_key   = local.create.test ? "${var.name}-test-api-key" : var.existing_test_api_key_secret
  }

  resources = { for role, r in {
    api      = var.api_resources
    workers  = var.worker_resources
    operator = var.operator_resources
    } : role => {
    requests = { cpu = r.cpu_request, memory = r.memory_request }
    limits   = { cpu = r.cpu_limit, memory = r.memory_limit }
  } }

  # Absent keys take the CRD's defaults: a null below drops its key.
  storage = { for k, v in {
    embedded = local.embedded ? { for k, v in {
      size             = var.embedded_volume_size
      storageClassName = var.embedded_storage_class != "" ? var.embedded_storage_class : null
    } : k => v if v != null } : null
    scaleOut = local.embedded ? null : {
      postgres = { urlSecret = { name = local.secret_names.postgres, key = "url" } }
      s3 = { for k, v in {
        bucket            = var.s3_bucket
        prefix            = var.s3_prefix != "" ? var.s3_prefix : null
        region            = var.s3_region != "" ? var.s3_region : null
        endpoint          = var.s3_endpoint != "" ? var.s3_endpoint : null
        credentialsSecret = local.secret_names.s3 != "" ? { name = local.secret_names.s3 } : null
      } : k => v if v != null }
    }
  } : k => v if v != null }

  security = { for k, v in {
    tls                 = var.tls_secret_name != "" ? { secretName = var.tls_secret_name } : null
    apiKeySecret        = local.secret_names.api_key_hash != "" ? { name = local.secret_names.api_key_hash, key = "apiKeySecret" } : null
    masterKey           = local.secret_names.master_key != "" ? { name = local.secret_names.master_key, key = "masterKey" } : null
    bootstrapKeysSecret = local.secret_names.bootstrap_keys != "" ? { name = local.secret_names.bootstrap_keys, key = "bootstrapKeys" } : null
  } : k => v if v != null }

  # Disabled: only `enabled`, the rest at the CRD's defaults.
  autoscaling = { for k, v in {
    enabled                   = var.autoscaling_enabled
    minReplicas               = var.autoscaling_min_workers
    maxReplicas               = var.autoscaling_max_workers
    apiMinReplicas            = var.autoscaling_api_min_replicas
    apiMaxReplicas            = var.autoscaling_api_max_replicas
    targetQueuedJobsPerWorker = var.target_queued_jobs_per_worker
    targetCPUUtilization      = var.target_cpu_utilization
    prometheusAddress         = var.prometheus_address
  } : k => v if v != null && (var.autoscaling_enabled || k == "enabled") }

  observability = { for k, v in {
    otlpEndpoint     = var.otlp_endpoint != "" ? var.otlp_endpoint : null
    serviceMonitor   = var.monitoring.service_monitor
    prometheusRule   = var.monitoring.prometheus_rule
    grafanaDashboard = var.monitoring.grafana_dashboard
    labels           = length(var.monitoring_labels) > 0 ? var.monitoring_labels : null
  } : k => v if v != null }

  spec = merge({ for k, v in {
    image            = var.image
    imagePullPolicy  = var.image_pull_policy
    imagePullSecrets = length(var.image_pull_secrets) > 0 ? [for s in var.image_pull_secrets : { name = s }] : null
    api              = { replicas = var.api_replicas, resources = local.resources.api }
    workers          = { replicas = var.worker_replicas, jobConcurrency = var.worker_job_concurrency, resources = local.resources.workers }
    autoscaling      = local.autoscaling
    storage          = local.storage
    security         = length(local.security) > 0 ? local.security : null
    rollout          = { strategy = var.rollout_strategy }
    observability    = local.observability
  } : k => v if v != null }, var.cluster_spec_overrides)

  # The chart's `image` (operator and test Pod): repository, tag and digest of operator_image.
  operator_image = var.operator_image == "" ? null : regex("^(?P<repository>.+?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$", var.operator_image)

  values = { for k, v in {
    image = local.operator_image == null ? null : { for k, v in {
      repository = local.operator_image.repository
      tag        = local.operator_image.tag
      digest     = local.operator_image.digest
    } : k => v if v != null && v != "" }
    imagePullSecrets = length(var.image_pull_secrets) > 0 ? [for s in var.image_pull_secrets : { name = s }] : null
    operator = {
      enabled   = var.operator_enabled
      resources = local.resources.operator
    }
    cluster = { for k, v in {
      enabled = var.cluster_enabled
      spec    = var.cluster_enabled ? local.spec : null
    } : k => v if v != null }
    tests = local.secret_names.test_api_key != "" ? { apiKeySecret = { name = local.secret_names.test_api_key, key = "apiKey" } } : null
  } : k => v if v != null }
}
