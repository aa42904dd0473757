# `terraform test`: scale-out from existing Secrets (nothing created), ambient S3 credentials,
# no operator in this release, spec overrides.
terraform {
  required_providers {
    test = {
      source = "terraform.io/builtin/test"
    }
  }
}

module "values" {
  source = "../.."

  image            = "registry.example.com/ndf:0.1.0"
  operator_image   = "registry.example.com/ndf:0.1.0"
  operator_enabled = false
  storage_mode     = "scale-out"
  api_replicas     = 2
  #checkov:skip=CKV_SECRET_6:the name of an existing Secret, not a secret value
  existing_postgres_secret       = "ndf-postgres"
  s3_bucket                      = "ndf-documents"
  s3_credentials                 = "ambient"
  existing_master_key_secret     = "ndf-keys"
  existing_api_key_hash_secret   = "ndf-keys"
  existing_bootstrap_keys_secret = "ndf-keys"
  tls_secret_name                = "ndf-tls"
  cluster_spec_overrides = {
    pod = { jobDeadlineSeconds = 600, drainDelaySeconds = 15 }
  }
}

resource "test_assertions" "existing" {
  component = "existing_secrets"

  equal "no_secrets_created" {
    description = "existing Secrets only: nothing to create"
    got         = module.values.secrets
    want        = {}
  }

  equal "s3_ambient" {
    description = "no credentials Secret: the pods' own identity"
    got         = module.values.values.cluster.spec.storage.scaleOut.s3
    want        = { bucket = "ndf-documents" }
  }

  equal "security" {
    description = "one existing Secret with three keys, and TLS"
    got         = module.values.values.cluster.spec.security
    want = {
      tls                 = { secretName = "ndf-tls" }
      apiKeySecret        = { name = "ndf-keys", key = "apiKeySecret" }
      masterKey           = { name = "ndf-keys", key = "masterKey" }
      bootstrapKeysSecret = { name = "ndf-keys", key = "bootstrapKeys" }
    }
  }

  equal "operator" {
    description = "operator off; its image split into the chart's repository and tag"
    got         = [module.values.values.operator.enabled, module.values.values.image]
    want        = [false, { repository = "registry.example.com/ndf", tag = "0.1.0" }]
  }

  equal "override" {
    description = "cluster_spec_overrides sets a top-level spec field"
    got         = module.values.values.cluster.spec.pod
    want        = { jobDeadlineSeconds = 600, drainDelaySeconds = 15 }
  }
}
