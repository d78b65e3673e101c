/*
 * envelope.c — the colcrypt value envelope (docs/format.md) and its SQL entry
 * points colcrypt.encrypt_column / colcrypt.decrypt_column.
 *
 * Envelope: version(1) algorithm(1) key_id_len(1) key_id(L) key_version(4, BE)
 *           nonce(12) ciphertext(n) tag(16)
 * Associated data: the header (everything before the nonce) || context.
 */
#include "colcrypt.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(colcrypt_encrypt_column);
PG_FUNCTION_INFO_V1(colcrypt_decrypt_column);
PG_FUNCTION_INFO_V1(colcrypt_decrypt_column_keyed);
PG_FUNCTION_INFO_V1(colcrypt_verify_column);
PG_FUNCTION_INFO_V1(colcrypt_blind_index);

void		_PG_init(void);

static bool allow_ddl = false;
static char *reverse_write = NULL;

void
_PG_init(void)
{
	keycache_define_gucs();
	aead_define_gucs();
	/* Read by the event trigger colcrypt._guard_ddl (SQL); defined here because the prefix is reserved. */
	DefineCustomBoolVariable("colcrypt.allow_ddl",
							 "Lets ALTER TABLE and DROP through to a table being migrated (at your own risk).",
							 NULL, &allow_ddl, false, PGC_USERSET, 0, NULL, NULL, NULL);
	/* Set (locally) by a migration's INSTEAD OF trigger around its write in reverse, read by its mirror trigger. */
	DefineCustomStringVariable("colcrypt.reverse_write",
							   "Internal: marks the write in reverse of a write through a migrated table's name.",
							   NULL, &reverse_write, "", PGC_USERSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("colcrypt");
	read_rewrite_install();
	utility_install();
	client_columns_install();
}

/*
 * Random nonces come from a pool refilled by pg_strong_random (OpenSSL's
 * RAND_bytes in Debian's build): one call per 256 nonces instead of one per
 * value. The pool lives in backend memory filled after fork, so two backends
 * never share it.
 */
static unsigned char nonce_pool[CC_NONCE_LEN * 256];
static int	nonce_pool_pos = sizeof(nonce_pool);

void
colcrypt_random(unsigned char *out, int len)
{
	if (!pg_strong_random(out, len))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("colcrypt: could not generate random bytes")));
}

static void
next_nonce(unsigned char *nonce)
{
	if (nonce_pool_pos + CC_NONCE_LEN > (int) sizeof(nonce_pool))
	{
		colcrypt_random(nonce_pool, sizeof(nonce_pool));
		nonce_pool_pos = 0;
	}
	memcpy(nonce, nonce_pool + nonce_pool_pos, CC_NONCE_LEN);
	memset(nonce_pool + nonce_pool_pos, 0, CC_NONCE_LEN);
	nonce_pool_pos += CC_NONCE_LEN;
}

/*
 * Associated data = header || context, contiguous as the AEAD primitive wants it. Small ones
 * (nearly all) go in the caller's stack buffer.
 */
static unsigned char *
build_aad(unsigned char *buf, int buf_len, const unsigned char *hdr, int hdr_len,
		  const char *context, int ctx_len)
{
	unsigned char *aad = hdr_len + ctx_len <= buf_len ? buf : palloc(hdr_len + ctx_len);

	memcpy(aad, hdr, hdr_len);
	memcpy(aad + hdr_len, context, ctx_len);
	return aad;
}

static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(CC_ERR_ARGUMENT),
						errmsg("colcrypt: %s must not be NULL", what),
						errhint("Pass the key id and the context (the column's stable identity, e.g. 'crm.customers.ssn').")));
}

