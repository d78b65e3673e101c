/*
 * row_seal.c — storing a row of a table with encrypted columns: each value in a logical column is
 * sealed into its envelope column (and its blind index), bound to the column and the row's key, and
 * the logical column is stored NULL.
 *
 * A logical column that is NULL keeps the envelope the row carries: the old row's when an UPDATE
 * left the column alone; NULL when the statement set the column (the planner hook resets the
 * envelope then, read_rewrite.c); or the one a restore or a subscriber's apply brings with the row.
 * So every path a row takes into the table — INSERT, UPDATE, COPY, MERGE, ON CONFLICT, logical
 * replication — stores ciphertext only.
 */
#include "colcrypt.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* value::text as SQL casts it: the form every context and blind index of the column is made from. */
typedef struct TextCast
{
	CoercionPathType path;
	FmgrInfo	fn;
	int			nargs;
} TextCast;

typedef struct RowSeal
{
	TextCast   *values;			/* per encrypted column */
	TextCast	key;			/* a one-column key */
	TupleDesc	key_desc;		/* a key of several: ROW(k1, k2, ...)::text, by record_out */
} RowSeal;

static void
text_cast_init(TextCast *cast, Oid type, MemoryContext cxt)
{
	Oid			func = InvalidOid;

	cast->path = find_coercion_pathway(TEXTOID, type, COERCION_EXPLICIT, &func);
	if (cast->path == COERCION_PATH_FUNC)
	{
		fmgr_info_cxt(func, &cast->fn, cxt);
		cast->nargs = get_func_nargs(func);
	}
	else if (cast->path != COERCION_PATH_RELABELTYPE)
	{
		bool		varlena;

		getTypeOutputInfo(type, &func, &varlena);
		fmgr_info_cxt(func, &cast->fn, cxt);
		cast->path = COERCION_PATH_COERCEVIAIO;
	}
}

static text *
text_cast(TextCast *cast, Datum value)
{
	switch (cast->path)
	{
		case COERCION_PATH_RELABELTYPE:
			return DatumGetTextPP(value);
		case COERCION_PATH_FUNC:
			return DatumGetTextPP(cast->nargs == 1 ? FunctionCall1(&cast->fn, value)
								  : FunctionCall3(&cast->fn, value, Int32GetDatum(-1), BoolGetDatum(true)));
		default:
			return cstring_to_text(OutputFunctionCall(&cast->fn, value));
	}
}

/* The casts of a table, made once per cache generation, in the cache's own memory. */
static RowSeal *
row_seal(EncryptedRel *rel)
{
	MemoryContext cxt;
	MemoryContext old;
	RowSeal    *seal;

	if (rel->seal)
		return rel->seal;
	cxt = GetMemoryChunkContext(rel->cols);
	old = MemoryContextSwitchTo(cxt);
	seal = palloc0(sizeof(RowSeal));
	seal->values = palloc0(sizeof(TextCast) * rel->ncols);
	for (int i = 0; i < rel->ncols; i++)
		text_cast_init(&seal->values[i], rel->cols[i].type, cxt);
	if (rel->nkeys == 1)
		text_cast_init(&seal->key, get_atttype(rel->relid, rel->keys[0]), cxt);
	else
	{
		seal->key_desc = CreateTemplateTupleDesc(rel->nkeys);
		for (int i = 0; i < rel->nkeys; i++)
			TupleDescInitEntry(seal->key_desc, i + 1, NULL, get_atttype(rel->relid, rel->keys[i]), -1, 0);
		seal->key_desc = BlessTupleDesc(seal->key_desc);
	}
	MemoryContextSwitchTo(old);
	rel->seal = seal;
	return seal;
}

static text *
row_key(RowSeal *seal, EncryptedRel *rel, Datum *values, bool *isnull)
{
	Datum		key[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];

	for (int i = 0; i < rel->nkeys; i++)
	{
		key[i] = values[rel->keys[i] - 1];
		nulls[i] = isnull[rel->keys[i] - 1];
	}
	if (rel->nkeys == 1)
	{
		if (nulls[0])
			ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
							errmsg("colcrypt: a row of table %s has a NULL key", get_rel_name(rel->relid)),
							errhint("Each encrypted value is bound to its row's key, which must not be NULL.")));
		return text_cast(&seal->key, key[0]);
	}
	return cstring_to_text(DatumGetCString(DirectFunctionCall1(record_out,
															   HeapTupleGetDatum(heap_form_tuple(seal->key_desc, key, nulls)))));
}

/* Seal the logical columns of a row given as arrays; returns how many values it sealed. */
int
seal_row(EncryptedRel *rel, Datum *values, bool *isnull)
{
	RowSeal    *seal = row_seal(rel);
	text	   *key = NULL;
	int			sealed = 0;

	for (int i = 0; i < rel->ncols; i++)
	{
		LogicalColumn *col = &rel->cols[i];
		int			a = col->attnum - 1;
		int			id_len = strlen(col->key_id);
		int			col_len = strlen(col->context);
		int			key_len;
		text	   *plain;
		char	   *ctx;

		if (isnull[a])
			continue;
		if (key == NULL)
			key = row_key(seal, rel, values, isnull);
		key_len = VARSIZE_ANY_EXHDR(key);
		plain = text_cast(&seal->values[i], values[a]);
		ctx = palloc(col_len + 1 + key_len);
		memcpy(ctx, col->context, col_len);
		ctx[col_len] = '#';
		memcpy(ctx + col_len + 1, VARDATA_ANY(key), key_len);

		values[col->cipher - 1] = PointerGetDatum(envelope_seal(col->key_id, id_len, ctx, col_len + 1 + key_len,
																 VARDATA_ANY(plain), VARSIZE_ANY_EXHDR(plain)));
		isnull[col->cipher - 1] = false;
		if (col->bidx != InvalidAttrNumber)
		{
			values[col->bidx - 1] = PointerGetDatum(envelope_blind_index(col->key_id, id_len, col->context, col_len,
																		  VARDATA_ANY(plain),
																		  VARSIZE_ANY_EXHDR(plain)));
			isnull[col->bidx - 1] = false;
		}
		isnull[a] = true;
		values[a] = (Datum) 0;
		sealed++;
	}
	return sealed;
}

/*
 * Seal the row in a slot about to be stored, in place: the executor builds the row's index entries
 * and evaluates RETURNING from this same slot afterwards, so they see the stored row.
 */
void
seal_slot(Relation relation, TupleTableSlot *slot)
{
	EncryptedRel *rel;
	TupleDesc	desc = slot->tts_tupleDescriptor;
	Datum	   *values;
	bool	   *isnull;
	MemoryContext old;
	HeapTuple	tuple;
	int			i;

	encrypted_rels_refresh();
	rel = encrypted_rel(RelationGetRelid(relation));
	if (rel == NULL)
		return;
	slot_getallattrs(slot);
	for (i = 0; i < rel->ncols && slot->tts_isnull[rel->cols[i].attnum - 1]; i++)
		;
	if (i == rel->ncols)
		return;					/* no plaintext in the row (an UPDATE of other columns, a restore) */
	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	memcpy(values, slot->tts_values, sizeof(Datum) * desc->natts);
	memcpy(isnull, slot->tts_isnull, sizeof(bool) * desc->natts);
	if (seal_row(rel, values, isnull) == 0)
		return;
	old = MemoryContextSwitchTo(slot->tts_mcxt);
	tuple = heap_form_tuple(desc, values, isnull);
	MemoryContextSwitchTo(old);
	ExecForceStoreHeapTuple(tuple, slot, true);
}
