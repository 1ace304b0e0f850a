{{/*
Shared definitions. Every component (the eight gRPC services and the gateway) is rendered from the
same templates by ranging over topology.yaml, generated from services/runtime/topology.py.
*/}}

{{- define "shutter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "shutter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's objects: <fullname>-<component>. Call with (dict "root" $ "name" $name). */}}
{{- define "shutter.componentName" -}}
{{- printf "%s-%s" (include "shutter.fullname" .root) .name -}}
{{- end -}}

{{- define "shutter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" -}}
{{- end -}}

{{- define "shutter.labels" -}}
helm.sh/chart: {{ include "shutter.chart" . }}
app.kubernetes.io/name: {{ include "shutter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: shutter
{{- end -}}

{{/* Labels that select one component's pods. Call with (dict "root" $ "name" $name). */}}
{{- define "shutter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shutter.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "shutter.componentLabels" -}}
{{ include "shutter.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* The mesh's components from topology.yaml, as YAML (name → module, protocol, port, calls, shards). */}}
{{- define "shutter.topology" -}}
{{- $topology := .Files.Get "topology.yaml" | fromYaml -}}
{{- if not (get $topology "components") -}}
{{- fail "charts/shutter/topology.yaml is missing or empty: run `make chart-values`" -}}
{{- end -}}
{{- toYaml $topology.components -}}
{{- end -}}

{{/*
One component's settings as YAML: `defaults`, overridden by `components.<name>`, plus `name` and
`topology`. Call with (dict "root" $ "name" $name).
*/}}
{{- define "shutter.component" -}}
{{- $topology := include "shutter.topology" .root | fromYaml -}}
{{- $overrides := get .root.Values.components .name | default dict -}}
{{- $settings := mergeOverwrite (deepCopy .root.Values.defaults) (deepCopy $overrides) -}}
{{- $_ := set $settings "name" .name -}}
{{- $_ := set $settings "topology" (get $topology .name) -}}
{{- toYaml $settings -}}
{{- end -}}

{{/* Fails on component overrides for names the topology does not have (typos would be silently ignored). */}}
{{- define "shutter.validate" -}}
{{- $topology := include "shutter.topology" . | fromYaml -}}
{{- range $name, $_ := .Values.components -}}
{{- if not (hasKey $topology $name) -}}
{{- fail (printf "components.%s: no such component in topology.yaml (have: %s)" $name (keys $topology | sortAlpha | join ", ")) -}}
{{- end -}}
{{- end -}}
{{- if ne .Values.config.store "cql" -}}
{{- range $name, $_ := $topology -}}
{{- $c := include "shutter.component" (dict "root" $ "name" $name) | fromYaml -}}
{{- if or (gt (int $c.replicas) 1) (and $c.autoscaling.enabled (gt (int $c.autoscaling.maxReplicas) 1)) -}}
{{- fail (printf "config.store=%s keeps data on each pod; component %s may run more than one replica: use config.store=cql" $.Values.config.store $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "shutter.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "shutter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "shutter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "shutter.secretName" -}}
{{- default (printf "%s-auth" (include "shutter.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "shutter.secretKey" -}}
{{- if .Values.auth.existingSecret -}}{{ .Values.auth.existingSecretKey }}{{- else -}}auth-secret{{- end -}}
{{- end -}}

{{/*
In-cluster gRPC target of a component: its headless Service through the dns resolver, so clients
see every pod and the channels' round_robin policy spreads calls over them (a ClusterIP Service
would pin each long-lived HTTP/2 connection to one pod). Call with (dict "root" $ "name" $name "port" $port).
*/}}
{{- define "shutter.address" -}}
{{- printf "dns:///%s-pods.%s.svc.%s:%v" (include "shutter.componentName" .) .root.Release.Namespace .root.Values.clusterDomain .port -}}
{{- end -}}

{{/*
The settings every process gets, as a YAML map of SHUTTER_* variables: rendered into the
ConfigMap for the workloads and inline into the migrate Job (a pre-install hook runs before the
ConfigMap exists).
*/}}
{{- define "shutter.config" -}}
{{- $topology := include "shutter.topology" . | fromYaml -}}
{{- $config := dict
  "SHUTTER_HOST" .Values.config.bindHost
  "SHUTTER_DATA_DIR" .Values.config.dataDir
  "SHUTTER_STORE" .Values.config.store
  "SHUTTER_NATS_URL" .Values.config.natsUrl
  "SHUTTER_NATS_STREAM_REPLICAS" (toString .Values.config.natsStreamReplicas)
  "SHUTTER_CQL_CONTACT_POINTS" (join "," .Values.config.cql.contactPoints)
  "SHUTTER_CQL_PORT" (toString .Values.config.cql.port)
  "SHUTTER_CQL_KEYSPACE" .Values.config.cql.keyspace
  "SHUTTER_CQL_REPLICATION" .Values.config.cql.replication
  "SHUTTER_SHUTDOWN_GRACE_SECONDS" (toString .Values.config.shutdownGraceSeconds)
  "SHUTTER_DEFAULT_DEADLINE_SECONDS" (toString .Values.config.defaultDeadlineSeconds)
  "SHUTTER_TOKEN_TTL_SECONDS" (toString .Values.config.tokenTtlSeconds)
  "SHUTTER_RPC_LOG_EVERY" (toString .Values.config.rpcLogEvery)
  "SHUTTER_METRICS" (ternary "1" "0" .Values.telemetry.metrics.enabled)
  "SHUTTER_TRACING" (ternary "1" "0" .Values.telemetry.tracing.enabled)
  "SHUTTER_OTLP_ENDPOINT" .Values.telemetry.tracing.otlpEndpoint
  "SHUTTER_TRACE_SAMPLE_RATIO" (toString .Values.telemetry.tracing.sampleRatio)
  "SHUTTER_CHANNELZ" (ternary "1" "0" .Values.telemetry.channelz)
  "SHUTTER_BLOB_STORE" .Values.config.blobStore
  "SHUTTER_LIMITS_TRUSTED_PEERS" (join "," .Values.config.limits.trustedPeers)
  "SHUTTER_GATEWAY_TRUSTED_PROXIES" (join "," .Values.config.limits.trustedProxies)
-}}
{{- if eq .Values.config.blobStore "s3" -}}
{{- $s3 := .Values.config.s3 -}}
{{- $_ := set $config "SHUTTER_S3_ENDPOINT" (required "config.s3.endpoint is required when config.blobStore=s3" $s3.endpoint) -}}
{{- $_ := set $config "SHUTTER_S3_PUBLIC_ENDPOINT" (default "" $s3.publicEndpoint) -}}
{{- $_ := set $config "SHUTTER_S3_BUCKET" (required "config.s3.bucket is required when config.blobStore=s3" $s3.bucket) -}}
{{- $_ := set $config "SHUTTER_S3_REGION" $s3.region -}}
{{- $_ := set $config "SHUTTER_S3_PREFIX" $s3.prefix -}}
{{- $_ := set $config "SHUTTER_S3_PRESIGN_SECONDS" (toString $s3.presignSeconds) -}}
{{- end -}}
{{- range $name, $component := $topology -}}
{{- $key := $name | upper | replace "-" "_" -}}
{{- $_ := set $config (printf "SHUTTER_%s_METRICS_PORT" $key) (toString $component.metricsPort) -}}
{{- if eq $component.protocol "grpc" -}}
{{- $_ := set $config (printf "SHUTTER_%s_PORT" $key) (toString $component.port) -}}
{{- $_ := set $config (printf "SHUTTER_%s_ADDR" $key) (include "shutter.address" (dict "root" $ "name" $name "port" $component.port)) -}}
{{- else -}}
{{- $_ := set $config (printf "SHUTTER_%s_PORT" $key) (toString $component.port) -}}
{{- end -}}
{{- end -}}
{{- range $key, $value := .Values.config.env -}}
{{- $_ := set $config $key (toString $value) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: preStop sleep + the process's drain + margin for closing components. */}}
{{- define "shutter.terminationGracePeriodSeconds" -}}
{{- add (int .Values.termination.preStopSleepSeconds) (ceil .Values.config.shutdownGraceSeconds | int) (int .Values.termination.stopMarginSeconds) -}}
{{- end -}}

{{/* NetworkPolicy peer selecting one component's pods. Call with (dict "root" $ "name" $name). */}}
{{- define "shutter.componentPeer" -}}
- podSelector:
    matchLabels:
      {{- include "shutter.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* Egress every process needs: DNS, NATS and ScyllaDB. */}}
{{- define "shutter.infraEgress" -}}
- to:
    {{- toYaml .Values.networkPolicy.dns.to | nindent 4 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
- to:
    {{- toYaml .Values.networkPolicy.nats.to | nindent 4 }}
  ports:
    {{- range .Values.networkPolicy.nats.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
- to:
    {{- toYaml .Values.networkPolicy.cql.to | nindent 4 }}
  ports:
    {{- range .Values.networkPolicy.cql.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- if .Values.telemetry.tracing.enabled }}
- to:
    {{- toYaml .Values.networkPolicy.otlp.to | nindent 4 }}
  ports:
    {{- range .Values.networkPolicy.otlp.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* Egress to the object store, for the component that stores photo bytes (config.blobStore=s3). */}}
{{- define "shutter.objectStoreEgress" -}}
- to:
    {{- toYaml .Values.networkPolicy.s3.to | nindent 4 }}
  ports:
    {{- range .Values.networkPolicy.s3.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end -}}