/* Seal a value's text form into an envelope with the active version of key key_id, for context ctx. */
bytea *
envelope_seal(const char *key_id, int key_id_len, const char *ctx, int ctx_len, const char *pt, int pt_len)
{
	CachedKey  *key;
	int			hdr_len;
	int			out_len;
	bytea	   *result;
	unsigned char *p;
	unsigned char *hdr;
	unsigned char aad_buf[1024];
	unsigned char *aad;
	uint32		version_be;

	key = keycache_active(key_id, key_id_len);
	keycache_count_encryption(key);

	hdr_len = 3 + key->key_id_len + 4;
	out_len = hdr_len + CC_NONCE_LEN + pt_len + CC_TAG_LEN;
	result = (bytea *) palloc(VARHDRSZ + out_len);
	SET_VARSIZE(result, VARHDRSZ + out_len);

	hdr = p = (unsigned char *) VARDATA(result);
	*p++ = CC_ENVELOPE_VERSION;
	*p++ = CC_ALG_AES256GCM;
	*p++ = (unsigned char) key->key_id_len;
	memcpy(p, key->key_id, key->key_id_len);
	p += key->key_id_len;
	version_be = pg_hton32(key->version);
	memcpy(p, &version_be, 4);
	p += 4;
	next_nonce(p);
	p += CC_NONCE_LEN;
	aad = build_aad(aad_buf, sizeof(aad_buf), hdr, hdr_len, ctx, ctx_len);
	aead_seal(key, p - CC_NONCE_LEN, aad, hdr_len + ctx_len, (const unsigned char *) pt, pt_len, p, p + pt_len);
	return result;
}

Datum
colcrypt_encrypt_column(PG_FUNCTION_ARGS)
{
	text	   *value;
	text	   *key_id;
	text	   *context;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	require_arg(fcinfo, 1, "key id");
	require_arg(fcinfo, 2, "context");
	value = PG_GETARG_TEXT_PP(0);
	key_id = PG_GETARG_TEXT_PP(1);
	context = PG_GETARG_TEXT_PP(2);
	PG_RETURN_BYTEA_P(envelope_seal(VARDATA_ANY(key_id), VARSIZE_ANY_EXHDR(key_id),
									VARDATA_ANY(context), VARSIZE_ANY_EXHDR(context),
									VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value)));
}

/* The characters colcrypt.key_versions allows in a key id (ASCII only). */
static inline bool
key_id_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
}

static void
malformed(const char *why, const char *context, int context_len)
{
	ereport(ERROR, (errcode(CC_ERR_MALFORMED),
					errmsg("colcrypt: value for context \"%.*s\" is not a colcrypt envelope: %s",
						   context_len, context, why),
					errhint("Only values produced by colcrypt.encrypt_column can be decrypted; the stored value may be truncated or was never encrypted.")));
}

/*
 * Open an envelope for context ctx. Strict: any failure raises its own SQLSTATE. Soft (for
 * verification): a value that is malformed, of an unknown version or does not authenticate
 * gives NULL; failures of the environment (no key access, unknown key) still raise.
 */
