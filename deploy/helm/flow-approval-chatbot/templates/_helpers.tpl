{{/* Names, labels and the pieces the Deployment and the migration Job share. */}}

{{- define "chatbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chatbot.fullname" -}}
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

{{- define "chatbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "chatbot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "chatbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flow-approval-chatbot
{{- end }}

{{- define "chatbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chatbot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "chatbot.image" -}}
{{- $repository := required "image.repository is required: the registry and name you pushed the image to (README, Deploying to a cluster, step 1), e.g. --set image.repository=registry.example.com/platform/flow-approval-chatbot" .Values.image.repository }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* What the pods' checksum/rules annotation is taken over: the rendered rules, or the
content of the existing ConfigMap as it is at install/upgrade time (empty under `helm
template`, which has no cluster to look in). */}}
{{- define "chatbot.rulesChecksum" -}}
{{- if .Values.existingRulesConfigMap }}
{{- $existing := lookup "v1" "ConfigMap" .Release.Namespace .Values.existingRulesConfigMap }}
{{- (get (default dict $existing) "data") | default dict | toYaml | sha256sum }}
{{- else }}
{{- toYaml .Values.rules | sha256sum }}
{{- end }}
{{- end }}

{{- define "chatbot.rulesConfigMap" -}}
{{- default (printf "%s-rules" (include "chatbot.fullname" .)) .Values.existingRulesConfigMap }}
{{- end }}

{{- define "chatbot.sqlite" -}}
{{- if eq .Values.database.type "sqlite" }}true{{ end }}
{{- end }}

{{/*
A secretKeyRef env var. Call with (dict "root" $ "env" "CHATBOT_..." "ref" .Values.secret.keys.x).
*/}}
{{- define "chatbot.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ default (default (include "chatbot.fullname" .root) .root.Values.secret.name) .ref.name }}
      key: {{ .ref.key }}
{{- end }}

{{/* The database URL: a Secret for PostgreSQL, the SQLite file on the data volume. */}}
{{- define "chatbot.databaseEnv" -}}
{{- if include "chatbot.sqlite" . }}
- name: CHATBOT_DATABASE_URL
  value: {{ printf "sqlite+aiosqlite:///%s" .Values.database.sqlitePath | quote }}
{{- else }}
{{ include "chatbot.secretEnv" (dict "root" . "env" "CHATBOT_DATABASE_URL" "ref" .Values.secret.keys.databaseUrl) }}
{{- end }}
{{- end }}

{{/* Everything `chatbot serve` reads; secrets only as references. */}}
{{- define "chatbot.env" -}}
{{ include "chatbot.databaseEnv" . | trim }}
- name: CHATBOT_HTTP_HOST
  value: "0.0.0.0"
- name: CHATBOT_HTTP_PORT
  value: {{ .Values.containerPort | quote }}
- name: CHATBOT_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: CHATBOT_CONFIG
  value: /etc/chatbot/rules.yaml
- name: CHATBOT_INTENTS_SINK
  value: {{ .Values.intents.sink | quote }}
- name: CHATBOT_INTENTS_FORMAT
  value: {{ .Values.intents.format | quote }}
- name: CHATBOT_KAFKA_BOOTSTRAP
  value: {{ required "kafka.bootstrap is required (host:port of the brokers)" .Values.kafka.bootstrap | quote }}
- name: CHATBOT_KAFKA_TOPIC
  value: {{ .Values.kafka.topic | quote }}
- name: CHATBOT_KAFKA_GROUP
  value: {{ .Values.kafka.group | quote }}
- name: CHATBOT_KAFKA_DLQ_TOPIC
  value: {{ .Values.kafka.dlqTopic | quote }}
{{- with .Values.kafka.flowsTopic }}
- name: CHATBOT_KAFKA_FLOWS_TOPIC
  value: {{ . | quote }}
- name: CHATBOT_HUBBLE_CLUSTER
  value: {{ required "hubble.cluster is required with kafka.flowsTopic" $.Values.hubble.cluster | quote }}
- name: CHATBOT_HUBBLE_INCLUDE_DNS
  value: {{ $.Values.hubble.includeDns | toString | quote }}
{{- end }}
{{- if .Values.kafka.staticMembership }}
- name: CHATBOT_KAFKA_GROUP_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
- name: CHATBOT_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- with .Values.kafka.sasl.mechanism }}
- name: CHATBOT_KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
- name: CHATBOT_KAFKA_SASL_USERNAME
  value: {{ $.Values.kafka.sasl.username | quote }}
{{ include "chatbot.secretEnv" (dict "root" $ "env" "CHATBOT_KAFKA_SASL_PASSWORD" "ref" $.Values.secret.keys.kafkaSaslPassword) }}
{{- end }}
{{- if .Values.kafka.tls.caName }}
- name: CHATBOT_KAFKA_SSL_CAFILE
  value: {{ printf "/etc/chatbot/kafka-ca/%s" .Values.kafka.tls.caKey | quote }}
{{- end }}
{{- if .Values.redis.enabled }}
{{ include "chatbot.secretEnv" (dict "root" . "env" "CHATBOT_REDIS_URL" "ref" .Values.secret.keys.redisUrl) }}
{{- end }}
- name: CHATBOT_SLACK_API_URL
  value: {{ .Values.slack.apiUrl | quote }}
{{ include "chatbot.secretEnv" (dict "root" . "env" "CHATBOT_SLACK_BOT_TOKEN" "ref" .Values.secret.keys.slackBotToken) }}
{{ include "chatbot.secretEnv" (dict "root" . "env" "CHATBOT_SLACK_SIGNING_SECRET" "ref" .Values.secret.keys.slackSigningSecret) }}
{{- if eq .Values.slack.mode "socket" }}
{{ include "chatbot.secretEnv" (dict "root" . "env" "CHATBOT_SLACK_APP_TOKEN" "ref" .Values.secret.keys.slackAppToken) }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The RBAC rules the output format needs, as a YAML list (see rbac.yaml). */}}
{{- define "chatbot.writeRules" -}}
{{- $write := list "get" "list" "watch" "create" "update" "patch" }}
{{- if eq .Values.intents.format "networkpolicy" }}
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: {{ toJson $write }}
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets", "replicasets"]
  verbs: ["get"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["pods", "services"]
  verbs: ["get"]
{{- else }}
- apiGroups: ["k8s.otterize.com"]
  resources: ["clientintents"]
  verbs: {{ toJson $write }}
{{- end }}
{{- end }}

{{/* The owner of a pod a Hubble flow names: Pod -> ReplicaSet -> Deployment, Pod -> Job ->
CronJob. `get` only; the pods can be in any namespace flows come from. */}}
{{- define "chatbot.ownerRules" -}}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get"]
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["get"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get"]
{{- end }}

{{/* What the service reads across the whole cluster, whatever rbac.scope says: the
ClientIntents it keeps its coverage index from (kubernetes sink, ClientIntents format) and,
with a flows topic, the owners of pods. Empty when it reads nothing. */}}
{{- define "chatbot.readRules" -}}
{{- if and (eq .Values.intents.sink "kubernetes") (eq .Values.intents.format "clientintents") }}
- apiGroups: ["k8s.otterize.com"]
  resources: ["clientintents"]
  verbs: ["get", "list", "watch"]
{{- end }}
{{- if .Values.kafka.flowsTopic }}
{{ include "chatbot.ownerRules" . }}
{{- end }}
{{- end }}

{{/* The one ClusterRole of rbac.scope=cluster: the writes, plus the owner look-ups unless the
NetworkPolicy format's rules already hold them (its `get` on pods, replicasets and jobs). */}}
{{- define "chatbot.clusterRules" -}}
{{ include "chatbot.writeRules" . }}
{{- if and .Values.kafka.flowsTopic (ne .Values.intents.format "networkpolicy") }}
{{ include "chatbot.ownerRules" . }}
{{- end }}
{{- end }}

{{/* Refuse combinations that would install but not work. */}}
{{- define "chatbot.validate" -}}
{{- if and (not .Values.existingRulesConfigMap) (not .Values.rules.approvers) }}
{{- fail "rules.approvers is empty: nobody could approve any flow. Give at least one approver rule in a values file (README, Deploying to a cluster), e.g. rules: {approvers: [{namespaces: [\"*\"], users: [U0123ABC]}]}, or use existingRulesConfigMap" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (include "chatbot.sqlite" .) }}
{{- fail "replicaCount > 1 needs database.type=postgresql (and redis.enabled=true): the default SQLite database is one file on one pod's volume and cannot be shared by several replicas" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.redis.enabled) }}
{{- fail "replicaCount > 1 needs redis.enabled=true: Redis holds the lease that lets only one of the replicas run the escalation timer" }}
{{- end }}
{{- if not (has .Values.database.type (list "sqlite" "postgresql")) }}
{{- fail (printf "database.type must be sqlite or postgresql, not %q" .Values.database.type) }}
{{- end }}
{{- if not (has .Values.slack.mode (list "http" "socket")) }}
{{- fail (printf "slack.mode must be http or socket, not %q" .Values.slack.mode) }}
{{- end }}
{{- if not (has .Values.rbac.scope (list "cluster" "namespaces")) }}
{{- fail (printf "rbac.scope must be cluster or namespaces, not %q" .Values.rbac.scope) }}
{{- end }}
{{- if not (has .Values.intents.format (list "clientintents" "networkpolicy")) }}
{{- fail (printf "intents.format must be clientintents or networkpolicy, not %q" .Values.intents.format) }}
{{- end }}
{{- if and .Values.rbac.create (eq .Values.rbac.scope "namespaces") (not .Values.rbac.namespaces) }}
{{- fail "rbac.scope=namespaces needs at least one namespace in rbac.namespaces" }}
{{- end }}
{{- end }}

{{/* The `chatbot migrate` container, for the hook Job and the optional initContainer. */}}
{{- define "chatbot.migrateContainer" -}}
- name: migrate
  image: {{ include "chatbot.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: [migrate]
  env:
    {{- include "chatbot.databaseEnv" . | trim | nindent 4 }}
    - name: CHATBOT_LOG_LEVEL
      value: {{ .Values.logLevel | quote }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- if include "chatbot.sqlite" . }}
    - name: data
      mountPath: {{ dir .Values.database.sqlitePath }}
    {{- end }}
{{- end }}
