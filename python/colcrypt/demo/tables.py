"""The demo application's view of the sample's target tables: their keys and the columns its ledger tracks."""

from dataclasses import dataclass

from psycopg import sql


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]     # what the ledger tracks

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(*self.name.split("."))

    @property
    def where(self) -> sql.Composable:
        return sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in self.key)

    def names(self, cols=None) -> sql.Composable:
        return sql.SQL(", ").join(map(sql.Identifier, self.key + self.columns if cols is None else cols))

    @property
    def digest(self) -> sql.Composable:
        return sql.SQL("decode(md5(ROW({})::text), 'hex')").format(self.names(self.columns))


CUSTOMERS = Table("shop.customers", ("customer_id",),
                  ("full_name", "email", "phone", "date_of_birth", "ssn", "tier", "marketing_opt_in"))
METHODS = Table("shop.payment_methods", ("customer_id", "method_no"),
                ("kind", "card_number", "iban", "holder_name", "valid_thru", "is_default"))
PRESCRIPTIONS = Table("rx.prescriptions", ("prescription_id",),
                      ("customer_id", "ndc", "prescriber", "refills_left", "driver_license", "pharmacist_notes"))
ORDERS = Table("rx.orders", ("order_id", "ordered_on"),
               ("customer_id", "status", "total", "contact_phone", "delivery"))
TABLES = (CUSTOMERS, METHODS, PRESCRIPTIONS, ORDERS)
CHILDREN = (METHODS, PRESCRIPTIONS, ORDERS)     # rows of a customer, deleted with it by cascade
LINES = sql.Identifier("rx", "order_lines")     # not a target: written, and checked only for its cascade
