"""Every pipeline of the suite: the exact set of rules at error or above.

Pipelines are registered (``conftest.pipeline``) by the modules imported below; the same
catalogue gives the precision and recall per rule in docs/audit.md
(``benchmarks/audit_pipelines.py``).
"""

from __future__ import annotations

import pytest

from audit.pipelines import shapes_basic  # noqa: F401 - registers pipelines
from audit.pipelines import shapes_leaks  # noqa: F401
from audit.pipelines import shapes_clean  # noqa: F401
from audit.pipelines import shapes_variants  # noqa: F401
from audit.pipelines import shapes_hygiene  # noqa: F401
from audit.pipelines import shapes_more  # noqa: F401
from audit.pipelines.conftest import GAPS, PIPELINES


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=GAPS[n])) if n in GAPS else n
    for n in sorted(PIPELINES)])
def test_pipeline_fires_exactly_the_expected_rules(ws, name):
    build, expected = PIPELINES[name]
    build(ws)
    assert ws.errors() == set(expected), ws.describe()
