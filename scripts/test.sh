#!/usr/bin/env bash
# The project's test command (README.md and .ci/run both run exactly this).
#
# Needs the real services: `eval "$(deploy/local/services.sh start)"` first, or use
# `bash scripts/test.sh --with-services`, which installs and starts them and stops them after.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ "${1:-}" == "--with-services" ]]; then
  deploy/local/services.sh install
  trap 'deploy/local/services.sh stop' EXIT
  service_env="$(deploy/local/services.sh start)"
  eval "$service_env"
fi

for var in DATABASE_URL REDIS_URL KAFKA_BROKERS TANSU_BIN S3_ENDPOINT; do
  if [[ -z "${!var:-}" ]]; then
    echo "scripts/test.sh: $var is not set; run with --with-services, or eval \"\$(deploy/local/services.sh start)\" first" >&2
    exit 2
  fi
done

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
bash deploy/check.sh  # production image and manifests, offline (docs/operations/deploy.md)
echo "== codegen over schema/api.graphql (TypeScript, strict scalars)" >&2
bash scripts/codegen-check.sh
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (real PostgreSQL, Redis, Kafka; and the embedded mode)" >&2
RUST_BACKTRACE=0 cargo test --workspace --locked
