"""The sample legacy database of `make demo`: Cedar & Vine, an online pharmacy that ships
prescription and over-the-counter medicines to customers in the US and the EU since 2019.

Schema `shop` (the web shop):
- `shop.loyalty_tiers` (not a target): basic, silver, gold.
- `shop.customers` (target): identity key; e-mail, phone, date of birth, SSN (kept for Medicare
  claims) in plaintext. A BEFORE INSERT OR UPDATE trigger normalizes the e-mail (lower-case, trimmed),
  another stamps updated_at.
- `shop.payment_methods` (target): composite key (customer_id, method_no); card numbers (Luhn-valid,
  some grouped by spaces) or SEPA IBANs (mod-97-valid, DE/AT/ES); ON DELETE CASCADE from customers.

Schema `rx` (the pharmacy):
- `rx.drugs` (not a target): the catalogue, by NDC code.
- `rx.prescriptions` (target): bigserial key; the driver licence checked for controlled substances
  and the pharmacist's free-text notes, which quote phone numbers and e-mail addresses.
- `rx.orders` (target): partitioned by range of ordered_on (until 2024, 2025, since 2026), composite
  key (order_id, ordered_on); the contact phone and `delivery`, a jsonb with the recipient's name,
  address, phone and e-mail.
- `rx.order_lines` (not a target): what each order holds; ON DELETE CASCADE from orders.

Sensitive values include NULLs, empty strings and non-ASCII text (Zoë, Nguyễn, 李, bücher.example).
The stored e-mails are already normalized (the trigger came with the 2019 launch), so it changes
none of the loaded rows. The trigger on an encrypted column means colcrypt's write cutover must run
as a superuser (docs/cutover.md).
"""

from datetime import date

from psycopg import sql

APP_ROLE = "demo_app"

# rx.orders first: the largest table, the one the demo backfills with pg_cron.
TARGETS: list[tuple[str, list[str]]] = [
    ("rx.orders", ["contact_phone", "delivery"]),
    ("rx.prescriptions", ["driver_license", "pharmacist_notes"]),
    ("shop.payment_methods", ["card_number", "iban"]),
    ("shop.customers", ["email", "phone", "date_of_birth", "ssn"]),
]

# The partitions of rx.orders, each with a range of dates that lands in it.
ORDER_PARTITIONS: list[tuple[str, date, date]] = [
    ("rx.orders_until_2024", date(2023, 6, 1), date(2024, 12, 31)),
    ("rx.orders_2025", date(2025, 1, 1), date(2025, 12, 31)),
    ("rx.orders_since_2026", date(2026, 1, 1), date(2026, 12, 31)),
]

ROWS_AT_SCALE_1 = {"customers": 40_000, "orders": 90_000, "prescriptions": 40_000}  # payment methods: 1.5 each

FIRST = ["Maria", "José", "Zoë", "Chloé", "Søren", "Mei", "Kwame", "Fatima", "Liam", "Emma", "Ahmed",
         "Siobhán", "Renée", "Björn", "Olivia", "Dmitri", "Aiyana", "Noah"]
LAST = ["García", "Smith", "O'Brien", "Nguyễn", "Müller", "Kowalski", "Johnson", "Okafor", "李", "Dubois",
        "Fernández", "Brown", "Yılmaz", "Łukasiewicz", "Martínez", "Anderson", "Schäfer"]
MAIL_LOCAL = ["maria", "jose", "zoë", "chloe", "soren", "mei", "kwame", "fatima", "liam", "emma", "renée", "bjorn"]
MAIL_DOMAIN = ["example.com", "mail.example.org", "example.net", "bücher.example", "correo.example.es"]
AREA_CODES = ["212", "415", "617", "312", "206", "303", "512", "702", "808", "907"]
STREETS = ["Maple Street", "Oak Avenue", "Calle de Alcalá", "Königstraße", "Rue de l'Église", "Elm Court"]
CITIES = ["Portland", "Austin", "Madrid", "München", "Lyon", "Zürich", "Boston"]
INSTRUCTIONS = ["Leave with the neighbour", "Ring twice — dog!", "Porte arrière, code 4411", "", "置き配OK"]
NOTES = [None, "", "Call patient at ({area}) 555-01{n2} before shipping",
         "Caregiver: María López, maria.lopez{n2}@example.org", "Allergic to penicillin – substitution OK",
         "Leave at the counter; ID checked 🪪", "Patient prefers +49 30 9{n2}45 871 (Berlin, evenings)"]
