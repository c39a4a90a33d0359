#!/usr/bin/env bash
# Rehearses docs/operations/backup-restore.md (plain PostgreSQL path) on this machine: a throw-away
# PostgreSQL server, the billing service's schema, two usage events through the API, a finalized
# invoice; then the documented pg_dump, DROP/CREATE DATABASE and pg_restore commands (the `oc exec
# maas-billing-db-0 -- sh -c '...'` of the page becomes a local `sh -c` with the same variables).
# It checks that the final invoice comes back with the same content hash and is still immutable.
#
#   scripts/delivery/rehearse-backup-restore.sh        PG_BIN: PostgreSQL server binaries
#                                                      (default /usr/lib/postgresql/15/bin, Debian's)
# Needs the server binaries (initdb, pg_ctl) and pg_dump/pg_restore/psql of the same major version.
set -euo pipefail
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
D="$(mktemp -d /tmp/maas-restore-rehearsal-XXXX)"
chmod 755 "$D"
# PostgreSQL refuses to run as root: use the postgres account then.
as_pg() { if [[ "$(id -u)" == 0 ]]; then chown -R postgres "$D"; runuser -u postgres -- "$@"; else "$@"; fi; }
PORT=$((20000 + RANDOM % 10000))
as_pg "$PG_BIN/initdb" -D "$D/data" -U billing --auth=trust >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$D/data" -o "-p $PORT -k $D -c listen_addresses=127.0.0.1" -l "$D/log" -w start >/dev/null
cleanup() { as_pg "$PG_BIN/pg_ctl" -D "$D/data" -m fast stop >/dev/null || true; rm -rf "$D"; }
trap cleanup EXIT
export PATH="$PG_BIN:$PATH" PGHOST=127.0.0.1 PGPORT=$PORT POSTGRES_USER=billing POSTGRES_DB=maas_billing
createdb -U billing maas_billing
export DATABASE_URL="postgres://billing@127.0.0.1:$PORT/maas_billing"
cd "$REPO"
mb() { node billing-service/bin/maas-billing.cjs --log-level silent "$@"; }
summary() { node -e 'const i = JSON.parse(require("fs").readFileSync(0)); console.log(`${i.number} ${i.status} ${i.total} ${i.contentSha256}`)'; }
mb migrate >/dev/null

# Usage through the API, with a static admin token that lives only in this temp dir.
token="$(mb token create --name rehearsal --admin 2>&1 >"$D/entry.yaml" | sed 's/.*: //')"
{ echo "tokens:"; sed 's/^/  /' "$D/entry.yaml"; } > "$D/tokens.yaml"
API_PORT=$((30000 + RANDOM % 10000))
MAAS_BILLING_AUTH_MODE=static MAAS_BILLING_TOKENS_FILE="$D/tokens.yaml" MAAS_BILLING_DATA_DIR="$D/svc" \
  node billing-service/bin/maas-billing.cjs --log-level silent serve --port "$API_PORT" &
api=$!
for _ in $(seq 1 60); do curl -fsS "127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS -X POST "127.0.0.1:$API_PORT/v1/events" -H "authorization: Bearer $token" -H content-type:application/json -d '{"events":[
 {"id":"evt-1","source":"//gateway/maas","time":"2026-03-02T09:15:00Z","tenant":"acme","user":"alice","tier":"premium","model":"llama-3-8b","inputTokens":120000,"outputTokens":30000,"requests":40},
 {"id":"evt-2","source":"//gateway/maas","time":"2026-03-02T10:15:00Z","tenant":"acme","user":"bob","tier":"free","model":"llama-3-8b","inputTokens":5000,"outputTokens":2500,"requests":10}]}' >/dev/null
kill "$api"; wait "$api" 2>/dev/null || true
mb invoice create --tenant acme --period 2026-03 >/dev/null
before="$(mb invoice finalize --tenant acme INV-2026-03-acme-1 | summary)"
echo "before backup:  $before"

# --- Backup, as documented ---
sh -c 'pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" --format=custom' > "$D/backup.dump"
echo "dump: $(pg_restore --list < "$D/backup.dump" | grep -c 'TABLE DATA') TABLE DATA entries"
# --- Restore, as documented (plain PostgreSQL) ---
sh -c 'psql -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "DROP DATABASE IF EXISTS \"$POSTGRES_DB\" WITH (FORCE)" -c "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\""'
DUMP="$D/backup.dump"
sh -c 'pg_restore --exit-on-error -U "$POSTGRES_USER" -d "$POSTGRES_DB"' < "$DUMP"

after="$(mb invoice show --tenant acme INV-2026-03-acme-1 | summary)"
echo "after restore:  $after"
[[ "$after" == "$before" ]] || { echo "FAIL: the restored invoice differs" >&2; exit 1; }
if psql -q -U billing -d maas_billing -c "update invoices set total_minor = 1 where number = 'INV-2026-03-acme-1'" 2>/dev/null; then
  echo "FAIL: a final invoice could be changed after the restore" >&2
  exit 1
fi
echo "final invoice still immutable after the restore; rebuilding the month: $(mb invoice create --tenant acme --period 2026-03 2>&1 | head -1)"
echo "rehearsal passed"
