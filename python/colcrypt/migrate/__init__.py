"""The online migration of one table: shadow table, dual-write triggers, backfill, validation."""
