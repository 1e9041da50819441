{{- define "direktiv-dispatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Kept short enough that "<fullname>-webhook" etc. stay valid DNS labels. */}}
{{- define "direktiv-dispatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "direktiv-dispatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "direktiv-dispatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "direktiv-dispatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "direktiv-dispatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "direktiv-dispatch.serviceAccountName" -}}
{{- default (include "direktiv-dispatch.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "direktiv-dispatch.image" -}}
{{- $repository := required "image.repository is required: build the image with the repository's Dockerfile, push it to a registry your cluster pulls from, and set image.repository to it" .Values.image.repository }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The rules in force as JSON: rulesYaml verbatim when given, else the rules map. */}}
{{- define "direktiv-dispatch.rules" -}}
{{- if .Values.rulesYaml }}
{{- $rules := fromYaml .Values.rulesYaml }}
{{- if hasKey $rules "Error" }}
{{- fail (printf "rulesYaml is not a YAML mapping: %s" $rules.Error) }}
{{- end }}
{{- toJson $rules }}
{{- else }}
{{- toJson (.Values.rules | default dict) }}
{{- end }}
{{- end }}

{{/* JSON list; the rules' functionsNamespaces, or the agent's default. */}}
{{- define "direktiv-dispatch.functionsNamespaces" -}}
{{- (include "direktiv-dispatch.rules" . | fromJson).functionsNamespaces | default (list "direktiv-services-direktiv") | uniq | toJson }}
{{- end }}

{{- define "direktiv-dispatch.webhookServiceName" -}}
{{- printf "%s-webhook" (include "direktiv-dispatch.fullname" .) }}
{{- end }}

{{/* The Secret the webhook's certificate is mounted from, when it does not manage its own. */}}
{{- define "direktiv-dispatch.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "direktiv-dispatch.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{/* "true" when the agent keeps its own webhook CA (neither cert-manager nor a Secret of yours). */}}
{{- define "direktiv-dispatch.agentManagedTLS" -}}
{{- if and (not .Values.tls.certManager.enabled) (not .Values.tls.existingSecret) }}true{{ end }}
{{- end }}

{{- define "direktiv-dispatch.webhookCASecretName" -}}
{{- printf "%s-webhook-ca" (include "direktiv-dispatch.fullname" .) }}
{{- end }}

{{- define "direktiv-dispatch.adminTokenSecretName" -}}
{{- default (printf "%s-admin-token" (include "direktiv-dispatch.fullname" .)) .Values.adminToken.existingSecret }}
{{- end }}

{{/* "true" when the agent creates and reads the admin token Secret itself. */}}
{{- define "direktiv-dispatch.agentManagedToken" -}}
{{- if and (not .Values.adminToken.value) (not .Values.adminToken.existingSecret) }}true{{ end }}
{{- end }}

{{/* Every name the API server may use to reach the webhook Service. */}}
{{- define "direktiv-dispatch.webhookDNSNames" -}}
{{- $svc := include "direktiv-dispatch.webhookServiceName" . }}
{{- list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) | toJson }}
{{- end }}

{{/* Refuses combinations that would deploy a broken or dangerous setup. */}}
{{- define "direktiv-dispatch.validate" -}}
{{- if and .Values.serviceMonitor.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) }}
{{- fail "serviceMonitor.enabled needs the Prometheus Operator's ServiceMonitor API (monitoring.coreos.com/v1), which this cluster does not serve" }}
{{- end }}
{{- if and .Values.tls.certManager.enabled (not (.Capabilities.APIVersions.Has "cert-manager.io/v1/Certificate")) }}
{{- fail "tls.certManager.enabled needs cert-manager's API (cert-manager.io/v1), which this cluster does not serve: install cert-manager first, or leave TLS to the agent" }}
{{- end }}
{{- if and .Values.tls.certManager.enabled .Values.tls.existingSecret }}
{{- fail "tls.certManager.enabled and tls.existingSecret exclude each other: pick who issues the webhook certificate" }}
{{- end }}
{{- if and .Values.tls.existingSecret (not .Values.tls.caBundle) }}
{{- fail "tls.existingSecret needs tls.caBundle (base64 PEM of the CA that signed it): the API server must trust the webhook" }}
{{- end }}
{{- if and .Values.adminToken.value .Values.adminToken.existingSecret }}
{{- fail "adminToken.value and adminToken.existingSecret exclude each other" }}
{{- end }}
{{- $fns := include "direktiv-dispatch.functionsNamespaces" . | fromJsonArray }}
{{- if has .Release.Namespace $fns }}
{{- fail (printf "rules.functionsNamespaces must not contain the agent's own namespace %q: the webhook never intercepts it" .Release.Namespace) }}
{{- end }}
{{- if and .Values.direktiv.functionsTargetNamespace (eq .Values.direktiv.functionsTargetNamespace .Values.direktiv.functionsNamespace) }}
{{- fail (printf "direktiv.functionsTargetNamespace %q is Direktiv's own functions namespace (direktiv.functionsNamespace): Direktiv >= 0.8.1 deletes workloads it did not define there" .Values.direktiv.functionsTargetNamespace) }}
{{- end }}
{{- if lt (int .Values.agent.drainSeconds) (int .Values.agent.longestCallSeconds) }}
{{- fail (printf "agent.drainSeconds (%d) must be at least agent.longestCallSeconds (%d): a shorter drain cuts running calls on every rollout" (int .Values.agent.drainSeconds) (int .Values.agent.longestCallSeconds)) }}
{{- end }}
{{- if gt (float64 .Values.agent.defaultDeadlineSeconds) (float64 .Values.agent.longestCallSeconds) }}
{{- fail (printf "agent.defaultDeadlineSeconds (%v) must not exceed agent.longestCallSeconds (%d)" .Values.agent.defaultDeadlineSeconds (int .Values.agent.longestCallSeconds)) }}
{{- end }}
{{- $pause := 0 }}
{{- if ne .Values.preStop.mode "none" }}{{ $pause = int .Values.preStop.sleepSeconds }}{{ end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (add $pause (int .Values.agent.drainSeconds)) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStop.sleepSeconds (%d) + agent.drainSeconds (%d)" (int .Values.terminationGracePeriodSeconds) $pause (int .Values.agent.drainSeconds)) }}
{{- end }}
{{- end }}

{{/*
The proxy's URL as Direktiv's engine is told it (http_proxy); the agent removes exactly this
value from function containers, which Direktiv copies it into.
*/}}
{{- define "direktiv-dispatch.proxyURL" -}}
{{- printf "http://%s-proxy.%s.svc:%v" (include "direktiv-dispatch.fullname" .) .Release.Namespace .Values.service.proxyPort -}}
{{- end }}
