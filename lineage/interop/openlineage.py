"""OpenLineage export: a run as RunEvents of the OpenLineage 2-0-2 spec.

Each run becomes a START event and, once it has finished, a COMPLETE, FAIL or ABORT
event. Inputs and outputs are datasets named the OpenLineage way (local files:
namespace ``file``, name the absolute path; S3: namespace ``s3://bucket``, name the
key) with the standard facets ``dataSource``, ``version`` (the snapshot ID) and,
when the tabular profile of the snapshot is known, ``schema``. The job carries
``sourceCodeLocation`` (git) and the run carries ``parent`` for a nested run. Two
custom facets, described by schemas/openlineage-facets.schema.json, keep what
OpenLineage has no word for: the input's role (``lineage_role``) and the run's own
ID and kind (``lineage_run``).

OpenLineage run IDs are UUIDs. A run whose ID is not a UUID (a user gave it) is
exported under ``uuid5(RUN_NAMESPACE, run_id)``: stable, so START and COMPLETE,
and every later export, agree.

Events are plain dicts (JSON-ready). ``post`` sends them with the openlineage-python
HTTP transport to ``URL/api/v1/lineage``.
"""

from __future__ import annotations

import os
import posixpath
import re
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from lineage import runs, tabular
from lineage._version import __version__
from lineage.core import git
from lineage.core.progress import Progress
from lineage.errors import RemoteError, UsageError
from lineage.repo import Repo

SPEC_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT_SCHEMA_URL = SPEC_URL + "#/$defs/RunEvent"
#: Namespace of the UUIDs given to runs whose own ID is not a UUID.
RUN_NAMESPACE = uuid.UUID("2b0f7c56-8e0a-5d4b-b1a3-6c9e4f0d7a21")
CUSTOM_FACETS_URL = "https://lineage.dev/schemas/openlineage-facets.schema.json"

FACET_SCHEMAS = {
    "schema": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "dataSource": "https://openlineage.io/spec/facets/1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet",
    "version": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    "sourceCodeLocation": "https://openlineage.io/spec/facets/1-1-0/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet",
    "parent": "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
    "errorMessage": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "lineage_role": CUSTOM_FACETS_URL + "#/$defs/LineageRoleInputFacet",
    "lineage_run": CUSTOM_FACETS_URL + "#/$defs/LineageRunFacet",
}

_END_TYPES = {"succeeded": "COMPLETE", "failed": "FAIL", "aborted": "ABORT"}
_INTERPRETERS = frozenset({"python", "python3", "sh", "bash", "zsh", "uv", "poetry", "pipenv",
                           "conda", "Rscript", "julia", "node", "env", "time", "nohup"})


def producer() -> str:
    return f"https://lineage.dev/lineage/{__version__}"


def openlineage_run_id(run_id: str) -> str:
    """The run's ID if it is a UUID, else a stable UUID derived from it (uuid5)."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(RUN_NAMESPACE, run_id))


def _facet(facet: str, /, **fields: Any) -> dict[str, Any]:
    return {"_producer": producer(), "_schemaURL": FACET_SCHEMAS[facet],
            **{k: v for k, v in fields.items() if v is not None}}


# -- naming ---------------------------------------------------------------------------

def dataset_name(repo: Repo, path: str | None, fallback: str) -> tuple[str, str, str]:
    """(namespace, name, uri) of a dataset by the OpenLineage naming conventions."""
    if path and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        parts = urlsplit(path)
        if parts.scheme == "file":
            return "file", parts.path, path
        # s3://bucket/key -> namespace s3://bucket, name key (same shape for gs://, abfss://, ...)
        namespace = f"{parts.scheme}://{parts.netloc}"
        return namespace, parts.path.lstrip("/") or "/", path
    if path:
        absolute = Path(path) if os.path.isabs(path) else repo.root / path
        posix = absolute.as_posix()
        return "file", posix, "file://" + quote(posix)
    return "lineage", fallback, f"https://lineage.dev/ns/{quote(fallback)}"


def job_name(run: runs.RunRecord) -> str:
    """``KIND.PROGRAM``: the run's kind and the script or program it ran."""
    command = run.command or []
    if isinstance(command, str):
        command = command.split()
    program = None
    args = list(command)
    if len(args) >= 3 and args[0] in ("sh", "bash") and args[1] == "-c":
        args = args[2].split()
    for arg in args:
        base = posixpath.basename(arg)
        if base in _INTERPRETERS or re.fullmatch(r"python\d(\.\d+)?", base) or arg.startswith("-"):
            continue
        program = base
        break
    return f"{run.kind}.{program}" if program else run.kind


