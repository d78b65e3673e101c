/*
 * colcrypt.h — shared declarations of the colcrypt C module.
 *
 * The module holds the one hot primitive (AES-256-GCM seal/open of the
 * versioned envelope, docs/format.md) and the per-backend key cache it reads.
 * Key providers (KEK file, HSM, KMS) stay in PL/Python: the cache asks them
 * for a data key on a miss, never on the hot path.
 */
#ifndef COLCRYPT_H
#define COLCRYPT_H

#include "postgres.h"

#include "access/attnum.h"
#include "nodes/parsenodes.h"

#include <openssl/evp.h>

#define CC_ERR_AUTH			MAKE_SQLSTATE('K','C','0','0','1')
#define CC_ERR_MALFORMED	MAKE_SQLSTATE('K','C','0','0','2')
#define CC_ERR_VERSION		MAKE_SQLSTATE('K','C','0','0','3')
#define CC_ERR_UNKNOWN_KEY	MAKE_SQLSTATE('K','C','0','0','4')
#define CC_ERR_KCV			MAKE_SQLSTATE('K','C','0','0','5')
#define CC_ERR_KEY_STATE	MAKE_SQLSTATE('K','C','0','0','7')
#define CC_ERR_ARGUMENT		MAKE_SQLSTATE('K','C','0','0','8')
#define CC_ERR_SEALED		MAKE_SQLSTATE('K','C','0','0','9')
#define CC_ERR_NOT_CONFIGURED MAKE_SQLSTATE('K','C','0','1','0')
#define CC_ERR_STATEMENTS	MAKE_SQLSTATE('K','C','0','2','8')
#define CC_ERR_CATALOG		MAKE_SQLSTATE('K','C','0','2','9')

#define CC_ENVELOPE_VERSION	1
#define CC_ALG_AES256GCM	1
#define CC_KEY_ID_MAX		255
#define CC_DEK_LEN			32
#define CC_NONCE_LEN		12
#define CC_TAG_LEN			16
#define CC_KCV_LEN			16
/* Must equal the INCREMENT BY of each key version's counter sequence. */
#define CC_NONCE_BLOCK		256
/* Random 96-bit nonces: NIST SP 800-38D allows 2^32 encryptions per key; warn at a quarter of it. */
#define CC_COUNTER_WARN		(INT64CONST(1) << 30)

typedef struct CachedKey
{
	char		key_id[CC_KEY_ID_MAX + 1];
	int			key_id_len;
	uint32		version;
	Oid			role;			/* only this role may use the entry */
	bool		active;			/* new values are sealed with this version */
	const char *source;			/* "server" or "session" */
	Oid			counter_seq;
	int64		nonces_left;
	bool		warned;			/* the counter warning was given in this backend */
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	void	   *sodium_state;	/* crypto_aead_aes256gcm_state, or NULL without AES-NI */
	void	   *sodium_alloc;	/* the allocation sodium_state is aligned within */
	unsigned char bidx_key[32];	/* HMAC-SHA256(data key, "colcrypt-blind-index-v1") */
} CachedKey;

/* An encrypted column of a table: its logical column (stored NULL) and where its value lives. */
typedef struct LogicalColumn
{
	AttrNumber	attnum;			/* the column under its own name and type */
	AttrNumber	cipher;			/* bytea: the envelope */
	AttrNumber	bidx;			/* bytea: the blind index, or InvalidAttrNumber */
	Oid			type;
	int32		typmod;
	Oid			collation;
	char	   *key_id;
	char	   *context;		/* the column's context; a value's adds '#' and the row key */
} LogicalColumn;

typedef struct EncryptedRel
{
	Oid			relid;			/* hash key */
	int			ncols;
	LogicalColumn *cols;
	int			nkeys;
	AttrNumber *keys;			/* the row key, bound into each value's context */
	void	   *seal;			/* row_seal.c's casts, made on first use */
} EncryptedRel;

/* A table whose plain reads go to its shadow (the read cutover). */
typedef struct Redirect
{
	Oid			relid;			/* hash key: the table under the name */
	Oid			shadow;
	int			natts;
	AttrNumber *map;			/* the shadow's attnum of each of the table's, by name; 0 for dropped */
} Redirect;

/* encrypted_rels.c */
extern Redirect *read_redirect(Oid relid);
extern void encrypted_rels_refresh(void);
extern EncryptedRel *encrypted_rel(Oid relid);
extern bool any_encrypted_rel(void);
extern Oid	decrypt_function_oid(bool keyed);
extern LogicalColumn *logical_column(EncryptedRel *rel, AttrNumber attnum);
extern bool envelope_column(EncryptedRel *rel, AttrNumber attnum);

/* row_seal.c */
struct TupleTableSlot;
struct RelationData;
extern int	seal_row(EncryptedRel *rel, Datum *values, bool *isnull);
extern void seal_slot(struct RelationData *relation, struct TupleTableSlot *slot);

/* read_rewrite.c */
extern void read_rewrite_install(void);

/* client_columns.c */
extern int	colcrypt_nesting;
extern bool utility_nests(Node *stmt);
extern void hide_envelope_columns(Query *q);
extern void client_columns_install(void);

/* utility.c */
extern void utility_install(void);

/* keycache.c */
extern char *colcrypt_kek_file;
extern CachedKey *keycache_active(const char *key_id, int len);
extern CachedKey *keycache_version(const char *key_id, int len, uint32 version);
extern void keycache_install(const char *key_id, int len, uint32 version,
							 const unsigned char *dek, const char *source);
extern void keycache_count_encryption(CachedKey *key);
extern void keycache_clear(void);
extern void set_cache_handle(void);
extern void keycache_define_gucs(void);
extern void check_key_id(const char *key_id, int len);

/* session_seal.c */
extern void session_seal_clear(void);

/* envelope.c */
extern void colcrypt_random(unsigned char *out, int len);
extern bytea *envelope_seal(const char *key_id, int key_id_len, const char *ctx, int ctx_len,
							const char *pt, int pt_len);
extern bytea *envelope_blind_index(const char *key_id, int key_id_len, const char *ctx, int ctx_len,
								   const char *val, int val_len);

/* aead.c */
extern bool aead_sodium_available;
extern void aead_key_init(CachedKey *key, const unsigned char *dek);
extern void aead_key_free(CachedKey *key);
extern void aead_blind_index(const CachedKey *key, const unsigned char *msg, int msg_len, unsigned char out[16]);
extern void aead_define_gucs(void);
extern void aead_seal(CachedKey *key, const unsigned char *nonce, const unsigned char *aad, int aad_len,
					  const unsigned char *pt, int pt_len, unsigned char *ct, unsigned char *tag);
extern bool aead_open(CachedKey *key, const unsigned char *nonce, const unsigned char *aad, int aad_len,
					  const unsigned char *ct, int ct_len, const unsigned char *tag, unsigned char *pt);

#endif
