# Scale-out like deploy/kubernetes/examples/production.yaml, every Secret created by the module.
# The secret values themselves (postgres_url, s3_access_key_id, s3_secret_access_key, master_key,
# api_key_hash_secret, bootstrap_keys, test_api_key) are made up by test_values.py at run time.
image                  = "registry.example.com/ndf:0.1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
operator_image         = "registry.example.com/ndf:0.1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
storage_mode           = "scale-out"
api_replicas           = 3
worker_replicas        = 4
worker_job_concurrency = 4
worker_resources = {
  cpu_request    = "2"
  memory_request = "2Gi"
  cpu_limit      = "4"
  memory_limit   = "6Gi"
}
autoscaling_enabled           = true
autoscaling_min_workers       = 2
autoscaling_max_workers       = 20
autoscaling_api_min_replicas  = 3
autoscaling_api_max_replicas  = 10
target_queued_jobs_per_worker = 8
prometheus_address            = "http://prometheus-operated.monitoring.svc:9090"
rollout_strategy              = "BlueGreen"
tls_secret_name               = "ndf-tls"
otlp_endpoint                 = "http://otel-collector.monitoring.svc:4318"
monitoring = {
  service_monitor   = true
  prometheus_rule   = true
  grafana_dashboard = true
}
monitoring_labels = { release = "kube-prometheus-stack" }
s3_bucket         = "ndf-documents"
s3_prefix         = "prod"
s3_region         = "eu-west-1"