DRUGS = ["Atorvastatin 20 mg", "Metformin 500 mg", "Lisinopril 10 mg", "Amoxicillin 500 mg", "Oxycodone 5 mg",
         "Sertraline 50 mg", "Levothyroxine 75 µg", "Ibuprofen 400 mg", "Alprazolam 0.5 mg", "Omeprazole 20 mg"]


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _pick(items: list[str], n: str) -> str:
    return f"(ARRAY[{', '.join(map(_literal, items))}]::text[])[1 + ({n}) % {len(items)}]"


def _phone(n: str) -> str:
    return (f"CASE WHEN {n} % 5 = 0 THEN '+49 30 ' || lpad((({n}) * 7919 % 10000000)::text, 7, '0') "
            f"WHEN {n} % 3 = 0 THEN '(' || {_pick(AREA_CODES, n)} || ') 555-' || lpad(({n} % 10000)::text, 4, '0') "
            f"ELSE '+1 ' || {_pick(AREA_CODES, f'{n} / 3')} || '-555-' || lpad(({n} * 13 % 10000)::text, 4, '0') END")


def _name(n: str) -> str:
    return f"{_pick(FIRST, n)} || ' ' || {_pick(LAST, f'({n}) / 5')}"


def _email(n: str) -> str:
    return (f"{_pick(MAIL_LOCAL, n)} || '.' || ({n})::text || '@' || {_pick(MAIL_DOMAIN, f'({n}) / 3')}")


def _notes(n: str) -> str:
    cases = " ".join(f"WHEN {i} THEN " + ("NULL" if t is None else
                     f"replace(replace({_literal(t)}, '{{area}}', {_pick(AREA_CODES, n)}), "
                     f"'{{n2}}', lpad((({n}) % 100)::text, 2, '0'))") for i, t in enumerate(NOTES))
    return f"CASE ({n}) % {len(NOTES)} {cases} END"


HELPERS = """
CREATE FUNCTION pg_temp.luhn(payload text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT payload || ((10 - sum(CASE WHEN i % 2 = 1 THEN (2 * d) / 10 + (2 * d) % 10 ELSE d END) % 10) % 10)::text
  FROM (SELECT i, substr(reverse(payload), i, 1)::int AS d FROM generate_series(1, length(payload)) AS i) AS s $$;
CREATE FUNCTION pg_temp.iban(country text, bban text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT country || lpad((98 - ((bban || (ascii(substr(country, 1, 1)) - 55)::text
                                 || (ascii(substr(country, 2, 1)) - 55)::text || '00')::numeric % 97))::text, 2, '0')
         || bban $$;
"""

SCHEMA = """
CREATE SCHEMA shop;
CREATE SCHEMA rx;
COMMENT ON SCHEMA shop IS 'Cedar & Vine web shop';
COMMENT ON SCHEMA rx IS 'Cedar & Vine pharmacy: prescriptions and orders';
CREATE TABLE shop.loyalty_tiers (tier text PRIMARY KEY, discount_pct numeric(4,1) NOT NULL);
CREATE TABLE shop.customers (
  customer_id bigint GENERATED ALWAYS AS IDENTITY, full_name text NOT NULL, email text, phone text,
  date_of_birth date, ssn text, tier text NOT NULL DEFAULT 'basic', marketing_opt_in boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shop.payment_methods (
  customer_id bigint NOT NULL, method_no smallint NOT NULL, kind text NOT NULL, card_number text, iban text,
  holder_name text, valid_thru date, is_default boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE rx.drugs (ndc text PRIMARY KEY, name text NOT NULL, controlled boolean NOT NULL);
CREATE TABLE rx.prescriptions (
  prescription_id bigserial, customer_id bigint NOT NULL, ndc text NOT NULL, prescriber text NOT NULL,
  written_on date NOT NULL DEFAULT current_date, refills_left integer NOT NULL DEFAULT 0,
  driver_license text, pharmacist_notes text);
CREATE TABLE rx.orders (
  order_id bigserial, ordered_on date NOT NULL DEFAULT current_date, customer_id bigint NOT NULL,
  status text NOT NULL DEFAULT 'placed', total numeric(10,2) NOT NULL, contact_phone text, delivery jsonb,
  updated_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (ordered_on);
CREATE TABLE rx.orders_until_2024 PARTITION OF rx.orders FOR VALUES FROM (MINVALUE) TO ('2025-01-01');
CREATE TABLE rx.orders_2025 PARTITION OF rx.orders FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE rx.orders_since_2026 PARTITION OF rx.orders FOR VALUES FROM ('2026-01-01') TO (MAXVALUE);
CREATE TABLE rx.order_lines (
  order_id bigint NOT NULL, ordered_on date NOT NULL, line_no smallint NOT NULL, ndc text NOT NULL,
  quantity integer NOT NULL);
"""

