/*
 * utility.c — the utility statements that name a table's encrypted columns keep their meaning.
 *
 * - COPY t TO reads the table as the application knows it: its columns without the envelope and
 *   blind index columns, each encrypted column decrypted (a query-form COPY, which the planner
 *   hook rewrites). A column list that names an encrypted column together with its envelope
 *   column (pg_dump's, which lists every column) gets the stored form: the envelope, and the
 *   logical column empty, so a dump holds ciphertext only.
 * - COPY t FROM without a column list loads the application's columns; the access method seals
 *   them.
 * - CREATE INDEX on an encrypted column indexes its blind index (equality is what an index on
 *   ciphertext can serve); an expression or a predicate over one is refused.
 * - ALTER TABLE changes the table freely, except that an encrypted column or an envelope column
 *   cannot be dropped, renamed or retyped (colcrypt.encrypted_columns names them).
 */
#include "colcrypt.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

static ProcessUtility_hook_type prev_utility = NULL;

static LogicalColumn *
column_named(EncryptedRel *rel, const char *name)
{
	return logical_column(rel, get_attnum(rel->relid, name));
}

/* The table's columns as applications know them: not dropped, not generated, no envelopes. */
static List *
application_columns(EncryptedRel *rel, bool writable)
{
	Relation	r = table_open(rel->relid, NoLock);
	TupleDesc	desc = RelationGetDescr(r);
	List	   *names = NIL;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || (writable && att->attgenerated) || envelope_column(rel, att->attnum))
			continue;
		names = lappend(names, makeString(pstrdup(NameStr(att->attname))));
	}
	table_close(r, NoLock);
	return names;
}

static bool
listed(List *names, AttrNumber attnum, Oid relid)
{
	ListCell   *lc;
	char	   *name = get_attname(relid, attnum, false);

	foreach(lc, names)
		if (strcmp(strVal(lfirst(lc)), name) == 0)
			return true;
	return false;
}

static void
copy_statement(CopyStmt *copy, EncryptedRel *rel)
{
	List	   *names;
	SelectStmt *select;
	RangeVar   *from;
	ListCell   *lc;
	bool		decrypts = false;

	if (copy->is_from)
	{
		if (copy->attlist == NIL)
			copy->attlist = application_columns(rel, true);
		return;
	}
	names = copy->attlist ? copy->attlist : application_columns(rel, false);
	foreach(lc, names)
	{
		LogicalColumn *col = column_named(rel, strVal(lfirst(lc)));

		decrypts |= col && !listed(names, col->cipher, rel->relid);
	}
	if (!decrypts)
		return;
	select = makeNode(SelectStmt);
	foreach(lc, names)
	{
		char	   *name = strVal(lfirst(lc));
		LogicalColumn *col = column_named(rel, name);
		ResTarget  *target = makeNode(ResTarget);

		target->location = -1;
		if (col && listed(names, col->cipher, rel->relid))
		{
			A_Const    *null = makeNode(A_Const);

			null->isnull = true;
			null->location = -1;
			target->val = (Node *) null;
			target->name = pstrdup(name);
		}
		else
		{
			ColumnRef  *ref = makeNode(ColumnRef);

			ref->fields = list_make1(makeString(pstrdup(name)));
			ref->location = -1;
			target->val = (Node *) ref;
		}
		select->targetList = lappend(select->targetList, target);
	}
	from = copyObject(copy->relation);
	from->inh = false;
	select->fromClause = list_make1(from);
	copy->query = (Node *) select;
	copy->relation = NULL;
	copy->attlist = NIL;
}

static bool
names_column_walker(Node *node, EncryptedRel *rel)
{
	if (node == NULL)
		return false;
	if (IsA(node, ColumnRef))
	{
		ColumnRef  *ref = (ColumnRef *) node;
		Node	   *last = llast(ref->fields);

		return IsA(last, String) && column_named(rel, strVal(last)) != NULL;
	}
	return raw_expression_tree_walker(node, names_column_walker, rel);
}

