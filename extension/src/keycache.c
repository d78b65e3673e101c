/*
 * keycache.c — data keys held in this backend, ready for AES-256-GCM.
 *
 * An entry belongs to the role that loaded it (GetUserId() at the time), so a
 * pooled connection handed to another role cannot use it. The cache is tied
 * to the GUC colcrypt.key_cache_handle: RESET ALL, DISCARD ALL and a rollback
 * of the transaction that loaded the first key all change the setting, and
 * its assign hook then drops every key.
 *
 * A change of the keyring or of the grants (triggers calling colcrypt._keyring_changed) sends a
 * relcache invalidation of colcrypt.key_versions to every backend, and a change of role memberships a
 * syscache invalidation of pg_auth_members; before its next use of the cache
 * each one drops the keys it unwrapped server-side (unwrapped again, with the grants and versions as
 * they are then) and re-reads the state of the keys its client loaded (destroyed: dropped; retired:
 * no longer used to encrypt).
 */
#include "colcrypt.h"

#include <limits.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "port/pg_bswap.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(colcrypt_forget_keys);
PG_FUNCTION_INFO_V1(colcrypt_keyring_changed);
PG_FUNCTION_INFO_V1(colcrypt_loaded_keys);
PG_FUNCTION_INFO_V1(colcrypt_provider_context);
PG_FUNCTION_INFO_V1(colcrypt_python_path);

char	   *colcrypt_kek_file = NULL;
static char *provider_config = NULL;
static char *cache_handle_setting = NULL;
static char cache_handle[33] = "";

static CachedKey *keys = NULL;
static int	nkeys = 0;
static int	maxkeys = 0;

static Oid	keyring_relid = InvalidOid;	/* colcrypt.key_versions, looked up when a key is cached */
static bool keyring_changed = false;

void
keycache_clear(void)
{
	for (int i = 0; i < nkeys; i++)
		aead_key_free(&keys[i]);
	if (keys)
		memset(keys, 0, sizeof(CachedKey) * maxkeys);
	nkeys = 0;
	cache_handle[0] = '\0';
	session_seal_clear();
}

static void
assign_cache_handle(const char *newval, void *extra)
{
	if (newval == NULL || strcmp(newval, cache_handle) != 0)
		keycache_clear();
}

/* Only flags: the cache may be in use where an invalidation arrives (a lock taken mid-call). */
static void
keyring_invalidated(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == keyring_relid)
		keyring_changed = true;
}

/* A change of role memberships (REVOKE role FROM member) may take a key grant away, as a change of the grants does. */
static void
roles_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	keyring_changed = true;
}

static Oid
lookup_keyring_relid(void)
{
	Oid			nsp = get_namespace_oid("colcrypt", true);

	return OidIsValid(nsp) ? get_relname_relid("key_versions", nsp) : InvalidOid;
}

/* The state of a key version in colcrypt.key_versions now, or NULL when it is not there. */
static const char *
keyring_state(const CachedKey *k)
{
	static char state[16];
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	const char *found = NULL;

	args[0] = PointerGetDatum(cstring_to_text_with_len(k->key_id, k->key_id_len));
	args[1] = Int32GetDatum((int32) k->version);
	SPI_connect();
	if (SPI_execute_with_args("SELECT state FROM colcrypt.key_versions WHERE key_id OPERATOR(pg_catalog.=) $1"
							  " AND version OPERATOR(pg_catalog.=) $2", 2, argtypes, args, NULL, false, 1)
		== SPI_OK_SELECT && SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		strlcpy(state, value ? value : "", sizeof(state));
		found = state;
	}
	SPI_finish();
	return found;
}

