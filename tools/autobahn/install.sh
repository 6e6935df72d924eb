#!/usr/bin/env bash
# Install Autobahn|Testsuite (wstest) into a Python 2.7 virtualenv, once.
#
# autobahntestsuite is Python 2.7 code. The virtualenv is built from pyenv's CPython 2.7.18 with
# virtualenv==20.21.1 (run from a Python 3 venv) and the pins in requirements-py27.txt beside this script.
# Prints the path of the `wstest` executable on its last line.
#
#   AUTOBAHN_VENV   where the venv goes (default: ~/.cache/sipedge/autobahn-venv)
#   PYTHON27        the 2.7 interpreter (default: pyenv's 2.7.18, else python2.7 on PATH)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${AUTOBAHN_VENV:-$HOME/.cache/sipedge/autobahn-venv}
req=$here/requirements-py27.txt

if [ -x "$venv/bin/wstest" ] && cmp -s "$req" "$venv/.requirements" && "$venv/bin/wstest" --help >/dev/null 2>&1; then
  echo "$venv/bin/wstest"
  exit 0
fi

py27=${PYTHON27:-}
if [ -z "$py27" ]; then
  for c in "${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python2.7" "$(command -v python2.7 || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then py27=$c; break; fi
  done
fi
if [ -z "$py27" ]; then
  echo "autobahn/install.sh: no CPython 2.7 found (set PYTHON27, or install 2.7.18 with pyenv)" >&2
  exit 1
fi

boot=$venv.boot
rm -rf "$venv" "$boot"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$boot" >&2
"$boot/bin/pip" install -q --disable-pip-version-check 'virtualenv==20.21.1' >&2
"$boot/bin/virtualenv" -q -p "$py27" "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir -r "$req" >&2
rm -rf "$boot"
cp "$req" "$venv/.requirements"
"$venv/bin/wstest" --help >/dev/null
echo "$venv/bin/wstest"
