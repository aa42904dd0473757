output "values" {
  description = "The chart's values (image, imagePullSecrets, operator, cluster, tests) as an object. Secret names only, never secret values."
  value       = local.values
}

output "values_yaml" {
  description = "The same values as a YAML document, for helm_release's `values`."
  value       = yamlencode(local.values)
}

output "secrets" {
  description = "The Secrets to create: name => list of data keys (no values)."
  value       = local.created_keys
}

output "secret_data" {
  description = "The Secrets to create: name => data key => value."
  value       = local.created_data
  sensitive   = true
}

output "secret_names" {
  description = "The Secret each purpose reads (postgres, s3, master_key, api_key_hash, bootstrap_keys, test_api_key), created or existing; empty when none."
  value       = local.secret_names
}
