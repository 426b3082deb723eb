{{/*
Chart name (app.kubernetes.io/name).
*/}}
{{- define "device-api-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the prefix of every resource name. Truncated to 55 characters so that
"<fullname>-metrics" and "<fullname>-device-plugin-config" stay valid names.
*/}}
{{- define "device-api-server.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The namespace of every resource.
*/}}
{{- define "device-api-server.namespace" -}}
{{- .Release.Namespace }}
{{- end }}

{{/*
helm.sh/chart label value.
*/}}
{{- define "device-api-server.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels (every resource).
*/}}
{{- define "device-api-server.labels" -}}
helm.sh/chart: {{ include "device-api-server.chart" . }}
{{ include "device-api-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: device-api
{{- end }}

{{/*
Selector labels (DaemonSet selector, metrics Service selector).
*/}}
{{- define "device-api-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "device-api-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "device-api-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "device-api-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference: (dict "image" .Values.x.image "root" $). The tag defaults to appVersion.
*/}}
{{- define "device-api-server.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag | toString) }}
{{- end }}

{{/*
The directory of a Unix socket path, failing the render unless the path is absolute, in a
directory under /var/run/, /run/ or /tmp/, without "." or ".." segments:
(dict "key" "server.unixSocket" "path" .Values.server.unixSocket).
*/}}
{{- define "device-api-server.socketDir" -}}
{{- $p := toString .path }}
{{- if or (not (regexMatch "^/(var/run|run|tmp)/[^/]+(/[^/]+)*/[^/]+$" $p)) (regexMatch "(^|/)\\.\\.?(/|$)" $p) }}
{{- fail (printf "%s must be an absolute path inside a directory of its own under /var/run/, /run/ or /tmp/ (that directory is a hostPath), e.g. /var/run/nvidia-device-api/device-api.sock; got %q" .key $p) }}
{{- end }}
{{- dir $p }}
{{- end }}

{{/*
The server's --datastore-endpoint, failing the render for an unknown type or etcd without endpoints.
*/}}
{{- define "device-api-server.datastoreEndpoint" -}}
{{- $ds := .Values.datastore }}
{{- if eq $ds.type "memory" }}
{{- print "memory://" }}
{{- else if eq $ds.type "sqlite" }}
{{- printf "sqlite://%s/%s" (trimSuffix "/" $ds.sqlite.hostPath) $ds.sqlite.fileName }}
{{- else if eq $ds.type "etcd" }}
{{- if not $ds.etcd.endpoints }}
{{- fail "datastore.type=etcd needs datastore.etcd.endpoints (a list of host:port)" }}
{{- end }}
{{- printf "etcd://%s" (join "," $ds.etcd.endpoints) }}
{{- with $ds.etcd.prefix }}{{ printf "?prefix=%s" . }}{{ end }}
{{- else }}
{{- fail (printf "datastore.type must be sqlite, memory or etcd, got %q" (toString $ds.type)) }}
{{- end }}
{{- end }}

{{/*
Probe timing fields: (dict "probe" .Values.livenessProbe).
*/}}
{{- define "device-api-server.probeTiming" -}}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end }}

{{/*
HTTP liveness and readiness probes on a named container port: (dict "port" "metrics" "root" $).
*/}}
{{- define "device-api-server.httpProbes" -}}
livenessProbe:
  httpGet:
    path: /livez
    port: {{ .port }}
  {{- include "device-api-server.probeTiming" (dict "probe" .root.Values.livenessProbe) | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  {{- include "device-api-server.probeTiming" (dict "probe" .root.Values.readinessProbe) | nindent 2 }}
{{- end }}

{{/*
The server target the sidecars dial.
*/}}
{{- define "device-api-server.serverAddress" -}}
{{- printf "unix://%s" .Values.server.unixSocket }}
{{- end }}

{{/*
The metrics ports of the enabled containers, as a list of dicts: service (the Service and
ServiceMonitor port name), container (the container port name, at most 15 characters), port.
Fails the render when two enabled containers (or the health port) share a port: they share the
pod's network namespace.
*/}}
{{- define "device-api-server.metricsPorts" -}}
{{- $ports := list (dict "service" "metrics" "container" "metrics" "port" (int .Values.server.metricsPort)) }}
{{- if .Values.nvmlProvider.enabled }}
{{- $ports = append $ports (dict "service" "provider-metrics" "container" "nvml-metrics" "port" (int .Values.nvmlProvider.healthPort)) }}
{{- end }}
{{- if .Values.devicePlugin.enabled }}
{{- $ports = append $ports (dict "service" "plugin-metrics" "container" "plugin-metrics" "port" (int .Values.devicePlugin.metricsPort)) }}
{{- end }}
{{- if .Values.gpuMonitor.enabled }}
{{- $ports = append $ports (dict "service" "monitor-metrics" "container" "monitor-metrics" "port" (int .Values.gpuMonitor.metricsPort)) }}
{{- end }}
{{- $seen := dict (toString (int .Values.server.healthPort)) "server.healthPort" }}
{{- range $ports }}
{{- $k := toString .port }}
{{- if hasKey $seen $k }}
{{- fail (printf "port %s is used twice (%s and the %s port): the pod's containers share one network namespace" $k (get $seen $k) .service) }}
{{- end }}
{{- $_ := set $seen $k .service }}
{{- end }}
{{- toJson $ports }}
{{- end }}

{{/*
A list of numeric ids joined with ",": (list 0 10001) -> "0,10001". int64 keeps large values from
being printed as floats (values files parse numbers as float64).
*/}}
{{- define "device-api-server.idList" -}}
{{- $out := list }}
{{- range . }}{{ $out = append $out (printf "%d" (int64 .)) }}{{ end }}
{{- join "," $out }}
{{- end }}

{{/*
The server's authorization and audit flags, one per line (empty when none): the audit log when
auditLog.enabled, each authorization value only when set (empty: the binary's default).
*/}}
{{- define "device-api-server.securityArgs" -}}
{{- $args := list }}
{{- with .Values.auditLog }}
{{- if .enabled }}
{{- $args = append $args (printf "--audit-log=%s/%s" (trimSuffix "/" .hostPath) .fileName) }}
{{- $args = append $args (printf "--audit-log-max-size=%d" (int64 .maxSize)) }}
{{- $args = append $args (printf "--audit-log-max-backups=%d" (int64 .maxBackups)) }}
{{- end }}
{{- end }}
{{- with .Values.authorization }}
{{- with .writerUids }}{{ $args = append $args (printf "--writer-uids=%s" (include "device-api-server.idList" .)) }}{{ end }}
{{- with .writerGids }}{{ $args = append $args (printf "--writer-gids=%s" (include "device-api-server.idList" .)) }}{{ end }}
{{- with .operatorUids }}{{ $args = append $args (printf "--operator-uids=%s" (include "device-api-server.idList" .)) }}{{ end }}
{{- if .providers }}
{{- $uids := list }}
{{- $conds := list }}
{{- range $id, $p := .providers }}
{{- if or (not $p) (not $p.uids) (not $p.conditions) }}
{{- fail (printf "authorization.providers.%s needs both uids and conditions (a non-empty list each): the server refuses a provider with only one" $id) }}
{{- end }}
{{- $uids = append $uids (printf "%s=%s" $id (include "device-api-server.idList" $p.uids | replace "," ":")) }}
{{- $conds = append $conds (printf "%s=%s" $id (join ":" $p.conditions)) }}
{{- end }}
{{- $args = append $args (printf "--provider-uids=%s" (join "," $uids)) }}
{{- $args = append $args (printf "--provider-conditions=%s" (join "," $conds)) }}
{{- end }}
{{- end }}
{{- join "\n" $args }}
{{- end }}
