/*
 * session_seal.c — handing a client-unwrapped data key to this backend
 * without its bytes ever appearing in SQL text, logs or statistics.
 *
 * colcrypt.session_public_key() makes an X25519 key pair that lives only in
 * this backend's memory and returns the public half. The client seals the data
 * key to it (docs/format.md, "Session key sealing") and passes the sealed blob
 * to colcrypt.load_key(); a logged copy of the blob is useless once the
 * backend's private key is gone (forget_keys, DISCARD ALL, disconnect).
 */
#include "colcrypt.h"

#include <openssl/crypto.h>
#include <openssl/kdf.h>

#include "fmgr.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(colcrypt_session_public_key);
PG_FUNCTION_INFO_V1(colcrypt_load_key);

#define X25519_LEN 32
#define SEALED_LEN (X25519_LEN + CC_NONCE_LEN + CC_DEK_LEN + CC_TAG_LEN)

static EVP_PKEY *session_key = NULL;
static const char seal_label[] = "colcrypt-session-v1";

void
session_seal_clear(void)
{
	EVP_PKEY_free(session_key);
	session_key = NULL;
}

static void
seal_error(const char *why, const char *key_id, int len)
{
	ereport(ERROR, (errcode(CC_ERR_SEALED),
					errmsg("colcrypt: sealed data key for \"%.*s\" rejected: %s", len, key_id, why),
					errhint("Seal the key to the public key that colcrypt.session_public_key() returned in this same session, as colcrypt.connect() does.")));
}

Datum
colcrypt_session_public_key(PG_FUNCTION_ARGS)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
	bytea	   *result = palloc(VARHDRSZ + X25519_LEN);
	size_t		len = X25519_LEN;

	session_seal_clear();
	if (pctx == NULL || EVP_PKEY_keygen_init(pctx) != 1 ||
		EVP_PKEY_keygen(pctx, &session_key) != 1 ||
		EVP_PKEY_get_raw_public_key(session_key, (unsigned char *) VARDATA(result), &len) != 1)
	{
		EVP_PKEY_CTX_free(pctx);
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("colcrypt: OpenSSL could not make an X25519 session key")));
	}
	EVP_PKEY_CTX_free(pctx);
	set_cache_handle();			/* so that RESET ALL / DISCARD ALL drop the private key too */
	SET_VARSIZE(result, VARHDRSZ + X25519_LEN);
	PG_RETURN_BYTEA_P(result);
}

/* HKDF-SHA256(ikm = X25519 secret, salt = client_pub || server_pub, info = label) */
static bool
derive_wrapping_key(const unsigned char *client_pub, unsigned char *out)
{
	EVP_PKEY   *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, client_pub, X25519_LEN);
	EVP_PKEY_CTX *dctx = NULL;
	EVP_PKEY_CTX *kctx = NULL;
	unsigned char secret[X25519_LEN];
	unsigned char salt[2 * X25519_LEN];
	size_t		secret_len = sizeof(secret);
	size_t		server_len = X25519_LEN;
	size_t		out_len = CC_DEK_LEN;
	bool		ok;

	memcpy(salt, client_pub, X25519_LEN);
	ok = peer != NULL &&
		EVP_PKEY_get_raw_public_key(session_key, salt + X25519_LEN, &server_len) == 1 &&
		(dctx = EVP_PKEY_CTX_new(session_key, NULL)) != NULL &&
		EVP_PKEY_derive_init(dctx) == 1 &&
		EVP_PKEY_derive_set_peer(dctx, peer) == 1 &&
		EVP_PKEY_derive(dctx, secret, &secret_len) == 1 &&
		(kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL)) != NULL &&
		EVP_PKEY_derive_init(kctx) == 1 &&
		EVP_PKEY_CTX_set_hkdf_md(kctx, EVP_sha256()) == 1 &&
		EVP_PKEY_CTX_set1_hkdf_salt(kctx, salt, sizeof(salt)) == 1 &&
		EVP_PKEY_CTX_set1_hkdf_key(kctx, secret, secret_len) == 1 &&
		EVP_PKEY_CTX_add1_hkdf_info(kctx, (const unsigned char *) seal_label, strlen(seal_label)) == 1 &&
		EVP_PKEY_derive(kctx, out, &out_len) == 1;
	OPENSSL_cleanse(secret, sizeof(secret));
	EVP_PKEY_CTX_free(kctx);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(peer);
	return ok;
}

Datum
colcrypt_load_key(PG_FUNCTION_ARGS)
{
	text	   *key_id;
	bytea	   *sealed;
	int32		version;
	int			len;
	const unsigned char *in;
	unsigned char wrapping[CC_DEK_LEN];
	unsigned char dek[CC_DEK_LEN];
	unsigned char aad[sizeof(seal_label) + CC_KEY_ID_MAX + 1 + 4];
	uint32		version_be;
	int			aad_len = 0;
	int			n;
	bool		ok;
	EVP_CIPHER_CTX *ctx;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(CC_ERR_ARGUMENT),
						errmsg("colcrypt: load_key needs a key id, a version and a sealed key, none NULL"),
						errhint("Use colcrypt.connect(dsn, keys=[...]) from Python, which seals the key for you.")));
	key_id = PG_GETARG_TEXT_PP(0);
	version = PG_GETARG_INT32(1);
	sealed = PG_GETARG_BYTEA_PP(2);
	len = VARSIZE_ANY_EXHDR(key_id);
	check_key_id(VARDATA_ANY(key_id), len);
	if (version < 1)
		ereport(ERROR, (errcode(CC_ERR_ARGUMENT),
						errmsg("colcrypt: key version must be 1 or more, not %d", version),
						errhint("See SELECT key_id, version FROM colcrypt.keyring;")));
	if (session_key == NULL)
		seal_error("this session has no session public key", VARDATA_ANY(key_id), len);
	if (VARSIZE_ANY_EXHDR(sealed) != SEALED_LEN)
		seal_error("wrong length", VARDATA_ANY(key_id), len);
	in = (const unsigned char *) VARDATA_ANY(sealed);
	if (!derive_wrapping_key(in, wrapping))
		seal_error("key agreement failed", VARDATA_ANY(key_id), len);

	memcpy(aad, seal_label, sizeof(seal_label));	/* with its NUL separator */
	aad_len = sizeof(seal_label);
	memcpy(aad + aad_len, VARDATA_ANY(key_id), len);
	aad_len += len;
	aad[aad_len++] = 0;
	version_be = pg_hton32((uint32) version);
	memcpy(aad + aad_len, &version_be, 4);
	aad_len += 4;

	ctx = EVP_CIPHER_CTX_new();
	ok = ctx != NULL &&
		EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, wrapping, in + X25519_LEN) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n, aad, aad_len) == 1 &&
		EVP_DecryptUpdate(ctx, dek, &n, in + X25519_LEN + CC_NONCE_LEN, CC_DEK_LEN) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CC_TAG_LEN,
							(void *) (in + SEALED_LEN - CC_TAG_LEN)) == 1 &&
		EVP_DecryptFinal_ex(ctx, dek + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(wrapping, sizeof(wrapping));
	if (!ok)
	{
		OPENSSL_cleanse(dek, sizeof(dek));
		seal_error("authentication failed (sealed for another session, key id or version)",
				   VARDATA_ANY(key_id), len);
	}
	PG_TRY();
	{
		keycache_install(VARDATA_ANY(key_id), len, (uint32) version, dek, "session");
	}
	PG_FINALLY();
	{
		OPENSSL_cleanse(dek, sizeof(dek));
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}