static void
index_statement(IndexStmt *index, EncryptedRel *rel)
{
	ListCell   *lc;

	foreach(lc, index->indexParams)
	{
		IndexElem  *elem = lfirst(lc);
		LogicalColumn *col = elem->name ? column_named(rel, elem->name) : NULL;

		if (elem->expr && names_column_walker(elem->expr, rel))
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("colcrypt: an index expression of table %s reads an encrypted column",
								   get_rel_name(rel->relid)),
							errhint("An index over ciphertext can only serve equality: index the column itself, which indexes its blind index.")));
		if (col == NULL)
			continue;
		if (col->bidx == InvalidAttrNumber)
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("colcrypt: column %s of table %s is encrypted and has no blind index to index",
								   elem->name, get_rel_name(rel->relid)),
							errhint("Give the column a blind index (colcrypt.prepare's p_blind_index) to look it up by equality.")));
		elem->name = get_attname(rel->relid, col->bidx, false);
		elem->collation = NIL;
		elem->opclass = NIL;
		elem->opclassopts = NIL;
	}
	if (index->whereClause && names_column_walker(index->whereClause, rel))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("colcrypt: the predicate of an index of table %s reads an encrypted column",
							   get_rel_name(rel->relid)),
						errhint("Write the predicate over unencrypted columns.")));
}

static bool
encrypted_or_envelope(EncryptedRel *rel, const char *name)
{
	AttrNumber	attnum = name ? get_attnum(rel->relid, name) : InvalidAttrNumber;

	return attnum != InvalidAttrNumber && (logical_column(rel, attnum) != NULL || envelope_column(rel, attnum));
}

static void
refuse_column_change(EncryptedRel *rel, const char *column, const char *what)
{
	ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					errmsg("colcrypt: cannot %s column %s of table %s: it is encrypted, or holds an encrypted column's envelope",
						   what, column, get_rel_name(rel->relid)),
					errhint("Other columns can be added, dropped, renamed and retyped as on any table. To change an encrypted column, migrate it back (a new table without it) or add a new column and encrypt that.")));
}

/* ALTER TABLE may change the table freely, except its encrypted columns and their envelopes. */
static void
alter_statement(AlterTableStmt *alter, EncryptedRel *rel)
{
	ListCell   *lc;

	foreach(lc, alter->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);

		if (!encrypted_or_envelope(rel, cmd->name))
			continue;
		if (cmd->subtype == AT_DropColumn)
			refuse_column_change(rel, cmd->name, "drop");
		else if (cmd->subtype == AT_AlterColumnType)
			refuse_column_change(rel, cmd->name, "change the type of");
		else if (cmd->subtype == AT_AddIdentity ||
				 cmd->subtype == AT_SetNotNull)
			refuse_column_change(rel, cmd->name, "make an identity or NOT NULL");
	}
}

static EncryptedRel *
named_rel(RangeVar *relation)
{
	Oid			relid;

	if (relation == NULL)
		return NULL;
	encrypted_rels_refresh();
	if (!any_encrypted_rel())
		return NULL;
	relid = RangeVarGetRelid(relation, NoLock, true);
	return OidIsValid(relid) ? encrypted_rel(relid) : NULL;
}

static void
colcrypt_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, ProcessUtilityContext context,
				 ParamListInfo params, QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	EncryptedRel *rel = NULL;
	int			nests;

	if (IsA(stmt, CopyStmt) && ((CopyStmt *) stmt)->query == NULL)
		rel = named_rel(((CopyStmt *) stmt)->relation);
	else if (IsA(stmt, IndexStmt))
		rel = named_rel(((IndexStmt *) stmt)->relation);
	else if (IsA(stmt, AlterTableStmt))
		rel = named_rel(((AlterTableStmt *) stmt)->relation);
	else if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_COLUMN &&
			 (rel = named_rel(((RenameStmt *) stmt)->relation)) != NULL &&
			 encrypted_or_envelope(rel, ((RenameStmt *) stmt)->subname))
		refuse_column_change(rel, ((RenameStmt *) stmt)->subname, "rename");
	if (rel && IsA(stmt, AlterTableStmt))
		alter_statement((AlterTableStmt *) stmt, rel);
	else if (rel && !IsA(stmt, RenameStmt))
	{
		if (readOnlyTree)
		{
			pstmt = copyObject(pstmt);
			stmt = pstmt->utilityStmt;
			readOnlyTree = false;
		}
		if (IsA(stmt, CopyStmt))
			copy_statement((CopyStmt *) stmt, rel);
		else
			index_statement((IndexStmt *) stmt, rel);
	}
	nests = utility_nests(stmt);
	colcrypt_nesting += nests;
	PG_TRY();
	{
		if (prev_utility)
			prev_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		colcrypt_nesting -= nests;
	}
	PG_END_TRY();
}

void
utility_install(void)
{
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = colcrypt_utility;
}
