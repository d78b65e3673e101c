/*
 * read_rewrite.c — the planner hook that lets every statement use a table's encrypted columns by
 * their own names.
 *
 * An encrypted column's logical column is stored NULL; its value lives in its envelope column
 * (encrypted_rels.c). Before the standard planner runs, each read of a logical column anywhere in
 * the query (target lists, quals, joins, SET and VALUES expressions, RETURNING, EXCLUDED, MERGE
 * actions, sublinks, CTEs, row-level security quals) becomes the decryption of its envelope with
 * the row's context, cast back to the column's type; a whole-row reference becomes the row with
 * those columns decrypted. The executor then runs the statement on the table as on any table: row
 * locks, EvalPlanQual re-checks, ON CONFLICT, MERGE and RETURNING behave as they do there, and a
 * re-check evaluates the decryption again on the newer row.
 *
 * Writes need one more thing: an UPDATE (or ON CONFLICT DO UPDATE, or MERGE ... UPDATE) that sets
 * a logical column also sets its envelope and blind index to NULL, unless the statement sets them
 * itself. The encrypting trigger (encrypt_row.c) then tells "the statement gave this column a
 * value" (envelope NULL: encrypt the logical column's value, NULL included) from "the column was
 * left alone" (the envelope carried over from the old row: keep it).
 */
#include "colcrypt.h"

#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/analyze.h"
#include "parser/parse_coerce.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

static planner_hook_type prev_planner = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze = NULL;
static int	planning = 0;		/* inside the standard planner */
static List *covered = NIL;		/* the encrypted tables whose references the hook rewrote, this planning */

typedef struct Rewrite
{
	List	   *rtables;		/* the range tables of the queries around, innermost first */
	List	   *excluded;		/* and their ON CONFLICT's EXCLUDED range table index, or 0 */
} Rewrite;

static Node *rewrite_mutator(Node *node, Rewrite *rw);

static Var *
column_var(Oid relid, Index varno, AttrNumber attnum, int levelsup)
{
	Oid			type;
	int32		typmod;
	Oid			collation;

	get_atttypetypmodcoll(relid, attnum, &type, &typmod, &collation);
	return makeVar(varno, attnum, type, typmod, collation, levelsup);
}

/* Key types whose output is their text cast: decrypt_column(value, prefix, key) builds the context in C. */
static bool
keyed_type(Oid type)
{
	return type == INT2OID || type == INT4OID || type == INT8OID || type == TEXTOID ||
		type == VARCHAROID || type == UUIDOID;
}

/* key::text, or ROW(k1, k2, ...)::text: the row key as the dual-write trigger binds it into a context. */
static Node *
key_text(EncryptedRel *rel, Index varno, int levelsup)
{
	Node	   *key;
	Node	   *text;

	if (rel->nkeys == 1)
		key = (Node *) column_var(rel->relid, varno, rel->keys[0], levelsup);
	else
	{
		RowExpr    *row = makeNode(RowExpr);

		for (int i = 0; i < rel->nkeys; i++)
			row->args = lappend(row->args, column_var(rel->relid, varno, rel->keys[i], levelsup));
		row->row_typeid = RECORDOID;
		row->row_format = COERCE_IMPLICIT_CAST;
		row->location = -1;
		key = (Node *) row;
	}
	text = coerce_to_target_type(NULL, key, exprType(key), TEXTOID, -1, COERCION_EXPLICIT,
								 COERCE_EXPLICIT_CAST, -1);
	if (text == NULL)
		ereport(ERROR, (errcode(CC_ERR_CATALOG),
						errmsg("colcrypt: the key of table %s has no cast to text", get_rel_name(rel->relid)),
						errhint("colcrypt binds each value to its row's key as text; give the key type a cast to text.")));
	return text;
}

