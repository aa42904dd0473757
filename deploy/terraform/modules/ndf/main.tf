# Installs the ndf chart into an existing cluster, with the Secrets its values name. The values
# and the Secrets' names and data come from ../ndf-values (module.values in values.tf).

locals {
  labels = merge(var.labels, {
    "app.kubernetes.io/name"       = "ndf"
    "app.kubernetes.io/instance"   = var.name
    "app.kubernetes.io/managed-by" = "terraform"
  })
  namespace = var.create_namespace ? kubernetes_namespace_v1.ndf[0].metadata[0].name : var.namespace
  from_oci  = var.chart_repository != ""
}

resource "kubernetes_namespace_v1" "ndf" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name = var.namespace
    # Every pod the chart runs meets the restricted standard (non-root, no privilege
    # escalation, all capabilities dropped, RuntimeDefault seccomp).
    labels = merge(local.labels, {
      "pod-security.kubernetes.io/enforce" = "restricted"
      "pod-security.kubernetes.io/audit"   = "restricted"
      "pod-security.kubernetes.io/warn"    = "restricted"
    })
  }
}

# One Secret per value given (PostgreSQL URL, S3 credentials, master key, hashing secret,
# bootstrap keys, helm test key); the keys are known at plan time, the data is sensitive.
resource "kubernetes_secret_v1" "ndf" {
  for_each = module.values.secrets

  metadata {
    name      = each.key
    namespace = local.namespace
    labels    = local.labels
  }

  type = "Opaque"
  data = module.values.secret_data[each.key]
}

resource "helm_release" "ndf" {
  name       = var.name
  namespace  = local.namespace
  chart      = local.from_oci ? "ndf" : var.chart_path
  repository = local.from_oci ? var.chart_repository : null
  version    = var.chart_version
  values     = [module.values.values_yaml]
  # Helm installs a chart's CRDs on first install only and never upgrades them: upgrade the
  # CRD with `ndf deploy crd | kubectl apply --server-side -f -` before a chart upgrade.
  skip_crds = !var.install_crds

  # A failed install or upgrade is rolled back, not left half applied.
  atomic          = true
  cleanup_on_fail = true
  wait            = true
  timeout         = var.timeout_seconds
  max_history     = 10

  # The chart's values name these Secrets: they exist before its pods start.
  depends_on = [kubernetes_secret_v1.ndf]
}
