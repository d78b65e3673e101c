"""The SQL the report reads colcrypt's catalog with. Identifiers that vary (shadow tables, their
columns) are composed with psycopg.sql where these templates are used."""

GENERATED_SQL = """
SELECT now() AS at, current_database() AS database, current_setting('server_version') AS server_version,
       (SELECT extversion FROM pg_extension WHERE extname = 'colcrypt') AS colcrypt_version,
       current_user AS by_role, session_user AS session_role
"""
# The relation that holds the table's name: the table itself, or the view after the read cutover.
MIGRATIONS_SQL = """
SELECT m.migration_id, m.table_name, m.state, m.columns, m.blind_index, m.key_id, m.rows_total,
       m.created_at, m.created_by, m.state_changed_at, m.name_view::oid AS view_oid,
       CASE WHEN m.state NOT IN ('cleaned', 'rolled_back') THEN m.source::oid END AS source_oid,
       CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', n.nspname, c.relname) END AS name_relation,
       sn.nspname AS shadow_schema, s.relname AS shadow_name
FROM colcrypt.migrations AS m
LEFT JOIN pg_class AS c ON c.oid = coalesce(m.name_view, m.source)
LEFT JOIN pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_class AS s ON s.oid = m.shadow AND m.state <> 'rolled_back'
LEFT JOIN pg_namespace AS sn ON sn.oid = s.relnamespace
ORDER BY m.migration_id
"""
COLUMNS_SQL = """
SELECT m.migration_id, col.name AS column_name, format_type(a.atttypid, a.atttypmod) AS data_type
FROM colcrypt.migrations AS m
CROSS JOIN LATERAL unnest(m.columns) WITH ORDINALITY AS col (name, ord)
LEFT JOIN pg_attribute AS a
    ON a.attrelid = coalesce(m.name_view, m.source) AND a.attname = col.name AND NOT a.attisdropped
WHERE m.state <> 'rolled_back'
ORDER BY m.migration_id, col.ord
"""
# The latest finding of each column over every discovery run.
DISCOVERY_SQL = """
SELECT DISTINCT ON (f.schema_name, f.table_name, f.column_name)
       f.schema_name, f.table_name, f.column_name, f.data_type, f.classification, f.confidence, f.match_ratio,
       f.match_kind, f.run_id, r.started_at AS found_at,
       to_regclass(format('%I.%I', f.schema_name, f.table_name))::oid AS relation_oid
FROM colcrypt.discovery_findings AS f JOIN colcrypt.discovery_runs AS r USING (run_id)
ORDER BY f.schema_name, f.table_name, f.column_name, f.run_id DESC
"""
DISCOVERY_RUNS_SQL = """
SELECT run_id, started_at, finished_at, run_by, schemas, sample_size, jsonb_array_length(skipped) AS tables_skipped,
       (SELECT count(*) FROM colcrypt.discovery_findings AS f WHERE f.run_id = r.run_id) AS findings
FROM colcrypt.discovery_runs AS r ORDER BY run_id
"""
KEYRING_SQL = """
SELECT key_id, version, state, provider, kek_ref, created_at, created_by, state_changed_at, key_check_value,
       encryptions
FROM colcrypt.keyring ORDER BY key_id, version
"""
KEY_EVENTS_SQL = """
SELECT event_id, at, by_role, event, detail ->> 'key_id' AS key_id, (detail ->> 'version')::int AS version,
       detail ->> 'role' AS role, detail ->> 'provider' AS provider, detail ->> 'kek_ref' AS kek_ref,
       detail ->> 'previous_kek_ref' AS previous_kek_ref
FROM colcrypt.migration_events WHERE table_name = 'colcrypt.keyring' ORDER BY event_id
"""
GRANTS_SQL = "SELECT key_id, grantee::text AS grantee, granted_by, granted_at FROM colcrypt.key_grants ORDER BY 1, 2"
VALIDATIONS_SQL = """
SELECT v.validation_id, v.migration_id, v.table_name, v.validated_at, v.validated_by, v.sample_size, v.total,
       v.valid, v.mismatched, v.missing, v.orphaned, v.seconds, v.passed, m.state AS migration_state,
       v.validation_id = max(v.validation_id) OVER (PARTITION BY v.migration_id) AS latest
FROM colcrypt.validations AS v LEFT JOIN colcrypt.migrations AS m USING (migration_id)
ORDER BY v.validation_id
"""
BASELINES_SQL = """
SELECT label, captured_at, captured_by, window_s, metrics, thresholds, notes FROM colcrypt.baselines
ORDER BY captured_at
"""
COMPARISONS_SQL = """
SELECT comparison_id, label, compared_at, compared_by, thresholds, results, notes FROM colcrypt.baseline_comparisons
ORDER BY comparison_id
"""
ROLLBACKS_SQL = """
SELECT event_id, migration_id, table_name, at, by_role, outcome, detail ->> 'from' AS from_state,
       (detail ->> 'switch_ms')::float8 AS switch_ms, (detail ->> 'attempts')::int AS attempts,
       (detail ->> 'waited_ms')::float8 AS waited_ms
FROM colcrypt.migration_events WHERE event = 'rollback' ORDER BY event_id
"""
CLEANUP_EVENT_SQL = """
SELECT at, detail ->> 'dropped' AS dropped, detail -> 'residue' AS residue FROM colcrypt.migration_events
WHERE migration_id = %s AND event = 'cleanup' ORDER BY event_id DESC LIMIT 1
"""
PHASE_EVENTS_SQL = """
SELECT migration_id, event, at, (detail ->> 'switch_ms')::float8 AS switch_ms, detail ->> 'dropped' AS dropped
FROM colcrypt.migration_events WHERE migration_id IS NOT NULL AND event = ANY(%s) ORDER BY event_id
"""
EVENT_LOG_SQL = """
SELECT count(*) AS logged, min(at) AS first_at, max(at) AS last_at FROM colcrypt.migration_events
"""
CHAINED_SQL = "SELECT to_regprocedure('colcrypt.verify_audit()') IS NOT NULL AS chained"
AUDIT_SQL = "SELECT events, head_event, head_hash, problem FROM colcrypt.verify_audit()"
# The header bytes of every stored value of a shadow's columns, in one scan: {columns} is
# (VALUES ('ssn', s."ssn_encrypted"), ...).
ENVELOPES_SQL = """
SELECT v.name AS column_name, get_byte(v.value, 0) AS format_version, get_byte(v.value, 1) AS algorithm,
       count(*) AS "values"
FROM {shadow} AS s CROSS JOIN LATERAL {columns} AS v (name, value)
WHERE v.value IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
