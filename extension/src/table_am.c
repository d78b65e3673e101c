/*
 * table_am.c — the table access method `colcrypt`: heap, storing each row of a table with
 * encrypted columns sealed (row_seal.c).
 *
 * The rows are heap rows and every heap callback serves them; only the four that store a row
 * (insert, speculative insert, multi-insert, update) seal it first, after the executor has checked
 * the row's constraints on its plaintext and before it builds the row's index entries from the
 * same slot. Opening such a table calls the handler, which loads this module, and its planner
 * hook is then in place before any statement on the table is planned: no backend can read a
 * logical column without the hook (it would read NULL).
 *
 * Heap itself refuses heap_getnext on a relation whose access method is not heap's routine, which
 * index builds use: those two scans run with the heap routine for their duration.
 */
#include "colcrypt.h"

#include "access/heapam.h"
#include "access/sysattr.h"
#include "access/tableam.h"
#include "catalog/pg_am_d.h"
#include "nodes/execnodes.h"
#include "optimizer/optimizer.h"
#include "utils/lsyscache.h"
#include "fmgr.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(colcrypt_table_am_handler);

static TableAmRoutine routine;
static const TableAmRoutine *heap;

static void
am_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid, int options, BulkInsertState bistate)
{
	seal_slot(rel, slot);
	heap->tuple_insert(rel, slot, cid, options, bistate);
}

static void
am_tuple_insert_speculative(Relation rel, TupleTableSlot *slot, CommandId cid, int options,
							BulkInsertState bistate, uint32 specToken)
{
	seal_slot(rel, slot);
	heap->tuple_insert_speculative(rel, slot, cid, options, bistate, specToken);
}

static void
am_multi_insert(Relation rel, TupleTableSlot **slots, int nslots, CommandId cid, int options,
				BulkInsertState bistate)
{
	for (int i = 0; i < nslots; i++)
		seal_slot(rel, slots[i]);
	heap->multi_insert(rel, slots, nslots, cid, options, bistate);
}

static TM_Result
am_tuple_update(Relation rel, ItemPointer otid, TupleTableSlot *slot, CommandId cid, Snapshot snapshot,
				Snapshot crosscheck, bool wait, TM_FailureData *tmfd, LockTupleMode *lockmode,
				bool *update_indexes)
{
	seal_slot(rel, slot);
	return heap->tuple_update(rel, otid, slot, cid, snapshot, crosscheck, wait, tmfd, lockmode, update_indexes);
}

static Oid
am_toast_am(Relation rel)
{
	return HEAP_TABLE_AM_OID;
}

/*
 * An index over a logical column would index NULLs: a unique one would enforce nothing. CREATE INDEX
 * through the utility hook indexes the blind index instead; whatever reaches a build otherwise
 * (colcrypt not preloaded, an index made before the table's columns were registered) is refused.
 */
static void
refuse_logical_index(Relation rel, Relation index, struct IndexInfo *info)
{
	EncryptedRel *er;
	Bitmapset  *keys = NULL;
	Bitmapset  *attrs = NULL;	/* offset by FirstLowInvalidHeapAttributeNumber */

	encrypted_rels_refresh();
	er = encrypted_rel(RelationGetRelid(rel));
	if (er == NULL)
		return;
	for (int i = 0; i < info->ii_NumIndexAttrs; i++)
		keys = bms_add_member(keys, info->ii_IndexAttrNumbers[i]);
	pull_varattnos((Node *) info->ii_Expressions, 1, &attrs);
	pull_varattnos((Node *) info->ii_Predicate, 1, &attrs);
	for (int i = 0; i < er->ncols; i++)
		if (bms_is_member(er->cols[i].attnum, keys) ||
			bms_is_member(er->cols[i].attnum - FirstLowInvalidHeapAttributeNumber, attrs))
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("colcrypt: index %s of table %s would index encrypted column %s, stored NULL",
								   RelationGetRelationName(index), RelationGetRelationName(rel),
								   get_attname(er->relid, er->cols[i].attnum, false)),
							errhint("Index the column's blind index: CREATE INDEX on the column does that when colcrypt is in shared_preload_libraries.")));
}

static double
am_index_build_range_scan(Relation rel, Relation index, struct IndexInfo *info, bool allow_sync,
						  bool anyvisible, bool progress, BlockNumber start, BlockNumber numblocks,
						  IndexBuildCallback callback, void *state, TableScanDesc scan)
{
	double		tuples = 0;

	refuse_logical_index(rel, index, info);
	rel->rd_tableam = heap;
	PG_TRY();
	{
		tuples = heap->index_build_range_scan(rel, index, info, allow_sync, anyvisible, progress, start,
											  numblocks, callback, state, scan);
	}
	PG_FINALLY();
	{
		rel->rd_tableam = &routine;
	}
	PG_END_TRY();
	return tuples;
}

static void
am_index_validate_scan(Relation rel, Relation index, struct IndexInfo *info, Snapshot snapshot,
					   struct ValidateIndexState *state)
{
	rel->rd_tableam = heap;
	PG_TRY();
	{
		heap->index_validate_scan(rel, index, info, snapshot, state);
	}
	PG_FINALLY();
	{
		rel->rd_tableam = &routine;
	}
	PG_END_TRY();
}

Datum
colcrypt_table_am_handler(PG_FUNCTION_ARGS)
{
	if (heap == NULL)
	{
		heap = GetHeapamTableAmRoutine();
		routine = *heap;
		routine.tuple_insert = am_tuple_insert;
		routine.tuple_insert_speculative = am_tuple_insert_speculative;
		routine.multi_insert = am_multi_insert;
		routine.tuple_update = am_tuple_update;
		routine.relation_toast_am = am_toast_am;
		routine.index_build_range_scan = am_index_build_range_scan;
		routine.index_validate_scan = am_index_validate_scan;
	}
	PG_RETURN_POINTER(&routine);
}
