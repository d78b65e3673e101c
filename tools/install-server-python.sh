#!/usr/bin/env bash
# Installs the Python code that colcrypt's PL/Python functions import, for the server's own interpreter:
# its libraries into $(pg_config --pkglibdir)/colcrypt/python, the colcrypt package into a release directory
# of its own, colcrypt/releases/<hash of the package>, and then switches colcrypt/current (a symlink, renamed
# over the old one: one atomic step) to it. colcrypt._python_path() resolves current, so that a backend imports
# one release whole, even while make install runs, and keeps it until it ends; the last three stay.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
home="$("$PG_CONFIG" --pkglibdir)/colcrypt"
target="$home/python"
spec=$(grep -v '^#' "$here/python/server-requirements.txt" | xargs)

mkdir -p "$target" "$home/releases"
if ! PYTHONPATH="$target" "$SERVER_PYTHON" - <<'PY' 2>/dev/null
import cryptography, sys
import boto3, pkcs11  # the providers' clients
sys.exit(int(cryptography.__version__.split(".")[0]) < 42 or "/colcrypt/python" not in cryptography.__file__
         or "/colcrypt/python" not in pkcs11.__file__)
PY
then
    echo "colcrypt: installing $spec for the server's $SERVER_PYTHON into $target"
    "$SERVER_PYTHON" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        --root-user-action=ignore --upgrade --target "$target" $spec 2>&1 | grep -v "is ignored: it is neither" || true
    PYTHONPATH="$target" "$SERVER_PYTHON" -c 'import cryptography.hazmat.primitives.ciphers.aead, pkcs11, boto3'
fi

release="$home/releases/$("$SERVER_PYTHON" "$here/tools/tree_hash.py" --python)"
if [ ! -d "$release" ]; then
    building=$(mktemp -d "$home/releases/.building.XXXXXX")
    # The whole package: the server imports only the modules without psycopg (server.py, providers/,
    # discovery/, migrate/, envelope.py, errors.py); the rest is never imported there.
    cp -r "$here/python/colcrypt" "$building/colcrypt"
    find "$building/colcrypt" -name __pycache__ -prune -exec rm -rf {} +
    for library in "$target"/*; do  # the libraries, shared by every release
        [ "$(basename "$library")" = colcrypt ] || ln -s "$library" "$building/"
    done
    chmod -R a+rX "$building"
    mv -T "$building" "$release"
fi
touch "$release"
ln -sfn "$release" "$home/.current.new"
mv -T "$home/.current.new" "$home/current"
# This release and the two before it stay for backends that imported them; older ones go.
{ ls -1dt "$home"/releases/*/ | grep -vxF "$release/" || true; } | tail -n +3 | xargs -r rm -rf
chmod -R a+rX "$home"