static text *
open_envelope(bytea *envelope, const char *ctx, int ctx_len, bool soft)
{
	unsigned char *in = (unsigned char *) VARDATA_ANY(envelope);
	int			in_len = VARSIZE_ANY_EXHDR(envelope);
	int			key_id_len;
	int			hdr_len;
	int			ct_len;
	uint32		version;
	unsigned char aad_buf[1024];
	unsigned char *aad;
	CachedKey  *key;
	const unsigned char *nonce;
	unsigned char *ct;
	unsigned char *tag;
	text	   *result;

	if (in_len < 3)
	{
		if (soft)
			return NULL;
		malformed("too short", ctx, ctx_len);
	}
	if (in[0] != CC_ENVELOPE_VERSION || in[1] != CC_ALG_AES256GCM)
	{
		if (soft)
			return NULL;
		ereport(ERROR, (errcode(CC_ERR_VERSION),
						errmsg("colcrypt: value for context \"%.*s\" has envelope version %d, algorithm %d; this colcrypt reads version %d, algorithm %d",
							   ctx_len, ctx, in[0], in[1], CC_ENVELOPE_VERSION, CC_ALG_AES256GCM),
						errhint("Upgrade the colcrypt extension to one that knows this envelope, or check that the column holds colcrypt values.")));
	}
	key_id_len = in[2];
	hdr_len = 3 + key_id_len + 4;
	if (key_id_len == 0 || in_len < hdr_len + CC_NONCE_LEN + CC_TAG_LEN)
	{
		if (soft)
			return NULL;
		malformed("truncated", ctx, ctx_len);
	}
	for (int i = 0; i < key_id_len; i++)
		if (!key_id_char(in[3 + i]))
		{
			if (soft)
				return NULL;
			malformed("its key id has characters a key id cannot have", ctx, ctx_len);
		}
	memcpy(&version, in + 3 + key_id_len, 4);
	version = pg_ntoh32(version);
	key = keycache_version((char *) in + 3, key_id_len, version);

	nonce = in + hdr_len;
	ct_len = in_len - hdr_len - CC_NONCE_LEN - CC_TAG_LEN;
	tag = in + in_len - CC_TAG_LEN;
	result = (text *) palloc(VARHDRSZ + ct_len + 1);
	ct = (unsigned char *) VARDATA(result);

	aad = build_aad(aad_buf, sizeof(aad_buf), in, hdr_len, ctx, ctx_len);
	if (!aead_open(key, nonce, aad, hdr_len + ctx_len, nonce + CC_NONCE_LEN, ct_len, tag, ct))
	{
		if (soft)
			return NULL;
		ereport(ERROR, (errcode(CC_ERR_AUTH),
						errmsg("colcrypt: value for context \"%.*s\" failed authentication with key \"%s\" version %u",
							   ctx_len, ctx, key->key_id, key->version),
						errdetail("The context does not match the one the value was encrypted with (a value moved to another column or row), or the value was altered."),
						errhint("Decrypt with the context used at encryption; if it is right, restore the value from a trusted copy.")));
	}
	SET_VARSIZE(result, VARHDRSZ + ct_len);
	return result;
}

static Datum
decrypt_to_text(bytea *envelope, const char *ctx, int ctx_len)
{
	text	   *result = open_envelope(envelope, ctx, ctx_len, false);

	if (!pg_verifymbstr(VARDATA(result), VARSIZE(result) - VARHDRSZ, true))
	{
		memset(VARDATA(result), 0, VARSIZE(result) - VARHDRSZ);
		ereport(ERROR, (errcode(CC_ERR_MALFORMED),
						errmsg("colcrypt: plaintext for context \"%.*s\" is not valid in the database encoding", ctx_len, ctx),
						errhint("The value was encrypted in a database with another encoding; decrypt it there.")));
	}
	PG_RETURN_TEXT_P(result);
}

Datum
colcrypt_decrypt_column(PG_FUNCTION_ARGS)
{
	text	   *context;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	require_arg(fcinfo, 1, "context");
	context = PG_GETARG_TEXT_PP(1);
	return decrypt_to_text(PG_GETARG_BYTEA_PP(0), VARDATA_ANY(context), VARSIZE_ANY_EXHDR(context));
}

/*
 * decrypt_column(value, prefix, row_key): the context is prefix || row_key's text form, built here
 * rather than by a cast and a concatenation in the view, whose every column would otherwise carry
 * two more expression nodes to set up and run on each primary-key lookup. The key type's output
 * function is looked up once per call site (fn_extra).
 */
typedef struct KeyOutput
{
	Oid			type;
	FmgrInfo	fn;
} KeyOutput;

Datum
colcrypt_decrypt_column_keyed(PG_FUNCTION_ARGS)
{
	KeyOutput  *out = (KeyOutput *) fcinfo->flinfo->fn_extra;
	Oid			key_type;
	text	   *prefix;
	char	   *key;
	int			prefix_len;
	int			key_len;
	char		buf[256];
	char	   *ctx;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	require_arg(fcinfo, 1, "context");
	require_arg(fcinfo, 2, "row key");
	key_type = get_fn_expr_argtype(fcinfo->flinfo, 2);
	if (!OidIsValid(key_type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("colcrypt: decrypt_column(value, prefix, row_key) cannot tell the type of row_key here"),
				 errhint("Call it from SQL, or use decrypt_column(value, context) with the context as text.")));
	if (out == NULL || out->type != key_type)
	{
		Oid			func;
		bool		varlena;

		if (out == NULL)
			out = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(KeyOutput));
		getTypeOutputInfo(key_type, &func, &varlena);
		fmgr_info_cxt(func, &out->fn, fcinfo->flinfo->fn_mcxt);
		out->type = key_type;
		fcinfo->flinfo->fn_extra = out;
	}
	key = OutputFunctionCall(&out->fn, PG_GETARG_DATUM(2));
	prefix = PG_GETARG_TEXT_PP(1);
	prefix_len = VARSIZE_ANY_EXHDR(prefix);
	key_len = strlen(key);
	ctx = prefix_len + key_len <= (int) sizeof(buf) ? buf : palloc(prefix_len + key_len);
	memcpy(ctx, VARDATA_ANY(prefix), prefix_len);
	memcpy(ctx + prefix_len, key, key_len);
	return decrypt_to_text(PG_GETARG_BYTEA_PP(0), ctx, prefix_len + key_len);
}

