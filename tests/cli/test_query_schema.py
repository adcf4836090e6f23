"""lineage query --schema: what an auditor can query, read from a read-only connection."""

from conftest import validate, write_tree


def test_schema_lists_tables_views_and_auditor_views(cli, workdir):
    write_tree(workdir, {"data/a.csv": "x\n1\n"})
    assert cli("snapshot", "data").code == 0
    before = (workdir / ".lineage" / "lineage.db").stat().st_mtime_ns
    r = cli("query", "--schema", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "query-schema.schema.json")
    tables = {t["name"]: t for t in r.json["tables"]}
    assert tables["events"]["rows"] >= 1
    assert {"id", "parents", "body"} <= {c["name"] for c in tables["events"]["columns"]}
    auditor = {v["name"] for v in r.json["views"] if v["auditor"]}
    assert {"run_inputs", "run_outputs", "evaluations", "lineage_edges"} <= auditor
    assert "evaluations" in cli("query", "--schema").stdout
    assert (workdir / ".lineage" / "lineage.db").stat().st_mtime_ns == before


def test_schema_and_sql_together_is_bad_usage(cli):
    r = cli("query", "SELECT 1", "--schema")
    assert r.code == 2 and "--schema" in r.stderr
    assert cli("query").code == 2
