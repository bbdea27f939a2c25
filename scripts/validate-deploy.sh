#!/usr/bin/env bash
# Offline checks of the deployment files (no Docker engine or cluster needed):
#  - every Kubernetes manifest against the API schemas vendored by kubernetes-validate (strict:
#    unknown fields fail); CRDs without a vendored schema (ServiceMonitor) are reported;
#  - every resource the kustomization lists exists;
#  - docker-compose.yml against the Compose specification vendored by check-jsonschema;
#  - the Dockerfile's non-root user and health check.
# Needs the test venv (scripts/services.sh creates it): $VENV/bin/kubernetes-validate, check-jsonschema.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-target/test-venv}

"$VENV/bin/kubernetes-validate" --strict --quiet k8s/*.yaml

for resource in $(sed -n '/^resources:/,/^[^ -]/p' k8s/kustomization.yaml | sed -n 's/^  - //p'); do
  [ -f "k8s/$resource" ] || { echo "k8s/kustomization.yaml lists missing $resource" >&2; exit 1; }
done

"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml

grep -q '^USER 10001' Dockerfile || { echo "Dockerfile must run as a non-root user" >&2; exit 1; }
grep -q '^HEALTHCHECK' Dockerfile || { echo "Dockerfile needs a HEALTHCHECK" >&2; exit 1; }
echo "deployment files: valid"
