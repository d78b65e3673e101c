-- security: INVOKER. It samples only the tables the caller may read, with the caller's rights.
CREATE OR REPLACE FUNCTION colcrypt.discover(
    p_schemas text[] DEFAULT NULL,
    p_sample_size integer DEFAULT 2000,
    p_table_budget interval DEFAULT '30 seconds'
)
RETURNS SETOF colcrypt.discovery_findings
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.discovery.scan import discover
return discover(plpy, p_schemas, p_sample_size, p_table_budget)
$$;

COMMENT ON FUNCTION colcrypt.discover(text[], integer, interval) IS
'Finds columns holding sensitive data (ssn, credit_card, email, phone, iban, ip_address, date_of_birth, '
'passport, driver_license, bank_account) in the given schemas (NULL: all user schemas), sampling about p_sample_size values '
'per column; a table past p_table_budget is not sampled again for sparse columns. Stores and returns the '
'findings with confidence and masked reasons. See docs/discovery.md.';
