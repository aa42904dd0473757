{{/*
Names. The operator's objects are <release>-operator (ndf-operator for a release named ndf,
as `ndf deploy operator-install` names them); the NdfCluster is cluster.name or the release
name, and the operator names its own objects after it (<name>, <name>-api-blue, …).
*/}}
{{- define "ndf.operatorName" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ndf.clusterName" -}}
{{- .Values.cluster.name | default .Release.Name -}}
{{- end -}}

{{- define "ndf.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object: Helm's recommended set plus commonLabels. */}}
{{- define "ndf.labels" -}}
helm.sh/chart: {{ include "ndf.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ndf
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The operator's pod selector (also its NetworkPolicy's and its Service's). */}}
{{- define "ndf.operatorSelector" -}}
app.kubernetes.io/name: ndf-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ndf.operatorLabels" -}}
{{ include "ndf.labels" . }}
app.kubernetes.io/name: ndf-operator
app.kubernetes.io/component: operator
{{- end -}}

{{/* image.repository:tag[@digest]; tag defaults to the chart's appVersion. */}}
{{- define "ndf.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
The container hardening of every ndf pod (ndf-operator's workload::hardened_container): the
same fields, compared with the committed operator install by deploy/helm/check.sh.
*/}}
{{- define "ndf.containerSecurityContext" -}}
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
privileged: false
readOnlyRootFilesystem: true
runAsGroup: 10001
runAsNonRoot: true
runAsUser: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ndf.podSecurityContext" -}}
runAsGroup: 10001
runAsNonRoot: true
runAsUser: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* present DICT KEY: "true" when KEY is set to a non-null value (CEL's has()). */}}
{{- define "ndf.present" -}}
{{- $m := index . 0 -}}{{- $k := index . 1 -}}
{{- if and (kindIs "map" $m) (hasKey $m $k) (not (kindIs "invalid" (index $m $k))) -}}true{{- end -}}
{{- end -}}

{{/*
checkov's digest and pull-policy checks (CKV_K8S_43, CKV_K8S_15) fail on an image pulled by tag:
accepted, with the reason on the object, only while image.digest is empty (the chart's default,
which cannot know your registry's digest; every profile pins one).
*/}}
{{- define "ndf.unpinnedImageSkips" -}}
{{- if not .Values.image.digest -}}
checkov.io/skip8: CKV_K8S_43=image.digest is empty, so the image is pulled by tag; set image.digest to pin it
checkov.io/skip9: CKV_K8S_15=image.digest is empty; with a digest IfNotPresent pulls exactly the pinned image
{{- end -}}
{{- end -}}

{{/*
exposedService (list ROOT SECTION): the Service a route or ingress sends to: SECTION.serviceName,
else the NdfCluster's (the operator names its active Service after it).
*/}}
{{- define "ndf.exposedService" -}}
{{- $root := index . 0 -}}{{- $section := index . 1 -}}
{{- $section.serviceName | default (include "ndf.clusterName" $root) -}}
{{- end -}}

{{/* exposureLabels (list ROOT SECTION COMPONENT): labels of the route's and ingress' objects. */}}
{{- define "ndf.exposureLabels" -}}
{{- $root := index . 0 -}}{{- $section := index . 1 -}}
{{ include "ndf.labels" $root }}
app.kubernetes.io/name: ndf
app.kubernetes.io/component: {{ index . 2 }}
{{- with $section.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
