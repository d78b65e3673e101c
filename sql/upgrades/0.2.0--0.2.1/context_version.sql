-- Values of migrations prepared before 0.2.1 keep their contexts (version 1); new migrations quote the
-- names in theirs (version 2).
ALTER TABLE colcrypt.migrations ADD COLUMN context_version smallint NOT NULL DEFAULT 1;
ALTER TABLE colcrypt.migrations ALTER COLUMN context_version SET DEFAULT 2;
ALTER TABLE colcrypt.migrations ADD CONSTRAINT migrations_context_version_known
CHECK (context_version IN (1, 2));