/* The plaintext of one logical column of the row varno: its envelope decrypted, cast to the column's type. */
static Node *
plaintext(EncryptedRel *rel, LogicalColumn *col, Index varno, int levelsup, int location)
{
	Var		   *envelope = makeVar(varno, col->cipher, BYTEAOID, -1, InvalidOid, levelsup);
	Const	   *prefix = makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
								   PointerGetDatum(cstring_to_text(psprintf("%s#", col->context))), false, false);
	List	   *args;
	bool		keyed = rel->nkeys == 1 && keyed_type(get_atttype(rel->relid, rel->keys[0]));
	Node	   *value;
	Node	   *typed;

	if (keyed)
		args = list_make3(envelope, prefix, column_var(rel->relid, varno, rel->keys[0], levelsup));
	else
		args = list_make2(envelope, makeFuncExpr(F_TEXTCAT, TEXTOID,
												 list_make2(prefix, key_text(rel, varno, levelsup)),
												 DEFAULT_COLLATION_OID, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL));
	value = (Node *) makeFuncExpr(decrypt_function_oid(keyed), TEXTOID, args, DEFAULT_COLLATION_OID,
								  DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);
	typed = coerce_to_target_type(NULL, value, TEXTOID, col->type, col->typmod, COERCION_EXPLICIT,
								  COERCE_IMPLICIT_CAST, location);
	if (typed == NULL)
		ereport(ERROR, (errcode(CC_ERR_CATALOG),
						errmsg("colcrypt: column %s of table %s cannot be cast from text",
							   get_attname(rel->relid, col->attnum, false), get_rel_name(rel->relid)),
						errhint("An encrypted column's type needs a cast from text (its input function).")));
	if (exprCollation(typed) != col->collation)
		typed = (Node *) makeRelabelType((Expr *) typed, col->type, col->typmod, col->collation,
										 COERCE_IMPLICIT_CAST);
	return typed;
}

/*
 * A whole-row reference: the row of the table's type, each logical column decrypted; or, for a
 * function that takes any record (row_to_json, to_json, to_jsonb), a record of the columns the
 * application knows, without the envelopes, so that it sees the row the plaintext table gave.
 */
static Node *
whole_row(EncryptedRel *rel, Var *var, bool application_record)
{
	Relation	r = table_open(rel->relid, NoLock);
	TupleDesc	desc = RelationGetDescr(r);
	RowExpr    *row = makeNode(RowExpr);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		LogicalColumn *col = logical_column(rel, att->attnum);
		Node	   *arg;

		if (application_record && (att->attisdropped || envelope_column(rel, att->attnum)))
			continue;
		if (att->attisdropped)
			arg = (Node *) makeNullConst(INT4OID, -1, InvalidOid);
		else if (col)
			arg = plaintext(rel, col, var->varno, var->varlevelsup, var->location);
		else
			arg = (Node *) makeVar(var->varno, att->attnum, att->atttypid, att->atttypmod, att->attcollation,
								   var->varlevelsup);
		row->args = lappend(row->args, arg);
		row->colnames = lappend(row->colnames, makeString(pstrdup(att->attisdropped ? "" : NameStr(att->attname))));
	}
	row->row_typeid = application_record ? RECORDOID : var->vartype;
	row->row_format = COERCE_IMPLICIT_CAST;
	row->location = var->location;
	table_close(r, NoLock);
	return (Node *) row;
}

static EncryptedRel *
rel_of(Rewrite *rw, Index varno, int levelsup)
{
	List	   *rtable;
	RangeTblEntry *rte;

	if (levelsup >= list_length(rw->rtables) || varno < 1)
		return NULL;
	rtable = list_nth(rw->rtables, levelsup);
	if (varno > list_length(rtable))
		return NULL;
	rte = rt_fetch(varno, rtable);
	return rte->rtekind == RTE_RELATION ? encrypted_rel(rte->relid) : NULL;
}

/*
 * A target list that assigns columns of an encrypted table (UPDATE's, ON CONFLICT's SET, MERGE's
 * UPDATE): each logical column it sets gets its envelope and blind index set to NULL as well,
 * unless the list sets them itself.
 */
static List *
reset_envelopes(EncryptedRel *rel, List *tlist)
{
	List	   *resets = NIL;
	ListCell   *lc;

	foreach(lc, tlist)
	{
		TargetEntry *te = lfirst(lc);
		LogicalColumn *col = te->resjunk ? NULL : logical_column(rel, te->resno);

		if (col == NULL)
			continue;
		for (int k = 0; k < 2; k++)
		{
			AttrNumber	attnum = k == 0 ? col->cipher : col->bidx;
			bool		set = false;
			ListCell   *lc2;

			if (attnum == InvalidAttrNumber)
				continue;
			foreach(lc2, tlist)
				set |= ((TargetEntry *) lfirst(lc2))->resno == attnum;
			if (!set)
				resets = lappend(resets, makeTargetEntry((Expr *) makeNullConst(BYTEAOID, -1, InvalidOid), attnum,
														 get_attname(rel->relid, attnum, false), false));
		}
	}
	return list_concat(tlist, resets);
}

