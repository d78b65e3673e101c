-- Migrations made by 0.2.0 take the rights model of 0.2.1: the shadow table and the generated SECURITY DEFINER
-- functions belong to the table's owner (0.2.0 gave them to the DBA who ran prepare, so the owner's triggers,
-- CHECKs and index expressions ran with the DBA's rights), and from the read cutover on the table's grantees keep
-- their privileges on the name only. Refused, changing nothing, while an owner cannot use its migration's key: its
-- triggers encrypt with its rights from now on. (Their sequences go to the name at their next step.)
DO $$
DECLARE
    m record;
    g record;
    v_missing text[] := '{}';
    v_fn regprocedure;
BEGIN
    FOR m IN
        SELECT
            x.migration_id,
            x.key_id,
            x.state,
            x.shadow::oid AS shadow,
            x.source::oid AS source,
            x.name_view::oid AS name_view,
            c.relowner AS owner,
            c.relrowsecurity AS rls
        FROM colcrypt.migrations AS x
        JOIN pg_catalog.pg_class AS c
            ON c.oid OPERATOR(pg_catalog.=) coalesce(x.name_view, x.source)::oid
        WHERE x.state OPERATOR(pg_catalog.<>) 'rolled_back'
        ORDER BY x.migration_id
    LOOP
        IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.oid OPERATOR(pg_catalog.=) m.owner)
           AND NOT EXISTS (
               SELECT FROM colcrypt.key_grants AS k
               WHERE k.key_id OPERATOR(pg_catalog.=) m.key_id
                 AND pg_catalog.pg_has_role(m.owner, k.grantee, 'MEMBER')
           ) THEN
            v_missing := v_missing || pg_catalog.format('SELECT colcrypt.grant_key(%L, %L);', m.key_id,
                                                        m.owner::regrole::text);
            CONTINUE;
        END IF;
        EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %s', m.shadow::regclass, m.owner::regrole);
        FOREACH v_fn IN ARRAY ARRAY[
            pg_catalog.to_regprocedure(pg_catalog.format('colcrypt.dual_write_%s()', m.migration_id)),
            pg_catalog.to_regprocedure(pg_catalog.format('colcrypt.truncate_%s()', m.migration_id)),
            pg_catalog.to_regprocedure(pg_catalog.format('colcrypt.instead_%s()', m.migration_id))
        ] LOOP
            IF v_fn IS NOT NULL THEN
                EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO %s', v_fn, m.owner::regrole);
            END IF;
        END LOOP;
        IF m.state OPERATOR(pg_catalog.=) ANY (ARRAY['cutover_reads', 'cutover_writes', 'finalized'])
           AND NOT m.rls THEN
            FOR g IN
                SELECT
                    a.privilege_type,
                    NULL::name AS col,
                    CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                        ELSE a.grantee::regrole::text END AS who
                FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
                WHERE c.oid OPERATOR(pg_catalog.=) m.source AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
                UNION ALL
                SELECT
                    a.privilege_type,
                    t.attname,
                    CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                        ELSE a.grantee::regrole::text END
                FROM pg_catalog.pg_attribute AS t, pg_catalog.aclexplode(t.attacl) AS a
                WHERE t.attrelid OPERATOR(pg_catalog.=) m.source AND t.attacl IS NOT NULL
                  AND a.grantee OPERATOR(pg_catalog.<>) m.owner
            LOOP
                EXECUTE pg_catalog.format('REVOKE %s%s ON %s FROM %s', g.privilege_type,
                                          CASE WHEN g.col IS NULL THEN '' ELSE pg_catalog.format(' (%I)', g.col) END,
                                          m.source::regclass, g.who);
            END LOOP;
        END IF;
    END LOOP;
    IF v_missing OPERATOR(pg_catalog.<>) '{}' THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'colcrypt: the owners of migrated tables may not use their migration''s key, and from 0.2.1 on '
                      'the dual-write triggers encrypt with the owner''s rights',
            HINT = 'Grant them the keys, then update again: ' || pg_catalog.array_to_string(v_missing, ' ');
    END IF;
END
$$;
