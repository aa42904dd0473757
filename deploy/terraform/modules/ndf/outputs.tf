output "release" {
  description = "Name, namespace, chart, chart version and revision of the Helm release."
  value = {
    name      = helm_release.ndf.name
    namespace = helm_release.ndf.namespace
    chart     = helm_release.ndf.metadata[0].chart
    version   = helm_release.ndf.metadata[0].version
    revision  = helm_release.ndf.metadata[0].revision
  }
}

output "values" {
  description = "The values the chart was installed with (Secret names, never secret values)."
  value       = module.values.values
}

output "secret_names" {
  description = "The Secret each purpose reads (postgres, s3, master_key, api_key_hash, bootstrap_keys, test_api_key), created or existing."
  value       = module.values.secret_names
}

output "created_secrets" {
  description = "The Secrets this module creates: name => data keys (no values)."
  value       = module.values.secrets
}