def _git_remote(root: Path) -> str | None:
    url = git.text(root, "config", "--get", "remote.origin.url", timeout=10)
    return strip_credentials(url) if url else None


def _remote_url(repo: Repo, cache: dict[str, Any]) -> str:
    """The git remote (asked once per export), else the workspace's file:// URI."""
    if "\0remote" not in cache:
        cache["\0remote"] = _git_remote(repo.root) or repo.root.as_uri()
    return cache["\0remote"]


def strip_credentials(url: str) -> str:
    """A URL without user:password@ (tokens in remote URLs must never be exported)."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


# -- tabular schema (optional) ----------------------------------------------------

def _schema_fields(repo: Repo, snapshot_id: str) -> list[dict[str, Any]] | None:
    """Columns (name, type) of a tabular snapshot, as the tabular profile recorded them.

    Read-only: nothing is computed for the export. A folder's tables contribute the
    union of their columns; a column typed differently in two files keeps no type.
    None when no tabular record exists (or it cannot be read).
    """
    try:
        _sid, files = tabular.file_records(repo, snapshot_id, compute=False)
    except Exception:  # noqa: BLE001 - a missing or unreadable profile only leaves the facet out
        return None
    fields: dict[str, str | None] = {}
    for f in files:
        if not f.ok:
            continue
        for col in f.record.columns:
            name, typ = str(col.get("name")), col.get("type")
            if name not in fields:
                fields[name] = None if typ is None else str(typ)
            elif fields[name] != typ:
                fields[name] = None
    if not fields:
        return None
    return [{"name": n} if t is None else {"name": n, "type": t} for n, t in fields.items()]


# -- events -------------------------------------------------------------------------

def _dataset(repo: Repo, rec: runs.RunInput | runs.RunOutput, *, role: str | None,
             schema_cache: dict[str, Any]) -> dict[str, Any]:
    sid = rec.snapshot_id
    namespace, name, uri = dataset_name(repo, rec.path, rec.dataset or f"snapshot/{sid}")
    facets: dict[str, Any] = {
        "dataSource": _facet("dataSource", name=namespace, uri=uri),
        "version": _facet("version", datasetVersion=sid),
    }
    if sid not in schema_cache:
        schema_cache[sid] = _schema_fields(repo, sid)
    if schema_cache[sid]:
        facets["schema"] = _facet("schema", fields=schema_cache[sid])
    out: dict[str, Any] = {"namespace": namespace, "name": name, "facets": facets}
    if role is not None:
        out["inputFacets"] = {"lineage_role": _facet("lineage_role", role=role,
                                                     dataset=rec.dataset)}
    return out


def run_events(repo: Repo, run_id: str, *, namespace: str | None = None,
               schema_cache: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The OpenLineage RunEvents of one recorded run: START, then its end if it ended."""
    run = runs.load(repo, run_id)
    cache = schema_cache if schema_cache is not None else {}
    ns = namespace or repo.root.name
    job = {"namespace": ns, "name": job_name(run)}
    job_facets: dict[str, Any] = {}
    if run.git.get("commit"):
        job_facets["sourceCodeLocation"] = _facet(
            "sourceCodeLocation", type="git", url=_remote_url(repo, cache),
            version=run.git["commit"], branch=run.git.get("branch"))
    if job_facets:
        job["facets"] = job_facets

    run_facets: dict[str, Any] = {
        "lineage_run": _facet("lineage_run", runId=run_id, kind=run.kind, status=run.status,
                              user=run.user, gitDirty=run.git.get("dirty")),
    }
    parent_id = run.parent_run
    if parent_id:
        parent = runs.load(repo, parent_id) if runs.exists(repo, parent_id) else None
        parent_job = {"namespace": ns, "name": job_name(parent) if parent else "run"}
        run_facets["parent"] = _facet("parent", run={"runId": openlineage_run_id(parent_id)},
                                      job=parent_job)
    inputs = [_dataset(repo, i, role=i.role, schema_cache=cache) for i in run.inputs]
    outputs = [_dataset(repo, o, role=None, schema_cache=cache) for o in run.outputs]
    ol_run_id = openlineage_run_id(run_id)

    def event(event_type: str, time: str, facets: dict[str, Any], with_outputs: bool) -> dict[str, Any]:
        return {
            "eventType": event_type,
            "eventTime": time,
            "producer": producer(),
            "schemaURL": RUN_EVENT_SCHEMA_URL,
            "run": {"runId": ol_run_id, "facets": facets},
            "job": job,
            "inputs": inputs,
            "outputs": outputs if with_outputs else [],
        }

    events = [event("START", run.started, run_facets, False)]
    end_type = _END_TYPES.get(run.status or "")
    if end_type and run.ended:
        end_facets = dict(run_facets)
        if end_type == "FAIL":
            message = run.error or f"exit code {run.exit_code}"
            end_facets["errorMessage"] = _facet("errorMessage", message=message,
                                                programmingLanguage="shell")
        events.append(event(end_type, run.ended, end_facets, True))
    return events


