#!/usr/bin/env bash
# The codegen check (issue 15): graphql-codegen (typescript-operations + typed-document-node,
# strict scalars) over the checked-in public API schema, schema/api.graphql, generates the types
# of sample operations of every subgraph (schema/codegen/operations/), and `tsc --strict` compiles
# a client module that uses them (schema/codegen/src/client.ts). A scalar without a mapping, an
# operation the schema no longer answers, or a type that changed under a client fails it.
#
# Needs Node >= 18. The tools are pinned in schema/codegen/package-lock.json and installed into
# schema/codegen/node_modules on the first run (the npm registry or its cache); later runs work
# offline until the lock file changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../schema/codegen"

stamp=node_modules/.erp-os-lock.sha256
wanted="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$wanted" > "$stamp"
fi
./node_modules/.bin/graphql-codegen --config codegen.ts --silent
./node_modules/.bin/tsc --project tsconfig.json
echo "codegen check: the sample operations of every subgraph compile against schema/api.graphql" >&2
