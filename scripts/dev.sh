#!/usr/bin/env bash
# Runs the whole supergraph in ONE process on the embedded defaults: `erp-os all` (the root
# crate): identity, employee and PMO subgraphs plus the router, SQLite files and keys in .erp/,
# in-process cache and bus. The router serves https://127.0.0.1:4000/graphql with a generated
# development certificate (.erp/dev-cert.pem), or plain http when ERP_ROUTER_PLAIN_HTTP=true.
#
# First start: creates a demo tenant with tier-S seed data and prints how to log in (with the
# TOTP enrolment). Options: bash scripts/dev.sh --help (ports, state directory, demo password).
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "building erp-os (the first build takes a while)..." >&2
cargo build -q --release -p erp-os --bin erp-os
exec "${CARGO_TARGET_DIR:-target}/release/erp-os" all "$@"
