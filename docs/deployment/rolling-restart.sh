#!/usr/bin/env bash
# Rolling restart of the app's processes behind a front door (docs/deployment.md): for each instance, stop it
# (systemd sends SIGTERM; the process refuses new requests with 503, fails its health check, closes its SignalR
# connections so they resume on the others, removes its rows and exits), start it again, wait until its health
# endpoint answers 200, give the front door time to see it, then go on to the next. Stops at the first instance that
# does not come back healthy, so a bad release never takes down more than one process.
#
# Usage: rolling-restart.sh [instance ...]          (default: 1 2 3)
# Environment:
#   APP             the systemd template's name, app@.service -> APP=app (default: app)
#   HEALTH_URL      printf pattern of an instance's health URL (default: http://127.0.0.1:500%s/health)
#   HEALTH_TIMEOUT  seconds an instance may take to become healthy (default: 60)
#   SETTLE_SECONDS  seconds to wait after it is healthy, at least one front-door health probe interval (default: 2)
set -euo pipefail

app="${APP:-app}"
health_url="${HEALTH_URL:-http://127.0.0.1:500%s/health}"
health_timeout="${HEALTH_TIMEOUT:-60}"
settle="${SETTLE_SECONDS:-2}"
if [ "$#" -eq 0 ]; then set -- 1 2 3; fi

for instance in "$@"; do
  unit="${app}@${instance}.service"
  # shellcheck disable=SC2059 # the pattern is the user's
  url="$(printf "$health_url" "$instance")"

  started=$(date +%s.%N)
  systemctl stop "$unit"
  stopped=$(date +%s.%N)
  echo "rolling-restart: ${unit} stopped in $(echo "$stopped - $started" | bc) s"

  systemctl start "$unit"
  deadline=$(( $(date +%s) + health_timeout ))
  until curl -fsS --max-time 2 -o /dev/null "$url"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "rolling-restart: ${unit} is not healthy at ${url} after ${health_timeout} s; stopping here (the other instances keep serving)." >&2
      systemctl status "$unit" --no-pager >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  echo "rolling-restart: ${unit} healthy after $(echo "$(date +%s.%N) - $stopped" | bc) s"
  sleep "$settle"
done
echo "rolling-restart: done ($*)"