static void
keycache_revalidate(void)
{
	int			kept = 0;
	char	   *keep;

	if (!keyring_changed)
		return;
	keyring_changed = false;	/* first: a change arriving during the queries below counts again */
	keep = palloc0(Max(nkeys, 1));
	/* Read every state before changing anything, so that an error leaves the cache as it was. */
	PG_TRY();
	{
		for (int i = 0; i < nkeys; i++)
		{
			const char *state = strcmp(keys[i].source, "session") == 0 ? keyring_state(&keys[i]) : NULL;

			keep[i] = state == NULL ? 0 : strcmp(state, "active") == 0 ? 'a' :
				strcmp(state, "destroyed") == 0 ? 0 : 'r';
		}
	}
	PG_CATCH();
	{
		keyring_changed = true;
		PG_RE_THROW();
	}
	PG_END_TRY();
	keyring_relid = lookup_keyring_relid();
	for (int i = 0; i < nkeys; i++)
	{
		if (!keep[i])
		{
			aead_key_free(&keys[i]);
			continue;
		}
		keys[i].active = keep[i] == 'a';
		if (kept != i)
			keys[kept] = keys[i];
		kept++;
	}
	if (kept < nkeys)
		memset(&keys[kept], 0, sizeof(CachedKey) * (nkeys - kept));
	nkeys = kept;
	pfree(keep);
}

Datum
colcrypt_keyring_changed(PG_FUNCTION_ARGS)
{
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("colcrypt: colcrypt._keyring_changed() runs only as a trigger"),
						errhint("It is attached to colcrypt.key_versions and colcrypt.key_grants.")));
	relid = lookup_keyring_relid();
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	return PointerGetDatum(NULL);
}

void
keycache_define_gucs(void)
{
	CacheRegisterRelcacheCallback(keyring_invalidated, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, roles_changed, (Datum) 0);
	DefineCustomStringVariable("colcrypt.kek_file",
							   "File holding the local provider's key-encryption key, for server-side unwrapping.",
							   "Readable only by the server's operating-system account. Set in postgresql.conf.",
							   &colcrypt_kek_file, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("colcrypt.provider_config",
							   "JSON file configuring the pkcs11 and aws-kms providers for server-side unwrapping.",
							   "Readable only by the server's operating-system account. Set in postgresql.conf.",
							   &provider_config, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("colcrypt.key_cache_handle",
							   "Handle of this session's colcrypt key cache; resetting it drops every loaded key.",
							   NULL, &cache_handle_setting, "", PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE | GUC_SUPERUSER_ONLY,
							   NULL, assign_cache_handle, NULL);
}

void
check_key_id(const char *key_id, int len)
{
	if (len < 1 || len > CC_KEY_ID_MAX)
		ereport(ERROR, (errcode(CC_ERR_ARGUMENT),
						errmsg("colcrypt: key id must be 1 to %d bytes long, not %d", CC_KEY_ID_MAX, len),
						errhint("List the keys with: SELECT key_id FROM colcrypt.keyring;")));
}

static CachedKey *
find_key(const char *key_id, int len, uint32 version, bool want_active)
{
	Oid			role = GetUserId();

	for (int i = 0; i < nkeys; i++)
	{
		CachedKey  *k = &keys[i];

		if (k->role == role && k->key_id_len == len &&
			(want_active ? k->active : k->version == version) &&
			memcmp(k->key_id, key_id, len) == 0)
			return k;
	}
	return NULL;
}

/* Runs fn with search_path pinned, as a SET clause would, but only here on the slow path. */
static int
pin_search_path(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/* Raises the error that the provider sent back as JSON {sqlstate, message, hint}. */
static void
raise_provider_error(const char *json, int len)
{
	Jsonb	   *doc = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(json, len))));
	char	   *fields[3] = {"sqlstate", "message", "hint"};
	char	   *values[3];

	for (int i = 0; i < 3; i++)
	{
		JsonbValue	key;
		JsonbValue *v;

		key.type = jbvString;
		key.val.string.val = fields[i];
		key.val.string.len = strlen(fields[i]);
		v = findJsonbValueFromContainer(&doc->root, JB_FOBJECT, &key);
		values[i] = (v && v->type == jbvString) ? pnstrdup(v->val.string.val, v->val.string.len) : "";
	}
	if (strlen(values[0]) != 5)
		values[0] = "KC006";
	ereport(ERROR, (errcode(MAKE_SQLSTATE(values[0][0], values[0][1], values[0][2], values[0][3], values[0][4])),
					errmsg_internal("%s", values[1]),
					values[2][0] ? errhint("%s", values[2]) : 0));
}

