# `terraform test`: scale-out on PostgreSQL and S3 with every Secret created from values,
# autoscaling and blue-green rollouts. The secret values below are made up for the test.
terraform {
  required_providers {
    test = {
      source = "terraform.io/builtin/test"
    }
  }
}

module "values" {
  source = "../.."

  name                = "docs"
  operator_image      = "registry.example.com/ndf@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  image               = "registry.example.com/ndf:0.1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  storage_mode        = "scale-out"
  api_replicas        = 3
  worker_replicas     = 4
  autoscaling_enabled = true
  prometheus_address  = "http://prometheus-operated.monitoring.svc:9090"
  rollout_strategy    = "BlueGreen"
  #checkov:skip=CKV_SECRET_4:a made-up URL for the test; its password is the marker test-only
  postgres_url     = "postgres://ndf:test-only@db.internal:5432/ndf?sslmode=require"
  s3_bucket        = "ndf-documents"
  s3_prefix        = "prod"
  s3_region        = "eu-west-1"
  s3_access_key_id = "test-only-key-id"
  #checkov:skip=CKV_SECRET_6:a made-up value for the test (marker test-only), not a credential
  s3_secret_access_key = "test-only-secret-access-key"
  master_key           = "test-only-master-key"
  #checkov:skip=CKV_SECRET_6:a made-up value for the test (marker test-only), not a credential
  api_key_hash_secret = "test-only-hash-secret-0123456789abcdef"
  bootstrap_keys      = "acme admin bootstrap ndfk_test_only_not_a_key"
  test_api_key        = "ndfk_test_only_not_a_key"
}

resource "test_assertions" "scale_out" {
  component = "scale_out"

  equal "storage" {
    description = "PostgreSQL and S3 from the Secrets this module creates"
    got         = module.values.values.cluster.spec.storage
    want = {
      scaleOut = {
        postgres = { urlSecret = { name = "docs-postgres", key = "url" } }
        s3 = {
          bucket            = "ndf-documents"
          prefix            = "prod"
          region            = "eu-west-1"
          credentialsSecret = { name = "docs-s3" }
        }
      }
    }
  }

  equal "security" {
    description = "master key, hashing secret and bootstrap keys, each from its Secret"
    got         = module.values.values.cluster.spec.security
    want = {
      apiKeySecret        = { name = "docs-api-key-hash", key = "apiKeySecret" }
      masterKey           = { name = "docs-master-key", key = "masterKey" }
      bootstrapKeysSecret = { name = "docs-bootstrap-keys", key = "bootstrapKeys" }
    }
  }

  equal "autoscaling" {
    description = "autoscaling with the defaults of the variables"
    got         = module.values.values.cluster.spec.autoscaling
    want = {
      enabled                   = true
      minReplicas               = 1
      maxReplicas               = 10
      targetQueuedJobsPerWorker = 4
      targetCPUUtilization      = 70
      prometheusAddress         = "http://prometheus-operated.monitoring.svc:9090"
    }
  }

  equal "secrets" {
    description = "six Secrets to create, with their keys"
    got         = module.values.secrets
    want = {
      "docs-postgres"       = ["url"]
      "docs-s3"             = ["accessKeyId", "secretAccessKey"]
      "docs-master-key"     = ["masterKey"]
      "docs-api-key-hash"   = ["apiKeySecret"]
      "docs-bootstrap-keys" = ["bootstrapKeys"]
      "docs-test-api-key"   = ["apiKey"]
    }
  }

  equal "operator_image" {
    description = "an image by digest only"
    got         = module.values.values.image
    want        = { repository = "registry.example.com/ndf", digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }
  }

  equal "tests" {
    description = "helm test reads the test key's Secret"
    got         = module.values.values.tests
    want        = { apiKeySecret = { name = "docs-test-api-key", key = "apiKey" } }
  }

  check "no_secret_in_values" {
    description = "no secret value appears in the chart's values"
    condition   = length(regexall("test-only", module.values.values_yaml)) == 0
  }
}
