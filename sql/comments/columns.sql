-- Comments on the columns of colcrypt's tables and views (docs/reference.md is generated from them).
-- Load after sql/tables/ and sql/views/. key_versions.kcv and key_versions.counter are commented in their file.

-- colcrypt.key_versions

COMMENT ON COLUMN colcrypt.key_versions.key_id IS
'The key''s name, shared by all its versions: 1 to 128 letters, digits and . _ : / -, starting with a letter '
'or digit. Functions take it as p_key_id, and every value encrypted under the key carries it in its envelope.';
COMMENT ON COLUMN colcrypt.key_versions.version IS
'Version of the data key, from 1: colcrypt keys create makes version 1, each rotation (colcrypt.rotate_key) the '
'next. Every encrypted value records the version it was encrypted under.';
COMMENT ON COLUMN colcrypt.key_versions.provider IS
'Where the KEK that wraps this version lives: local (a KEK file), pkcs11 (an HSM) or aws-kms (AWS KMS). '
'Changed only by colcrypt.rewrap_key.';
COMMENT ON COLUMN colcrypt.key_versions.kek_ref IS
'Which KEK wraps this version, as its provider names it: local: followed by 16 hex digits identifying the KEK '
'file''s key, a pkcs11: URI, or the KMS key''s ARN. A name, never the KEK; changed only by colcrypt.rewrap_key.';
COMMENT ON COLUMN colcrypt.key_versions.wrapped_key IS
'The data key wrapped (encrypted) by the KEK named by kek_ref, bound to key_id and version; the data key itself '
'is never stored. Replaced by colcrypt.rewrap_key; empty once the version is destroyed (colcrypt.destroy_key).';
COMMENT ON COLUMN colcrypt.key_versions.state IS
'active: encrypts new values and decrypts (at most one version per key); retired: decrypts only, set by a '
'rotation; destroyed: the wrapped key is erased, so values under this version can never be decrypted again.';
COMMENT ON COLUMN colcrypt.key_versions.created_at IS
'When the version was added (transaction start of colcrypt.add_key, or of colcrypt.rotate_key).';
COMMENT ON COLUMN colcrypt.key_versions.created_by IS
'The role that added the version: the session_user of colcrypt.add_key (run by colcrypt keys create or rotate), '
'the role that logged in, whatever role it had set (0.2.0 recorded the current_user).';
COMMENT ON COLUMN colcrypt.key_versions.state_changed_at IS
'When state last changed (transaction start): created_at until a rotation retires the version or '
'colcrypt.destroy_key destroys it. A rewrap leaves it as it is.';
COMMENT ON COLUMN colcrypt.key_versions.logged_as IS
'The event of colcrypt.migration_events that logged the version''s creation. A row restored from a dump brings '
'it along, so that restoring logs nothing twice.';

-- colcrypt.key_grants

COMMENT ON COLUMN colcrypt.key_grants.key_id IS
'The key granted, every version of it. colcrypt.grant_key checks that it is in the keyring (there is no '
'foreign key); destroying the key leaves the grant in place.';
COMMENT ON COLUMN colcrypt.key_grants.grantee IS
'The role granted the key: its sessions, and those of its members (pg_has_role MEMBER), may have the key '
'unwrapped server-side on first use.';
COMMENT ON COLUMN colcrypt.key_grants.granted_by IS
'The role that ran colcrypt.grant_key (its session_user; 0.2.0 recorded the current_user). Granting the key '
'again keeps the first grant''s row.';
COMMENT ON COLUMN colcrypt.key_grants.granted_at IS
'When the key was granted (transaction start of colcrypt.grant_key).';
COMMENT ON COLUMN colcrypt.key_grants.logged_as IS
'The event of colcrypt.migration_events that logged the grant. A row restored from a dump brings it along, so '
'that restoring logs nothing twice.';

-- colcrypt.discovery_runs