/* Asks the key provider (PL/Python colcrypt._unwrap_key) for a data key. */
/*
 * The provider function may be executable by roles other than its owner (ALTER DEFAULT
 * PRIVILEGES, an explicit GRANT), so it does not trust its caller: it asks
 * colcrypt._provider_context(token) for the KEK file, which it answers only during a call made
 * here, with the random token of that call.
 */
static unsigned char provider_token[16];
static bool provider_call_active = false;

static uint32
load_from_provider(const char *key_id, int len, uint32 version)
{
	Oid			argtypes[3] = {TEXTOID, INT4OID, BYTEAOID};
	Oid			fn;
	bytea	   *token;
	bytea	   *answer;
	unsigned char *answer_bytes;
	int			answer_len;
	uint32		got_version;
	char		id[CC_KEY_ID_MAX + 1];

	if (IsInParallelMode())
		ereport(ERROR, (errcode(ERRCODE_INVALID_TRANSACTION_STATE),
						errmsg("colcrypt: key \"%.*s\" is not loaded and cannot be loaded during a parallel query", len, key_id),
						errhint("Use the key once before the query (e.g. SELECT colcrypt.encrypt_column('', key, '')), or SET max_parallel_workers_per_gather = 0.")));
	if ((colcrypt_kek_file == NULL || colcrypt_kek_file[0] == '\0') &&
		(provider_config == NULL || provider_config[0] == '\0'))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("colcrypt: key \"%.*s\" is not loaded in this session and server-side unwrapping is not configured",
							   len, key_id),
						errhint("Load the key with colcrypt.connect(dsn, keys=[...]) from Python, or have a superuser set colcrypt.kek_file or colcrypt.provider_config in postgresql.conf and run colcrypt.grant_key().")));

	/* Looked up each time: a dropped and recreated extension changes the OID. */
	fn = LookupFuncName(list_make2(makeString("colcrypt"), makeString("_unwrap_key")),
						3, argtypes, false);
	memcpy(id, key_id, len);
	id[len] = '\0';
	colcrypt_random(provider_token, sizeof(provider_token));
	token = (bytea *) palloc(VARHDRSZ + sizeof(provider_token));
	SET_VARSIZE(token, VARHDRSZ + sizeof(provider_token));
	memcpy(VARDATA(token), provider_token, sizeof(provider_token));

	/* fmgr skips the EXECUTE check; the function checks the current user's grant itself. */
	provider_call_active = true;
	PG_TRY();
	{
		answer = DatumGetByteaPP(OidFunctionCall3(fn, CStringGetTextDatum(id),
												  Int32GetDatum((int32) version),
												  PointerGetDatum(token)));
	}
	PG_FINALLY();
	{
		provider_call_active = false;
	}
	PG_END_TRY();
	answer_bytes = (unsigned char *) VARDATA_ANY(answer);
	answer_len = VARSIZE_ANY_EXHDR(answer);
	if (answer_len > 1 && answer_bytes[0] == 1)
		raise_provider_error((char *) answer_bytes + 1, answer_len - 1);
	if (answer_len != 1 + 4 + CC_DEK_LEN || answer_bytes[0] != 0)
	{
		OPENSSL_cleanse(answer_bytes, answer_len);
		ereport(ERROR, (errcode(CC_ERR_KCV),
						errmsg("colcrypt: the key provider returned a malformed data key for \"%s\"", id),
						errhint("Check the colcrypt installation: make install puts the provider code in place.")));
	}
	memcpy(&got_version, answer_bytes + 1, 4);
	PG_TRY();
	{
		keycache_install(key_id, len, pg_ntoh32(got_version), answer_bytes + 5, "server");
	}
	PG_FINALLY();
	{
		OPENSSL_cleanse(answer_bytes, answer_len);
	}
	PG_END_TRY();
	return pg_ntoh32(got_version);
}

