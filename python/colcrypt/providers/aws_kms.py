"""The AWS KMS provider: data keys are wrapped by KMS Encrypt under a KMS key (id, alias or ARN), with
an encryption context naming the database, the key id and version and the purpose, which KMS
authenticates and logs (CloudTrail) with every unwrap. The keyring stores the key's ARN.

Configuration, never in SQL: the usual AWS settings (AWS_REGION, credentials from the environment,
~/.aws or an instance role) and COLCRYPT_AWS_KMS_ENDPOINT for a KMS-compatible endpoint (the tests
use the moto server on loopback)."""

import os

from colcrypt.errors import ColcryptError

NAME = "aws-kms"


def context(database: str, key_id: str, version: int) -> dict[str, str]:
    return {"colcrypt:database": database, "colcrypt:key-id": key_id, "colcrypt:key-version": str(version),
            "colcrypt:purpose": "data-key"}


class Provider:
    name = NAME

    def __init__(self, key: str, database: str, config: dict | None = None):
        if not key:
            raise ColcryptError("KC008", "no KMS key given",
                                "Name the KEK by its key id, alias (alias/...) or ARN: --kek alias/colcrypt.")
        self.ref, self.database, self.config = key, database, config or {}
        os.environ.update(self.config.get("env", {}))  # e.g. AWS_SHARED_CREDENTIALS_FILE

    def _client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("kms", endpoint_url=self.config.get("endpoint_url")
                            or os.environ.get("COLCRYPT_AWS_KMS_ENDPOINT") or None,
                            region_name=self.config.get("region") or os.environ.get("AWS_REGION")
                            or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
                            config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2}))

    def _call(self, what: str, **kwargs) -> dict:
        import botocore.exceptions as bx

        try:
            return getattr(self._client(), what)(**kwargs)
        except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as e:
            raise ColcryptError("KC006", f"aws-kms: KMS is unreachable ({e})",
                                "Check the network path to KMS, AWS_REGION and COLCRYPT_AWS_KMS_ENDPOINT.") from None
        except bx.NoCredentialsError:
            raise ColcryptError("KC006", "aws-kms: no AWS credentials found",
                                "Provide credentials (environment, ~/.aws, or an instance role).") from None
        except bx.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code == "InvalidCiphertextException":
                raise ColcryptError("KC005", f"aws-kms: a wrapped key did not unwrap with {self.ref} and its "
                                             "encryption context", "The keyring entry was altered, or belongs to "
                                    "another database or key; restore colcrypt.key_versions from backup.") from None
            hints = {"NotFoundException": "Check the key id, alias or ARN and the region.",
                     "AccessDeniedException": "Grant this principal kms:Encrypt and kms:Decrypt on the key.",
                     "DisabledException": "Enable the KMS key (or use the one the keyring names)."}
            raise ColcryptError("KC006", f"aws-kms: {what} with {self.ref} refused: {code}: "
                                         f"{e.response.get('Error', {}).get('Message', '')}",
                                hints.get(code, "See the KMS error code in the AWS documentation.")) from None

    def wrap(self, key_id: str, version: int, dek: bytes) -> tuple[str, bytes]:
        r = self._call("encrypt", KeyId=self.ref, Plaintext=dek, EncryptionContext=context(self.database, key_id,
                                                                                              version))
        return r["KeyId"], bytes(r["CiphertextBlob"])

    def unwrap(self, key_id: str, version: int, wrapped: bytes) -> bytes:
        r = self._call("decrypt", KeyId=self.ref, CiphertextBlob=wrapped,
                       EncryptionContext=context(self.database, key_id, version))
        return bytes(r["Plaintext"])
