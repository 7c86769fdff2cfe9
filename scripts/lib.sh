# Shared by the scripts: where things are, and how to make sure the machine's services run.
# shellcheck shell=bash
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TOUCHPOINT_VENV:-$REPO/.venv}"
PY="$VENV/bin/python"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

# Create the virtualenv and install the project with its dev extras (idempotent, quick when done).
ensure_venv() {
  local stamp="$VENV/.installed-$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)"
  if [ -f "$stamp" ]; then return; fi
  command -v python3 >/dev/null || die "python3 is not installed"
  say "creating virtualenv in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -e "$REPO[dev]"
  touch "$stamp"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PostgreSQL: start the installed cluster when it is stopped; fail loudly when there is none.
ensure_postgres() {
  if port_open 5432; then return; fi
  if command -v pg_ctlcluster >/dev/null; then
    local version
    version="$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)"
    [ -n "$version" ] || die "PostgreSQL is installed but has no cluster in /etc/postgresql"
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || die "PostgreSQL did not start"
  else
    die "PostgreSQL is not reachable on 127.0.0.1:5432 and not installed (apt-get install postgresql)"
  fi
  for _ in $(seq 1 60); do port_open 5432 && return; sleep 0.5; done
  die "PostgreSQL did not open 127.0.0.1:5432"
}

# RabbitMQ: start the installed broker when it is stopped, enable the consistent-hash exchange.
ensure_rabbitmq() {
  if ! port_open 5672; then
    command -v rabbitmq-server >/dev/null ||
      die "RabbitMQ is not reachable on 127.0.0.1:5672 and not installed (apt-get install rabbitmq-server)"
    say "starting RabbitMQ"
    rabbitmq-server -detached || die "RabbitMQ did not start"
    for _ in $(seq 1 120); do port_open 5672 && break; sleep 0.5; done
    port_open 5672 || die "RabbitMQ did not open 127.0.0.1:5672"
  fi
  if command -v rabbitmq-plugins >/dev/null; then
    rabbitmq-plugins -q is_enabled rabbitmq_consistent_hash_exchange >/dev/null 2>&1 ||
      rabbitmq-plugins -q enable rabbitmq_consistent_hash_exchange >/dev/null ||
      die "could not enable rabbitmq_consistent_hash_exchange (dispatch shards need it)"
  fi
  # Wait until AMQP answers, not just the port.
  for _ in $(seq 1 60); do
    "$PY" -c "import pika; pika.BlockingConnection(pika.URLParameters('${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2F}')).close()" \
      2>/dev/null && return
    sleep 1
  done
  die "RabbitMQ does not accept AMQP connections"
}

# docker-compose (Debian's package) validates docker-compose.yml without a Docker engine; the tests use it.
ensure_compose_validator() {
  command -v docker-compose >/dev/null && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing docker-compose (to validate docker-compose.yml)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; } ||
      die "could not install docker-compose"
  else
    die "docker-compose is missing (apt-get install docker-compose)"
  fi
}

# Headless Chromium and its driver from Debian (the console's browser tests; never downloaded by a driver manager).
ensure_browser() {
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing chromium and chromium-driver (browser tests of the console)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } ||
      say "could not install chromium; the browser tests will skip (fail under CI=true)"
  else
    say "chromium missing: sudo apt-get install chromium chromium-driver (the browser tests skip without it)"
  fi
}