CachedKey *
keycache_active(const char *key_id, int len)
{
	CachedKey  *k;

	keycache_revalidate();
	k = find_key(key_id, len, 0, true);

	if (k == NULL)
	{
		uint32		got;

		check_key_id(key_id, len);
		got = load_from_provider(key_id, len, 0);
		k = find_key(key_id, len, 0, true);
		if (k == NULL && (k = find_key(key_id, len, got, false)) != NULL && strcmp(k->source, "server") == 0)
		{
			/*
			 * The provider gave the version active in its snapshot; a rotation that committed just
			 * after may have retired it. Encrypt with it this once: it still decrypts, and the next
			 * load of the key takes the new version.
			 */
			for (int i = 0; i < nkeys; i++)
				if (keys[i].role == k->role && keys[i].key_id_len == len && memcmp(keys[i].key_id, key_id, len) == 0)
					keys[i].active = false;
			k->active = true;
		}
		else if (k != NULL && !k->active)
			k = NULL;
		if (k == NULL)
			ereport(ERROR, (errcode(CC_ERR_KEY_STATE),
							errmsg("colcrypt: key \"%.*s\" has no active version to encrypt with", len, key_id),
							errhint("See SELECT * FROM colcrypt.keyring WHERE key_id = '%.*s'; create or rotate the key.", len, key_id)));
	}
	return k;
}

CachedKey *
keycache_version(const char *key_id, int len, uint32 version)
{
	CachedKey  *k;

	keycache_revalidate();
	k = find_key(key_id, len, version, false);

	if (k == NULL)
	{
		load_from_provider(key_id, len, version);
		k = find_key(key_id, len, version, false);
		if (k == NULL)
			ereport(ERROR, (errcode(CC_ERR_UNKNOWN_KEY),
							errmsg("colcrypt: the key provider did not return version %u of \"%.*s\"", version, len, key_id),
							errhint("Check SELECT * FROM colcrypt.keyring for that version.")));
	}
	return k;
}

static void
compute_kcv(const unsigned char *dek, const char *key_id, int len, uint32 version,
			unsigned char *out)
{
	static const char label[] = "colcrypt-kcv-v1";
	unsigned char msg[sizeof(label) + CC_KEY_ID_MAX + 1 + 4];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len;
	uint32		version_be = pg_hton32(version);
	int			n = 0;

	memcpy(msg, label, sizeof(label));	/* includes the NUL separator */
	n += sizeof(label);
	memcpy(msg + n, key_id, len);
	n += len;
	msg[n++] = 0;
	memcpy(msg + n, &version_be, 4);
	n += 4;
	if (HMAC(EVP_sha256(), dek, CC_DEK_LEN, msg, n, mac, &mac_len) == NULL)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("colcrypt: OpenSSL failed to compute a key check value")));
	memcpy(out, mac, CC_KCV_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
}

void
set_cache_handle(void)
{
	unsigned char raw[16];

	if (cache_handle[0] != '\0')
		return;
	colcrypt_random(raw, sizeof(raw));
	for (int i = 0; i < 16; i++)
		snprintf(cache_handle + 2 * i, 3, "%02x", raw[i]);
	(void) set_config_option("colcrypt.key_cache_handle", cache_handle, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SET, true, 0, false);
}

/*
 * Puts a data key into the cache for the current role after checking it
 * against the keyring's key check value. The caller wipes its copy of dek.
 */
