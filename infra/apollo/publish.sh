#!/usr/bin/env bash
# Publishes every subgraph's SDL to Apollo Studio with rover, so Studio composes the same supergraph as
# `npm run compose` and shows schema checks, the Explorer (subscriptions included) and usage per field.
#   APOLLO_KEY=service:… APOLLO_GRAPH_REF=mall@prod infra/apollo/publish.sh [--check]
# --check runs `rover subgraph check` instead (CI on a pull request): breaking changes against recent
# operations fail it. Subgraphs come from subgraphs/*/schema.graphql; each routing URL is the cluster's own,
# read from the ConfigMap (<NAME>_URL in infra/k8s/configmap.yaml), so nothing here lists subgraphs by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${APOLLO_KEY:?set APOLLO_KEY (a graph API key)}"
: "${APOLLO_GRAPH_REF:?set APOLLO_GRAPH_REF, e.g. mall@prod}"
command -v rover >/dev/null || { echo "rover not found: https://www.apollographql.com/docs/rover/getting-started" >&2; exit 1; }

for schema in subgraphs/*/schema.graphql; do
  name="$(basename "$(dirname "$schema")")"
  if [[ "${1:-}" == "--check" ]]; then
    rover subgraph check "$APOLLO_GRAPH_REF" --name "$name" --schema "$schema"
    continue
  fi
  var="$(echo "$name" | tr '[:lower:]' '[:upper:]')_URL"
  url="$(sed -n "s/^  ${var}: *//p" infra/k8s/configmap.yaml)"
  : "${url:?no ${var} in infra/k8s/configmap.yaml}"
  rover subgraph publish "$APOLLO_GRAPH_REF" --name "$name" --schema "$schema" --routing-url "$url"
done
