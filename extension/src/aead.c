/*
 * aead.c — the one AEAD primitive every colcrypt path uses: AES-256-GCM seal and open of bytes
 * with a cached key, a 96-bit nonce and associated data.
 *
 * Two engines give identical output: libsodium's AES-NI/PCLMUL code where the CPU has them
 * (about 120 ns per short value), and OpenSSL's EVP interface everywhere (about 200 ns: OpenSSL 3
 * resolves parameters by name on every IV set and tag read). colcrypt.aead_engine picks one;
 * 'auto' prefers libsodium.
 */
#include "colcrypt.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "utils/guc.h"
#include "utils/memutils.h"

typedef enum
{
	ENGINE_AUTO,
	ENGINE_LIBSODIUM,
	ENGINE_OPENSSL
} AeadEngine;

static const struct config_enum_entry engine_options[] = {
	{"auto", ENGINE_AUTO, false},
	{"libsodium", ENGINE_LIBSODIUM, false},
	{"openssl", ENGINE_OPENSSL, false},
	{NULL, 0, false}
};

bool		aead_sodium_available = false;
static int	engine_setting = ENGINE_AUTO;

static bool
check_engine(int *newval, void **extra, GucSource source)
{
	if (*newval == ENGINE_LIBSODIUM && !aead_sodium_available)
	{
		GUC_check_errdetail("libsodium's AES-256-GCM needs a CPU with AES-NI and PCLMUL, which this one lacks.");
		GUC_check_errhint("Use 'auto' or 'openssl'.");
		return false;
	}
	return true;
}

void
aead_define_gucs(void)
{
	aead_sodium_available = sodium_init() >= 0 && crypto_aead_aes256gcm_is_available();
	DefineCustomEnumVariable("colcrypt.aead_engine",
							 "Which AES-256-GCM implementation colcrypt uses: auto, libsodium or openssl.",
							 "Both give identical results; auto uses libsodium when the CPU supports it.",
							 &engine_setting, ENGINE_AUTO, engine_options, PGC_USERSET, 0,
							 check_engine, NULL, NULL);
}

static inline bool
use_sodium(const CachedKey *key)
{
	return engine_setting != ENGINE_OPENSSL && key->sodium_state != NULL;
}

void
aead_key_init(CachedKey *key, const unsigned char *dek)
{
	key->enc = EVP_CIPHER_CTX_new();
	key->dec = EVP_CIPHER_CTX_new();
	if (key->enc == NULL || key->dec == NULL ||
		EVP_EncryptInit_ex(key->enc, EVP_aes_256_gcm(), NULL, dek, NULL) != 1 ||
		EVP_DecryptInit_ex(key->dec, EVP_aes_256_gcm(), NULL, dek, NULL) != 1)
	{
		aead_key_free(key);
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("colcrypt: OpenSSL could not set up AES-256-GCM")));
	}
	/* A separate key for blind indexes, so an index value says nothing about the encryption key. */
	if (HMAC(EVP_sha256(), dek, CC_DEK_LEN, (const unsigned char *) "colcrypt-blind-index-v1", 23,
			 key->bidx_key, NULL) == NULL)
	{
		aead_key_free(key);
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("colcrypt: OpenSSL could not derive the blind-index key")));
	}
	if (aead_sodium_available)
	{
		/* The state must be 16-byte aligned; palloc in PostgreSQL 15 only guarantees 8. */
		key->sodium_alloc = MemoryContextAlloc(TopMemoryContext, sizeof(crypto_aead_aes256gcm_state) + 16);
		key->sodium_state = (void *) TYPEALIGN(16, key->sodium_alloc);
		crypto_aead_aes256gcm_beforenm(key->sodium_state, dek);
	}
}

/* Blind index: the first 16 bytes of HMAC-SHA256 under the key's blind-index key. */
void
aead_blind_index(const CachedKey *key, const unsigned char *msg, int msg_len, unsigned char out[16])
{
	unsigned char mac[32];

	if (HMAC(EVP_sha256(), key->bidx_key, sizeof(key->bidx_key), msg, msg_len, mac, NULL) == NULL)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("colcrypt: OpenSSL HMAC failed")));
	memcpy(out, mac, 16);
}

void
aead_key_free(CachedKey *key)
{
	OPENSSL_cleanse(key->bidx_key, sizeof(key->bidx_key));
	EVP_CIPHER_CTX_free(key->enc);	/* wipes the key schedule */
	EVP_CIPHER_CTX_free(key->dec);
	key->enc = key->dec = NULL;
	if (key->sodium_alloc)
	{
		sodium_memzero(key->sodium_state, sizeof(crypto_aead_aes256gcm_state));
		pfree(key->sodium_alloc);
	}
	key->sodium_alloc = key->sodium_state = NULL;
}

void
aead_seal(CachedKey *key, const unsigned char *nonce, const unsigned char *aad, int aad_len,
		  const unsigned char *pt, int pt_len, unsigned char *ct, unsigned char *tag)
{
	int			n;

	if (use_sodium(key))
	{
		crypto_aead_aes256gcm_encrypt_detached_afternm(ct, tag, NULL, pt, pt_len, aad, aad_len,
													   NULL, nonce, key->sodium_state);
		return;
	}
	if (EVP_EncryptInit_ex(key->enc, NULL, NULL, NULL, nonce) != 1 ||
		EVP_EncryptUpdate(key->enc, NULL, &n, aad, aad_len) != 1 ||
		(pt_len > 0 && EVP_EncryptUpdate(key->enc, ct, &n, pt, pt_len) != 1) ||
		EVP_EncryptFinal_ex(key->enc, ct + pt_len, &n) != 1 ||
		EVP_CIPHER_CTX_ctrl(key->enc, EVP_CTRL_GCM_GET_TAG, CC_TAG_LEN, tag) != 1)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("colcrypt: OpenSSL failed to encrypt with key \"%s\"", key->key_id)));
}

bool
aead_open(CachedKey *key, const unsigned char *nonce, const unsigned char *aad, int aad_len,
		  const unsigned char *ct, int ct_len, const unsigned char *tag, unsigned char *pt)
{
	int			n;
	bool		ok;

	if (use_sodium(key))
		ok = crypto_aead_aes256gcm_decrypt_detached_afternm(pt, NULL, ct, ct_len, tag, aad, aad_len,
															nonce, key->sodium_state) == 0;
	else
		ok = EVP_DecryptInit_ex(key->dec, NULL, NULL, NULL, nonce) == 1 &&
			EVP_DecryptUpdate(key->dec, NULL, &n, aad, aad_len) == 1 &&
			(ct_len == 0 || EVP_DecryptUpdate(key->dec, pt, &n, ct, ct_len) == 1) &&
			EVP_CIPHER_CTX_ctrl(key->dec, EVP_CTRL_GCM_SET_TAG, CC_TAG_LEN, (void *) tag) == 1 &&
			EVP_DecryptFinal_ex(key->dec, pt + ct_len, &n) == 1;
	if (!ok)
		OPENSSL_cleanse(pt, ct_len);	/* never leave unauthenticated plaintext behind */
	return ok;
}