/* ON CONFLICT (email): an arbiter on an encrypted column is its blind index, whose unique index stands for the column's. */
static List *
arbiters(EncryptedRel *rel, List *elems)
{
	ListCell   *lc;

	foreach(lc, elems)
	{
		InferenceElem *elem = lfirst(lc);
		Var		   *var = (Var *) elem->expr;
		LogicalColumn *col;

		if (!IsA(var, Var) || (col = logical_column(rel, var->varattno)) == NULL)
			continue;
		if (col->bidx == InvalidAttrNumber)
			ereport(ERROR, (errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
							errmsg("colcrypt: ON CONFLICT (%s) on table %s: the encrypted column has no blind index",
								   get_attname(rel->relid, col->attnum, false), get_rel_name(rel->relid)),
							errhint("A unique constraint on an encrypted column is kept through a unique blind index; prepare the migration with p_blind_index for this column.")));
		elem->expr = (Node *) makeVar(var->varno, col->bidx, BYTEAOID, -1, InvalidOid, var->varlevelsup);
		elem->infercollid = InvalidOid;
		elem->inferopclass = InvalidOid;
	}
	return elems;
}

static void
rewrite_writes(Query *q)
{
	EncryptedRel *rel;
	ListCell   *lc;

	if (q->resultRelation == 0)
		return;
	rel = encrypted_rel(rt_fetch(q->resultRelation, q->rtable)->relid);
	if (rel == NULL)
		return;
	if (q->commandType == CMD_UPDATE)
		q->targetList = reset_envelopes(rel, q->targetList);
	if (q->onConflict)
	{
		q->onConflict->arbiterElems = arbiters(rel, q->onConflict->arbiterElems);
		if (q->onConflict->action == ONCONFLICT_UPDATE)
			q->onConflict->onConflictSet = reset_envelopes(rel, q->onConflict->onConflictSet);
	}
	foreach(lc, q->mergeActionList)
	{
		MergeAction *action = lfirst(lc);

		if (action->commandType == CMD_UPDATE)
			action->targetList = reset_envelopes(rel, action->targetList);
	}
}

static Node *
rewrite_mutator(Node *node, Rewrite *rw)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;
		EncryptedRel *rel = rel_of(rw, var->varno, var->varlevelsup);
		LogicalColumn *col;

		if (rel == NULL)
			return node;
		if (var->varattno == InvalidAttrNumber)
			return whole_row(rel, var, false);
		if ((col = logical_column(rel, var->varattno)) == NULL)
			return node;
		if (var->varno == list_nth_int(rw->excluded, var->varlevelsup))
		{
			/*
			 * EXCLUDED is the row proposed for insertion: still plaintext when the conflict was found
			 * before inserting it, sealed when it was found on inserting it (a blind index's).
			 */
			CoalesceExpr *either = makeNode(CoalesceExpr);

			either->coalescetype = col->type;
			either->coalescecollid = col->collation;
			either->args = list_make2(var, plaintext(rel, col, var->varno, var->varlevelsup, var->location));
			either->location = -1;
			return (Node *) either;
		}
		return plaintext(rel, col, var->varno, var->varlevelsup, var->location);
	}
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *fn = (FuncExpr *) node;
		Var		   *var = fn->args ? linitial(fn->args) : NULL;
		EncryptedRel *rel;

		if ((fn->funcid == F_ROW_TO_JSON_RECORD || fn->funcid == F_ROW_TO_JSON_RECORD_BOOL ||
			 fn->funcid == F_TO_JSON || fn->funcid == F_TO_JSONB) &&
			var != NULL && IsA(var, Var) && var->varattno == InvalidAttrNumber &&
			(rel = rel_of(rw, var->varno, var->varlevelsup)) != NULL)
		{
			fn->args = list_concat(list_make1(whole_row(rel, var, true)),
								   (List *) rewrite_mutator((Node *) list_delete_first(fn->args), rw));
			return node;
		}
	}
	if (IsA(node, OnConflictExpr))
	{
		/* exclRelTlist stays: it lists EXCLUDED's stored columns, which the rewritten SET reads. */
		OnConflictExpr *oc = (OnConflictExpr *) node;

		oc->onConflictSet = (List *) rewrite_mutator((Node *) oc->onConflictSet, rw);
		oc->onConflictWhere = rewrite_mutator(oc->onConflictWhere, rw);
		return node;
	}
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;

		ListCell   *lc;

		rw->rtables = lcons(q->rtable, rw->rtables);
		rw->excluded = lcons_int(q->onConflict ? q->onConflict->exclRelIndex : 0, rw->excluded);
		foreach(lc, q->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);

			if (rte->rtekind == RTE_RELATION && encrypted_rel(rte->relid))
				covered = list_append_unique_oid(covered, rte->relid);
		}
		rewrite_writes(q);
		q = query_tree_mutator(q, rewrite_mutator, rw, QTW_DONT_COPY_QUERY);
		rw->rtables = list_delete_first(rw->rtables);
		rw->excluded = list_delete_first(rw->excluded);
		return (Node *) q;
	}
	return expression_tree_mutator(node, rewrite_mutator, rw);
}

