{{/* The release's full name: the release name, or release-chart when it does not contain the chart name. */}}
{{- define "rewind.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rewind.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rewind.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "rewind.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "rewind.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rewind.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "rewind.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
What the operator does in a watched namespace, and nothing more (read operator/rewind/controller/):
its two kinds (the operator's informers list and watch them; patched for finalizers, labels and a
rollback's spec.version; status through the status subresource), the serving Deployments and Services
(watched by the label rewind.dev/deployment; applied server-side, which creates; one GET of a name
before creating it, to check that it is not somebody else's) and their Pods (watched, read only),
Events, and optionally HTTPRoutes (only those that opted in) and named Secrets; its serving record (written, never
watched, but by the optional sink; deleted only past its retention, the one delete Rewind makes).
*/}}
{{- define "rewind.rules" -}}
- apiGroups: [rewind.dev]
  resources: [modeldeployments, modelversions]
  verbs: [get, list, watch, patch]
- apiGroups: [rewind.dev]
  resources: [modeldeployments/status, modelversions/status]
  verbs: [get, patch]
# The serving record: written (created, patched), never watched; listed and deleted to prune by retention.
- apiGroups: [rewind.dev]
  resources: [servingrecords]
  verbs: [get, list, create, patch, delete]
{{- if .Values.sink.url }}
# The CloudEvents sink (its own Deployment, the same ServiceAccount) follows the record.
- apiGroups: [rewind.dev]
  resources: [servingrecords]
  verbs: [watch]
{{- end }}
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if .Values.rbac.gatewayAPI }}
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, patch]
{{- end }}
{{- with .Values.rbac.secretNames }}
- apiGroups: [""]
  resources: [secrets]
  resourceNames: {{ toJson . }}
  verbs: [get]
{{- end }}
{{- end -}}
