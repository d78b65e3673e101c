/*
 * as_owner.c — colcrypt._as_owner: runs one statement of a migration step with the rights of the
 * migrated table's owner, the way PostgreSQL runs VACUUM, ANALYZE and CREATE INDEX: the owner as
 * the current user, in a security-restricted operation (SET ROLE, SET SESSION AUTHORIZATION and
 * RESET ROLE are refused), so that whatever the owner controls — triggers, CHECKs, defaults,
 * casts, index expressions, policies — runs with the owner's rights and nothing more, even when a
 * superuser runs the step. The caller must hold the owner's privileges already (be a superuser or
 * a member of the owner role), so the switch never grants a right the caller lacks.
 *
 * Rows come back as json (row_to_json of each result row); the statement's parameters are the
 * function's own arguments after the first two, with their types; each statement is prepared once
 * per backend.
 */
#include "colcrypt.h"

#include "catalog/pg_class.h"
#include "common/hashfn.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(colcrypt_as_owner);

#define AS_OWNER_FIXED_ARGS 2
#define PLAN_CACHE_SIZE 64

/*
 * Statements prepared once per backend and kept, as PL/Python's prepared plans were before the step ran
 * them here: a backfill runs one statement per batch, and its batches may take milliseconds. The cache
 * is emptied when full (a discovery over many tables prepares one statement each).
 */
typedef struct PreparedStatement
{
	uint64		hash;
	char	   *sql;
	int			nargs;
	Oid			types[FUNC_MAX_ARGS];
	SPIPlanPtr	plan;
} PreparedStatement;

static PreparedStatement prepared[PLAN_CACHE_SIZE];
static int	nprepared = 0;

static SPIPlanPtr
prepared_statement(const char *sql, int nargs, Oid *types)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) sql, strlen(sql), (uint64) nargs);
	SPIPlanPtr	plan;
	int			statements;

	for (int i = 0; i < nprepared; i++)
		if (prepared[i].hash == hash && prepared[i].nargs == nargs &&
			memcmp(prepared[i].types, types, sizeof(Oid) * nargs) == 0 && strcmp(prepared[i].sql, sql) == 0)
			return prepared[i].plan;
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("colcrypt: _as_owner could not prepare its statement: %s",
							   SPI_result_code_string(SPI_result))));
	/* SPI would run every statement of the text: a name the owner chose could end one and start another */
	statements = list_length(SPI_plan_get_plan_sources(plan));
	if (statements != 1)
	{
		SPI_freeplan(plan);
		ereport(ERROR, (errcode(CC_ERR_STATEMENTS),
						errmsg("colcrypt: generated SQL would have run %d statements as the table's owner",
							   statements),
						errhint("A name or text the table's owner chose holds SQL. Nothing was run; rename it, "
								"or drop it, and run the step again.")));
	}
	if (nprepared == PLAN_CACHE_SIZE)
	{
		for (int i = 0; i < nprepared; i++)
		{
			SPI_freeplan(prepared[i].plan);
			pfree(prepared[i].sql);
		}
		nprepared = 0;
	}
	SPI_keepplan(plan);
	prepared[nprepared].hash = hash;
	prepared[nprepared].sql = MemoryContextStrdup(TopMemoryContext, sql);
	prepared[nprepared].nargs = nargs;
	memcpy(prepared[nprepared].types, types, sizeof(Oid) * nargs);
	prepared[nprepared].plan = plan;
	nprepared++;
	return plan;
}

static Oid
owner_of(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("colcrypt: relation with OID %u does not exist", relid),
						errhint("It was dropped while the migration step ran; run the step again.")));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* A SETOF json function's result: a tuplestore of one json column. */
static void
materialize_json_rows(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	desc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("colcrypt: _as_owner must be called in a context that accepts a set"),
						errhint("Call it in FROM or in the select list.")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(desc, (AttrNumber) 1, "row", JSONOID, -1, 0);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = desc;
	MemoryContextSwitchTo(old);
}

/* colcrypt._as_owner(relation, sql, VARIADIC "any"): the statement's result rows as json. */
Datum
colcrypt_as_owner(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	Oid			owner;
	char	   *sql;
	int			nargs = PG_NARGS() - AS_OWNER_FIXED_ARGS;
	Oid		   *types = palloc(sizeof(Oid) * Max(nargs, 1));
	Datum	   *values = palloc(sizeof(Datum) * Max(nargs, 1));
	char	   *nulls = palloc(Max(nargs, 1) + 1);
	Oid			save_userid;
	int			save_sec_context;
	int			guc_level;
	int			ret;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(CC_ERR_ARGUMENT),
						errmsg("colcrypt: _as_owner needs a relation and a statement"),
						errhint("It is called by colcrypt's migration steps; nothing else needs it.")));
	relid = PG_GETARG_OID(0);
	sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	owner = owner_of(relid);
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("colcrypt: role \"%s\" may not act as \"%s\", the owner of %s",
							   GetUserNameFromId(GetUserId(), false), GetUserNameFromId(owner, false),
							   get_rel_name(relid)),
						errhint("Run the migration steps as a superuser or as a member of the table's owner role.")));
	for (int i = 0; i < nargs; i++)
	{
		types[i] = get_fn_expr_argtype(fcinfo->flinfo, i + AS_OWNER_FIXED_ARGS);
		if (!OidIsValid(types[i]) || types[i] == UNKNOWNOID)
			ereport(ERROR, (errcode(ERRCODE_INDETERMINATE_DATATYPE),
							errmsg("colcrypt: parameter $%d of _as_owner has no type", i + 1),
							errhint("Cast each parameter to its type.")));
		values[i] = PG_GETARG_DATUM(i + AS_OWNER_FIXED_ARGS);
		nulls[i] = PG_ARGISNULL(i + AS_OWNER_FIXED_ARGS) ? 'n' : ' ';
	}
	nulls[nargs] = '\0';

	materialize_json_rows(fcinfo);

	/*
	 * An error unwinds the switch with the (sub)transaction it aborts, which restores the user id,
	 * the security context and the settings, as for PostgreSQL's own maintenance commands.
	 * NOFORCE_RLS: the step reads every row, as PostgreSQL's own maintenance does; the owner can turn
	 * FORCE ROW LEVEL SECURITY off itself, so this grants nothing.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION |
						   SECURITY_NOFORCE_RLS);
	/*
	 * The key cache's handle is a setting: made inside the level below, it would be reverted with the
	 * owner's settings, and the keys the statement loaded dropped with it.
	 */
	set_cache_handle();
	guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	SPI_connect();
	ret = SPI_execute_plan(prepared_statement(sql, nargs, types), values, nulls, false, 0);
	if (ret < 0)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("colcrypt: _as_owner could not run its statement: %s", SPI_result_code_string(ret))));
	if (SPI_tuptable != NULL && SPI_processed > 0)
	{
		TupleDesc	desc = BlessTupleDesc(CreateTupleDescCopy(SPI_tuptable->tupdesc));

		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Datum		row = heap_copy_tuple_as_datum(SPI_tuptable->vals[r], desc);
			Datum		json = DirectFunctionCall1(row_to_json, row);
			bool		isnull = false;

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &json, &isnull);
		}
	}
	SPI_finish();

	/* false: whatever the owner's code SET (even without LOCAL) goes, as after VACUUM and CREATE INDEX */
	AtEOXact_GUC(false, guc_level);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return (Datum) 0;
}
