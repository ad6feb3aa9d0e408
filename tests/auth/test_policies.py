"""Every route is authorised through exactly one Policy; a new route without one fails here."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from app.auth.policy import Policy

FASTAPI_OWN = {"/api/openapi.json", "/api/docs"}


def _policies(dependant: Dependant) -> list[Policy]:
    found = [d.call for d in dependant.dependencies if isinstance(d.call, Policy)]
    for sub in dependant.dependencies:
        found.extend(_policies(sub))
    return found


def _routes(app: FastAPI) -> list[tuple[str, object, list[Policy]]]:
    """(path, route, policies) for every route, routers included, walked from `app.routes`."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        policies = _policies(ctx.dependant) if isinstance(route, APIRoute) else []
        out.append((str(ctx.path), route, policies))
    return out


def test_the_walk_sees_the_routers(app: FastAPI) -> None:
    paths = {path for path, _, _ in _routes(app)}
    assert {"/api/projects", "/api/projects/{slug}/imports", "/login", "/healthz"} <= paths


def test_every_route_has_exactly_one_policy(app: FastAPI) -> None:
    missing, several = [], []
    for path, route, policies in _routes(app):
        if isinstance(route, Mount) and path == "/static":
            continue  # vendored assets: public by nature
        if path in FASTAPI_OWN:
            continue  # FastAPI's own API description pages (no data)
        names = {p.name for p in policies}
        if not names:
            missing.append(path)
        elif len(names) > 1:
            several.append(f"{path}: {sorted(names)}")
    assert not missing, f"routes without a policy: {missing}"
    assert not several, f"routes with more than one policy: {several}"


def test_project_policies_only_on_routes_with_a_slug(app: FastAPI) -> None:
    for path, _, policies in _routes(app):
        for policy in policies:
            if policy.project_role is not None:
                assert "{slug}" in path, path