/*
 * The read cutover: a client statement's plain reads of the table (not its target, not locked FOR
 * UPDATE/SHARE) read the shadow instead, decrypted, while writes still go to the table. The table's
 * own range-table entry stays (unreferenced) so that its privileges are checked and its plans depend
 * on it; its row-level security quals move with the read.
 */
typedef struct Remap
{
	Index		rti;
	int			levelsup;
	Redirect   *redirect;
	Oid			source_type;
} Remap;

static Node *
remap_mutator(Node *node, Remap *rm)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		if (var->varno != rm->rti || var->varlevelsup != rm->levelsup)
			return node;
		if (var->varattno > 0)
		{
			Var		   *mapped = copyObject(var);

			mapped->varattno = rm->redirect->map[var->varattno];
			mapped->varattnosyn = mapped->varattno;
			return (Node *) mapped;
		}
		if (var->varattno == InvalidAttrNumber)
		{
			/* the row, of the table's type, from the shadow's columns */
			RowExpr    *row = makeNode(RowExpr);
			Relation	r = table_open(rm->redirect->relid, NoLock);
			TupleDesc	desc = RelationGetDescr(r);

			for (int i = 0; i < desc->natts; i++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, i);

				row->args = lappend(row->args, att->attisdropped ? (Node *) makeNullConst(INT4OID, -1, InvalidOid)
									: (Node *) makeVar(var->varno, rm->redirect->map[i + 1], att->atttypid,
													   att->atttypmod, att->attcollation, var->varlevelsup));
				row->colnames = lappend(row->colnames, makeString(pstrdup(att->attisdropped ? "" : NameStr(att->attname))));
			}
			table_close(r, NoLock);
			row->row_typeid = rm->source_type;
			row->row_format = COERCE_IMPLICIT_CAST;
			row->location = var->location;
			return (Node *) row;
		}
		return node;				/* system columns: ctid, tableoid of the shadow's row */
	}
	if (IsA(node, Query))
	{
		Query	   *q;

		rm->levelsup++;
		q = query_tree_mutator((Query *) node, remap_mutator, rm, QTW_DONT_COPY_QUERY);
		rm->levelsup--;
		return (Node *) q;
	}
	return expression_tree_mutator(node, remap_mutator, rm);
}

static bool
locked(Query *q, Index rti)
{
	ListCell   *lc;

	foreach(lc, q->rowMarks)
		if (((RowMarkClause *) lfirst(lc))->rti == rti)
			return true;
	return false;
}

