/*
 * ddl_refusal.c — colcrypt._ddl_refusal: what, in one collected DDL command, would break a table's
 * migration if it ran on the table, its shadow or the view that holds its name. The event trigger
 * colcrypt._guard_ddl refuses those commands and lets the others through: adding constraints and
 * indexes, validating, changing the owner, statistics, storage, options, replica identity, row
 * security and enabling triggers (what pg_restore and an application's schema migrations do).
 */
#include "colcrypt.h"

#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(colcrypt_ddl_refusal);

static bool
is_colcrypts(const char *trigger)
{
	return trigger != NULL && strncmp(trigger, "colcrypt", 8) == 0;
}

/* The subcommand's refusal, or NULL when it cannot break the migration. */
static const char *
subcommand_refusal(AlterTableCmd *cmd)
{
	switch (cmd->subtype)
	{
		case AT_AddIndex:
		case AT_ReAddIndex:
		case AT_AddConstraint:
#if PG_VERSION_NUM < 160000
		case AT_AddConstraintRecurse:
		case AT_ValidateConstraintRecurse:
#endif
		case AT_AddIndexConstraint:
		case AT_AlterConstraint:
		case AT_ValidateConstraint:
		case AT_ColumnDefault:
		case AT_CookedColumnDefault:
		case AT_DropNotNull:
		case AT_SetNotNull:
		case AT_CheckNotNull:
		case AT_SetStatistics:
		case AT_SetOptions:
		case AT_ResetOptions:
		case AT_SetStorage:
		case AT_SetCompression:
		case AT_ChangeOwner:
		case AT_ClusterOn:
		case AT_DropCluster:
		case AT_SetLogged:
		case AT_SetUnLogged:
		case AT_SetTableSpace:
		case AT_SetRelOptions:
		case AT_ResetRelOptions:
		case AT_ReplaceRelOptions:
		case AT_ReplicaIdentity:
		case AT_EnableRowSecurity:
		case AT_DisableRowSecurity:
		case AT_ForceRowSecurity:
		case AT_NoForceRowSecurity:
		case AT_EnableAlwaysTrig:
		case AT_ReAddStatistics:
		case AT_ReAddComment:
			return NULL;
		case AT_DisableTrig:
			/* the table's own triggers may be disabled; colcrypt's carry every write */
			return is_colcrypts(cmd->name) ? "DISABLE TRIGGER (of colcrypt)" : NULL;
		case AT_EnableTrig:
		case AT_EnableReplicaTrig:
			/* colcrypt's fire ALWAYS, so that sessions with session_replication_role = replica are captured */
			return is_colcrypts(cmd->name) ? "ENABLE (REPLICA) TRIGGER (of colcrypt: ALWAYS only)" : NULL;
		case AT_EnableTrigAll:
		case AT_EnableTrigUser:
			return "ENABLE TRIGGER ALL/USER (colcrypt's fire ALWAYS)";
		case AT_AddColumn:
#if PG_VERSION_NUM < 160000
		case AT_AddColumnRecurse:
#endif
		case AT_AddColumnToView:
			return "ADD COLUMN";
		case AT_DropColumn:
#if PG_VERSION_NUM < 160000
		case AT_DropColumnRecurse:
#endif
			return "DROP COLUMN";
		case AT_AlterColumnType:
			return "ALTER COLUMN TYPE";
		case AT_DropConstraint:
#if PG_VERSION_NUM < 160000
		case AT_DropConstraintRecurse:
#endif
			return "DROP CONSTRAINT";
		case AT_AddIdentity:
		case AT_SetIdentity:
		case AT_DropIdentity:
			return "an identity change";
		case AT_DropExpression:
			return "DROP EXPRESSION";
		case AT_AttachPartition:
		case AT_DetachPartition:
		case AT_DetachPartitionFinalize:
			return "ATTACH/DETACH PARTITION";
		case AT_AddInherit:
		case AT_DropInherit:
		case AT_AddOf:
		case AT_DropOf:
			return "a change of inheritance or type";
		case AT_DisableTrigAll:
		case AT_DisableTrigUser:
			return "DISABLE TRIGGER ALL/USER";
		default:
			return "this ALTER TABLE";
	}
}

/* colcrypt._ddl_refusal(pg_ddl_command): NULL, or what would break a migration. */
Datum
colcrypt_ddl_refusal(PG_FUNCTION_ARGS)
{
	CollectedCommand *cmd = (CollectedCommand *) PG_GETARG_POINTER(0);
	ListCell   *lc;

	if (cmd->type == SCT_AlterTable)
	{
		foreach(lc, cmd->d.alterTable.subcmds)
		{
			CollectedATSubcmd *sub = lfirst(lc);
			const char *refusal = IsA(sub->parsetree, AlterTableCmd)
				? subcommand_refusal((AlterTableCmd *) sub->parsetree) : "this ALTER TABLE";

			if (refusal)
				PG_RETURN_TEXT_P(cstring_to_text(refusal));
		}
		PG_RETURN_NULL();
	}
	if (cmd->type == SCT_Simple && cmd->parsetree && IsA(cmd->parsetree, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) cmd->parsetree;

		/* constraints and indexes may be renamed; nothing generated names them */
		if (stmt->renameType == OBJECT_TABCONSTRAINT || stmt->renameType == OBJECT_INDEX)
			PG_RETURN_NULL();
		PG_RETURN_TEXT_P(cstring_to_text("RENAME"));
	}
	if (cmd->type == SCT_Simple && cmd->parsetree && IsA(cmd->parsetree, AlterObjectSchemaStmt))
		PG_RETURN_TEXT_P(cstring_to_text("SET SCHEMA"));
	PG_RETURN_NULL();
}
