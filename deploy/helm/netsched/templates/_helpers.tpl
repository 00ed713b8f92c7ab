{{/* The chart's names and labels: one home for each. */}}

{{- define "netsched.name" -}}
{{- .Chart.Name -}}
{{- end -}}

{{/* The operator's objects are named after the release; "netsched" for a release of that name. */}}
{{- define "netsched.fullname" -}}
{{- if eq .Release.Name .Chart.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "netsched.probeName" -}}
{{- printf "%s-probe" (include "netsched.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "netsched.probeNamespace" -}}
{{- .Values.probe.namespace | default .Release.Namespace -}}
{{- end -}}

{{- define "netsched.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "netsched.labels" -}}
app.kubernetes.io/name: {{ include "netsched.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "netsched.operatorSelector" -}}
app.kubernetes.io/name: {{ include "netsched.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "netsched.probeSelector" -}}
app.kubernetes.io/name: {{ include "netsched.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: probe
{{- end -}}

{{/* The restricted pod security profile's container settings, for both workloads. */}}
{{- define "netsched.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* "key=value,..." of a map: the probe agents' --node-selector, equal to the DaemonSet's. */}}
{{- define "netsched.selectorString" -}}
{{- $pairs := list -}}
{{- range $key, $value := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
