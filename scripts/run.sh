#!/usr/bin/env bash
# `make run`: the HTTPS server and a sandbox worker, started and stopped together.
#
# `talos serve` reads the network, so it runs as the unprivileged user
# `talos` (created here when missing) with no capabilities, and cannot start
# a box; `talos worker`, the only privileged process, takes queued jobs from
# the same database and runs them in sandboxes, and never listens on a
# socket. Ctrl-C (or SIGTERM) stops both; if either stops, so does the other.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA_DIR:-./talos-data}
user=${TALOS_USER:-talos}
talos=${TALOS_BINARY:-.build/debug/talos}

if [[ $(id -u) -ne 0 ]]; then
  echo "make run needs root for the sandbox worker (the server itself drops to $user)" >&2
  exit 1
fi
if ! getent passwd "$user" >/dev/null; then
  echo "creating the system user $user, which talos serve runs as"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
fi
if [[ ! -e $data ]]; then
  mkdir -m 0700 "$data"
  chown -h "$user:" "$data"
elif [[ $(stat -c %u "$data") -eq 0 ]]; then
  # A data directory from before the server dropped root.
  echo "giving $data to $user, which the server now runs as"
  chown -R "$user:" "$data"
fi
# The service user must be able to reach its data directory, and to run
# the binary and read its resource bundles beside it.
parent=$(cd "$(dirname "$data")" && pwd)
if ! runuser -u "$user" -- test -x "$parent"; then
  echo "$user cannot reach $parent; make it traversable (chmod o+x) or choose DATA_DIR elsewhere" >&2
  exit 1
fi
if ! runuser -u "$user" -- test -x "$talos" -a -r "$(dirname "$talos")/talos_TalosServer.resources"; then
  echo "$user cannot run $talos or read its resources; make the checkout readable by others (chmod o+rx on its directories)" >&2
  exit 1
fi

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

"$talos" serve --data-dir "$data" --user "$user" &
pids+=($!)
# The worker starts once the server has created the data directory's
# database, secrets and audit file as the service user.
for _ in $(seq 1 600); do
  [[ -f $data/node-id && -f $data/audit/audit.jsonl ]] && break
  kill -0 "${pids[0]}" 2>/dev/null || exit 1
  sleep 0.1
done
"$talos" worker --data-dir "$data" --name worker &
pids+=($!)
wait -n "${pids[@]}" || true
