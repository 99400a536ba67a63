{{/*
The alert rules on the operator's own metrics (groups: ...), for the PrometheusRule
(prometheusRule.enabled). Kept apart so that `make test-chart` can hand exactly these rules to
`promtool check rules` and `promtool test rules` (tests/prometheus/alerts_test.yaml).
Every series is the release's: job is the metrics Service's name (what a ServiceMonitor scrapes
it as) unless prometheusRule.job says otherwise.
*/}}
{{- define "proxy-order-operator.alertRules" -}}
{{- $job := .Values.prometheusRule.job | default (printf "%s-metrics" (include "proxy-order-operator.fullname" .)) }}
{{- $sel := printf "job=%q" $job }}
{{- $labels := .Values.prometheusRule.alertLabels }}
groups:
  - name: proxy-order-operator
    rules:
      - alert: ProxyOrderOperatorDown
        expr: absent(up{ {{- $sel -}} } == 1)
        for: {{ .Values.prometheusRule.for }}
        labels:
          severity: critical
          # absent() of a comparison carries no label of the series
          job: {{ $job }}
          {{- with $labels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: No proxy-order-operator replica of {{ $job }} is scraped
          description: No ProxyOrder is reconciled and no credentials are published or rotated while no replica runs.
      - alert: ProxyOrderReconcileErrors
        expr: sum by (namespace, reason) (increase(proxy_order_reconcile_errors_total{ {{- $sel -}} }[15m])) >= 3
        for: {{ .Values.prometheusRule.for }}
        labels:
          severity: warning
          {{- with $labels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: 'ProxyOrders keep failing: {{ "{{" }} $labels.reason {{ "}}" }}'
          description: 'Reconciliations keep failing with reason {{ "{{" }} $labels.reason {{ "}}" }} (3 or more in 15 minutes): kubectl get proxyorders -A shows which, their Ready condition why.'
      - alert: ProxyOrderProviderErrors
        expr: |-
          sum by (namespace, endpoint) (rate(proxy_order_provider_requests_total{ {{- $sel -}} ,code=~"5..|0"}[10m]))
            / sum by (namespace, endpoint) (rate(proxy_order_provider_requests_total{ {{- $sel -}} }[10m])) > 0.1
        for: {{ .Values.prometheusRule.for }}
        labels:
          severity: warning
          {{- with $labels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: 'The provider fails {{ "{{" }} $value | humanizePercentage {{ "}}" }} of {{ "{{" }} $labels.endpoint {{ "}}" }} requests'
          description: The provider's API answers 5xx or not at all (code 0); changes wait and are retried with backoff.
      - alert: ProxyOrderProviderThrottled
        expr: sum by (namespace) (rate(proxy_order_provider_requests_total{ {{- $sel -}} ,code="429"}[10m])) > 0
        for: {{ .Values.prometheusRule.for }}
        labels:
          severity: warning
          {{- with $labels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: The provider is rate-limiting the operator (429)
          description: Lower rateLimit (or a ProxyProvider's rateLimit), or spread ProxyOrders over more API keys.
      - alert: ProxyOrdersNotReady
        expr: sum by (namespace) (proxy_order_orders{ {{- $sel -}} ,ready!="True"}) > 0
        for: {{ .Values.prometheusRule.notReadyFor }}
        labels:
          severity: warning
          {{- with $labels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: '{{ "{{" }} $value {{ "}}" }} ProxyOrders are not Ready'
          description: 'kubectl get proxyorders -A -o wide shows which and why (the Ready condition''s reason).'
      - alert: ProxyOrderCredentialsRejected
        expr: sum by (namespace) (increase(proxy_order_credential_probes_total{ {{- $sel -}} ,result="rejected"}[1h])) >= 3
        labels:
          severity: warning
          {{- with $labels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: Proxies keep refusing the published credentials (407)
          description: Credentials probes were refused 3 or more times within an hour; workloads using those Secrets cannot get through. See the CredentialsVerified condition of the ProxyOrders.
{{- end }}