COMMENT ON COLUMN colcrypt.discovery_runs.run_id IS
'Number of the run; colcrypt.discovery_findings.run_id refers to it.';
COMMENT ON COLUMN colcrypt.discovery_runs.schemas IS
'The schemas scanned (p_schemas of colcrypt.discover). NULL: every user schema, that is all but pg_catalog, '
'information_schema, colcrypt, pg_toast and temporary schemas.';
COMMENT ON COLUMN colcrypt.discovery_runs.sample_size IS
'The sample asked for, in rows per table (p_sample_size, at least 100, default 2000); tables of up to 20,000 '
'estimated rows are read whole instead.';
COMMENT ON COLUMN colcrypt.discovery_runs.run_by IS
'The role that ran colcrypt.discover (current_user); the run sees only the tables that role may read.';
COMMENT ON COLUMN colcrypt.discovery_runs.started_at IS
'When the run started (clock time).';
COMMENT ON COLUMN colcrypt.discovery_runs.finished_at IS
'When the run finished (clock time). NULL while it runs; the run commits with its findings, so a run that '
'fails leaves no row.';
COMMENT ON COLUMN colcrypt.discovery_runs.skipped IS
'JSON array of what the run did not judge, each {"table", "column" (for one column), "error"}: a table it could '
'not read (the error''s first line, e.g. a lock timeout), a classifier failure, or a sparse column not sampled '
'again because p_table_budget was spent.';

-- colcrypt.discovery_findings

COMMENT ON COLUMN colcrypt.discovery_findings.run_id IS
'The run that made the finding (colcrypt.discovery_runs); deleting the run deletes its findings.';
COMMENT ON COLUMN colcrypt.discovery_findings.schema_name IS
'Schema of the table.';
COMMENT ON COLUMN colcrypt.discovery_findings.table_name IS
'The table or materialized view; a partitioned table is scanned and named as its parent, never its partitions.';
COMMENT ON COLUMN colcrypt.discovery_findings.column_name IS
'The column judged sensitive. Columns judged not sensitive have no row.';
COMMENT ON COLUMN colcrypt.discovery_findings.data_type IS
'The column''s declared type as format_type prints it, e.g. character varying(20).';
COMMENT ON COLUMN colcrypt.discovery_findings.classification IS
'What the column holds: ssn, credit_card, email, phone, iban, ip_address, date_of_birth, passport, '
'driver_license or bank_account.';
COMMENT ON COLUMN colcrypt.discovery_findings.confidence IS
'How sure the finding is, 0 to 1: for whole values the 95% Wilson lower bound of match_ratio, plus 0.1 when the '
'name agrees (0.9 for dates under a birth-date name); embedded: 0.5 plus the ratio, at most 0.9; shape and name '
'without a checksum: 0.6; a name alone: 0.3.';
COMMENT ON COLUMN colcrypt.discovery_findings.match_ratio IS
'Share, 0 to 1, of the judged values that are of the classification (embedded: that hold one inside free text); '
'0 when no value was sampled.';
COMMENT ON COLUMN colcrypt.discovery_findings.sample_size IS
'Values of this column that were judged: the non-NULL, non-blank ones of the rows read, so not the run''s '
'sample_size (fewer, or more for a table read whole); 0 when the finding rests on the name alone.';
COMMENT ON COLUMN colcrypt.discovery_findings.estimated_rows IS
'The table''s estimated row count when it was scanned: pg_class.reltuples, summed over partitions; a table '
'never analyzed is guessed at 60 rows per page.';
COMMENT ON COLUMN colcrypt.discovery_findings.match_kind IS
'whole: the values are the sensitive data; embedded: it occurs inside free text; name: the column''s name says '
'so, with no values sampled, or with values of the right shape but no checksum (passport, licence, bank account).';
COMMENT ON COLUMN colcrypt.discovery_findings.reason IS
'Why, as JSON: name_hint (what the name suggests), match counts, the Wilson bound, luhn_lift for cards, a note, '
'and up to three masked examples (shape kept, content hidden, e.g. ***-**-*789); never an unmasked value.';

-- colcrypt.baselines

