/*
 * encrypted_rels.c — which tables have encrypted columns, from colcrypt.encrypted_columns.
 *
 * A table cut over by colcrypt keeps each encrypted column under its own name and type (its
 * "logical" column, always stored NULL) beside the column that stores its envelope. The planner
 * hook (read_rewrite.c) and the encrypting trigger (encrypt_row.c) read this cache on every
 * statement, so it is a hash by relation OID, built by one scan of the catalog table and dropped
 * whole on any invalidation of that table or of a table it names. A change of the catalog table
 * invalidates both (colcrypt._encrypted_columns_changed), so cached plans of the tables are made
 * again.
 */
#include "colcrypt.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(colcrypt_encrypted_columns_changed);

static HTAB *rels = NULL;
static MemoryContext rels_cxt = NULL;
static bool rels_valid = false;
static bool callback_registered = false;
static Oid	catalog_relid = InvalidOid;
static HTAB *redirects = NULL;	/* colcrypt.read_redirects, in rels_cxt too */
static Oid	redirects_relid = InvalidOid;
static List *retired = NIL;		/* in TopMemoryContext */
static Oid	decrypt_oid = InvalidOid;	/* colcrypt.decrypt_column(bytea, text) */
static Oid	decrypt_keyed_oid = InvalidOid; /* colcrypt.decrypt_column(bytea, text, anyelement) */

static void
free_retired(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	foreach(lc, retired)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(retired);
	retired = NIL;
}

static void
rels_invalidated(Datum arg, Oid relid)
{
	if (!rels_valid)
		return;
	if (relid == InvalidOid || relid == catalog_relid || relid == redirects_relid ||
		hash_search(rels, &relid, HASH_FIND, NULL) != NULL ||
		(redirects && hash_search(redirects, &relid, HASH_FIND, NULL) != NULL))
		rels_valid = false;
}

/* attnum of a column by name, or an error naming it: the catalog must match the table. */
static AttrNumber
column_attnum(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR, (errcode(CC_ERR_CATALOG),
						errmsg("colcrypt: table %s has no column \"%s\" that colcrypt.encrypted_columns names",
							   get_rel_name(relid), name),
						errhint("Roll the migration back, or restore the column; colcrypt.encrypted_columns must describe the table.")));
	return attnum;
}

static void
add_row(Datum *values, bool *nulls)
{
	Oid			relid = DatumGetObjectId(values[0]);
	EncryptedRel *rel;
	bool		found;
	LogicalColumn *col;
	ArrayType  *keys;
	Datum	   *key_names;
	int			nkey;

	if (get_rel_relkind(relid) == '\0')
		return;					/* a dropped table's row: nothing to rewrite */
	rel = hash_search(rels, &relid, HASH_ENTER, &found);
	if (!found)
	{
		rel->ncols = 0;
		rel->cols = NULL;
		rel->seal = NULL;
		keys = DatumGetArrayTypeP(values[6]);
		deconstruct_array(keys, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &key_names, NULL, &nkey);
		rel->nkeys = nkey;
		rel->keys = MemoryContextAlloc(rels_cxt, sizeof(AttrNumber) * nkey);
		for (int i = 0; i < nkey; i++)
			rel->keys[i] = column_attnum(relid, NameStr(*DatumGetName(key_names[i])));
	}
	rel->cols = rel->cols ? repalloc(rel->cols, sizeof(LogicalColumn) * (rel->ncols + 1))
		: MemoryContextAlloc(rels_cxt, sizeof(LogicalColumn));
	col = &rel->cols[rel->ncols++];
	col->attnum = column_attnum(relid, NameStr(*DatumGetName(values[1])));
	col->cipher = column_attnum(relid, NameStr(*DatumGetName(values[2])));
	col->bidx = nulls[3] ? InvalidAttrNumber : column_attnum(relid, NameStr(*DatumGetName(values[3])));
	col->key_id = TextDatumGetCString(values[4]);
	col->context = TextDatumGetCString(values[5]);
	get_atttypetypmodcoll(relid, col->attnum, &col->type, &col->typmod, &col->collation);
}

/* A read redirect: the source's columns, by number, mapped by name to the shadow's. */
static void
add_redirect(Datum *values, bool *nulls)
{
	Oid			relid = DatumGetObjectId(values[0]);
	Oid			shadow = DatumGetObjectId(values[1]);
	Redirect   *r;
	Relation	source;
	TupleDesc	desc;
	bool		found;

	if (get_rel_relkind(relid) == '\0' || get_rel_relkind(shadow) == '\0')
		return;
	r = hash_search(redirects, &relid, HASH_ENTER, &found);
	r->shadow = shadow;
	source = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(source);
	r->natts = desc->natts;
	r->map = MemoryContextAllocZero(rels_cxt, sizeof(AttrNumber) * (desc->natts + 1));
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			r->map[i + 1] = column_attnum(shadow, NameStr(TupleDescAttr(desc, i)->attname));
	table_close(source, AccessShareLock);
}

