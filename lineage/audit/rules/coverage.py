"""Coverage rule: input tables whose rows the data rules could not see."""

from __future__ import annotations

from lineage.audit.protocol import RuleContext, RunView
from lineage.audit.rules.registry import Finding, Rule, Severity, register
from lineage.core.vocab import DATA_ROLES


@register
class UnfingerprintedInput(Rule):
    """A tabular input of the run has rows that were never fingerprinted.

    A file that could not be read (malformed, corrupt) or that crossed a `[tabular]`
    limit (a compression bomb, too many rows) counts as one row, its content digest:
    an overlap hidden in its rows goes unseen by every data rule. Fix: repair the file,
    or raise the limit named in the reason in `.lineage/config.toml` and audit again.
    """

    slug = "unfingerprinted-input"
    severity = Severity.warning
    title = "tabular input whose rows were not fingerprinted"

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        if not ctx.judges(run):
            return []
        found = []
        for i in run.inputs:
            if i.role not in DATA_ROLES:
                continue
            files = ctx.unfingerprinted(i.snapshot_id)
            if files:
                first = files[0]
                reason = first["reason"].removeprefix("rows not fingerprinted: ")
                more = f" (and {len(files) - 1} more file(s))" if len(files) > 1 else ""
                found.append(self.finding(
                    run, f"{i.role} input {i.dataset or i.path or i.snapshot_id[:12]}: the rows of "
                         f"{first['file']} were not fingerprinted ({reason}), so the data rules see it as "
                         f"one row{more}",
                    {"input": ctx.describe_input(i), "files": files}))
        return found
