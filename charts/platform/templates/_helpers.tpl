{{/*
Prefix of every object name: release "kantoor" gives kantoor-directory, kantoor-connector-exact-online.
*/}}
{{- define "kantoor.prefix" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "kantoor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kantoor.prefix" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Every workload the release runs, as {name, component, connector, protocol, entrypoint, values}: the enabled
components, then one per accounting connector. `values` is componentDefaults with the component's own
top-level keys put over it (connectors: componentDefaults, then accountingConnector, then the entry).
The list is handed back in .workloads of the dict passed in, so callers keep real numbers and maps
instead of a YAML round trip.
Usage: {{- $ctx := dict "root" $ }}{{- include "kantoor.collectWorkloads" $ctx }} ... $ctx.workloads
*/}}
{{- define "kantoor.collectWorkloads" -}}
{{- $root := .root -}}
{{- $workloads := list -}}
{{- range $name, $component := $root.Values.components -}}
{{- if $component.enabled -}}
{{- $values := deepCopy $root.Values.componentDefaults -}}
{{- range $key, $value := $component -}}
{{- $_ := set $values $key $value -}}
{{- end -}}
{{- $isGateway := eq $name "gateway" -}}
{{- $workloads = append $workloads (dict
      "name" $name
      "component" $name
      "connector" ""
      "protocol" (ternary "http" "grpc" $isGateway)
      "entrypoint" (ternary "gateway/dist/main.js" (printf "services/%s/dist/main.js" $name) $isGateway)
      "values" $values) -}}
{{- end -}}
{{- end -}}
{{- range $connector := $root.Values.connectors -}}
{{- $values := deepCopy $root.Values.componentDefaults -}}
{{- range $key, $value := $root.Values.accountingConnector -}}
{{- $_ := set $values $key $value -}}
{{- end -}}
{{- range $key, $value := $connector -}}
{{- if ne $key "name" -}}
{{- $_ := set $values $key $value -}}
{{- end -}}
{{- end -}}
{{- $workloads = append $workloads (dict
      "name" (printf "connector-%s" $connector.name)
      "component" "accounting-connector"
      "connector" $connector.name
      "protocol" "grpc"
      "entrypoint" "services/accounting-connector/dist/main.js"
      "values" $values) -}}
{{- end -}}
{{- $_ := set . "workloads" $workloads -}}
{{- end -}}

{{/* Object name of a workload: <prefix>-<workload name>. Expects (dict "root" $ "w" $workload). */}}
{{- define "kantoor.workloadName" -}}
{{- printf "%s-%s" (include "kantoor.prefix" .root) .w.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kantoor.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: kantoor
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Expects (dict "root" $ "w" $workload). */}}
{{- define "kantoor.selectorLabels" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .w.name }}
{{- end -}}

{{/* Expects (dict "root" $ "w" $workload). */}}
{{- define "kantoor.labels" -}}
{{ include "kantoor.commonLabels" .root }}
app.kubernetes.io/name: {{ .w.name }}
app.kubernetes.io/component: {{ .w.component }}
{{- with .w.connector }}
kantoor.io/connector: {{ . }}
{{- end }}
{{- end -}}

{{/*
Image reference. Skaffold sets repository to the built image and tag to "<tag>@<digest>", which stays a
valid reference. Expects (dict "root" $ "w" $workload).
*/}}
{{- define "kantoor.image" -}}
{{- $image := .w.values.image | default dict -}}
{{- $repository := $image.repository | default (printf "kantoor/%s" .w.component) -}}
{{- $tag := $image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- with .root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .) $repository $tag -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
A setting read from a key of an existing Secret: the only way a secret reaches a process.
Expects (dict "name" "KAFKA_SASL_PASSWORD" "secret" "kantoor-kafka" "key" "password").
*/}}
{{- define "kantoor.secretSetting" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret | quote }}
      key: {{ .key | quote }}
{{- end -}}

{{/*
The address people open Kantoor at, the base of the links in e-mails: publicUrl, else https://<ingress host>
while the gateway's Ingress is on with a host that is not a wildcard; empty when neither (refused by
kantoor.validateValues while document-intake or notification is enabled).
*/}}
{{- define "kantoor.publicUrl" -}}
{{- $gateway := .Values.components.gateway -}}
{{- $ingress := $gateway.ingress | default dict -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else if and $gateway.enabled $ingress.enabled $ingress.host (not (hasPrefix "*" $ingress.host)) -}}
{{- printf "https://%s" $ingress.host -}}
{{- end -}}
{{- end -}}

