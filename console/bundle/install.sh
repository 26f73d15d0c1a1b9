#!/bin/sh
# Installs dsconsole from this bundle alone: no package index, no network.
#   install.sh [--venv DIR | --user] [--python PYTHON] [--completion]
# --venv DIR    a new virtual environment in DIR (default: $XDG_DATA_HOME/dsconsole/venv,
#               i.e. ~/.local/share/dsconsole/venv); the Python must have its venv module
#               (Debian: python3-venv)
# --user        pip install --user instead (refused by a Python "externally managed"
#               by the OS, PEP 668: use a venv there)
# --python PY   the Python to install for (default: python3); it must be the
#               version the bundle was built for (bundle.json)
# --completion  also install bash and zsh completion for the current user
# pip runs without any pip configuration (PIP_CONFIG_FILE=/dev/null, --isolated):
# a site's pip.conf pointing at a mirror must not add anything to what the
# bundle holds, and every wheel is checked against requirements.txt's SHA-256.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
PY=python3
MODE=venv
VENV=$DATA/dsconsole/venv
COMPLETION=0

usage() { sed -n '2,15s/^# \{0,1\}//p' "$0"; }
fail() { echo "install.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --venv) [ $# -ge 2 ] || fail "--venv needs a directory"; VENV=$2; MODE=venv; shift 2 ;;
    --user) MODE=user; shift ;;
    --python) [ $# -ge 2 ] || fail "--python needs a Python executable"; PY=$2; shift 2 ;;
    --completion) COMPLETION=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown option $1; expected --venv DIR, --user, --python PYTHON, --completion" ;;
  esac
done

command -v "$PY" >/dev/null 2>&1 || fail "$PY: not found; expected a Python 3 executable (--python PY)"
want=$(sed -n 's/^ *"python": "\([0-9.]*\)".*/\1/p' "$HERE/bundle.json")
have=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$want" = "$have" ] || fail "$PY is Python $have; this bundle was built for Python $want"

if [ "$MODE" = venv ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV" || fail "cannot create a venv in $VENV (Debian: apt install python3-venv) or use --user"
  fi
  PIP_PY=$VENV/bin/python
  BIN=$VENV/bin
  USER_FLAG=
else
  PIP_PY=$PY
  BIN=$("$PY" -c 'import os, sysconfig; print(sysconfig.get_path("scripts", os.name + "_user"))')
  USER_FLAG=--user
fi

PIP_CONFIG_FILE=/dev/null "$PIP_PY" -m pip --isolated --disable-pip-version-check install $USER_FLAG \
  --no-index --find-links "$HERE" --require-hashes -r "$HERE/requirements.txt"

"$BIN/dsconsole" --version

if [ "$COMPLETION" = 1 ]; then
  mkdir -p "$DATA/bash-completion/completions" "$DATA/zsh/site-functions"
  "$BIN/dsconsole" completion bash > "$DATA/bash-completion/completions/dsconsole"
  "$BIN/dsconsole" completion zsh > "$DATA/zsh/site-functions/_dsconsole"
  echo "bash completion: $DATA/bash-completion/completions/dsconsole (loaded by bash-completion in new shells)"
  echo "zsh completion: $DATA/zsh/site-functions/_dsconsole (add 'fpath+=($DATA/zsh/site-functions)' before compinit in ~/.zshrc)"
fi
echo "dsconsole installed: $BIN/dsconsole"
case ":$PATH:" in *":$BIN:"*) ;; *) echo "note: $BIN is not on PATH" ;; esac
