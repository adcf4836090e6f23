"""Git hooks installed by earlier versions run ``python -m lineage.hooks_main``."""

from lineage.hooks.main import run

if __name__ == "__main__":
    run()
