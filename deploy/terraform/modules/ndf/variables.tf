# The ndf module's own inputs: where the chart comes from and where it goes. The chart's settings
# are the ndf-values variables, declared again in values_variables.tf (a generated copy:
# deploy/terraform/lint.py --sync writes it and values.tf, and fails the check when they drift).

variable "namespace" {
  type        = string
  default     = "ndf"
  description = "Namespace of the release, the NdfCluster and the Secrets."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "The namespace must be a DNS label (lower case letters, digits, '-', at most 63)."
  }
}

variable "create_namespace" {
  type        = bool
  default     = false
  description = "Create the namespace (labelled for the restricted Pod Security Standard); false: it exists."
}

variable "install_crds" {
  type        = bool
  default     = true
  description = "Install the chart's NdfCluster CRD (from its crds/ folder); false: it is managed elsewhere (`ndf deploy crd`)."
}

variable "chart_path" {
  type        = string
  default     = ""
  description = "Local path of the chart (e.g. a checkout's deploy/helm/ndf); used when chart_repository is empty."
}

variable "chart_repository" {
  type        = string
  default     = ""
  description = "OCI repository holding the chart (oci://registry/path); empty: chart_path."

  validation {
    condition     = var.chart_repository == "" || can(regex("^oci://[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$", var.chart_repository))
    error_message = "The chart_repository must be an oci:// repository URL."
  }
}

variable "chart_version" {
  type        = string
  description = "Exact chart version to install (no ranges): the pin of what is deployed."

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$", var.chart_version))
    error_message = "The chart_version must be an exact semantic version such as 0.1.0, not a range."
  }
}

variable "timeout_seconds" {
  type        = number
  default     = 600
  description = "How long Helm waits for the release's objects to be ready before rolling back."

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 3600
    error_message = "The timeout_seconds must be from 60 to 3600."
  }
}

variable "labels" {
  type        = map(string)
  default     = {}
  description = "Extra labels on the Secrets and the namespace this module creates."
}
