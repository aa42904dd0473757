# Needs the aws, random, helm and kubernetes providers: `terraform init` downloads them, which
# deploy/terraform/check.sh cannot do (no provider registry where it runs). There this
# configuration gets terraform fmt, checkov, trivy and lint.py, not `terraform validate` or a
# plan; run those where the registry is reachable (README.md).
terraform {
  required_version = "~> 1.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7.0"
    }
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
