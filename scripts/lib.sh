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

# Where Debian keeps the servers' files (variables, so the unit tests can point them elsewhere).
OS_RELEASE=/etc/os-release
PG_LIB=/usr/lib/postgresql
PG_ETC=/etc/postgresql
RABBITMQ_ENABLED_PLUGINS=/etc/rabbitmq/enabled_plugins
# Debian puts the servers' commands in /usr/sbin, which a normal user's PATH often lacks.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin" ;; esac

is_root() { [ "$(id -u)" = 0 ]; }
# Root, or sudo that needs no password (-n: never stop to ask for one).
can_be_root() { is_root || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; }
as_root() { if is_root; then "$@"; else sudo -n "$@"; fi; }
is_debian() {
  [ -r "$OS_RELEASE" ] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' "$OS_RELEASE" && command -v apt-get >/dev/null
}

# run_as_root WHAT CMD...: run CMD as root when possible, else as we are; on failure say how to do it.
run_as_root() {
  local what="$1"; shift
  if can_be_root; then
    as_root "$@" && return
  elif "$@" 2>/dev/null; then
    return
  fi
  die "could not $what; as root, run:  $(printf '%q ' "$@")"
}

# What each Debian package provides, to accept a machine that has it another way (a server
# reachable on its port, a command on PATH, a virtualenv already made).
package_provided() {
  case "$1" in
    python3-venv) [ -x "$PY" ] || python3 -c 'import ensurepip, venv' 2>/dev/null ;;
    rabbitmq-server) port_open 5672 || command -v rabbitmq-server >/dev/null ;;
    postgresql) port_open 5432 || command -v pg_ctlcluster >/dev/null ;;
    docker-compose) command -v docker-compose >/dev/null ;;  # validates docker-compose.yml in the tests
    chromium) command -v chromium >/dev/null ;;  # the browser tests' browser, never downloaded
    chromium-driver) command -v chromedriver >/dev/null ;;
    *) return 1 ;;
  esac
}

# The Debian packages `up` or `test` needs that are missing, one per line. One dpkg-query answers
# for all of them, so a machine with everything costs a few milliseconds.
missing_packages() {
  local wanted=(python3-venv rabbitmq-server postgresql) installed="" package
  if [ "${1:-up}" = test ]; then wanted+=(docker-compose chromium chromium-driver); fi
  if command -v dpkg-query >/dev/null; then
    installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${wanted[@]}" 2>/dev/null |
      awk '$2 == "installed" {print $1}')" || true
  fi
  for package in "${wanted[@]}"; do
    grep -qxF "$package" <<<"$installed" && continue
    package_provided "$package" && continue
    echo "$package"
  done
}

# Install what `up` or `test` needs from the distribution's packages, as root or through sudo -n.
# Without either, or off Debian/Ubuntu, print the exact commands and stop. apt-get update runs only
# when something is missing; postfix is never installed (the local run has its own mail catcher).
ensure_system_packages() {
  local missing
  missing="$(missing_packages "${1:-up}" | tr '\n' ' ')"
  missing="${missing% }"
  [ -n "$missing" ] || return 0
  local install="apt-get install -y --no-install-recommends $missing"
  if ! is_debian; then
    die "missing: $missing (Debian package names). This is not Debian or Ubuntu, so install their
equivalents with this system's package manager, then run $(basename "$0") again."
  fi
  if ! can_be_root; then
    die "missing Debian packages: $missing. Installing needs root (no password-less sudo here); run:
  sudo apt-get update
  sudo $install
then run $(basename "$0") again."
  fi
  say "installing $missing (Debian packages)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
  # shellcheck disable=SC2086  # one word per package
  if apt-get install -s --no-install-recommends $missing 2>/dev/null | grep -q '^Inst postfix '; then
    die "installing $missing would pull in postfix, which Touchpoint never installs; install them by hand"
  fi
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing ||
    die "could not install: $install"
  case " $missing " in *" postgresql "*) TOUCHPOINT_NEW_POSTGRES=1 ;; esac
}

