#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on loopback, runs every test on SQLite and on
# PostgreSQL, and stops it again, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z $pg_bin ]]; then
  echo "PostgreSQL server binaries not found; run scripts/install-deps.sh test" >&2
  exit 1
fi

scripts/prepare-sandbox-host.sh

work=$(mktemp -d /tmp/talos-test-XXXXXX)
chmod 755 "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')

run_pg=()
if [[ $(id -u) -eq 0 ]]; then
  run_pg=(runuser -u postgres --)
  chown postgres "$work"
fi

cleanup() {
  "${run_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pgdata" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Private files are made private one by one: a umask of 077 would also reach
# the build, and the service user that `talos serve` drops to must be able to
# execute the binary and read its resources (a fresh clone builds here).
(umask 077 && printf '%s\n' "$password" > "$work/pwfile")
[[ ${#run_pg[@]} -gt 0 ]] && chown postgres "$work/pwfile"
"${run_pg[@]}" "$pg_bin/initdb" -D "$work/pgdata" -U talos_test --pwfile="$work/pwfile" \
  --auth=scram-sha-256 -E UTF8 >/dev/null
"${run_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pgdata" -l "$work/postgres.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $work -c max_connections=300 -c fsync=off" start >/dev/null

# The password reaches the tests as a private file, never as a value in the environment.
mkdir -m 0700 -p "$work/client"
(umask 077 && printf '%s\n' "$password" > "$work/client/database_password")
chmod 600 "$work/client/database_password"
export TEST_POSTGRES_URL="postgres://talos_test@127.0.0.1:$port/postgres"
export TEST_POSTGRES_PASSWORD_FILE="$work/client/database_password"
export TEST_REQUIRE_POSTGRES=1

swift build --build-tests
scripts/build-launcher.sh debug
if [ "$#" -gt 0 ]; then
  swift test --skip-build "$@"
else
  # The engine's own sandbox suites count the host's boxes and time limits;
  # they get the machine to themselves, apart from the servers' queue workers.
  # Schema fuzzing (thousands of requests a database) runs apart as well, so
  # neither it nor the rest waits on a machine the other keeps busy.
  swift test --skip-build --skip ForgeTests --skip SchemaFuzzTests
  swift test --skip-build --filter ForgeTests
  swift test --skip-build --filter SchemaFuzzTests
  # libFuzzer on the parsers that take hostile bytes, a fixed short time each.
  scripts/fuzz-parsers.sh 15
fi
