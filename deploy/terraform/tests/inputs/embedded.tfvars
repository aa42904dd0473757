# One replica on the embedded store; its first API key from an existing Secret.
image                = "registry.example.com/ndf:0.1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
embedded_volume_size = "20Gi"
#checkov:skip=CKV_SECRET_6:the name of an existing Secret, not a secret value
existing_bootstrap_keys_secret = "ndf-bootstrap-keys"
