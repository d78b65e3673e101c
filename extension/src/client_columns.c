/*
 * client_columns.c — the rows an application is sent have the columns it knows.
 *
 * A table with encrypted columns ends with their envelope and blind-index columns. SELECT *, t.*
 * and RETURNING * of a statement the client sent list the table's columns without them, as the
 * plaintext table did, also through a view or subquery that passes them on; a column named on its
 * own is sent. Only the client's own statement is changed (the planner is called at nesting level
 * 0): a function body, a view's query or a trigger's statement keep every column, so that a SQL
 * function returning the table's rows or a PL/pgSQL row variable still match the table's type.
 * Statements that carry a query for the client (EXPLAIN, CREATE TABLE AS, DECLARE, COPY (query),
 * EXECUTE) count as the client's own.
 */
#include "colcrypt.h"

#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_type.h"
#include "parser/parsetree.h"
#include "utils/typcache.h"

int			colcrypt_nesting = 0;

static ExecutorRun_hook_type prev_run = NULL;
static ExecutorFinish_hook_type prev_finish = NULL;

static void
nested_run(QueryDesc *desc, ScanDirection direction, uint64 count, bool execute_once)
{
	colcrypt_nesting++;
	PG_TRY();
	{
		if (prev_run)
			prev_run(desc, direction, count, execute_once);
		else
			standard_ExecutorRun(desc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		colcrypt_nesting--;
	}
	PG_END_TRY();
}

static void
nested_finish(QueryDesc *desc)
{
	colcrypt_nesting++;
	PG_TRY();
	{
		if (prev_finish)
			prev_finish(desc);
		else
			standard_ExecutorFinish(desc);
	}
	PG_FINALLY();
	{
		colcrypt_nesting--;
	}
	PG_END_TRY();
}

/* Does a utility statement run statements of its own (DO, CALL, ...), rather than carry the client's query? */
bool
utility_nests(Node *stmt)
{
	return !(IsA(stmt, ExplainStmt) || IsA(stmt, CreateTableAsStmt) || IsA(stmt, DeclareCursorStmt) ||
			 IsA(stmt, CopyStmt) || IsA(stmt, ExecuteStmt) || IsA(stmt, PrepareStmt));
}

/* Is this Var, through subqueries, a star's reference to an envelope or blind-index column? */
static bool
envelope_origin(Var *var, List *rtable)
{
	RangeTblEntry *rte;

	if (var->varlevelsup != 0 || var->varno < 1 || var->varno > list_length(rtable))
		return false;
	rte = rt_fetch(var->varno, rtable);
	if (rte->rtekind == RTE_RELATION)
	{
		EncryptedRel *rel = encrypted_rel(rte->relid);

		return rel != NULL && var->varattno > 0 && envelope_column(rel, var->varattno);
	}
	if (rte->rtekind == RTE_FUNCTION && list_length(rte->functions) == 1 && var->varattno > 0)
	{
		/* a function returning the table's rows: SELECT * FROM all_customers() */
		Oid			type = exprType(((RangeTblFunction *) linitial(rte->functions))->funcexpr);
		Oid			relid = typeOrDomainTypeRelid(type);
		EncryptedRel *rel = OidIsValid(relid) ? encrypted_rel(relid) : NULL;

		return rel != NULL && envelope_column(rel, var->varattno);
	}
	if (rte->rtekind == RTE_SUBQUERY && var->varattno > 0 &&
		var->varattno <= list_length(rte->subquery->targetList))
	{
		TargetEntry *te = list_nth(rte->subquery->targetList, var->varattno - 1);

		return IsA(te->expr, Var) && envelope_origin((Var *) te->expr, rte->subquery->rtable);
	}
	return false;
}

/* A star's Vars all carry the star's location; a column named on its own has a location of its own. */
static List *
without_envelopes(List *tlist, List *rtable)
{
	List	   *kept = NIL;
	ListCell   *lc;
	AttrNumber	resno = 1;

	foreach(lc, tlist)
	{
		TargetEntry *te = lfirst(lc);
		Var		   *var = (Var *) te->expr;
		bool		drop = false;

		if (IsA(var, Var) && !te->resjunk && te->ressortgroupref == 0 && var->location >= 0 &&
			envelope_origin(var, rtable))
		{
			ListCell   *lc2;

			foreach(lc2, tlist)
			{
				Var		   *other = (Var *) ((TargetEntry *) lfirst(lc2))->expr;

				drop |= lc2 != lc && IsA(other, Var) && other->varno == var->varno &&
					other->varlevelsup == 0 && other->location == var->location;
			}
		}
		if (!drop)
		{
			te->resno = resno++;
			kept = lappend(kept, te);
		}
	}
	return kept;
}

void
hide_envelope_columns(Query *q)
{
	if (q->setOperations)
		return;
	if (q->commandType == CMD_SELECT && q->utilityStmt == NULL)
		q->targetList = without_envelopes(q->targetList, q->rtable);
	q->returningList = without_envelopes(q->returningList, q->rtable);
}

void
client_columns_install(void)
{
	prev_run = ExecutorRun_hook;
	ExecutorRun_hook = nested_run;
	prev_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = nested_finish;
}
