"""`colcrypt report`: a compliance report of colcrypt's catalog for PCI DSS / HIPAA auditors.

collect.collect(conn) reads the data (a JSON-serializable dict); markdown.render(report) and
html.render(report) format it (docs/report.md)."""