{{/* DIRECTORY, DOCUMENT_INTAKE, ...: how a workload name appears in setting names. */}}
{{- define "kantoor.settingName" -}}
{{- . | replace "-" "_" | upper -}}
{{- end -}}

{{/*
The settings every process reads (docs: charts/platform/README.md). Expects (dict "root" $ "w" $workload).
Downward-API variables come first: Kubernetes only expands $(VAR) for variables defined earlier.
*/}}
{{- define "kantoor.env" -}}
{{- $root := .root -}}
{{- $w := .w -}}
{{- $v := $w.values -}}
{{- $prefix := include "kantoor.prefix" $root -}}
- name: K8S_POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: K8S_NAMESPACE
  valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
- name: K8S_NODE_NAME
  valueFrom: { fieldRef: { fieldPath: spec.nodeName } }
- name: KANTOOR_MODE
  value: cluster
- name: LOG_LEVEL
  value: {{ $v.logLevel | default $root.Values.logLevel | quote }}
- name: METRICS_PORT
  value: {{ $root.Values.ports.metrics | quote }}
{{ include "kantoor.secretSetting" (dict "name" "CALLER_SIGNING_KEY" "secret" $root.Values.callerSigning.existingSecret "key" $root.Values.callerSigning.key) }}
{{- if eq $w.protocol "http" }}
- name: PORT
  value: {{ $root.Values.ports.http | quote }}
- name: OIDC_ISSUER
  value: {{ $root.Values.oidc.issuer | quote }}
- name: OIDC_AUDIENCE
  value: {{ $root.Values.oidc.audience | quote }}
- name: TRUST_PROXY
  value: {{ $v.trustProxy | quote }}
{{- with $root.Values.oidc.jwksUri }}
- name: OIDC_JWKS_URI
  value: {{ . | quote }}
{{- end }}
{{- else }}
- name: GRPC_PORT
  value: {{ $root.Values.ports.grpc | quote }}
{{- end }}
{{- with $w.connector }}
- name: CONNECTOR
  value: {{ . | quote }}
{{- end }}
{{- if $v.database.enabled }}
{{ include "kantoor.secretSetting" (dict
      "name" "DATABASE_URL"
      "secret" ($v.database.existingSecret | default $root.Values.postgresql.existingSecret)
      "key" ($v.database.secretKey | default (printf "%s-url" $w.component))) }}
{{- end }}
- name: KAFKA_BROKERS
  value: {{ join "," $root.Values.kafka.brokers | quote }}
- name: KAFKA_CLIENT_ID
  value: {{ printf "%s-%s" ($root.Values.kafka.clientIdPrefix | default $prefix) $w.name | quote }}
- name: KAFKA_SSL
  value: {{ $root.Values.kafka.ssl | quote }}
- name: KAFKA_PARTITIONS_CONCURRENTLY
  value: {{ $root.Values.kafka.partitionsConsumedConcurrently | quote }}
- name: KAFKA_TOPIC_PARTITIONS
  value: {{ $root.Values.kafka.topics.partitions | quote }}
- name: KAFKA_TOPIC_REPLICATION_FACTOR
  value: {{ $root.Values.kafka.topics.replicationFactor | quote }}
{{- with $root.Values.kafka.sasl }}
{{- if .mechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ .mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ .username | quote }}
{{ include "kantoor.secretSetting" (dict "name" "KAFKA_SASL_PASSWORD" "secret" .existingSecret "key" .passwordKey) }}
{{- end }}
{{- end }}
{{- if eq $w.protocol "grpc" }}
{{- with $root.Values.objectStore }}
- name: OBJECT_STORE_ENDPOINT
  value: {{ .endpoint | quote }}
- name: OBJECT_STORE_PORT
  value: {{ .port | quote }}
- name: OBJECT_STORE_USE_SSL
  value: {{ .useSSL | quote }}
{{ include "kantoor.secretSetting" (dict "name" "OBJECT_STORE_ACCESS_KEY" "secret" .existingSecret "key" .accessKeyKey) }}
{{ include "kantoor.secretSetting" (dict "name" "OBJECT_STORE_SECRET_KEY" "secret" .existingSecret "key" .secretKeyKey) }}
- name: OBJECT_STORE_BUCKET
  value: {{ .bucket | quote }}
{{- end }}
{{- end }}
{{- if eq $w.component "archive" }}
- name: ARCHIVE_BUCKET
  value: {{ $root.Values.objectStore.archiveBucket | quote }}
{{- end }}
{{- $publicUrl := include "kantoor.publicUrl" $root }}
{{- if eq $w.component "document-intake" }}
{{- if and $v.smtpIntake $v.smtpIntake.enabled }}
- name: INTAKE_SMTP_PORT
  value: {{ $v.smtpIntake.port | quote }}
{{- end }}
{{- with $publicUrl }}
- name: INTAKE_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
{{- with $v.linkSecret }}
{{- if .existingSecret }}
{{ include "kantoor.secretSetting" (dict "name" "INTAKE_LINK_SECRET" "secret" .existingSecret "key" .key) }}
{{- end }}
{{- end }}
{{- with $v.imapIntake }}
{{- if .host }}
- name: INTAKE_IMAP_HOST
  value: {{ .host | quote }}