static void
load(Oid catalog, void (*add) (Datum *values, bool *nulls))
{
	Relation	rel = table_open(catalog, AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		slot_getallattrs(slot);
		add(slot->tts_values, slot->tts_isnull);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}

static void
rebuild(void)
{
	Oid			nsp = get_namespace_oid("colcrypt", true);
	HASHCTL		ctl;
	MemoryContext old;

	catalog_relid = OidIsValid(nsp) ? get_relname_relid("encrypted_columns", nsp) : InvalidOid;
	if (!OidIsValid(catalog_relid))
	{
		/* No colcrypt in this database (yet: CREATE EXTENSION may be running): look again next time. */
		if (rels && hash_get_num_entries(rels) == 0)
			return;
	}

	/*
	 * The previous generation may still be held by a caller further up the stack (a trigger whose
	 * key load planned a statement): it is freed when the transaction ends.
	 */
	if (rels_cxt)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		retired = lappend(retired, rels_cxt);
		MemoryContextSwitchTo(old);
	}
	rels_cxt = AllocSetContextCreate(CacheMemoryContext, "colcrypt encrypted tables", ALLOCSET_SMALL_SIZES);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(EncryptedRel);
	ctl.hcxt = rels_cxt;
	rels = hash_create("colcrypt encrypted tables", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	redirects = NULL;
	if (!OidIsValid(catalog_relid))
		return;

	{
		Oid			args[3] = {BYTEAOID, TEXTOID, ANYELEMENTOID};
		List	   *name = list_make2(makeString("colcrypt"), makeString("decrypt_column"));

		decrypt_oid = LookupFuncName(name, 2, args, true);
		decrypt_keyed_oid = LookupFuncName(name, 3, args, true);
		if (!OidIsValid(decrypt_oid) || !OidIsValid(decrypt_keyed_oid))
			return;				/* CREATE EXTENSION is still running */
	}
	old = MemoryContextSwitchTo(rels_cxt);
	load(catalog_relid, add_row);
	redirects_relid = get_relname_relid("read_redirects", nsp);
	ctl.entrysize = sizeof(Redirect);
	redirects = hash_create("colcrypt read redirects", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (OidIsValid(redirects_relid))
		load(redirects_relid, add_redirect);
	MemoryContextSwitchTo(old);
	rels_valid = true;
}

/*
 * Make the cache current; called where a statement starts to be planned or a trigger fires, never
 * in the middle of a walk, so that entries stay valid while a caller holds them (an invalidation
 * that arrives meanwhile takes effect at the next refresh).
 */
void
encrypted_rels_refresh(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(rels_invalidated, (Datum) 0);
		RegisterXactCallback(free_retired, NULL);
		callback_registered = true;
	}
	if (!rels_valid && IsTransactionState())
		rebuild();
}

/* The encrypted columns of relid, or NULL. */
EncryptedRel *
encrypted_rel(Oid relid)
{
	if (rels == NULL)
		return NULL;
	return hash_search(rels, &relid, HASH_FIND, NULL);
}

Oid
decrypt_function_oid(bool keyed)
{
	return keyed ? decrypt_keyed_oid : decrypt_oid;
}

/* The shadow that plain reads of relid go to (the read cutover), or NULL. */
Redirect *
read_redirect(Oid relid)
{
	if (redirects == NULL)
		return NULL;
	return hash_search(redirects, &relid, HASH_FIND, NULL);
}

/* The encrypted column whose logical column is attnum, or NULL. */
LogicalColumn *
logical_column(EncryptedRel *rel, AttrNumber attnum)
{
	for (int i = 0; i < rel->ncols; i++)
		if (rel->cols[i].attnum == attnum)
			return &rel->cols[i];
	return NULL;
}

/* Does attnum hold an encrypted column's envelope or blind index? */
bool
envelope_column(EncryptedRel *rel, AttrNumber attnum)
{
	if (attnum == InvalidAttrNumber)
		return false;
	for (int i = 0; i < rel->ncols; i++)
		if (rel->cols[i].cipher == attnum || rel->cols[i].bidx == attnum)
			return true;
	return false;
}

/* True when any table of this database has encrypted columns (a cheap test for every statement). */
bool
any_encrypted_rel(void)
{
	return rels != NULL && hash_get_num_entries(rels) > 0;
}

/*
 * AFTER ROW trigger on colcrypt.encrypted_columns: every backend drops its cache, and the plans
 * of the tables named (old and new) are made again.
 */
Datum
colcrypt_encrypted_columns_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("colcrypt._encrypted_columns_changed: not called as a trigger"),
						errhint("It is the trigger of colcrypt.encrypted_columns; do not call it directly.")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		CacheInvalidateRelcacheAll();
	for (int i = 0; i < 2; i++)
	{
		HeapTuple	row = i == 0 ? trigdata->tg_trigtuple : trigdata->tg_newtuple;
		Datum		relid;

		if (row == NULL)
			continue;
		relid = heap_getattr(row, 1, RelationGetDescr(trigdata->tg_relation), &isnull);
		if (!isnull && get_rel_relkind(DatumGetObjectId(relid)) != '\0')
			CacheInvalidateRelcacheByRelid(DatumGetObjectId(relid));
	}
	return PointerGetDatum(NULL);
}
