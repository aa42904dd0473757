{{/*
The NdfCluster CRD's CEL rules (x-kubernetes-validations), mirrored so `helm install`,
`helm upgrade` and `helm template` refuse what the API server would refuse, before anything is
applied, with the SAME message. JSON Schema (values.schema.json) cannot say "when X then Y"
across fields in general, so each rule is here. Absent fields take the CRD's defaults, as the
API server applies them before CEL runs. deploy/helm/check.sh proves that every CEL message of
the CRD appears here and that a planted violation of each rule is refused.
*/}}
{{- define "ndf.validateCluster" -}}
{{- $name := include "ndf.clusterName" . -}}
{{- if gt (len $name) 40 -}}
{{- fail "the name of an NdfCluster is at most 40 characters (its objects append up to 15)" -}}
{{- end -}}
{{- $spec := .Values.cluster.spec | default dict -}}
{{- include "ndf.validateSpec" $spec -}}
{{- /* The transition rule compares with the live object: only `helm upgrade`/`install`
       against a cluster can look it up (offline, lookup answers nothing). */ -}}
{{- $live := lookup "ndf.dev/v1alpha1" "NdfCluster" .Release.Namespace $name -}}
{{- include "ndf.validateStorageTransition" (dict "old" $live "new" $spec) -}}
{{- end -}}

{{/* The effective storage: the CRD's default (embedded) when absent. */}}
{{- define "ndf.storageMode" -}}
{{- $storage := dig "storage" (dict "embedded" (dict "size" "10Gi")) . -}}
{{- $embedded := include "ndf.present" (list $storage "embedded") -}}
{{- $scaleOut := include "ndf.present" (list $storage "scaleOut") -}}
{{- if and $embedded (not $scaleOut) -}}embedded
{{- else if and $scaleOut (not $embedded) -}}scaleOut
{{- end -}}
{{- end -}}

{{- define "ndf.validateSpec" -}}
{{- $s := . -}}
{{- $mode := include "ndf.storageMode" $s -}}
{{- if not $mode -}}
{{- fail "storage: set exactly one of embedded and scaleOut" -}}
{{- end -}}
{{- $embedded := eq $mode "embedded" -}}
{{- $autoscaling := dig "autoscaling" "enabled" false $s -}}
{{- $strategy := dig "rollout" "strategy" "Rolling" $s -}}
{{- if and $embedded (ne (int (dig "api" "replicas" 1 $s)) 1) -}}
{{- fail "embedded storage runs exactly one API replica (api.replicas: 1)" -}}
{{- end -}}
{{- if and $embedded (ne (int (dig "workers" "replicas" 0 $s)) 0) -}}
{{- fail "embedded storage has no separate workers (workers.replicas: 0): the API replica runs the jobs" -}}
{{- end -}}
{{- if and $embedded $autoscaling -}}
{{- fail "embedded storage cannot autoscale: use scaleOut storage" -}}
{{- end -}}
{{- if and $embedded (ne $strategy "Rolling") -}}
{{- fail "embedded storage needs rollout.strategy Rolling (one volume cannot serve two colours)" -}}
{{- end -}}
{{- if and (eq $mode "scaleOut") (not (include "ndf.present" (list (dig "security" (dict) $s) "masterKey"))) -}}
{{- fail "scaleOut storage needs security.masterKey: ndf encrypts what it keeps outside its data directory" -}}
{{- end -}}
{{- if and (dig "gpu" "enabled" false $s) (lt (int (dig "gpu" "count" 1 $s)) 1) -}}
{{- fail "gpu.count must be at least 1 when gpu.enabled" -}}
{{- end -}}
{{- if gt (int (dig "autoscaling" "minReplicas" 1 $s)) (int (dig "autoscaling" "maxReplicas" 10 $s)) -}}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- $as := dig "autoscaling" (dict) $s -}}
{{- if and (include "ndf.present" (list $as "apiMinReplicas")) (include "ndf.present" (list $as "apiMaxReplicas")) -}}
{{- if gt (int $as.apiMinReplicas) (int $as.apiMaxReplicas) -}}
{{- fail "autoscaling.apiMinReplicas must not exceed autoscaling.apiMaxReplicas" -}}
{{- end -}}
{{- end -}}
{{- if and $autoscaling (not (dig "autoscaling" "prometheusAddress" "" $s)) -}}
{{- fail "autoscaling.prometheusAddress is required when autoscaling is enabled (KEDA reads the queue depth there)" -}}
{{- end -}}
{{- $rollout := dig "rollout" (dict) $s -}}
{{- if include "ndf.present" (list $rollout "analysis") -}}
{{- if ne $strategy "BlueGreen" -}}
{{- fail "rollout.analysis runs only with strategy BlueGreen" -}}
{{- end -}}
{{- include "ndf.validateAnalysis" $rollout.analysis -}}
{{- end -}}
{{- end -}}

