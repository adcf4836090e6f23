"""The Datasette plug-in of ``lineage browse``: run reports served on demand, linked from runs.

    /-/report/<run_id>     the run's report (HTML), rendered when asked for
    run_id cells           of every table, view and canned query link to that page
                           (the ``runs`` table gets a ``report`` column: REPORT_TEMPLATE)

It is registered in Datasette's own process (``browse._LAUNCH``) and configured by the
metadata (``plugins.lineage``): ``repo``, the repository's root, and ``renderer``, the
``module:function`` that renders a report (``render(repo, run_id, fmt="html") -> str``),
imported by name when the first report is asked for, so browsing works without it.
"""

from __future__ import annotations

import asyncio
import html
import importlib
import re
from typing import Any
from urllib.parse import quote

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup

from lineage.errors import LineageError
from lineage.repo import Repo

NAME = "lineage"
ROUTE = "/-/report/"

#: The table template of the ``runs`` table: its ID cells link to the row page (Datasette's
#: own link column, which no plug-in hook renders), so each row gets a ``report`` cell.
REPORT_TEMPLATE = """\
{% if display_rows %}
<div class="table-wrapper">
    <table class="rows-and-columns">
        <thead>
            <tr>
                {% for column in display_columns %}
                    <th {% if column.description %}data-column-description="{{ column.description }}" {% endif %}class="col-{{ column.name|to_css_class }}" scope="col" data-column="{{ column.name }}" data-column-type="{{ column.type.lower() }}" data-column-not-null="{{ column.notnull }}" data-is-pk="{% if column.is_pk %}1{% else %}0{% endif %}">
                        {% if not column.sortable %}
                            {{ column.name }}
                        {% else %}
                            {% if column.name == sort %}
                                <a href="{{ fix_path(path_with_replaced_args(request, {'_sort_desc': column.name, '_sort': None, '_next': None})) }}" rel="nofollow">{{ column.name }}&nbsp;▼</a>
                            {% else %}
                                <a href="{{ fix_path(path_with_replaced_args(request, {'_sort': column.name, '_sort_desc': None, '_next': None})) }}" rel="nofollow">{{ column.name }}{% if column.name == sort_desc %}&nbsp;▲{% endif %}</a>
                            {% endif %}
                        {% endif %}
                    </th>
                    {% if loop.first %}<th class="col-report" scope="col">report</th>{% endif %}
                {% endfor %}
            </tr>
        </thead>
        <tbody>
        {% for row in display_rows %}
            <tr>
                {% for cell in row %}
                    <td class="col-{{ cell.column|to_css_class }} type-{{ cell.value_type }}">{{ cell.value }}</td>
                    {% if loop.first %}<td class="col-report"><a class="lineage-report" href="{{ urls.path('/-/report/' ~ cell.raw|urlencode) }}">report</a></td>{% endif %}
                {% endfor %}
            </tr>
        {% endfor %}
        </tbody>
    </table>
</div>
{% else %}
    <p class="zero-results">0 records</p>
{% endif %}
"""


def _config(datasette: Any) -> dict[str, Any]:
    return datasette.plugin_config(NAME) or {}


def report_path(datasette: Any, run_id: str) -> str:
    return datasette.urls.path(ROUTE + quote(run_id, safe=""))


@hookimpl
def render_cell(value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    """A run ID links to its report: every ``run_id`` cell (tables, views, queries)."""
    if column != "run_id" or not isinstance(value, str) or not value:
        return None
    if not _config(datasette).get("renderer"):
        return None
    return Markup('<a class="lineage-report" href="{}" title="the report of this run">{}</a>').format(
        report_path(datasette, value), value)


def _render(root: str, renderer: str, run_id: str) -> str:
    module, _, function = renderer.partition(":")
    render = getattr(importlib.import_module(module), function)
    with Repo.find(root) as repo:
        return str(render(repo, run_id, fmt="html"))


def _page(title: str, text: str, status: int) -> Response:
    body = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>")
    return Response.html(body, status=status)


#: a run ID or a prefix of one: what the route accepts
_RUN_ID = re.compile(r"[0-9a-fA-F][0-9a-fA-F-]*")


async def report(request: Any, datasette: Any) -> Response:
    run_id = request.url_vars["run_id"]
    config = _config(datasette)
    renderer, root = config.get("renderer"), config.get("repo")
    if not renderer or not root:
        return _page("No reports", "this server was started without a report renderer", 404)
    if not _RUN_ID.fullmatch(run_id):
        # the renderer also takes paths: a page address must never name a file to read
        return _page(f"No report for {run_id}", "not a run ID (hexadecimal digits and dashes)", 404)
    try:
        # rendered in a thread: the report reads the repository with its own connections
        body = await asyncio.to_thread(_render, root, renderer, run_id)
    except (ImportError, AttributeError):
        return _page("No reports", f"the report renderer {renderer} is not installed", 404)
    except LineageError as exc:
        return _page(f"No report for {run_id}", str(exc), 404)
    return Response.html(body)


@hookimpl
def register_routes(datasette: Any) -> list[tuple[str, Any]]:
    return [(r"^/-/report/(?P<run_id>[^/]+)$", report)]


__all__ = ["NAME", "REPORT_TEMPLATE", "ROUTE", "register_routes", "render_cell", "report_path"]