def export(repo: Repo, run_refs: list[str] | None, *, namespace: str | None = None) -> list[dict[str, Any]]:
    """RunEvents of the given runs (IDs or unique prefixes), or of every run when None."""
    run_ids = runs.all_run_ids(repo) if run_refs is None else [runs.resolve(repo, r) for r in run_refs]
    cache: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    for run_id in run_ids:
        events += run_events(repo, run_id, namespace=namespace, schema_cache=cache)
    return events


# -- HTTP -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PostResult:
    url: str
    events: int
    run_ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PostResult:
        return cls(d["url"], d["events"], list(d["run_ids"]))


def post(events: list[dict[str, Any]], url: str, *, endpoint: str = "api/v1/lineage",
         timeout: float = 5.0, retries: int = 2, progress: Progress | None = None) -> PostResult:
    """Send events in order with the openlineage-python HTTP transport.

    Retries are bounded (``retries`` attempts after the first, short back-off) and
    each request times out after ``timeout`` seconds, so an unreachable endpoint
    fails fast with one line.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"not an http(s) URL: {url!r}")
    if not timeout > 0 or retries < 0:
        raise UsageError("--timeout must be above 0 seconds and retries at least 0")
    shown = strip_credentials(url)
    try:
        from openlineage.client.transport.http import HttpConfig, HttpTransport
    except ImportError:
        raise UsageError("posting OpenLineage events needs openlineage-python: install lineage[interop]") from None
    import requests

    retry = {"total": retries, "connect": retries, "read": retries, "status": retries,
             "backoff_factor": 0.2, "status_forcelist": [429, 500, 502, 503, 504],
             "allowed_methods": ["POST"], "raise_on_status": False}
    transport = HttpTransport(HttpConfig(url=url, endpoint=endpoint, timeout=timeout, retry=retry))
    try:
        for n, ev in enumerate(events, 1):
            try:
                transport.emit(ev)
            except requests.exceptions.HTTPError as exc:
                code = exc.response.status_code if exc.response is not None else "?"
                raise RemoteError(f"OpenLineage endpoint {shown} refused event {n} of {len(events)} "
                                  f"(HTTP {code})") from None
            except requests.exceptions.RequestException as exc:
                reason = type(exc).__name__
                if isinstance(exc, requests.exceptions.ConnectionError):
                    reason = "connection failed"
                elif isinstance(exc, requests.exceptions.Timeout):
                    reason = f"no answer within {timeout:g} s"
                raise RemoteError(f"cannot reach OpenLineage endpoint {shown}: {reason} "
                                  f"(after {retries + 1} attempt(s))") from None
            if progress:
                progress(n, len(events))
    finally:
        transport.close()
    run_ids = list(dict.fromkeys(ev["run"]["runId"] for ev in events))
    return PostResult(shown.rstrip("/") + "/" + endpoint.lstrip("/"), len(events), run_ids)