{{- define "ndf.validateAnalysis" -}}
{{- $prometheus := include "ndf.present" (list . "prometheus") -}}
{{- if eq $prometheus (include "ndf.present" (list . "smoke")) -}}
{{- fail "rollout.analysis: set exactly one of prometheus and smoke" -}}
{{- end -}}
{{- if $prometheus -}}
{{- $p := .prometheus -}}
{{- if ge (int (dig "failureLimit" 0 $p)) (int (dig "count" 5 $p)) -}}
{{- fail "rollout.analysis.prometheus.failureLimit must be below count" -}}
{{- end -}}
{{- $address := toString (dig "address" "" $p) -}}
{{- if not (or (hasPrefix "http://" $address) (hasPrefix "https://" $address)) -}}
{{- fail "rollout.analysis.prometheus.address must be an http(s) URL" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* old: the live NdfCluster (empty when there is none), new: the spec from values. */}}
{{- define "ndf.validateStorageTransition" -}}
{{- with .old -}}
{{- $oldMode := include "ndf.storageMode" (.spec | default dict) -}}
{{- if and $oldMode (ne $oldMode (include "ndf.storageMode" $.new)) -}}
{{- fail "storage cannot switch between embedded and scaleOut in place: migrate to a new NdfCluster" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
validateExposure (list ROOT "route"|"ingress"): what a route or ingress needs beyond its schema.
*/}}
{{- define "ndf.validateExposure" -}}
{{- $root := index . 0 -}}{{- $key := index . 1 -}}
{{- $v := index $root.Values $key -}}
{{- if not (or $root.Values.cluster.enabled $v.serviceName) -}}
{{- fail (printf "%s.enabled needs cluster.enabled, or %s.serviceName (the name of the NdfCluster managed elsewhere in this namespace)" $key $key) -}}
{{- end -}}
{{- if $root.Values.cluster.enabled -}}
{{- $spec := $root.Values.cluster.spec | default dict -}}
{{- if and (dig "network" "policies" true $spec) (not (dig "network" "apiIngressFrom" (list) $spec)) -}}
{{- fail (printf "%s.enabled: the API's NetworkPolicy admits only pods of namespace %s: name the %s's pods in cluster.spec.network.apiIngressFrom (e.g. {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: NAMESPACE}}}, plus {podSelector: {}} to keep this namespace's, the helm test's), or set cluster.spec.network.policies: false" $key $root.Release.Namespace (ternary "gateway" "ingress controller" (eq $key "route"))) -}}
{{- end -}}
{{- if and (eq $key "route") (include "ndf.present" (list (dig "security" (dict) $spec) "tls")) (not $v.backendTLS.caCertificateRefs) -}}
{{- fail "route.enabled with cluster.spec.security.tls: the API speaks HTTPS; set route.backendTLS.caCertificateRefs (the CA of the API's certificate) so the gateway can verify it (a BackendTLSPolicy)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
