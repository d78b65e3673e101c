"""The colcrypt error catalogue: one SQLSTATE per failure, shared by SQL, C and Python."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    sqlstate: str
    name: str
    meaning: str


CATALOGUE = (
    ErrorCode("KC001", "authentication_failed",
              "a value did not authenticate: wrong context, wrong key or altered bytes"),
    ErrorCode("KC002", "malformed_envelope", "a value is not a colcrypt envelope or is truncated"),
    ErrorCode("KC003", "unsupported_envelope", "unknown envelope version or algorithm"),
    ErrorCode("KC004", "unknown_key", "key id or version not in colcrypt.keyring"),
    ErrorCode("KC005", "key_check_failed", "a data key does not match its key check value"),
    ErrorCode("KC006", "provider_error", "the key provider (KEK file, HSM, KMS) failed"),
    ErrorCode("KC007", "key_state", "the key version cannot be used: destroyed or not active"),
    ErrorCode("KC008", "invalid_argument", "an argument is NULL, empty or malformed"),
    ErrorCode("KC009", "sealed_key_rejected", "a sealed session key did not open"),
    ErrorCode("KC010", "not_configured", "server-side key access is not configured"),
    ErrorCode("KC011", "key_exists", "the key id and version already exist"),
    ErrorCode("KC012", "baseline_exists", "a baseline with this label already exists"),
    ErrorCode("KC013", "unknown_baseline", "no baseline has this label"),
    ErrorCode("KC014", "no_row_key", "the table has no primary key or unique index on NOT NULL columns"),
    ErrorCode("KC015", "column_not_migratable", "a column cannot be encrypted: key, generated, depended on"),
    ErrorCode("KC016", "migration_exists", "the table is already being migrated"),
    ErrorCode("KC017", "no_migration", "the table is not being migrated"),
    ErrorCode("KC018", "wrong_state", "the migration is not in a state that allows this step"),
    ErrorCode("KC019", "name_conflict", "the shadow table, a column or a trigger name is taken"),
    ErrorCode("KC020", "table_under_migration", "DDL on a table being migrated (or its shadow) is refused"),
    ErrorCode("KC021", "switch_blocked", "the switch could not get its short lock: long transactions or a busy table"),
    ErrorCode("KC022", "not_validated", "cutover without a clean, recent full validation"),
    ErrorCode("KC023", "reader_without_key", "a role that reads the table holds no grant of its key"),
    ErrorCode("KC024", "trigger_uses_encrypted_column", "a trigger of the table cannot move to the shadow"),
    ErrorCode("KC025", "plaintext_in_use", "cleanup while other objects still depend on the plaintext table"),
    ErrorCode("KC026", "audit_log_append_only", "UPDATE, DELETE or TRUNCATE of the event log"),
    ErrorCode("KC027", "row_type_taken", "a function takes the table's rows, whose type the name's view does not have"),
    ErrorCode("KC028", "more_than_one_statement", "generated SQL would have run more than one statement"),
    ErrorCode("KC029", "encrypted_columns_mismatch",
              "colcrypt.encrypted_columns does not describe the table (a column it names is missing)"),
    ErrorCode("42501", "insufficient_privilege", "the role has no access to the key"),
)

BY_SQLSTATE = {e.sqlstate: e for e in CATALOGUE}


class ColcryptError(Exception):
    """An error raised on the client side, carrying the catalogue's SQLSTATE and a hint."""

    def __init__(self, sqlstate: str, message: str, hint: str = ""):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\nHINT: {self.hint}" if self.hint else text