# After the bulk load: keys, constraints, indexes, triggers (the loaded rows already satisfy them).
LOGIC = """
ALTER TABLE shop.customers ADD PRIMARY KEY (customer_id),
  ADD FOREIGN KEY (tier) REFERENCES shop.loyalty_tiers;
ALTER TABLE shop.payment_methods ADD PRIMARY KEY (customer_id, method_no),
  ADD FOREIGN KEY (customer_id) REFERENCES shop.customers ON DELETE CASCADE,
  ADD CHECK (kind IN ('card', 'sepa'));
ALTER TABLE rx.prescriptions ADD PRIMARY KEY (prescription_id),
  ADD FOREIGN KEY (customer_id) REFERENCES shop.customers ON DELETE CASCADE,
  ADD FOREIGN KEY (ndc) REFERENCES rx.drugs, ADD CHECK (refills_left >= 0);
ALTER TABLE rx.orders ADD PRIMARY KEY (order_id, ordered_on),
  ADD FOREIGN KEY (customer_id) REFERENCES shop.customers ON DELETE CASCADE,
  ADD CHECK (status IN ('placed', 'shipped', 'delivered', 'cancelled')), ADD CHECK (total >= 0);
ALTER TABLE rx.order_lines ADD PRIMARY KEY (order_id, ordered_on, line_no),
  ADD FOREIGN KEY (order_id, ordered_on) REFERENCES rx.orders ON DELETE CASCADE,
  ADD FOREIGN KEY (ndc) REFERENCES rx.drugs, ADD CHECK (quantity > 0);
CREATE INDEX prescriptions_customer_idx ON rx.prescriptions (customer_id);
CREATE INDEX orders_customer_idx ON rx.orders (customer_id);
CREATE FUNCTION shop.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE FUNCTION shop.normalize_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.email := lower(btrim(NEW.email)); RETURN NEW; END $$;
CREATE TRIGGER customers_normalize_email BEFORE INSERT OR UPDATE ON shop.customers
  FOR EACH ROW EXECUTE FUNCTION shop.normalize_email();
CREATE TRIGGER customers_touch BEFORE UPDATE ON shop.customers
  FOR EACH ROW EXECUTE FUNCTION shop.touch_updated_at();
CREATE TRIGGER payment_methods_touch BEFORE UPDATE ON shop.payment_methods
  FOR EACH ROW EXECUTE FUNCTION shop.touch_updated_at();
CREATE TRIGGER orders_touch BEFORE UPDATE ON rx.orders
  FOR EACH ROW EXECUTE FUNCTION shop.touch_updated_at();
SELECT setval(pg_get_serial_sequence('shop.customers', 'customer_id'), (SELECT max(customer_id) FROM shop.customers));
SELECT setval(pg_get_serial_sequence('rx.prescriptions', 'prescription_id'),
              (SELECT max(prescription_id) FROM rx.prescriptions));
SELECT setval(pg_get_serial_sequence('rx.orders', 'order_id'), (SELECT max(order_id) FROM rx.orders));
COMMENT ON TABLE shop.customers IS 'Customer accounts; email is normalized by trigger customers_normalize_email';
COMMENT ON COLUMN shop.customers.ssn IS 'Needed for Medicare Part D claims; NULL for EU customers';
COMMENT ON TABLE shop.payment_methods IS 'Cards and SEPA mandates, numbered per customer';
COMMENT ON TABLE rx.orders IS 'Orders, partitioned by year of ordered_on';
COMMENT ON COLUMN rx.orders.delivery IS 'Recipient, address, phone, e-mail and instructions from the checkout';
COMMENT ON COLUMN rx.prescriptions.driver_license IS 'Checked at dispensing of controlled substances';
"""


DRUG_ARRAY = "(SELECT array_agg(ndc ORDER BY ndc) FROM rx.drugs)"


