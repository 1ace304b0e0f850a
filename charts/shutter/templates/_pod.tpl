{{/*
The pod template every component shares. Call with (dict "root" $ "c" $component), where
$component is the output of "shutter.component".
*/}}
{{- define "shutter.podTemplate" -}}
{{- $root := .root -}}
{{- $c := .c -}}
{{- $ref := dict "root" $root "name" $c.name -}}
{{- $port := $c.topology.port -}}
{{- $portName := ternary "grpc" "http" (eq $c.topology.protocol "grpc") -}}
{{- $sharded := hasKey $c.topology "shardBase" -}}
metadata:
  labels:
    {{- include "shutter.componentLabels" $ref | nindent 4 }}
    {{- with $c.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include "shutter.config" $root | sha256sum }}
    {{- with $c.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "shutter.serviceAccountName" $root }}
  automountServiceAccountToken: false
  # No docker-link variables: a Service named <release>-user would otherwise inject
  # SHUTTER_USER_PORT=tcp://... and clash with the settings.
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ include "shutter.terminationGracePeriodSeconds" $root }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  containers:
    - name: {{ $c.name }}
      image: {{ include "shutter.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      {{- $command := $c.command | default (list "python" "-m" $c.topology.module) }}
      {{- if $sharded }}
      # Each replica gets its own id shard, SHUTTER_SHARD_ID = shardBase + pod ordinal, so replicas
      # never mint the same id. ($$ is Kubernetes' escape for a literal $.)
      command:
        - /bin/sh
        - -ec
        - 'ordinal="${POD_NAME##*-}"; export SHUTTER_SHARD_ID="$$((SHUTTER_SHARD_BASE + ordinal))"; exec "$@"'
        - {{ $c.name }}
        {{- toYaml $command | nindent 8 }}
      {{- else }}
      command:
        {{- toYaml $command | nindent 8 }}
      {{- end }}
      envFrom:
        - configMapRef:
            name: {{ include "shutter.fullname" $root }}-config
      {{- /* Services verify and sign tokens; the internet-facing gateway only forwards them, so it never holds the key. */}}
      {{- $signsTokens := ne $c.name "gateway" }}
      {{- /* Only the photo service holds the object store's keys: it alone reads and writes photo bytes. */}}
      {{- $storesBytes := and (eq $c.name "photo") (eq $root.Values.config.blobStore "s3") }}
      {{- if or $signsTokens $sharded $storesBytes $c.env }}
      env:
      {{- end }}
        {{- if $signsTokens }}
        - name: SHUTTER_AUTH_SECRET
          valueFrom:
            secretKeyRef:
              name: {{ include "shutter.secretName" $root }}
              key: {{ include "shutter.secretKey" $root }}
        {{- end }}
        {{- if $storesBytes }}
        {{- $s3 := $root.Values.config.s3 }}
        - name: SHUTTER_S3_ACCESS_KEY
          valueFrom:
            secretKeyRef:
              name: {{ required "config.s3.existingSecret: the Secret with the object store's keys" $s3.existingSecret }}
              key: {{ $s3.accessKeyKey }}
        - name: SHUTTER_S3_SECRET_KEY
          valueFrom:
            secretKeyRef:
              name: {{ $s3.existingSecret }}
              key: {{ $s3.secretKeyKey }}
        {{- end }}
        {{- if $sharded }}
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: SHUTTER_SHARD_BASE
          value: {{ $c.topology.shardBase | quote }}
        {{- end }}
        {{- range $key, $value := $c.env }}
        - name: {{ $key }}
          value: {{ toString $value | quote }}
        {{- end }}
      ports:
        - name: {{ $portName }}
          containerPort: {{ $port }}
          protocol: TCP
        # Prometheus /metrics (SHUTTER_<COMPONENT>_METRICS_PORT), scraped through the Service's `metrics` port.
        - name: metrics
          containerPort: {{ $c.topology.metricsPort }}
          protocol: TCP
      {{- if eq $c.topology.protocol "grpc" }}
      startupProbe:
        grpc:
          port: {{ $port }}
        {{- toYaml $c.probes.startup | nindent 8 }}
      readinessProbe:
        grpc:
          port: {{ $port }}
        {{- toYaml $c.probes.readiness | nindent 8 }}
      livenessProbe:
        grpc:
          port: {{ $port }}
        {{- toYaml $c.probes.liveness | nindent 8 }}
      {{- else }}
      startupProbe:
        tcpSocket:
          port: {{ $portName }}
        {{- toYaml $c.probes.startup | nindent 8 }}
      readinessProbe:
        httpGet:
          path: {{ $c.http.readinessPath }}
          port: {{ $portName }}
        {{- toYaml $c.probes.readiness | nindent 8 }}
      livenessProbe:
        {{- if $c.http.livenessPath }}
        httpGet:
          path: {{ $c.http.livenessPath }}
          port: {{ $portName }}
        {{- else }}
        tcpSocket:
          port: {{ $portName }}
        {{- end }}
        {{- toYaml $c.probes.liveness | nindent 8 }}
      {{- end }}
      lifecycle:
        # Keep serving while the endpoint removal reaches every kube-proxy and client, then SIGTERM.
        preStop:
          exec:
            command: ["sleep", "{{ $root.Values.termination.preStopSleepSeconds }}"]
      resources:
        {{- toYaml $c.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: {{ $root.Values.config.dataDir }}
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: data
      {{- toYaml $c.dataVolume | nindent 6 }}
    - name: tmp
      {{- toYaml $c.tmpVolume | nindent 6 }}
  {{- with $c.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $c.topologySpread }}
  topologySpreadConstraints:
    {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
    - maxSkew: 1
      topologyKey: {{ $key }}
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "shutter.selectorLabels" $ref | nindent 10 }}
    {{- end }}
  {{- end }}
{{- end -}}
