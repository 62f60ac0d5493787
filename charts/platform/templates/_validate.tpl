{{/*
Combinations the schema cannot express. Collects every refusal instead of stopping at the first, so one
`helm install` names all that is wrong. Called from NOTES.txt, which Helm renders on install, upgrade
and template alike.
*/}}
{{- define "kantoor.validateValues" -}}
{{- $errors := list -}}
{{- $ctx := dict "root" . -}}
{{- include "kantoor.collectWorkloads" $ctx -}}
{{- $names := list -}}
{{- $withoutDatabase := list -}}
{{- range $w := $ctx.workloads -}}
{{- $v := $w.values -}}
{{- $where := ternary (printf "connectors[%s]" $w.connector) (printf "components.%s" $w.name) (ne $w.connector "") -}}
{{- if and $v.database.enabled (not ($v.database.existingSecret | default $.Values.postgresql.existingSecret)) -}}
{{- $withoutDatabase = append $withoutDatabase (printf "%s (key %s)" $where ($v.database.secretKey | default (printf "%s-url" $w.component))) -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- $errors = append $errors (printf "%s: autoscaling.minReplicas (%v) is above maxReplicas (%v)" $where $v.autoscaling.minReplicas $v.autoscaling.maxReplicas) -}}
{{- end -}}
{{- $pdb := $v.podDisruptionBudget -}}
{{- if $pdb.enabled -}}
{{- if and (hasKey $pdb "minAvailable") (hasKey $pdb "maxUnavailable") -}}
{{- $errors = append $errors (printf "%s: podDisruptionBudget sets both minAvailable and maxUnavailable; keep one" $where) -}}
{{- else if not (or (hasKey $pdb "minAvailable") (hasKey $pdb "maxUnavailable")) -}}
{{- $errors = append $errors (printf "%s: podDisruptionBudget.enabled needs minAvailable or maxUnavailable" $where) -}}
{{- else if and (hasKey $pdb "minAvailable") (not (kindIs "string" $pdb.minAvailable)) (not $v.autoscaling.enabled) (ge (int $pdb.minAvailable) (int $v.replicas)) -}}
{{- $errors = append $errors (printf "%s: podDisruptionBudget.minAvailable (%v) is not below replicas (%v), so no node could ever be drained" $where $pdb.minAvailable $v.replicas) -}}
{{- end -}}
{{- end -}}
{{- range $callee := include "kantoor.callees" $w | fromJsonArray -}}
{{- if not (get $.Values.components $callee).enabled -}}
{{- $errors = append $errors (printf "%s calls %s (%s_GRPC_ADDRESS), which is disabled: enable components.%s" $where $callee (include "kantoor.settingName" $callee) $callee) -}}
{{- end -}}
{{- end -}}
{{- if has $w.name $names -}}
{{- $errors = append $errors (printf "connectors: %q appears twice; each connector is one Deployment" $w.connector) -}}
{{- end -}}
{{- $names = append $names $w.name -}}
{{- end -}}
{{- if $withoutDatabase -}}
{{- $errors = append $errors (printf "postgresql.existingSecret is empty, so these have no database: %s. Name the existing Secret that holds their connection URLs, or set database.existingSecret per component" (join ", " $withoutDatabase)) -}}
{{- end -}}
{{- if not .Values.kafka.brokers -}}
{{- $errors = append $errors "kafka.brokers is empty: every service publishes and consumes events through Kafka" -}}
{{- end -}}
{{- with .Values.kafka.sasl -}}
{{- if and .mechanism (not (and .username .existingSecret)) -}}
{{- $errors = append $errors (printf "kafka.sasl.mechanism %q needs kafka.sasl.username and kafka.sasl.existingSecret (the Secret holding the password)" .mechanism) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.objectStore.endpoint -}}
{{- $errors = append $errors "objectStore.endpoint is empty: documents, backups and the archive live in the object store" -}}
{{- end -}}
{{- if not .Values.callerSigning.existingSecret -}}
{{- $errors = append $errors "callerSigning.existingSecret is empty: name the Secret holding CALLER_SIGNING_KEY, the key that signs the caller of every call between the workloads (at least 32 characters, e.g. `openssl rand -hex 32`), and callerSigning.key its key" -}}
{{- end -}}
{{- if not .Values.objectStore.existingSecret -}}
{{- $errors = append $errors "objectStore.existingSecret is empty: name the Secret holding the access key and secret key" -}}
{{- end -}}
{{- $gateway := .Values.components.gateway -}}
{{- if and $gateway.enabled (not (and .Values.oidc.issuer .Values.oidc.audience)) -}}
{{- $errors = append $errors "oidc.issuer and oidc.audience are required while the gateway is enabled: in cluster mode it only accepts the firm's OpenID Connect tokens" -}}
{{- end -}}
{{- if and $gateway.ingress $gateway.ingress.enabled (not $gateway.enabled) -}}
{{- $errors = append $errors "components.gateway.ingress.enabled needs components.gateway.enabled" -}}
{{- end -}}
{{- if .Values.cronJobs.dailyBackup.enabled -}}
{{- $errors = append $errors "cronJobs.dailyBackup.enabled: the backup service has no daily-backup command yet, so the job could only fail; leave it false" -}}
{{- end -}}
{{- if and .Values.cronJobs.dailyBackup.enabled (not .Values.components.backup.enabled) -}}
{{- $errors = append $errors "cronJobs.dailyBackup runs the backup image: enable components.backup or disable the job" -}}
{{- end -}}
{{- range $job := list "archivePurge" "archiveVerify" -}}
{{- if and (get $.Values.cronJobs $job).enabled (not $.Values.components.archive.enabled) -}}
{{- $errors = append $errors (printf "cronJobs.%s runs the archive image: enable components.archive or disable the job" $job) -}}
{{- end -}}
{{- end -}}
{{- $intake := index .Values.components "document-intake" -}}
{{- $notification := .Values.components.notification -}}
{{- if and $intake.enabled (not ($intake.linkSecret | default dict).existingSecret) -}}
{{- $errors = append $errors "components.document-intake.linkSecret.existingSecret is empty: name the Secret holding INTAKE_LINK_SECRET, the key that signs the download links the intake e-mails (at least 32 characters, e.g. `openssl rand -base64 48`), and linkSecret.key its key" -}}
{{- end -}}
{{- if and $notification.enabled (not ($notification.secretKey | default dict).existingSecret) -}}
{{- $errors = append $errors "components.notification.secretKey.existingSecret is empty: name the Secret holding NOTIFICATION_SECRET_KEY, the AES-256 key that seals SMTP passwords (32 bytes, base64 or hex, e.g. `openssl rand -base64 32`), and secretKey.key its key" -}}
{{- end -}}
{{- if and (or $intake.enabled $notification.enabled) (not (include "kantoor.publicUrl" .)) -}}
{{- $errors = append $errors "publicUrl is empty and the gateway's Ingress has no host to take it from: set publicUrl to the address people open Kantoor at (e.g. https://kantoor.firm.example); the links in e-mails start with it (INTAKE_PUBLIC_URL, NOTIFICATION_PUBLIC_URL)" -}}
{{- end -}}
{{- with $notification.smtp -}}
{{- if and $notification.enabled .username (not .existingSecret) -}}
{{- $errors = append $errors "components.notification.smtp.username needs components.notification.smtp.existingSecret, the Secret holding the SMTP password (key smtp.passwordKey)" -}}
{{- end -}}
{{- if and $notification.enabled (or .username .existingSecret .sender) (not .host) -}}
{{- $errors = append $errors "components.notification.smtp.host is empty while other smtp settings are given: name the SMTP server, or leave smtp empty" -}}
{{- end -}}
{{- end -}}
{{- with $intake.imapIntake -}}
{{- if and $intake.enabled .host (not (and .username .existingSecret)) -}}
{{- $errors = append $errors "components.document-intake.imapIntake.host needs imapIntake.username and imapIntake.existingSecret, the Secret holding the IMAP password (key imapIntake.passwordKey), with auth oauth2 the client secret (key imapIntake.oauth.clientSecretKey), with auth google-service-account the service account's JSON key file (key imapIntake.googleServiceAccountKey)" -}}
{{- end -}}
{{- if and $intake.enabled .host (eq .auth "oauth2") (not (and .oauth.tokenUrl .oauth.clientId)) -}}
{{- $errors = append $errors "components.document-intake.imapIntake.auth oauth2 needs imapIntake.oauth.tokenUrl (https) and imapIntake.oauth.clientId" -}}
{{- end -}}
{{- if and $intake.enabled (or .username .existingSecret) (not .host) -}}
{{- $errors = append $errors "components.document-intake.imapIntake.host is empty while a username or Secret is given: name the IMAP server, or leave them empty" -}}
{{- end -}}
{{- end -}}
{{- with .Values.components -}}
{{- $intake := index . "document-intake" -}}
{{- if and $intake.enabled $intake.smtpIntake $intake.smtpIntake.enabled (eq $intake.smtpIntake.service.type "ClusterIP") $intake.smtpIntake.service.externalTrafficPolicy -}}
{{- $errors = append $errors "components.document-intake.smtpIntake.service.externalTrafficPolicy only applies to LoadBalancer and NodePort Services" -}}
{{- end -}}
{{- end -}}
{{- if $errors -}}
{{- fail (printf "\n\nKantoor cannot be installed with these values:\n  - %s\n" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}
