from lineage.cli.app import run

run()