COMMENT ON COLUMN colcrypt.baselines.label IS
'The baseline''s name, chosen by whoever captures it (p_label), e.g. ''before encryption''; comparisons name it.';
COMMENT ON COLUMN colcrypt.baselines.captured_at IS
'When the measuring window ended and the baseline was stored (clock time); renewed by a capture with p_replace.';
COMMENT ON COLUMN colcrypt.baselines.captured_by IS
'The role that ran colcrypt.capture_baseline (current_user).';
COMMENT ON COLUMN colcrypt.baselines.window_s IS
'Length of the measured window in seconds, from the first snapshot to the last (p_duration, or since p_start).';
COMMENT ON COLUMN colcrypt.baselines.metrics IS
'The metrics as a JSON object: transactions, tps, latency_mean_ms and latency_p50/p95/p99_ms (ms) with '
'latency_source, cpu_s_per_s, cpu_ms_per_transaction, IO rates per second and more; a metric not measured is absent.';
COMMENT ON COLUMN colcrypt.baselines.thresholds IS
'Limits that comparisons apply, in percent: {"latency": rise, "throughput": drop (0 or negative), "cpu": rise of '
'CPU per transaction}; the defaults 10, -10 and 15 with p_thresholds over them.';
COMMENT ON COLUMN colcrypt.baselines.notes IS
'How the metrics were obtained and what limits them (no pg_stat_statements, too few transactions, a short '
'window, ...), as also raised in NOTICEs; empty when there is nothing to say.';

-- colcrypt.baseline_comparisons

COMMENT ON COLUMN colcrypt.baseline_comparisons.comparison_id IS
'Number of the comparison, which colcrypt.compare_baseline returns with its rows.';
COMMENT ON COLUMN colcrypt.baseline_comparisons.label IS
'The baseline compared with (colcrypt.baselines); renaming or deleting the baseline renames or deletes its '
'comparisons.';
COMMENT ON COLUMN colcrypt.baseline_comparisons.compared_at IS
'When the measuring window ended and the comparison was stored (clock time).';
COMMENT ON COLUMN colcrypt.baseline_comparisons.compared_by IS
'The role that ran colcrypt.compare_baseline (current_user).';
COMMENT ON COLUMN colcrypt.baseline_comparisons.current_metrics IS
'The metrics measured for this comparison, shaped like colcrypt.baselines.metrics.';
COMMENT ON COLUMN colcrypt.baseline_comparisons.thresholds IS
'The limits applied, in percent: the baseline''s thresholds with this call''s p_thresholds over them.';
COMMENT ON COLUMN colcrypt.baseline_comparisons.results IS
'JSON array, one object per metric: metric, baseline, current, change_pct, limit_pct, passed (NULL: '
'informational, not measured in both windows, or too little load to judge) and recommendation.';
COMMENT ON COLUMN colcrypt.baseline_comparisons.notes IS
'How the current metrics were obtained and what limits them, as in colcrypt.baselines.notes.';

-- colcrypt.migrations

