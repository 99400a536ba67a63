{{/* Chart name, overridable. */}}
{{- define "proxy-order-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: the release name when it already contains the chart
name, else <release>-<chart>. At most 63 characters (some name fields are DNS labels).
*/}}
{{- define "proxy-order-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "proxy-order-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator's Pods (never change them: Deployment selectors are immutable). */}}
{{- define "proxy-order-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "proxy-order-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "proxy-order-operator.labels" -}}
helm.sh/chart: {{ include "proxy-order-operator.chart" . }}
{{ include "proxy-order-operator.selectorLabels" . }}
{{ include "proxy-order-operator.releaseLabels" . }}
{{- end }}

{{/* The labels of every object but the name: with an app.kubernetes.io/name of their own, Pods that
are not the operator's (the helm test Pod, the uninstall hook's) never match the selector of its
Deployment, Service, PodDisruptionBudget or NetworkPolicy. */}}
{{- define "proxy-order-operator.releaseLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: proxy-order-operator
{{- end }}

{{- define "proxy-order-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "proxy-order-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "true" when the operator must take the Lease (explicitly, or because of several replicas). */}}
{{- define "proxy-order-operator.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{- define "proxy-order-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Name of the Lease the operator takes (fixed in the operator: src/main.rs). */}}
{{- define "proxy-order-operator.leaseName" -}}
{{ include "proxy-order-operator.fullname" . }}
{{- end }}

{{/*
The rules of the namespaced resources the operator watches: ProxyOrders, their Secrets, Events.
A ClusterRole in cluster-wide mode, a Role in watchNamespace otherwise.
*/}}
{{- define "proxy-order-operator.watchRules" -}}
# ProxyOrders: watched (list, watch), read (get), finalizer added and removed (patch).
- apiGroups: ["proxy-solutions.net"]
  resources: ["proxyorders"]
  verbs: ["get", "list", "watch", "patch"]
# ProxyOrder status: conditions, the mirrored order, the password fingerprint.
- apiGroups: ["proxy-solutions.net"]
  resources: ["proxyorders/status"]
  verbs: ["get", "patch", "update"]
# Owner references with blockOwnerDeletion on the credentials Secrets need update on the
# owner's finalizers.
- apiGroups: ["proxy-solutions.net"]
  resources: ["proxyorders/finalizers"]
  verbs: ["update"]
# Secrets: the credentials Secrets the operator owns (get, create, patch) and the password and
# API-key Secrets ProxyOrders reference (get). All are watched by metadata only (list, watch),
# so that a referenced Secret created or fixed after its ProxyOrder is used at once. RBAC
# cannot narrow create, list or watch to names: this covers every Secret in scope.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Events about ProxyOrders (a Warning per refusal, an Event per provider call).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.rollout.enabled }}
# Rollout targets (rollout.enabled): the workloads ProxyOrders name in
# spec.secret.rolloutTargets, read by name (get) or label selector (list), watched by metadata
# (list, watch) so that a target created after its ProxyOrder is annotated at once, and the
# credentials-hash annotation of their Pod template set (patch, server-side apply).
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end }}

{{/* The rules of ProxyProviders (cluster-scoped): always in a ClusterRole. */}}
{{- define "proxy-order-operator.providerRules" -}}
# ProxyProviders (cluster-scoped): watched, and read when a ProxyOrder names one in
# spec.providerRef.
- apiGroups: ["proxy-solutions.net"]
  resources: ["proxyproviders"]
  verbs: ["get", "list", "watch"]
# ProxyProvider status: the Ready condition and the number of orders its API key lists
# (server-side apply: patch only).
- apiGroups: ["proxy-solutions.net"]
  resources: ["proxyproviders/status"]
  verbs: ["patch"]
{{- end }}

{{/* A duration of the values (the schema's form: 90, 90s, 1m30s, 500ms, 1h) in milliseconds. */}}
{{- define "proxy-order-operator.durationMs" -}}
{{- $d := toString . -}}
{{- if regexMatch "^[0-9]+$" $d -}}
{{- mul (atoi $d) 1000 -}}
{{- else -}}
{{- $ms := 0 -}}
{{- range regexFindAll "[0-9]+(ms|h|m|s)" $d -1 -}}
{{- $n := atoi (regexFind "^[0-9]+" .) -}}
{{- $unit := trimPrefix (regexFind "^[0-9]+" .) . -}}
{{- $ms = add $ms (mul $n (get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000) $unit)) -}}
{{- end -}}
{{- $ms -}}
{{- end -}}
{{- end }}