void
keycache_install(const char *key_id, int len, uint32 version,
				 const unsigned char *dek, const char *source)
{
	Datum		values[2];
	bool		isnull;
	int			level;
	bytea	   *kcv_datum;
	unsigned char stored_kcv[CC_KCV_LEN];
	int			stored_kcv_len;
	char	   *state;
	Oid			counter;
	unsigned char kcv[CC_KCV_LEN];
	CachedKey  *k;
	MemoryContext caller_cxt = CurrentMemoryContext;

	check_key_id(key_id, len);
	values[0] = PointerGetDatum(cstring_to_text_with_len(key_id, len));
	values[1] = Int32GetDatum((int32) version);

	level = pin_search_path();
	SPI_connect();
	/*
	 * The counter must be a sequence of colcrypt's own: nextval_internal skips ACL checks. Not read-only:
	 * a fresh snapshot, as the provider's own query had, so that a version made active since the
	 * statement began (a rotation) is seen by both.
	 */
	if (SPI_execute_with_args("SELECT k.kcv, k.state, c.oid FROM colcrypt.key_versions k"
							  " LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) k.counter::oid"
							  " AND c.relkind OPERATOR(pg_catalog.=) 'S'"
							  " AND c.relnamespace OPERATOR(pg_catalog.=) 'colcrypt'::pg_catalog.regnamespace"
							  " WHERE k.key_id OPERATOR(pg_catalog.=) $1"
							  " AND k.version OPERATOR(pg_catalog.=) $2",
							  2, (Oid[]) {TEXTOID, INT4OID}, values, NULL, false, 1) != SPI_OK_SELECT)
		ereport(ERROR, (errcode(CC_ERR_UNKNOWN_KEY),
						errmsg("colcrypt: could not read colcrypt.keyring for key \"%.*s\"", len, key_id),
						errhint("Check that the colcrypt extension is installed in this database.")));
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(CC_ERR_UNKNOWN_KEY),
						errmsg("colcrypt: key \"%.*s\" version %u is not in colcrypt.keyring", len, key_id, version),
						errhint("The value was encrypted with a key this database does not have; restore the keyring entry or use the database it came from.")));
	kcv_datum = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	stored_kcv_len = VARSIZE_ANY_EXHDR(kcv_datum);
	if (stored_kcv_len == CC_KCV_LEN)
		memcpy(stored_kcv, VARDATA_ANY(kcv_datum), CC_KCV_LEN);
	state = MemoryContextStrdup(caller_cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	counter = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (isnull)
		ereport(ERROR, (errcode(CC_ERR_KCV),
						errmsg("colcrypt: the encryption counter of key \"%.*s\" version %u is not a colcrypt sequence",
							   len, key_id, version),
						errhint("The keyring entry was altered; restore colcrypt.key_versions from a backup.")));
	SPI_finish();
	AtEOXact_GUC(true, level);

	if (strcmp(state, "destroyed") == 0)
		ereport(ERROR, (errcode(CC_ERR_KEY_STATE),
						errmsg("colcrypt: key \"%.*s\" version %u was destroyed", len, key_id, version),
						errhint("Values encrypted with a destroyed key cannot be recovered.")));
	compute_kcv(dek, key_id, len, version, kcv);
	if (stored_kcv_len != CC_KCV_LEN || CRYPTO_memcmp(kcv, stored_kcv, CC_KCV_LEN) != 0)
		ereport(ERROR, (errcode(CC_ERR_KCV),
						errmsg("colcrypt: the data key offered for \"%.*s\" version %u does not match its key check value",
							   len, key_id, version),
						errhint("The key was unwrapped with the wrong key-encryption key, or the keyring entry was altered.")));

	if (nkeys == maxkeys)
	{
		int			newmax = maxkeys ? maxkeys * 2 : 8;

		keys = keys ? repalloc(keys, sizeof(CachedKey) * newmax)
			: MemoryContextAllocZero(TopMemoryContext, sizeof(CachedKey) * newmax);
		memset(keys + maxkeys, 0, sizeof(CachedKey) * (newmax - maxkeys));
		maxkeys = newmax;
	}
	set_cache_handle();

	/* A reload replaces the entry for the same role, key and version. */
	k = find_key(key_id, len, version, false);
	if (k != NULL)
		aead_key_free(k);
	else
		k = &keys[nkeys++];
	memset(k, 0, sizeof(CachedKey));
	PG_TRY();
	{
		aead_key_init(k, dek);
	}
	PG_CATCH();
	{
		aead_key_free(k);
		*k = keys[--nkeys];		/* close the hole with the last entry */
		memset(&keys[nkeys], 0, sizeof(CachedKey));
		PG_RE_THROW();
	}
	PG_END_TRY();
	memcpy(k->key_id, key_id, len);
	k->key_id_len = len;
	k->version = version;
	k->role = GetUserId();
	k->active = strcmp(state, "active") == 0;
	k->source = strcmp(source, "server") == 0 ? "server" : "session";
	k->counter_seq = counter;
	keyring_relid = lookup_keyring_relid();	/* whose invalidations revalidate the cache */
	if (k->active)
		for (int i = 0; i < nkeys; i++)
			if (&keys[i] != k && keys[i].role == k->role && keys[i].key_id_len == len &&
				memcmp(keys[i].key_id, key_id, len) == 0)
				keys[i].active = false;
}

