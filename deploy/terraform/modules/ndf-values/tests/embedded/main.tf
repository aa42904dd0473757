# `terraform test` (experimental in Terraform 1.0; deploy/terraform/check.sh runs it on a copy of
# the module): the smallest install, one replica on the embedded store, first keys from a value.
terraform {
  required_providers {
    # Built into Terraform: nothing is downloaded.
    test = {
      source = "terraform.io/builtin/test"
    }
  }
}

module "values" {
  source = "../.."

  image = "registry.example.com/ndf:0.1.0"
  # A made-up key line in the shape `ndf keys generate` prints.
  bootstrap_keys = "acme admin bootstrap ndfk_test_only_not_a_key"
}

resource "test_assertions" "embedded" {
  component = "embedded"

  equal "storage" {
    description = "embedded store with the default volume size"
    got         = module.values.values.cluster.spec.storage
    want        = { embedded = { size = "10Gi" } }
  }

  equal "replicas" {
    description = "one API replica, no workers"
    got         = [module.values.values.cluster.spec.api.replicas, module.values.values.cluster.spec.workers.replicas]
    want        = [1, 0]
  }

  equal "security" {
    description = "the bootstrap keys from the Secret this module creates; nothing else"
    got         = module.values.values.cluster.spec.security
    want        = { bootstrapKeysSecret = { name = "ndf-bootstrap-keys", key = "bootstrapKeys" } }
  }

  equal "secrets" {
    description = "exactly one Secret to create"
    got         = module.values.secrets
    want        = { "ndf-bootstrap-keys" = ["bootstrapKeys"] }
  }

  equal "top_level" {
    description = "the chart's top-level keys; no tests key without a test API key"
    got         = sort(keys(module.values.values))
    want        = tolist(["cluster", "operator"])
  }

  check "yaml" {
    description = "values_yaml is the same document"
    condition   = yamldecode(module.values.values_yaml) == module.values.values
  }
}