- name: INTAKE_IMAP_PORT
  value: {{ .port | quote }}
- name: INTAKE_IMAP_SECURITY
  value: {{ .security | quote }}
- name: INTAKE_IMAP_USER
  value: {{ .username | quote }}
{{- if eq .auth "oauth2" }}
- name: INTAKE_IMAP_AUTH
  value: "oauth2"
- name: INTAKE_IMAP_OAUTH_TOKEN_URL
  value: {{ .oauth.tokenUrl | quote }}
- name: INTAKE_IMAP_OAUTH_CLIENT_ID
  value: {{ .oauth.clientId | quote }}
- name: INTAKE_IMAP_OAUTH_SCOPE
  value: {{ .oauth.scope | quote }}
{{ include "kantoor.secretSetting" (dict "name" "INTAKE_IMAP_OAUTH_CLIENT_SECRET" "secret" .existingSecret "key" .oauth.clientSecretKey) }}
{{- else if eq .auth "google-service-account" }}
- name: INTAKE_IMAP_AUTH
  value: "google-service-account"
{{ include "kantoor.secretSetting" (dict "name" "INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY" "secret" .existingSecret "key" .googleServiceAccountKey) }}
{{- else }}
{{ include "kantoor.secretSetting" (dict "name" "INTAKE_IMAP_PASSWORD" "secret" .existingSecret "key" .passwordKey) }}
{{- end }}
- name: INTAKE_IMAP_MAILBOX
  value: {{ .mailbox | quote }}
- name: INTAKE_IMAP_PROCESSED_MAILBOX
  value: {{ .processedMailbox | quote }}
- name: INTAKE_IMAP_REFUSED_MAILBOX
  value: {{ .refusedMailbox | quote }}
- name: INTAKE_IMAP_POLL_SECONDS
  value: {{ .pollSeconds | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $w.component "notification" }}
{{- with $publicUrl }}
- name: NOTIFICATION_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
{{- with $v.secretKey }}
{{- if .existingSecret }}
{{ include "kantoor.secretSetting" (dict "name" "NOTIFICATION_SECRET_KEY" "secret" .existingSecret "key" .key) }}
{{- end }}
{{- end }}
{{- with $v.smtp }}
{{- if .host }}
- name: NOTIFICATION_SMTP_HOST
  value: {{ .host | quote }}
- name: NOTIFICATION_SMTP_PORT
  value: {{ .port | quote }}
- name: NOTIFICATION_SMTP_TLS
  value: {{ .tls | quote }}
{{- if .username }}
- name: NOTIFICATION_SMTP_USER
  value: {{ .username | quote }}
{{ include "kantoor.secretSetting" (dict "name" "NOTIFICATION_SMTP_PASSWORD" "secret" .existingSecret "key" .passwordKey) }}
{{- end }}
{{- with .sender }}
- name: NOTIFICATION_SENDER
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with $v.webhooks }}
- name: NOTIFICATION_WEBHOOK_ALLOW_HTTP
  value: {{ .allowHttp | default false | quote }}
- name: NOTIFICATION_WEBHOOK_ALLOW_PRIVATE_NETWORKS
  value: {{ .allowPrivateNetworks | default false | quote }}
{{- with .timeoutMs }}
- name: NOTIFICATION_WEBHOOK_TIMEOUT_MS
  value: {{ . | quote }}
{{- end }}
{{- with .concurrency }}
- name: NOTIFICATION_WEBHOOK_CONCURRENCY
  value: {{ . | quote }}
{{- end }}
{{- with .retrySchedule }}
{{- /* whole seconds: YAML numbers reach templates as floats, and a large one would print as 1e+06 */}}
{{- $seconds := list }}
{{- range . }}
{{- $seconds = append $seconds (int64 .) }}
{{- end }}
- name: NOTIFICATION_WEBHOOK_RETRY_SCHEDULE
  value: {{ join "," $seconds | quote }}
{{- end }}
{{- if hasKey . "secretOverlapHours" }}
- name: NOTIFICATION_WEBHOOK_SECRET_OVERLAP_HOURS
  value: {{ .secretOverlapHours | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- include "kantoor.addresses" (dict "root" $root "w" $w) }}