# PostgreSQL: make the cluster if there is none, let the local user postgres in over 127.0.0.1
# without a password on a cluster made here (what the tests and the local run expect), start it.
PG_TRUST_MARK="# touchpoint: local development (scripts/lib.sh)"
ensure_postgres() {
  local fresh="${TOUCHPOINT_NEW_POSTGRES:-}" version conf
  if port_open 5432 && [ -z "$fresh" ]; then return; fi
  command -v pg_ctlcluster >/dev/null ||
    die "PostgreSQL is not reachable on 127.0.0.1:5432 and not installed (apt-get install postgresql)"
  version="$(ls "$PG_LIB" 2>/dev/null | sort -n | tail -1)"
  [ -n "$version" ] || die "PostgreSQL's server is not installed in $PG_LIB (apt-get install postgresql)"
  conf="$PG_ETC/$version/main"
  if [ ! -f "$conf/postgresql.conf" ]; then
    say "creating the PostgreSQL $version cluster 'main'"
    run_as_root "create the PostgreSQL cluster" pg_createcluster "$version" main
    fresh=1
  fi
  if [ -n "$fresh" ] && ! as_root grep -qF "$PG_TRUST_MARK" "$conf/pg_hba.conf" 2>/dev/null; then
    run_as_root "let user postgres connect over 127.0.0.1" \
      sed -i "1i host all postgres 127.0.0.1/32 trust  $PG_TRUST_MARK" "$conf/pg_hba.conf"
  fi
  if port_open 5432; then
    run_as_root "reload PostgreSQL" pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    return
  fi
  say "starting PostgreSQL $version"
  run_as_root "start PostgreSQL" pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 60); do port_open 5432 && return; sleep 0.5; done
  die "PostgreSQL did not open 127.0.0.1:5432"
}

# RabbitMQ: start the installed broker when it is stopped, enable the consistent-hash exchange
# (dispatch shards need it; the local run uses no other plugin). `ensure_rabbitmq test` enables the
# management plugin too: the tests create and delete a vhost per module through its HTTP API
# (tests/support.py; without it they fall back to rabbitmqctl, a second or two per call).
ensure_rabbitmq() {
  local plugins=(rabbitmq_consistent_hash_exchange) missing=() plugin
  [ "${1:-}" = test ] && plugins+=(rabbitmq_management)
  if ! port_open 5672; then
    command -v rabbitmq-server >/dev/null ||
      die "RabbitMQ is not reachable on 127.0.0.1:5672 and not installed (apt-get install rabbitmq-server)"
    say "starting RabbitMQ"
    run_as_root "start RabbitMQ" rabbitmq-server -detached
    for _ in $(seq 1 120); do port_open 5672 && break; sleep 0.5; done
    port_open 5672 || die "RabbitMQ did not open 127.0.0.1:5672"
  fi
  # The plugins file answers in a millisecond; rabbitmq-plugins boots an Erlang VM (seconds).
  # (-w: rabbitmq_management_agent alone is not rabbitmq_management.) Enabling is idempotent and
  # works on a running broker without restarting it.
  if command -v rabbitmq-plugins >/dev/null; then
    for plugin in "${plugins[@]}"; do
      grep -qsw "$plugin" "$RABBITMQ_ENABLED_PLUGINS" && continue
      { can_be_root && as_root rabbitmq-plugins -q is_enabled "$plugin" >/dev/null 2>&1; } && continue
      missing+=("$plugin")
    done
    if [ ${#missing[@]} -gt 0 ]; then
      run_as_root "enable ${missing[*]} (dispatch shards need the consistent-hash exchange; the tests' vhosts, management)" \
        rabbitmq-plugins -q enable "${missing[@]}"
    fi
  fi
  # Wait until AMQP answers, not just the port.
  for _ in $(seq 1 60); do
    "$PY" -c "import pika; pika.BlockingConnection(pika.URLParameters('${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2F}')).close()" \
      2>/dev/null && return
    sleep 1
  done
  die "RabbitMQ does not accept AMQP connections"
}
