// Not a program: pins the prometheus-operator root module whose example/prometheus-operator-crd/
// holds the upstream Alertmanager and AlertmanagerConfig CRDs (tools/promoperator/fetch-crds.sh).
module maas-billing/tools/promoperator

go 1.24

require github.com/prometheus-operator/prometheus-operator v0.93.0