static void
redirect_reads(Query *q)
{
	int			n = list_length(q->rtable);
	ListCell   *lc;

	for (Index rti = 1; rti <= n; rti++)
	{
		RangeTblEntry *rte = rt_fetch(rti, q->rtable);
		Redirect   *redirect;
		Remap		rm;

		if (rte->rtekind != RTE_RELATION || (redirect = read_redirect(rte->relid)) == NULL ||
			rti == q->resultRelation || locked(q, rti) ||
			(q->onConflict && rti == q->onConflict->exclRelIndex))
			continue;
		q->rtable = lappend(q->rtable, copyObject(rte));
		((RangeTblEntry *) llast(q->rtable))->securityQuals = NIL;
		rm.rti = rti;
		rm.levelsup = 0;
		rm.redirect = redirect;
		rm.source_type = get_rel_type_id(rte->relid);
		rte->securityQuals = (List *) remap_mutator((Node *) rte->securityQuals, &rm);
		query_tree_mutator(q, remap_mutator, &rm, QTW_DONT_COPY_QUERY | QTW_IGNORE_RANGE_TABLE);
		/* the range table's own expressions (functions, VALUES, subqueries) may be lateral references */
		foreach(lc, q->rtable)
		{
			RangeTblEntry *other = lfirst(lc);

			if (other == rte)
				continue;
			if (other->rtekind == RTE_SUBQUERY)
			{
				rm.levelsup = 1;
				query_tree_mutator(other->subquery, remap_mutator, &rm, QTW_DONT_COPY_QUERY);
				rm.levelsup = 0;
			}
			else
			{
				other->joinaliasvars = (List *) remap_mutator((Node *) other->joinaliasvars, &rm);
				other->functions = (List *) remap_mutator((Node *) other->functions, &rm);
				other->values_lists = (List *) remap_mutator((Node *) other->values_lists, &rm);
			}
		}
		rte = rt_fetch(rti, q->rtable);
		rte->relid = redirect->shadow;
		rte->relkind = get_rel_relkind(redirect->shadow);
		rte->requiredPerms = 0;
		rte->selectedCols = NULL;
		rte->insertedCols = rte->updatedCols = rte->extraUpdatedCols = NULL;
	}
}

static bool
redirect_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		redirect_reads((Query *) node);
		return query_tree_walker((Query *) node, redirect_walker, context, 0);
	}
	return expression_tree_walker(node, redirect_walker, context);
}

static bool
encrypted_rte_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		return rte->rtekind == RTE_RELATION && encrypted_rel(rte->relid) != NULL;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, encrypted_rte_walker, context, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, encrypted_rte_walker, context);
}

/*
 * The plan-level net. The standard planner inlines SQL set-returning functions itself, after the
 * hook has seen the query, so a logical column read in such a function's body reaches the plan
 * unrewritten. Those bodies are SELECTs, whose reads are the scans' own expressions: each scan of a
 * table with encrypted columns has the Vars of its logical columns replaced as the hook would have.
 */
typedef struct ScanFix
{
	EncryptedRel *rel;
	Index		scanrelid;
} ScanFix;

static Node *
scan_mutator(Node *node, ScanFix *fix)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;
		LogicalColumn *col;

		if (var->varno != fix->scanrelid || var->varlevelsup != 0)
			return node;
		if (var->varattno == InvalidAttrNumber)
			return whole_row(fix->rel, var, false);
		if ((col = logical_column(fix->rel, var->varattno)) != NULL)
			return plaintext(fix->rel, col, var->varno, 0, var->location);
		return node;
	}
	return expression_tree_mutator(node, scan_mutator, fix);
}

/*
 * A scan that returns every column as stored (the planner's physical target list, for a parent that
 * picks what it needs): when the hook rewrote the table's references in this statement (also in a
 * subquery the planner pulls up), a logical column there is the stored NULL that nothing above reads;
 * decrypting it would cost, and need the key, for nothing. A table the hook did not see at all (read
 * only inside an inlined function's view) gets every logical column decrypted.
 */
static bool
physical_tlist(List *tlist, Oid relid)
{
	ListCell   *lc;
	Relation	r = table_open(relid, NoLock);
	int			natts = RelationGetNumberOfAttributes(r);

	table_close(r, NoLock);
	if (list_length(tlist) != natts)
		return false;
	foreach(lc, tlist)
	{
		TargetEntry *te = lfirst(lc);

		if (IsA(te->expr, Var) ? ((Var *) te->expr)->varattno != te->resno : !IsA(te->expr, Const))
			return false;
	}
	return true;
}