def _data(n_customers: int, n_orders: int, n_prescriptions: int) -> list[str]:
    digits = "lpad((c::numeric * 31415926535897932 * m % 1e14)::text, 14, '0')"
    card = (f"pg_temp.luhn(CASE (c + m) % 3 WHEN 0 THEN '4' || {digits} "
            f"WHEN 1 THEN '5' || (1 + c % 5) || substr({digits}, 2) ELSE '37' || substr({digits}, 3) END)")
    iban = ("pg_temp.iban((ARRAY['DE', 'AT', 'ES'])[1 + c % 3], lpad((c::numeric * 918273645564738291 * m % 1e20)"
            "::text, (ARRAY[18, 16, 20])[1 + c % 3], '0'))")
    return [
        "INSERT INTO shop.loyalty_tiers VALUES ('basic', 0), ('silver', 5), ('gold', 10)",
        f"""INSERT INTO rx.drugs SELECT lpad(d::text, 5, '0') || '-' || lpad((d * 37 % 1000)::text, 3, '0') || '-01',
              {_pick(DRUGS, 'd')}, d % {len(DRUGS)} IN (4, 8) FROM generate_series(1, 250) AS d""",
        f"""INSERT INTO shop.customers (customer_id, full_name, email, phone, date_of_birth, ssn, tier,
              marketing_opt_in, created_at, updated_at) OVERRIDING SYSTEM VALUE
            SELECT c, CASE WHEN c % 503 = 0 THEN '' ELSE {_name('c')} END,
              CASE WHEN c % 13 = 0 THEN NULL WHEN c % 101 = 0 THEN '' ELSE {_email('c')} END,
              CASE WHEN c % 9 = 0 THEN NULL WHEN c % 89 = 0 THEN '' ELSE {_phone('c')} END,
              CASE WHEN c % 17 = 0 THEN NULL ELSE date '1935-01-01' + (c * 7919) % 25000 END,
              CASE WHEN c % 4 = 0 THEN NULL WHEN c % 97 = 0 THEN ''
                   ELSE lpad((1 + c * 7 % 665)::text, 3, '0') || '-' || lpad((1 + c * 13 % 99)::text, 2, '0')
                        || '-' || lpad((1 + c * 7919 % 9999)::text, 4, '0') END,
              (ARRAY['basic', 'basic', 'silver', 'gold'])[1 + c % 4], c % 3 = 0,
              timestamptz '2019-03-01 00:00+00' + c * interval '61 minutes',
              timestamptz '2019-03-01 00:00+00' + c * interval '67 minutes'
            FROM generate_series(1, {n_customers}) AS c""",
        rf"""INSERT INTO shop.payment_methods (customer_id, method_no, kind, card_number, iban, holder_name,
              valid_thru, is_default, updated_at)
            SELECT c, m, kind,
              CASE WHEN kind = 'sepa' THEN NULL WHEN (c + m) % 67 = 0 THEN ''
                   WHEN c % 3 = 0 THEN regexp_replace({card}, '(\d{{4}})(?!$)', '\1 ', 'g') ELSE {card} END,
              CASE WHEN kind = 'card' THEN NULL
                   WHEN c % 5 = 0 THEN regexp_replace({iban}, '(.{{4}})(?!$)', '\1 ', 'g') ELSE {iban} END,
              CASE WHEN m = 2 THEN {_name('c * 3 + 1')} WHEN c % 7 = 0 THEN NULL ELSE {_name('c')} END,
              CASE WHEN kind = 'card' THEN date '2025-01-31' + c * 31 % 1500 END, m = 1,
              timestamptz '2020-01-01 00:00+00' + c * interval '53 minutes'
            FROM generate_series(1, {n_customers}) AS c,
              generate_series(1, CASE WHEN c % 4 IN (1, 2) THEN 2 ELSE 1 END) AS m,
              LATERAL (SELECT CASE WHEN (c + m) % 4 = 0 THEN 'sepa' ELSE 'card' END AS kind) AS k""",
        f"""INSERT INTO rx.prescriptions (prescription_id, customer_id, ndc, prescriber, written_on, refills_left,
              driver_license, pharmacist_notes)
            SELECT p, 1 + p::bigint * 104729 % {n_customers}, d.ndc, 'Dr. ' || {_pick(LAST, 'p')},
              date '2023-01-01' + p * 7 % 1400, p % 4,
              CASE WHEN NOT d.controlled AND p % 3 <> 0 THEN NULL WHEN p % 71 = 0 THEN ''
                   WHEN p % 3 = 0 THEN chr(65 + p % 26) || lpad((p * 7919 % 10000000)::text, 7, '0')
                   WHEN p % 3 = 1 THEN lpad((p::bigint * 104729 % 1000000000)::text, 9, '0')
                   ELSE 'S' || lpad((p::bigint * 7907 % 1000000000000)::text, 12, '0') END,
              {_notes('p')}
            FROM generate_series(1, {n_prescriptions}) AS p
            JOIN (SELECT ndc, controlled, row_number() OVER (ORDER BY ndc) - 1 AS i FROM rx.drugs) AS d
              ON d.i = p * 31 % 250""",
        f"""INSERT INTO rx.orders (order_id, ordered_on, customer_id, status, total, contact_phone, delivery,
              updated_at)
            SELECT o, day, 1 + o::bigint * 7919 % {n_customers},
              (ARRAY['delivered', 'delivered', 'shipped', 'placed', 'cancelled'])[1 + o % 5],
              (5 + o::bigint * 7919 % 30000 / 100.0)::numeric(10,2),
              CASE WHEN o % 7 = 0 THEN NULL WHEN o % 83 = 0 THEN '' ELSE {_phone('o')} END,
              CASE WHEN o % 29 = 0 THEN NULL WHEN o % 31 = 0 THEN '{{}}'::jsonb ELSE jsonb_strip_nulls(
                jsonb_build_object('recipient', {_name('o * 7')},
                  'street', (1 + o % 180) || ' ' || {_pick(STREETS, 'o')},
                  'city', {_pick(CITIES, 'o / 7')}, 'postal_code', lpad((o * 37 % 90000 + 10000)::text, 5, '0'),
                  'phone', CASE WHEN o % 3 <> 0 THEN {_phone('(o + 1)')} END,
                  'email', CASE WHEN o % 2 = 0 THEN {_email('o')} END,
                  'instructions', {_pick(INSTRUCTIONS, 'o / 11')})) END,
              day + interval '14 hours'
            FROM generate_series(1, {n_orders}) AS o,
              LATERAL (SELECT date '2023-06-01' + o * 37 % 1250 AS day) AS d""",
        f"""INSERT INTO rx.order_lines (order_id, ordered_on, line_no, ndc, quantity)
            SELECT o.order_id, o.ordered_on, l, d.ndcs[1 + (o.order_id * 13 + l) % 250], 1 + (o.order_id + l) % 3
            FROM rx.orders AS o, generate_series(1, 1 + (o.order_id % 2)::int) AS l, {DRUG_ARRAY} AS d(ndcs)""",
    ]


