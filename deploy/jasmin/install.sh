#!/bin/sh
# Install what a city's Jasmin needs on Debian 12, for deploy/jasmin/jasmin_stack.py:
# Redis and RabbitMQ from Debian, jasmin 0.11.0 in its own venv (it pins Twisted and friends),
# and the AMQP spec file the wheel does not ship (from the sdist).
# jasmin 0.11.1 drops delivery receipts (jookies/jasmin#1236): keep 0.11.0.
# Idempotent: run it again and it only checks. SMSD_JASMIN_HOME moves the venv (default ~/.cache/smsd-jasmin).
set -eu
HOME_DIR="${SMSD_JASMIN_HOME:-$HOME/.cache/smsd-jasmin}"
VERSION=0.11.0
if ! command -v redis-server >/dev/null 2>&1 || [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install.sh: run as root to apt-get install redis-server rabbitmq-server" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server rabbitmq-server >/dev/null
    # the packages start system-wide services; the stack runs its own on free ports
    (systemctl disable --now redis-server rabbitmq-server >/dev/null 2>&1 || true)
fi
mkdir -p "$HOME_DIR"
if [ ! -x "$HOME_DIR/venv/bin/jasmind.py" ]; then
    python3 -m venv "$HOME_DIR/venv"
    "$HOME_DIR/venv/bin/pip" install -q "jasmin==$VERSION"
fi
if [ ! -f "$HOME_DIR/resource/amqp0-9-1.xml" ]; then
    tmp=$(mktemp -d)
    "$HOME_DIR/venv/bin/pip" download -q "jasmin==$VERSION" --no-binary :all: --no-deps -d "$tmp"
    tar -xzf "$tmp/jasmin-$VERSION.tar.gz" -C "$tmp"
    mkdir -p "$HOME_DIR/resource"
    cp "$tmp/jasmin-$VERSION/misc/config/resource/amqp0-9-1.xml" "$HOME_DIR/resource/"
    rm -rf "$tmp"
fi
echo "jasmin $VERSION ready in $HOME_DIR"