COMMENT ON COLUMN colcrypt.migrations.migration_id IS
'Number of the migration; the functions generated for it (colcrypt.dual_write_<id>, truncate_<id>, '
'instead_<id>) and its pg_cron jobs (colcrypt-backfill-<id>-<worker>, ...) carry it.';
COMMENT ON COLUMN colcrypt.migrations.table_name IS
'The table as named to colcrypt.prepare: p_table as written (not normalized), the name applications use, e.g. '
'crm.customers. Events, validations and colcrypt.progress repeat it.';
COMMENT ON COLUMN colcrypt.migrations.source IS
'The plaintext table: the table itself until the read cutover renames it <table>_plaintext. Cleanup drops it; '
'the column then holds the OID of a table that no longer exists.';
COMMENT ON COLUMN colcrypt.migrations.shadow IS
'The shadow table <table>_encrypted that prepare creates, the table of record from finalize on. Rollback drops '
'it; the column then holds the OID of a table that no longer exists.';
COMMENT ON COLUMN colcrypt.migrations.name_view IS
'The view that holds the table''s name from the read cutover on, decrypting the shadow; it stays after cleanup. '
'NULL before the read cutover and after a rollback.';
COMMENT ON COLUMN colcrypt.migrations.columns IS
'The encrypted columns, as named to prepare; the shadow holds each as <column>_encrypted (bytea).';
COMMENT ON COLUMN colcrypt.migrations.blind_index IS
'Those of the encrypted columns that also have a blind index for equality lookups, <column>_bidx in the shadow; '
'empty: none.';
COMMENT ON COLUMN colcrypt.migrations.key_columns IS
'The columns rows are found by: the primary key, else the narrowest unique index on NOT NULL columns. They stay '
'in plaintext, and each encrypted value''s context includes the row''s key.';
COMMENT ON COLUMN colcrypt.migrations.key_types IS
'The key columns'' types at prepare, as format_type prints them, in the order of key_columns. A record only: '
'the casts of keys kept as text[] take the types from the catalog.';
COMMENT ON COLUMN colcrypt.migrations.key_id IS
'The key (in colcrypt.keyring) whose active version encrypts the columns; after a rotation, '
'CALL colcrypt.reencrypt moves existing values to the new version.';
COMMENT ON COLUMN colcrypt.migrations.context_prefix IS
'The table as it was at prepare, fixed for good: "schema"."table" (context_version 2; schema.table, unquoted, in '
'version 1). A value''s context is context_prefix || ''.'' || the column || ''#'' || the row''s key as text; a blind '
'index''s is context_prefix || ''.'' || the column.';
COMMENT ON COLUMN colcrypt.migrations.context_version IS
'How the column enters the context: 2, quoted like an identifier ("ssn"), so that no two columns of two tables share '
'a context; 1, as it is (migrations prepared before 0.2.1, whose values keep their contexts).';
COMMENT ON COLUMN colcrypt.migrations.upper_key IS
'The greatest key when the first CALL colcrypt.backfill made the ranges (text[], in key_columns order): the '
'backfill copies the rows up to it; the triggers copy what is written since. NULL before, or if the table was empty.';
COMMENT ON COLUMN colcrypt.migrations.rows_total IS
'Rows with a key up to upper_key, counted when the ranges were made: the backfill''s total in colcrypt.progress. '
'NULL before the first CALL colcrypt.backfill.';
COMMENT ON COLUMN colcrypt.migrations.state IS
'dual_write: prepared, the triggers copy every write to the shadow; backfilling: the backfill has started; '
'backfilled: every range is copied; validated: a full validation found no difference; cutover_reads: the name '
'is a view reading the shadow, writes go on to the plaintext table; cutover_writes: writes go to the shadow '
'first; finalized: the shadow is the table of record, the plaintext table kept without grants; cleaned: the '
'plaintext table is dropped; rolled_back: undone, the shadow dropped. planned is allowed but never set.';
COMMENT ON COLUMN colcrypt.migrations.paused IS
'True from colcrypt.pause to colcrypt.resume: backfill workers stop before their next batch (the triggers keep '
'capturing writes).';
COMMENT ON COLUMN colcrypt.migrations.pause_reason IS
'p_reason of colcrypt.pause; NULL when not paused or when no reason was given.';
COMMENT ON COLUMN colcrypt.migrations.created_at IS
'When colcrypt.prepare recorded the migration (clock time).';
COMMENT ON COLUMN colcrypt.migrations.created_by IS
'The role that ran colcrypt.prepare (current_user): it owns the shadow table and the generated SECURITY DEFINER '
'trigger functions, which encrypt with its access to the key.';
COMMENT ON COLUMN colcrypt.migrations.state_changed_at IS
'When state last changed (clock time); created_at until the first change. Cleanup counts p_retain from it, '
'that is from finalize.';

-- colcrypt.backfill_ranges