/*
 * verify_column(envelope, context, expected): does the envelope decrypt, under this context, to
 * exactly the text expected? NULL matches only NULL. A value that is malformed or does not
 * authenticate is a mismatch, not an error, so one bad row cannot stop a validation.
 */
Datum
colcrypt_verify_column(PG_FUNCTION_ARGS)
{
	text	   *context;
	text	   *expected;
	text	   *plain;
	bool		same;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_BOOL(PG_ARGISNULL(0) && PG_ARGISNULL(2));
	require_arg(fcinfo, 1, "context");
	context = PG_GETARG_TEXT_PP(1);
	expected = PG_GETARG_TEXT_PP(2);
	plain = open_envelope(PG_GETARG_BYTEA_PP(0), VARDATA_ANY(context), VARSIZE_ANY_EXHDR(context), true);
	if (plain == NULL)
		PG_RETURN_BOOL(false);
	same = VARSIZE(plain) - VARHDRSZ == VARSIZE_ANY_EXHDR(expected) &&
		memcmp(VARDATA(plain), VARDATA_ANY(expected), VARSIZE_ANY_EXHDR(expected)) == 0;
	memset(VARDATA(plain), 0, VARSIZE(plain) - VARHDRSZ);
	pfree(plain);
	PG_RETURN_BOOL(same);
}

/*
 * blind_index(value, key id, context): a deterministic 16-byte token of the value for equality
 * lookups, keyed by the active version of the key and bound to the context (the column, never the
 * row): HMAC-SHA256(blind-index key, context || 0x00 || value), truncated. Equal values in one
 * column give equal tokens; nothing else about the value can be read from it without the key.
 */
/* The blind index of a value's text form: HMAC-SHA256(blind-index key, ctx || 0x00 || value), 16 bytes. */
bytea *
envelope_blind_index(const char *key_id, int key_id_len, const char *ctx, int ctx_len, const char *val, int val_len)
{
	CachedKey  *key = keycache_active(key_id, key_id_len);
	unsigned char *msg;
	bytea	   *result;

	msg = palloc(ctx_len + 1 + val_len);
	memcpy(msg, ctx, ctx_len);
	msg[ctx_len] = 0;
	memcpy(msg + ctx_len + 1, val, val_len);
	result = (bytea *) palloc(VARHDRSZ + 16);
	SET_VARSIZE(result, VARHDRSZ + 16);
	aead_blind_index(key, msg, ctx_len + 1 + val_len, (unsigned char *) VARDATA(result));
	memset(msg, 0, ctx_len + 1 + val_len);
	pfree(msg);
	return result;
}

Datum
colcrypt_blind_index(PG_FUNCTION_ARGS)
{
	text	   *value;
	text	   *key_id;
	text	   *context;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	require_arg(fcinfo, 1, "key id");
	require_arg(fcinfo, 2, "context");
	value = PG_GETARG_TEXT_PP(0);
	key_id = PG_GETARG_TEXT_PP(1);
	context = PG_GETARG_TEXT_PP(2);
	PG_RETURN_BYTEA_P(envelope_blind_index(VARDATA_ANY(key_id), VARSIZE_ANY_EXHDR(key_id),
										   VARDATA_ANY(context), VARSIZE_ANY_EXHDR(context),
										   VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value)));
}
