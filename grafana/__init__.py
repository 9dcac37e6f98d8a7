"""Grafana boards, data source and alert rules as code (docs/grafana.md).

`boards/` builds each dashboard with grafana-foundation-sdk, `sqlquery.py` adds the SQL target
the SDK lacks, `sql.py` builds panel queries over the storage layer's read interface,
`alerts.py` the alert rules, `export.py` the provisioning files and API payloads, `push.py`
the upload through Grafana's HTTP API, `macros.py` Grafana's query expansion (for tests) and
`lint.py` the checks every board passes.
"""