COMMENT ON COLUMN colcrypt.backfill_ranges.migration_id IS
'The migration whose backfill this is; deleting the migration deletes its ranges.';
COMMENT ON COLUMN colcrypt.backfill_ranges.worker IS
'The worker, 1 to p_workers, that copies this range: CALL colcrypt.backfill(..., p_worker => worker). The first '
'call fixes the number of workers.';
COMMENT ON COLUMN colcrypt.backfill_ranges.lower_key IS
'Exclusive lower bound of the range, as text[] in the order of migrations.key_columns; NULL: from the first key '
'(worker 1).';
COMMENT ON COLUMN colcrypt.backfill_ranges.upper_key IS
'Inclusive upper bound of the range (text[]); the last worker''s is migrations.upper_key. Equal to lower_key for '
'an empty range (too few distinct keys for all workers); NULL when the table was empty.';
COMMENT ON COLUMN colcrypt.backfill_ranges.checkpoint IS
'The last key copied (text[]), committed with its batch: the next batch starts after it. Starts as lower_key, '
'so NULL means nothing is copied yet in worker 1''s range.';
COMMENT ON COLUMN colcrypt.backfill_ranges.rows_done IS
'Rows of the range that the batches have read and locked, whether they copied them or found them already '
'written by the triggers.';
COMMENT ON COLUMN colcrypt.backfill_ranges.batches IS
'Batches committed.';
COMMENT ON COLUMN colcrypt.backfill_ranges.batch_size IS
'Rows in the last batch (50 to 50,000), or the halved size after a lock conflict; a later call goes on from it '
'once a batch has committed. 1000 (the default) until then, whatever p_batch_size is.';
COMMENT ON COLUMN colcrypt.backfill_ranges.done IS
'True once the range is copied (a batch reached upper_key or found no more rows), or from the start for an empty '
'range; the last worker done moves the migration to backfilled.';
COMMENT ON COLUMN colcrypt.backfill_ranges.started_at IS
'When a backfill call first worked on the range (clock time); NULL: not yet, or never for a range empty from '
'the start.';
COMMENT ON COLUMN colcrypt.backfill_ranges.last_batch_at IS
'When the last successful batch was recorded (clock time); NULL: none yet. colcrypt.progress counts a worker '
'active when this is less than a minute old.';
COMMENT ON COLUMN colcrypt.backfill_ranges.last_batch_ms IS
'How long the last successful batch took, in ms; NULL: none yet.';
COMMENT ON COLUMN colcrypt.backfill_ranges.busy_ms IS
'Time spent in successful batches, in ms, without sleeps, pauses, lag waits and given-way batches: '
'colcrypt.progress.rows_per_s divides rows_done by it.';
COMMENT ON COLUMN colcrypt.backfill_ranges.retries IS
'Batches that gave way and were retried smaller: a lock wait over 100 ms, a deadlock, a serialization failure, '
'or a unique violation because a trigger wrote a row first.';
COMMENT ON COLUMN colcrypt.backfill_ranges.throttled IS
'Why the worker is held back or stopped: paused: <reason>, replication lag over p_max_lag, lock conflict '
'(retrying with fewer rows), or the migration''s state once it is no longer backfilling. NULL after a successful '
'batch and at the start of each call.';
COMMENT ON COLUMN colcrypt.backfill_ranges.last_error IS
'First line (at most 500 characters) of the last error that stopped the worker, other than a conflict it gave '
'way to; NULL again after its next successful batch.';

-- colcrypt.migration_events

