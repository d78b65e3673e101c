/*
 * call_trigger.c — colcrypt.call_trigger: runs a table's row trigger function on a row that is
 * written through the table's name after the write cutover, where no table with the row's
 * plaintext exists to fire it: the function gets the TriggerData the trigger manager would give
 * it, with the relation of the row's type (the view that holds the table's name, whose columns are
 * the table's). Only for functions in procedural languages, which read the heap tuples.
 */
#include "colcrypt.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(colcrypt_call_trigger);

static void
check_function(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prorettype != TRIGGEROID || proc->prolang == INTERNALlanguageId || proc->prolang == ClanguageId)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("colcrypt: %s is not a trigger function in a procedural language", format_procedure(fn)),
				 errhint("Only PL/pgSQL, PL/Python and other procedural-language trigger functions can run on "
						 "rows written through a migrated table's name.")));
	ReleaseSysCache(tup);
}

static bool
owns_relation(Oid relid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(RelationRelationId, relid, GetUserId());
#else
	return pg_class_ownercheck(relid, GetUserId());
#endif
}

static bool
may_execute(Oid fn)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ProcedureRelationId, fn, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
#else
	return pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
#endif
}

static HeapTuple
as_tuple(HeapTupleHeader header, Oid relid)
{
	HeapTuple	tuple = palloc0(sizeof(HeapTupleData));

	tuple->t_len = HeapTupleHeaderGetDatumLength(header);
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = relid;
	tuple->t_data = header;
	return tuple;
}

/*
 * call_trigger(function, name, args, timing, op, new, old): the row the trigger function returns
 * (NULL: skip the row), or NEW/OLD unchanged for AFTER triggers.
 */
Datum
colcrypt_call_trigger(PG_FUNCTION_ARGS)
{
	Oid			fn = PG_GETARG_OID(0);
	char	   *timing;
	char	   *op;
	HeapTupleHeader new_row = PG_ARGISNULL(5) ? NULL : PG_GETARG_HEAPTUPLEHEADER(5);
	HeapTupleHeader old_row = PG_ARGISNULL(6) ? NULL : PG_GETARG_HEAPTUPLEHEADER(6);
	HeapTupleHeader any = new_row ? new_row : old_row;
	Oid			relid;
	Relation	rel;
	TriggerData td;
	Trigger		trig;
	FmgrInfo	flinfo;
	HeapTuple	new_tuple = NULL;
	HeapTuple	old_tuple = NULL;
	HeapTuple	result;
	Datum		ret;

	LOCAL_FCINFO(tfc, 0);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3) || PG_ARGISNULL(4) || any == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("colcrypt: call_trigger needs a function, a name, a timing, an operation and a row"),
				 errhint("It is called by the functions colcrypt generates; nothing else needs it.")));
	check_function(fn);
	timing = text_to_cstring(PG_GETARG_TEXT_PP(3));
	op = text_to_cstring(PG_GETARG_TEXT_PP(4));
	relid = get_typ_typrelid(HeapTupleHeaderGetTypeId(any));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("colcrypt: call_trigger needs a row of a table or view"),
				 errhint("Pass NEW and OLD of the trigger that calls it.")));

	/*
	 * No more than the caller could do with a trigger of its own: it may attach the function to the
	 * relation as a trigger (it owns the relation and may execute the function), which would fire it
	 * on any row it writes there. The generated functions that call it run as the table's owner.
	 */
	if (!owns_relation(relid) || !may_execute(fn))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("colcrypt: call_trigger may run %s only for the owner of %s", format_procedure(fn),
						get_rel_name(relid)),
				 errhint("It is called by the functions colcrypt generates for a migrated table, as its owner.")));
	rel = relation_open(relid, AccessShareLock);
	if (new_row)
		new_tuple = as_tuple(new_row, relid);
	if (old_row)
		old_tuple = as_tuple(old_row, relid);

	memset(&trig, 0, sizeof(trig));
	trig.tgname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	trig.tgfoid = fn;
	trig.tgenabled = TRIGGER_FIRES_ON_ORIGIN;
	trig.tgtype = TRIGGER_TYPE_ROW;
	if (!PG_ARGISNULL(2))
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		trig.tgnargs = n;
		trig.tgargs = palloc(sizeof(char *) * Max(n, 1));
		for (int i = 0; i < n; i++)
			trig.tgargs[i] = nulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
	}

	memset(&td, 0, sizeof(td));
	td.type = T_TriggerData;
	td.tg_event = TRIGGER_EVENT_ROW | (strcmp(timing, "BEFORE") == 0 ? TRIGGER_EVENT_BEFORE : TRIGGER_EVENT_AFTER);
	if (strcmp(op, "INSERT") == 0 && new_tuple)
	{
		td.tg_event |= TRIGGER_EVENT_INSERT;
		td.tg_trigtuple = new_tuple;
	}
	else if (strcmp(op, "UPDATE") == 0 && new_tuple && old_tuple)
	{
		td.tg_event |= TRIGGER_EVENT_UPDATE;
		td.tg_trigtuple = old_tuple;
		td.tg_newtuple = new_tuple;
	}
	else if (strcmp(op, "DELETE") == 0 && old_tuple)
	{
		td.tg_event |= TRIGGER_EVENT_DELETE;
		td.tg_trigtuple = old_tuple;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("colcrypt: call_trigger: operation %s without its rows", op),
				 errhint("INSERT needs NEW, UPDATE NEW and OLD, DELETE OLD.")));
	td.tg_relation = rel;
	td.tg_trigger = &trig;

	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*tfc, &flinfo, 0, InvalidOid, (Node *) &td, NULL);
	ret = FunctionCallInvoke(tfc);
	if (tfc->isnull)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger function %u returned null value", fn),
				 errhint("A trigger function returns a row or NULL (a null pointer), never SQL NULL.")));
	result = (HeapTuple) DatumGetPointer(ret);
	relation_close(rel, NoLock);

	if (td.tg_event & TRIGGER_EVENT_AFTER)
		PG_RETURN_DATUM(PG_GETARG_DATUM(new_row ? 5 : 6));
	if (result == NULL)
		PG_RETURN_NULL();
	if (result == new_tuple)
		PG_RETURN_DATUM(PG_GETARG_DATUM(5));
	if (result == old_tuple)
		PG_RETURN_DATUM(PG_GETARG_DATUM(6));
	PG_RETURN_DATUM(heap_copy_tuple_as_datum(result, RelationGetDescr(rel)));
}
