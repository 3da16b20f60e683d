#!/usr/bin/env bash
# Runs the whole supergraph on the embedded defaults, as separate processes on 127.0.0.1:
# identity (4001), employee (4002), router (4000). SQLite files and keys live in .erp/;
# the cache and event bus are in-process. Ctrl-C stops everything.
#
# First start: creates a demo tenant and prints how to log in (with the TOTP enrolment).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/erp-os/target}"
STATE="${ERP_DEV_DIR:-$PWD/.erp}"
mkdir -p "$STATE"
unset REDIS_URL KAFKA_BROKERS MONGO_URL DATABASE_URL

echo "building (the first build takes a while)..." >&2
cargo build -q -p erp-identity -p erp-employee -p erp-router
BIN="$CARGO_TARGET_DIR/debug"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

export ERP_LOG_FORMAT="${ERP_LOG_FORMAT:-pretty}" RUST_LOG="${RUST_LOG:-warn}"
DEMO_PASSWORD="${ERP_DEMO_PASSWORD:-demo password 1234}"
if [[ ! -f "$STATE/identity.db" ]]; then
  DATABASE_URL="sqlite://$STATE/identity.db?mode=rwc" ERP_ADMIN_PASSWORD="$DEMO_PASSWORD" \
    "$BIN/erp-identity" bootstrap --tenant "Demo Company" --admin-email admin@demo.example --admin-name "Demo Admin"
fi

wait_http() { # name url
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$2" 2>/dev/null && return 0; sleep 0.2; done
  echo "$1 did not start" >&2; exit 1
}
DATABASE_URL="sqlite://$STATE/identity.db?mode=rwc" ERP_BIND=127.0.0.1:4001 "$BIN/erp-identity" serve & pids+=($!)
wait_http identity http://127.0.0.1:4001/ready
DATABASE_URL="sqlite://$STATE/employee.db?mode=rwc" ERP_BIND=127.0.0.1:4002 "$BIN/erp-employee" & pids+=($!)
wait_http employee http://127.0.0.1:4002/ready
# TLS 1.3 with a generated development certificate (written to .erp/dev-cert.pem so clients can
# trust it), unless ERP_ROUTER_PLAIN_HTTP=true asks for plain HTTP on loopback.
export ERP_TLS_DEV_CERT_OUT="${ERP_TLS_DEV_CERT_OUT:-$STATE/dev-cert.pem}"
"$BIN/erp-router" & pids+=($!)
if [[ "${ERP_ROUTER_PLAIN_HTTP:-}" == "true" ]]; then SCHEME=http; else SCHEME=https; fi
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null --cacert "$ERP_TLS_DEV_CERT_OUT" "$SCHEME://127.0.0.1:4000/health" 2>/dev/null && break
  curl -fsS -o /dev/null "$SCHEME://127.0.0.1:4000/health" 2>/dev/null && break
  sleep 0.2
done

cat >&2 <<MSG

ERP is running (embedded defaults):
  GraphQL (router):  $SCHEME://127.0.0.1:4000/graphql   (GraphiQL in a browser at the same URL;
                     the development certificate is $ERP_TLS_DEV_CERT_OUT: curl --cacert it)
  identity:          http://127.0.0.1:4001/graphql   OIDC: http://127.0.0.1:4001/.well-known/openid-configuration
  employee:          http://127.0.0.1:4002/graphql

Log in as admin@demo.example / "$DEMO_PASSWORD":
  1. mutation { login(input: {email: "admin@demo.example", password: "$DEMO_PASSWORD"}) { mfaToken enrollmentRequired } }
  2. mutation { beginTotpEnrollment(mfaToken: "...") { otpauthUri } }   -> add it to an authenticator app
  3. mutation { confirmTotpEnrollment(mfaToken: "...", code: "123456") { accessToken refreshToken recoveryCodes } }
  4. send "Authorization: Bearer <accessToken>" and query { me { name role { name } } }
Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
