-- Security first: nothing is open by default; grant what the roles need.
REVOKE ALL ON ALL TABLES IN SCHEMA colcrypt FROM public;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA colcrypt FROM public;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA colcrypt FROM public;
GRANT USAGE ON SCHEMA colcrypt TO public;

-- The keyring holds only wrapped keys and check values; the C key cache reads it as the caller.
GRANT SELECT ON colcrypt.key_versions, colcrypt.key_grants, colcrypt.keyring TO public;

-- Anyone may use keys they were granted or loaded; key administration stays with the owner.
GRANT EXECUTE ON FUNCTION
colcrypt.encrypt_column(text, text, text),
colcrypt.decrypt_column(bytea, text),
colcrypt.decrypt_column(bytea, text, anyelement),
colcrypt.verify_column(bytea, text, text),
colcrypt.blind_index(text, text, text),
colcrypt.column_context(regclass, text),
colcrypt.encrypt_value(anyelement, text, text),
colcrypt.decrypt_value(bytea, text, anyelement),
colcrypt.session_public_key(),
colcrypt.load_key(text, integer, bytea),
colcrypt.forget_keys(),
colcrypt.loaded_keys(),
colcrypt._provider_context(bytea),
colcrypt._python_path(),
colcrypt._as_owner(oid, text),
colcrypt._as_owner(oid, text, "any"),
colcrypt._statement_count(text),
colcrypt.call_trigger(regprocedure, text, text[], text, text, anyelement, anyelement),
colcrypt.discover(text[], integer, interval)
TO public;

-- discover() runs as its caller; it stores a run and its findings only for roles that may write them (a
-- superuser, or one granted INSERT), so that no role can record a finding nobody found. 0.2.0 let PUBLIC.
GRANT SELECT ON colcrypt.discovery_runs, colcrypt.discovery_findings TO public;
REVOKE USAGE ON SEQUENCE colcrypt.discovery_runs_run_id_seq FROM public;
