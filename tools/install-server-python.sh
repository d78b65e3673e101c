#!/usr/bin/env bash
# Installs the Python code that colcrypt's PL/Python functions import, for the server's own
# interpreter, into $(pg_config --pkglibdir)/colcrypt/python (colcrypt passes that path to them).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
target="$("$PG_CONFIG" --pkglibdir)/colcrypt/python"
spec=$(grep -v '^#' "$here/python/server-requirements.txt" | xargs)

mkdir -p "$target"
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
# The whole package: the server imports only the modules without psycopg (server.py, providers/,
# discovery/, envelope.py, errors.py); the rest is never imported there.
rm -rf "$target/colcrypt"
cp -r "$here/python/colcrypt" "$target/colcrypt"
find "$target/colcrypt" -name __pycache__ -prune -exec rm -rf {} +
chmod -R a+rX "$target"
