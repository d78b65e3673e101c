"""A SoftHSM2 token and a KMS emulator (the moto server, on loopback) for the provider tests, made and
torn down by the suite itself."""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from colcrypt.cluster import SERVER_ACCOUNT

PIN = "4711-colcrypt"
KMS_SECRET = "kms-secret-Qz8v1cLx"  # noqa: S105 - the emulator's credential, searched for by the leak test
TOKEN = "colcrypt-test"  # noqa: S105 - a token label, not a secret


def _server_uid() -> int | None:
    """The account the test cluster runs as, when it is not this process's (it runs as root)."""
    return pwd.getpwnam(SERVER_ACCOUNT).pw_uid if os.geteuid() == 0 else None


@pytest.fixture(scope="session")
def softhsm():
    """A fresh token 'colcrypt-test' with AES-256 KEKs 'kek-1' and 'kek-2'; the PIN in a 0600 file; all of
    it owned by the server's account, so that the server can unwrap too (root reads it anyway)."""
    pkcs11 = pytest.importorskip("pkcs11")
    home = Path(tempfile.mkdtemp(prefix="colcrypt-softhsm-"))
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    pin_file = home / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    saved = {k: os.environ.get(k) for k in ("SOFTHSM2_CONF", "COLCRYPT_PKCS11_PIN_FILE")}
    os.environ.update(SOFTHSM2_CONF=str(conf), COLCRYPT_PKCS11_PIN_FILE=str(pin_file))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN,
                    "--so-pin", "so-" + PIN], check=True, capture_output=True)
    token = pkcs11.lib("/usr/lib/softhsm/libsofthsm2.so").get_token(token_label=TOKEN)
    with token.open(user_pin=PIN, rw=True) as session:
        for label in ("kek-1", "kek-2"):
            session.generate_key(pkcs11.KeyType.AES, 256, label=label, store=True,
                                 template={pkcs11.Attribute.SENSITIVE: True, pkcs11.Attribute.EXTRACTABLE: False})
    if _server_uid() is not None:
        for path in [home, *home.rglob("*")]:
            os.chown(path, _server_uid(), -1)
    yield f"pkcs11:token={TOKEN};object="
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def kms():
    """The moto server on loopback with a KMS key aliased alias/colcrypt-kek; the environment points
    colcrypt at it."""
    server_mod = pytest.importorskip("moto.server")
    import boto3

    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"COLCRYPT_AWS_KMS_ENDPOINT": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": KMS_SECRET, "AWS_REGION": "eu-central-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    client = boto3.client("kms", endpoint_url=env["COLCRYPT_AWS_KMS_ENDPOINT"], region_name="eu-central-1")
    key = client.create_key(Description="colcrypt test KEK")["KeyMetadata"]["Arn"]
    client.create_alias(AliasName="alias/colcrypt-kek", TargetKeyId=key)
    yield {"arn": key, "alias": "alias/colcrypt-kek", "client": client}
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def server_providers(cluster, softhsm, kms):
    """colcrypt.provider_config for the test cluster: the SoftHSM token and the KMS emulator, in a
    JSON file owned by the server's account, mode 0600."""
    home = Path(tempfile.mkdtemp(prefix="colcrypt-providers-"))
    config = home / "providers.json"
    config.write_text(json.dumps({
        "pkcs11": {"module": "/usr/lib/softhsm/libsofthsm2.so", "pin_file": os.environ["COLCRYPT_PKCS11_PIN_FILE"],
                   "env": {"SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}},
        "aws-kms": {"endpoint_url": os.environ["COLCRYPT_AWS_KMS_ENDPOINT"], "region": "eu-central-1",
                    "env": {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": KMS_SECRET}}}))
    config.chmod(0o600)
    if _server_uid() is not None:
        for path in (home, config):
            os.chown(path, _server_uid(), -1)
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("LOAD 'colcrypt'")  # defines the setting, so that ALTER SYSTEM knows it
        conn.execute(f"ALTER SYSTEM SET colcrypt.provider_config = '{config}'")
        conn.execute("SELECT pg_reload_conf()")
    yield config
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("LOAD 'colcrypt'")
        conn.execute("ALTER SYSTEM RESET colcrypt.provider_config")
        conn.execute("SELECT pg_reload_conf()")
    shutil.rmtree(home, ignore_errors=True)
