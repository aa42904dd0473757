# What examples/aws passes to the module (pod-identity S3 credentials); the secret values
# (postgres_url, master_key, api_key_hash_secret, bootstrap_keys) are made up by test_values.py.
image           = "registry.example.com/ndf:0.1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
storage_mode    = "scale-out"
api_replicas    = 2
worker_replicas = 2
s3_bucket       = "ndf-documents"
s3_prefix       = "ndf"
s3_region       = "eu-west-1"
s3_credentials  = "ambient"