COMMENT ON COLUMN colcrypt.migration_events.event_id IS
'Number of the event, in the order of logging (the hash chain follows prev_event_id).';
COMMENT ON COLUMN colcrypt.migration_events.migration_id IS
'The migration the event belongs to; NULL for changes of the keyring and its grants (table_name '
'colcrypt.keyring).';
COMMENT ON COLUMN colcrypt.migration_events.table_name IS
'The migration''s table_name, or colcrypt.keyring for a key version created, rewrapped, retired, destroyed or '
'removed, and a key granted or revoked.';
COMMENT ON COLUMN colcrypt.migration_events.at IS
'When the event was logged (clock time).';
COMMENT ON COLUMN colcrypt.migration_events.by_role IS
'session_user of the session that logged it: the role that logged in (a pg_cron job''s role for its runs), '
'unchanged by SET ROLE, unlike the current_user that other tables record.';
COMMENT ON COLUMN colcrypt.migration_events.event IS
'What happened, e.g. prepare, state <new state>, backfill ranges, backfill error, pause, validate, preflight, '
'cutover reads, finalize, rollback, cleanup, reencrypt; for the keyring key version <created, rewrapped, '
'retired, destroyed, removed>, key granted, key grant revoked.';
COMMENT ON COLUMN colcrypt.migration_events.outcome IS
'ok; failed for a validation that found differences; error for a backfill batch that failed.';
COMMENT ON COLUMN colcrypt.migration_events.detail IS
'The event''s facts as JSON, e.g. the state it left, a validation''s counts, a switch''s attempts, waited_ms and '
'switch_ms, a key''s id, version, provider and KEK reference; never key material.';
COMMENT ON COLUMN colcrypt.migration_events.prev_event_id IS
'event_id of the latest event when this one was logged, its previous link in the hash chain (usually, not '
'always, event_id - 1); NULL for the first event.';
COMMENT ON COLUMN colcrypt.migration_events.prev_hash IS
'row_hash of the event named by prev_event_id; NULL for the first event.';
COMMENT ON COLUMN colcrypt.migration_events.row_hash IS
'SHA-256 of prev_hash and this row''s content (colcrypt._event_hash), set when the row is inserted (a row '
'restored from a dump keeps its own) and checked by colcrypt.verify_audit; events logged under 0.1.0 were chained '
'by the update to 0.2.0.';

-- colcrypt.validations

COMMENT ON COLUMN colcrypt.validations.validation_id IS
'Number of the validation.';
COMMENT ON COLUMN colcrypt.validations.migration_id IS
'The migration validated; deleting the migration deletes its validations.';
COMMENT ON COLUMN colcrypt.validations.table_name IS
'The migration''s table_name.';
COMMENT ON COLUMN colcrypt.validations.validated_at IS
'When the comparison ended and was stored (clock time); the read cutover wants a clean full validation younger '
'than its p_max_validation_age.';
COMMENT ON COLUMN colcrypt.validations.validated_by IS
'The role that ran colcrypt.validate (current_user), which needs the key to decrypt.';
COMMENT ON COLUMN colcrypt.validations.sample_size IS
'p_sample_size: at most this many rows of the table, and of the shadow, from pages spread over them. NULL: every '
'row, the only kind of validation that moves a migration to validated or that the read cutover accepts.';
COMMENT ON COLUMN colcrypt.validations.total IS
'Rows of the table compared: valid + mismatched + missing (orphaned shadow rows are not counted here).';
COMMENT ON COLUMN colcrypt.validations.valid IS
'Rows whose shadow row matches: every encrypted value decrypts, with the row''s context, to the table''s value, '
'and blind indexes and other columns are equal.';
COMMENT ON COLUMN colcrypt.validations.mismatched IS
'Rows whose shadow row differs: an encrypted value that decrypts to something else or does not authenticate, or '
'a blind index or unencrypted column that differs.';
COMMENT ON COLUMN colcrypt.validations.missing IS
'Rows of the table that have no shadow row.';
COMMENT ON COLUMN colcrypt.validations.orphaned IS
'Rows of the shadow whose key is not in the table.';
COMMENT ON COLUMN colcrypt.validations.examples IS
'Up to five keys of each kind of difference, first in text order, as JSON {"mismatched": [...], "missing": [...], '
'"orphaned": [...]}; a key as text (ROW(...)::text for a key of several columns).';
COMMENT ON COLUMN colcrypt.validations.seconds IS
'How long the comparison took, in seconds.';
COMMENT ON COLUMN colcrypt.validations.passed IS
'True when no row was mismatched, missing or orphaned.';

-- colcrypt.keyring (view of colcrypt.key_versions)

