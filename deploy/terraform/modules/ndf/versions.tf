# Needs the helm and kubernetes providers, configured by the caller (a reusable module declares
# no provider blocks). Their schemas cannot be downloaded where deploy/terraform/check.sh runs,
# so this module is checked by terraform fmt, checkov, trivy and deploy/terraform/lint.py, not by
# `terraform validate`; its values logic is in ../ndf-values, which is validated and tested.
terraform {
  required_version = "~> 1.0"

  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.36.0"
    }
  }
}
