# The CRD and the operator only; NdfClusters come from elsewhere (GitOps).
operator_image  = "registry.example.com/ndf:0.1.0"
cluster_enabled = false