- name: OTEL_SERVICE_NAME
  value: {{ $w.component | quote }}
{{- with $root.Values.telemetry.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- $attributes := list
      "service.namespace=kantoor"
      (printf "service.version=%s" $root.Chart.AppVersion)
      (printf "deployment.environment.name=%s" $root.Values.telemetry.environment)
      "k8s.namespace.name=$(K8S_NAMESPACE)"
      "k8s.pod.name=$(K8S_POD_NAME)"
      "k8s.node.name=$(K8S_NODE_NAME)" -}}
{{- with $w.connector }}
{{- $attributes = append $attributes (printf "kantoor.connector=%s" .) -}}
{{- end }}
{{- range $key, $value := $root.Values.telemetry.resourceAttributes }}
{{- $attributes = append $attributes (printf "%s=%s" $key (toString $value)) -}}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attributes | quote }}
{{- range $v.env }}
- name: {{ .name }}
  value: {{ .value | quote }}
{{- end }}
{{- range $v.secretEnv }}
{{ include "kantoor.secretSetting" (dict "name" .name "secret" .secretName "key" .key) }}
{{- end }}
{{- end -}}

{{/*
The gRPC services each component cannot work without. A service gets <SERVICE>_GRPC_ADDRESS of exactly
these, the name it reads (test/charts/settings-contract.test.ts checks this list against the settings each
component's code reads, both ways); the gateway gets every service's address, and needs the directory's.
`kantoor.validateValues` refuses a component whose callee is disabled. Expects a workload.
*/}}
{{- define "kantoor.callees" -}}
{{- $callees := dict
      "gateway" (list "directory")
      "document-intake" (list "directory")
      "archive" (list "directory")
      "notification" (list "directory") -}}
{{- toJson (get $callees .component | default list) -}}
{{- end -}}

{{/*
<SERVICE>_GRPC_ADDRESS of each gRPC workload the process calls: the gateway gets every one (connectors
addressed one by one, and ACCOUNTING_CONNECTORS lists their names), a service those of its callees.
Expects (dict "root" $ "w" $workload).
*/}}
{{- define "kantoor.addresses" -}}
{{- $ctx := dict "root" .root -}}
{{- include "kantoor.collectWorkloads" $ctx -}}
{{- $isGateway := eq .w.component "gateway" -}}
{{- $callees := include "kantoor.callees" .w | fromJsonArray -}}
{{- $connectors := list -}}
{{- range $w := $ctx.workloads }}
{{- if and (eq $w.protocol "grpc") (or $isGateway (has $w.name $callees)) }}
{{- $setting := ternary (printf "ACCOUNTING_CONNECTOR_%s" (include "kantoor.settingName" $w.connector)) (include "kantoor.settingName" $w.name) (ne $w.connector "") }}
- name: {{ $setting }}_GRPC_ADDRESS
  value: {{ printf "%s:%v" (include "kantoor.workloadName" (dict "root" $ctx.root "w" $w)) $ctx.root.Values.ports.grpc | quote }}
{{- with $w.connector }}
{{- $connectors = append $connectors . }}
{{- end }}
{{- end }}
{{- end }}
{{- if $connectors }}
- name: ACCOUNTING_CONNECTORS
  value: {{ join "," $connectors | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level hardening shared by workloads, jobs and test pods. */}}
{{- define "kantoor.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "kantoor.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "kantoor.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The only writable path: the root file system is read-only. Expects (dict "root" $ "size" "256Mi").
*/}}
{{- define "kantoor.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .size | default "256Mi" }}
{{- end -}}

{{/*
Probe timings: the chart's defaults for each probe kind, overridden key by key from values.probes.
Expects (dict "w" $workload "probe" "liveness").
*/}}
{{- define "kantoor.probeTimings" -}}
{{- $defaults := dict
      "liveness" (dict "periodSeconds" 10 "timeoutSeconds" 3 "failureThreshold" 3)
      "readiness" (dict "periodSeconds" 5 "timeoutSeconds" 3 "failureThreshold" 2)
      "startup" (dict "periodSeconds" 2 "timeoutSeconds" 3 "failureThreshold" 60) -}}
{{- $timings := merge (deepCopy (get (.w.values.probes | default dict) .probe | default dict)) (get $defaults .probe) -}}
{{- range $key := keys $timings | sortAlpha }}
{{ $key }}: {{ get $timings $key }}
{{- end }}
{{- end -}}