def counts(scale: float) -> dict[str, int]:
    return {table: max(10, round(n * scale)) for table, n in ROWS_AT_SCALE_1.items()}


def build(conn, scale: float = 1.0) -> None:
    """Create the pharmacy's schemas, tables and rows in the current database (conn in autocommit),
    in one transaction; fails if schema shop or rx exists. About 230,000 target rows at scale 1.0."""
    n = counts(scale)
    with conn.transaction():
        conn.execute(HELPERS)
        conn.execute(SCHEMA)
        for statement in _data(n["customers"], n["orders"], n["prescriptions"]):
            conn.execute(statement)
        conn.execute(LOGIC)
        conn.execute("DROP FUNCTION pg_temp.luhn(text), pg_temp.iban(text, text)")
    conn.execute("ANALYZE shop.loyalty_tiers, shop.customers, shop.payment_methods, rx.drugs, rx.prescriptions, "
                 "rx.orders, rx.order_lines")


def grant_app(conn) -> None:
    """Create the LOGIN role APP_ROLE if missing, with what the application needs: DML on the tables
    it writes, SELECT on the catalogues, USAGE on the schemas and sequences. It owns nothing."""
    role = sql.Identifier(APP_ROLE)
    if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone():
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
    for statement in (
        "GRANT USAGE ON SCHEMA shop, rx TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON shop.customers, shop.payment_methods, rx.prescriptions, "
        "rx.orders, rx.order_lines TO {role}",
        "GRANT SELECT ON shop.loyalty_tiers, rx.drugs TO {role}",
        "GRANT USAGE ON ALL SEQUENCES IN SCHEMA shop, rx TO {role}",
    ):
        conn.execute(sql.SQL(statement).format(role=role))
