#!/usr/bin/env bash
# Composes schema/*.graphql (the subgraph SDLs) into schema/supergraph.graphql.
#
# The subgraph SDLs themselves come from the code: UPDATE_SCHEMA=1 cargo test -p erp-tests --test schema_sdl
# Needs Node >= 18 and the npm registry (the composer is pinned in schema/package-lock.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm ci --prefix schema --no-audit --no-fund --loglevel=error >&2
node schema/compose.mjs "$@"
