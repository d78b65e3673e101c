"""Whether the server loads colcrypt at start, from shared_preload_libraries' value."""

from colcrypt.plpy_helpers import preloaded


def test_preloaded_reads_the_list():
    assert preloaded("colcrypt")
    assert preloaded("pg_cron, colcrypt ,pg_stat_statements")
    assert preloaded('"colcrypt", pg_cron')
    assert not preloaded("")
    assert not preloaded("pg_cron, pg_stat_statements")
    assert not preloaded("colcrypt_other")