static void
fix_plan(Plan *plan, PlannedStmt *stmt)
{
	ListCell   *lc;
	List	   *children = NIL;

	if (plan == NULL)
		return;
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_SampleScan:
		case T_IndexScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
			{
				Scan	   *scan = (Scan *) plan;
				RangeTblEntry *rte = rt_fetch(scan->scanrelid, stmt->rtable);
				ScanFix		fix = {rte->rtekind == RTE_RELATION ? encrypted_rel(rte->relid) : NULL, scan->scanrelid};

				if (fix.rel == NULL)
					break;
				if (!list_member_oid(covered, rte->relid) || !physical_tlist(plan->targetlist, rte->relid))
					plan->targetlist = (List *) scan_mutator((Node *) plan->targetlist, &fix);
				plan->qual = (List *) scan_mutator((Node *) plan->qual, &fix);
				if (IsA(plan, IndexScan))
				{
					((IndexScan *) plan)->indexqualorig = (List *) scan_mutator((Node *) ((IndexScan *) plan)->indexqualorig, &fix);
					((IndexScan *) plan)->indexorderbyorig = (List *) scan_mutator((Node *) ((IndexScan *) plan)->indexorderbyorig, &fix);
				}
				else if (IsA(plan, BitmapHeapScan))
					((BitmapHeapScan *) plan)->bitmapqualorig = (List *) scan_mutator((Node *) ((BitmapHeapScan *) plan)->bitmapqualorig, &fix);
				else if (IsA(plan, TidScan))
					((TidScan *) plan)->tidquals = (List *) scan_mutator((Node *) ((TidScan *) plan)->tidquals, &fix);
				else if (IsA(plan, TidRangeScan))
					((TidRangeScan *) plan)->tidrangequals = (List *) scan_mutator((Node *) ((TidRangeScan *) plan)->tidrangequals, &fix);
				break;
			}
		case T_Append:
			children = ((Append *) plan)->appendplans;
			break;
		case T_MergeAppend:
			children = ((MergeAppend *) plan)->mergeplans;
			break;
		case T_BitmapAnd:
			children = ((BitmapAnd *) plan)->bitmapplans;
			break;
		case T_BitmapOr:
			children = ((BitmapOr *) plan)->bitmapplans;
			break;
		case T_SubqueryScan:
			children = list_make1(((SubqueryScan *) plan)->subplan);
			break;
		case T_CustomScan:
			children = ((CustomScan *) plan)->custom_plans;
			break;
		default:
			break;
	}
	foreach(lc, children)
		fix_plan(lfirst(lc), stmt);
	fix_plan(plan->lefttree, stmt);
	fix_plan(plan->righttree, stmt);
}

static void
fix_plans(PlannedStmt *stmt)
{
	ListCell   *lc;

	fix_plan(stmt->planTree, stmt);
	foreach(lc, stmt->subplans)
		fix_plan(lfirst(lc), stmt);
}

static PlannedStmt *
colcrypt_planner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	PlannedStmt *stmt;

	List	   *outer_covered = covered;

	encrypted_rels_refresh();
	covered = NIL;
	if (any_encrypted_rel() && colcrypt_nesting == 0)
	{
		redirect_walker((Node *) parse, NULL);
		hide_envelope_columns(parse);
	}
	if (any_encrypted_rel() && encrypted_rte_walker((Node *) parse, NULL))
	{
		Rewrite		rw = {NIL, NIL};

		parse = (Query *) rewrite_mutator((Node *) parse, &rw);
	}
	colcrypt_nesting++;
	planning++;
	PG_TRY();
	{
		stmt = prev_planner ? prev_planner(parse, query_string, cursorOptions, boundParams)
			: standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	PG_CATCH();
	{
		colcrypt_nesting--;
		planning--;
		covered = outer_covered;
		PG_RE_THROW();
	}
	PG_END_TRY();
	colcrypt_nesting--;
	planning--;
	if (any_encrypted_rel())
		fix_plans(stmt);
	covered = outer_covered;
	return stmt;
}

/*
 * The standard planner parses the body of a SQL set-returning function it inlines, after the hook
 * saw the query: that body is rewritten here (the rewrite is idempotent, so a statement that is
 * parsed while planning and planned again later is rewritten once in effect).
 */
static void
colcrypt_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze)
		prev_post_parse_analyze(pstate, query, jstate);
	if (planning > 0 && any_encrypted_rel() && encrypted_rte_walker((Node *) query, NULL))
	{
		Rewrite		rw = {NIL, NIL};

		rewrite_mutator((Node *) query, &rw);
	}
}

void
read_rewrite_install(void)
{
	prev_post_parse_analyze = post_parse_analyze_hook;
	post_parse_analyze_hook = colcrypt_post_parse_analyze;
	prev_planner = planner_hook;
	planner_hook = colcrypt_planner;
}
