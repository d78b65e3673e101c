/*
 * encrypt_row.c — colcrypt.encrypt_row(): the same sealing as the table access method's
 * (row_seal.c), as a BEFORE ROW trigger, for tables of another access method.
 */
#include "colcrypt.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(colcrypt_encrypt_row);

Datum
colcrypt_encrypt_row(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	EncryptedRel *rel;
	Datum	   *values;
	bool	   *isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("colcrypt.encrypt_row must be a BEFORE INSERT OR UPDATE row trigger"),
						errhint("colcrypt creates this trigger itself on the tables it encrypts.")));
	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	desc = RelationGetDescr(td->tg_relation);
	encrypted_rels_refresh();
	rel = encrypted_rel(RelationGetRelid(td->tg_relation));
	if (rel == NULL)
		ereport(ERROR, (errcode(CC_ERR_CATALOG),
						errmsg("colcrypt: table %s has colcrypt's encrypting trigger but no encrypted columns",
							   RelationGetRelationName(td->tg_relation)),
						errhint("colcrypt.encrypted_columns must list the table's encrypted columns; roll the migration back or restore those rows.")));
	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, values, isnull);
	if (seal_row(rel, values, isnull) == 0)
		return PointerGetDatum(tuple);
	return PointerGetDatum(heap_form_tuple(desc, values, isnull));
}
