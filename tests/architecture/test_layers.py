"""Imports go one way (docs/architecture.md, "Layers"): plumbing below features, tables below
the code that changes them, and the HTTP layer on top, reached only from the app's routes."""

from __future__ import annotations

import grimp
import pytest

PACKAGE = "htsd_workflow"
#: the plumbing every feature may use; it uses no feature
PLUMBING = ("htsd_workflow.core", "htsd_workflow.extensions", "htsd_workflow.config")
#: where the application's routes are put together
ROUTES = "htsd_workflow.web"


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(PACKAGE)


def _within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _is_http(module: str) -> bool:
    """The HTTP layer: the JSON API, every page view and blueprint, and the routes' module."""
    last = module.rsplit(".", 1)[-1]
    return _within(module, ("htsd_workflow.api", ROUTES)) or last in ("views", "blueprint")


def _imports(graph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    where = ", ".join(f"line {d['line_number']}" for d in details) or "?"
    return f"{importer} imports {imported} ({where})"


def _crossings(graph, may_import) -> list[str]:
    return sorted(
        _imports(graph, importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if not may_import(importer, imported)
    )


def test_plumbing_imports_no_feature_package(graph):
    def may_import(importer, imported):
        return not _within(importer, PLUMBING) or _within(imported, PLUMBING)

    assert _crossings(graph, may_import) == []


def test_models_import_only_models_and_plumbing(graph):
    def may_import(importer, imported):
        if not importer.endswith(".models"):
            return True
        return _within(imported, PLUMBING) or imported.endswith(".models")

    assert _crossings(graph, may_import) == []


def test_only_the_routes_module_imports_the_http_layer(graph):
    """Operations, queries, tasks and models never reach into views or the API; views of one
    feature do not borrow another's (shared helpers live in an ordinary module)."""

    def may_import(importer, imported):
        if not _is_http(imported):
            return True
        if importer in (PACKAGE, ROUTES):  # the app factory registers the routes
            return True
        # a package's HTTP modules fit together: the API's framework, a view's blueprint
        return (
            _within(imported, ("htsd_workflow.api",))
            and _within(importer, ("htsd_workflow.api",))
            or (_is_http(importer) and importer.rsplit(".", 1)[0] == imported.rsplit(".", 1)[0])
        )

    assert _crossings(graph, may_import) == []


def test_the_checks_see_a_crossing(graph):
    """The rules are not vacuous: the graph has the imports they inspect."""
    assert graph.direct_import_exists(importer=ROUTES, imported="htsd_workflow.api")
    assert graph.direct_import_exists(
        importer="htsd_workflow.cases.models", imported="htsd_workflow.extensions"
    )
    assert any(_is_http(m) for m in graph.modules if m.endswith(".views"))