COMMENT ON COLUMN colcrypt.keyring.key_id IS
'The key''s name, shared by all its versions (colcrypt.key_versions.key_id).';
COMMENT ON COLUMN colcrypt.keyring.version IS
'Version of the data key, from 1; each rotation adds the next.';
COMMENT ON COLUMN colcrypt.keyring.provider IS
'Where the KEK that wraps this version lives: local, pkcs11 or aws-kms.';
COMMENT ON COLUMN colcrypt.keyring.kek_ref IS
'Which KEK wraps this version, as its provider names it (local:<16 hex digits>, a pkcs11: URI, a KMS key ARN).';
COMMENT ON COLUMN colcrypt.keyring.wrapped_key IS
'The data key wrapped by the KEK named by kek_ref (never the data key itself); empty once destroyed.';
COMMENT ON COLUMN colcrypt.keyring.state IS
'active (encrypts and decrypts), retired (decrypts only, after a rotation) or destroyed (the wrapped key is '
'erased: values under this version can no longer be decrypted).';
COMMENT ON COLUMN colcrypt.keyring.created_at IS
'When the version was added (transaction start).';
COMMENT ON COLUMN colcrypt.keyring.created_by IS
'The role that added the version.';
COMMENT ON COLUMN colcrypt.keyring.state_changed_at IS
'When state last changed (transaction start); created_at until the version is retired or destroyed.';
COMMENT ON COLUMN colcrypt.keyring.key_check_value IS
'The key check value (colcrypt.key_versions.kcv) in hex, 32 digits, which a data key is checked against when '
'it is loaded or unwrapped.';
COMMENT ON COLUMN colcrypt.keyring.encryptions IS
'Values encrypted under this version, an upper bound in steps of 256 (a backend reserves 256 at a time); 0 '
'before the first. A warning comes at 2^30; random nonces are safe up to 2^32.';

-- colcrypt.progress (view of colcrypt.migrations and colcrypt.backfill_ranges)

COMMENT ON COLUMN colcrypt.progress.migration_id IS
'The migration (colcrypt.migrations).';
COMMENT ON COLUMN colcrypt.progress.table_name IS
'The table as applications name it (colcrypt.migrations.table_name).';
COMMENT ON COLUMN colcrypt.progress.phase IS
'The migration''s state (colcrypt.migrations.state), e.g. backfilling.';
COMMENT ON COLUMN colcrypt.progress.rows_total IS
'Rows to backfill, up to the upper bound taken when the backfill started; NULL before it started.';
COMMENT ON COLUMN colcrypt.progress.rows_done IS
'Rows of the ranges that the workers have read (copied, or found written by the triggers), summed; 0 before '
'the backfill.';
COMMENT ON COLUMN colcrypt.progress.percent IS
'Rows done of rows_total (at most 100), to one decimal; 100.0 once every range is done; NULL before the backfill.';
COMMENT ON COLUMN colcrypt.progress.rows_per_s IS
'Rows per second in batches, summed over the workers (sleeps, pauses and gaps between pg_cron runs not counted), '
'to one decimal; NULL before the first batch.';
COMMENT ON COLUMN colcrypt.progress.eta IS
'Time left at rows_per_s for the rows not done yet; NULL once every range is done or rows_done has reached '
'rows_total, and while no rate is known.';
COMMENT ON COLUMN colcrypt.progress.batches IS
'Batches committed, all workers.';
COMMENT ON COLUMN colcrypt.progress.workers IS
'Backfill workers (ranges); 0 before the first CALL colcrypt.backfill.';
COMMENT ON COLUMN colcrypt.progress.workers_active IS
'Workers not done that committed a batch in the last minute.';
COMMENT ON COLUMN colcrypt.progress.retries IS
'Batches that gave way to the application (a lock conflict, deadlock or racing trigger write) and were retried.';
COMMENT ON COLUMN colcrypt.progress.paused IS
'True from colcrypt.pause to colcrypt.resume.';
COMMENT ON COLUMN colcrypt.progress.pause_reason IS
'p_reason of colcrypt.pause; NULL when not paused or none was given.';
COMMENT ON COLUMN colcrypt.progress.throttled IS
'Why workers are held back (paused, replication lag, lock conflict), the workers'' distinct reasons joined '
'with ''; ''; NULL: none.';
COMMENT ON COLUMN colcrypt.progress.last_error IS
'The workers'' last errors, distinct, joined with ''; ''; NULL: none since their last successful batch.';
COMMENT ON COLUMN colcrypt.progress.last_batch_at IS
'When the latest batch of any worker was recorded; NULL: none yet.';
