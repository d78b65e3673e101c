/*
 * statements.c — colcrypt._statement_count: how many statements a text holds, as the server's parser
 * sees it. The migration steps run each statement they generate only after checking it is one: SPI runs
 * every statement of a text, prepared or not, and a generated statement holds names and text the table's
 * owner chose.
 */
#include "colcrypt.h"

#include "fmgr.h"
#include "parser/parser.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(colcrypt_statement_count);

Datum
colcrypt_statement_count(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(list_length(raw_parser(text_to_cstring(PG_GETARG_TEXT_PP(0)), RAW_PARSE_DEFAULT)));
}