/*
 * Counts encryptions per key version in blocks: the sequence is advanced by
 * CC_NONCE_BLOCK before a block is used, so the keyring's counter is an upper
 * bound of the random nonces drawn under the key (the GCM limit is 2^32).
 */
void
keycache_count_encryption(CachedKey *key)
{
	if (key->nonces_left == 0)
	{
		int64		used = nextval_internal(key->counter_seq, false);

		key->nonces_left = CC_NONCE_BLOCK;
		if (used >= CC_COUNTER_WARN && !key->warned)
		{
			key->warned = true;
			ereport(WARNING,
					(errcode(CC_ERR_KEY_STATE),
					 errmsg("colcrypt: key \"%.*s\" version %u has encrypted about " INT64_FORMAT " values",
							key->key_id_len, key->key_id, key->version, used),
					 errhint("AES-GCM with random nonces is safe for 2^32 encryptions per key: rotate it soon "
							 "(colcrypt keys rotate, then CALL colcrypt.reencrypt).")));
		}
	}
	key->nonces_left--;
}

Datum
colcrypt_forget_keys(PG_FUNCTION_ARGS)
{
	int			n = nkeys;

	keycache_clear();
	PG_RETURN_INT32(n);
}

Datum
colcrypt_loaded_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			role = GetUserId();

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < nkeys; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (keys[i].role != role)
			continue;
		values[0] = PointerGetDatum(cstring_to_text_with_len(keys[i].key_id, keys[i].key_id_len));
		values[1] = Int32GetDatum((int32) keys[i].version);
		values[2] = CStringGetTextDatum(keys[i].source);
		values[3] = BoolGetDatum(keys[i].active);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Where make install put the Python code that colcrypt's PL/Python functions import: the release that
 * colcrypt/current names, resolved now, so that this backend imports one release whole whatever a later
 * make install does; or, installed by a version before 0.2.1, colcrypt/python.
 */
static void
server_python_path(char *buf)
{
	char		current[MAXPGPATH];
	char		resolved[PATH_MAX];

	snprintf(current, MAXPGPATH, "%s/colcrypt/current", pkglib_path);
	if (realpath(current, resolved) != NULL && strlen(resolved) < MAXPGPATH)
		strlcpy(buf, resolved, MAXPGPATH);
	else
		snprintf(buf, MAXPGPATH, "%s/colcrypt/python", pkglib_path);
}

Datum
colcrypt_python_path(PG_FUNCTION_ARGS)
{
	char		python_path[MAXPGPATH];

	server_python_path(python_path);
	PG_RETURN_TEXT_P(cstring_to_text(python_path));
}

Datum
colcrypt_provider_context(PG_FUNCTION_ARGS)
{
	bytea	   *token = PG_GETARG_BYTEA_PP(0);

	if (!provider_call_active || VARSIZE_ANY_EXHDR(token) != sizeof(provider_token) ||
		CRYPTO_memcmp(VARDATA_ANY(token), provider_token, sizeof(provider_token)) != 0)
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("colcrypt: the key provider may only be called by colcrypt itself"),
						errhint("Use colcrypt.encrypt_column / decrypt_column; keys are unwrapped for granted roles on first use.")));
	/* the KEK file, then the provider configuration file: one path a line */
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s\n%s", colcrypt_kek_file ? colcrypt_kek_file : "",
											  provider_config ? provider_config : "")));
}
