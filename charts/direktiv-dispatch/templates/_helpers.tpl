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
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
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

{{- define "direktiv-dispatch.tlsSecretName" -}}
{{- printf "%s-tls" (include "direktiv-dispatch.fullname" .) }}
{{- end }}

{{- define "direktiv-dispatch.adminTokenSecretName" -}}
{{- default (printf "%s-admin-token" (include "direktiv-dispatch.fullname" .)) .Values.adminToken.existingSecret }}
{{- end }}

{{/* Every name the API server may use to reach the webhook Service. */}}
{{- define "direktiv-dispatch.webhookDNSNames" -}}
{{- $svc := include "direktiv-dispatch.webhookServiceName" . }}
{{- list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) | toJson }}
{{- end }}

{{/* Refuses combinations that would deploy a broken or dangerous setup. */}}
{{- define "direktiv-dispatch.validate" -}}
{{- $fns := include "direktiv-dispatch.functionsNamespaces" . | fromJsonArray }}
{{- if has .Release.Namespace $fns }}
{{- fail (printf "rules.functionsNamespaces must not contain the agent's own namespace %q: the webhook never intercepts it" .Release.Namespace) }}
{{- end }}
{{- with .Values.direktiv.functionsTargetNamespace }}
{{- if has . $fns }}
{{- fail (printf "direktiv.functionsTargetNamespace %q is a functions namespace: Direktiv >= 0.8.1 deletes workloads it did not define there" .) }}
{{- end }}
{{- end }}
{{- $pause := 0 }}
{{- if ne .Values.preStop.mode "none" }}{{ $pause = int .Values.preStop.sleepSeconds }}{{ end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (add $pause (int .Values.agent.drainSeconds)) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStop.sleepSeconds (%d) + agent.drainSeconds (%d)" (int .Values.terminationGracePeriodSeconds) $pause (int .Values.agent.drainSeconds)) }}
{{- end }}
{{- end }}
