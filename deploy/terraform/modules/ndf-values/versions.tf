# Provider-free on purpose: `terraform init -backend=false && terraform validate` and
# `terraform test` run on it offline (deploy/terraform/check.sh), which they cannot do on a
# module that needs provider schemas.
terraform {
  required_version = "~> 1.0"
}
