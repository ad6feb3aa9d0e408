"""`trellis db|user|token|project`: schema, accounts, tokens and projects."""

import getpass
import sys
from typing import Annotated

import typer

from app.cli.base import (
    db_app,
    fail,
    project_app,
    token_app,
    upgrade_database,
    user_app,
)
from app.models import Role


@db_app.command("upgrade")
def dbupgrade_database() -> None:
    """Apply all migrations to the configured database."""
    upgrade_database()
    typer.echo("database is at the latest schema")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="login email")],
    role: Annotated[Role, typer.Option(help="admin, engineer, reviewer or annotator")],
) -> None:
    """Create a user. The password is read from stdin (piped) or asked for twice."""
    from app.db import session_scope
    from app.errors import AppError
    from app.users import service

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise fail("passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    upgrade_database()
    try:
        with session_scope() as db:
            user = service.create_user(db, email=email, password=password, role=role)
            typer.echo(f"created {user.role.value} {user.email} (id {user.id})")
    except AppError as exc:
        raise fail(exc.message) from exc


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Option(help="the token acts as this user")],
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
) -> None:
    """Create an API token; the secret is printed once."""
    from app.db import session_scope
    from app.users import repository, service

    with session_scope() as db:
        user = repository.by_email(db, email)
        if user is None:
            raise fail(f"no user with email {email}")
        _, secret = service.create_token(db, user, name)
    typer.echo(secret)


@project_app.command("create")
def project_create(
    slug: str,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    owner: Annotated[str | None, typer.Option(help="email of the engineer who owns it")] = None,
) -> None:
    """Create a project (owned by --owner, else by the first admin)."""
    from pydantic import ValidationError

    from app.db import session_scope
    from app.errors import AppError
    from app.models import User
    from app.projects import service
    from app.projects.schemas import ProjectCreate
    from app.users import repository

    upgrade_database()
    try:
        data = ProjectCreate(slug=slug, name=name or slug)
    except ValidationError as exc:
        raise fail(f"slug '{slug}': use lowercase letters, digits and dashes") from exc
    try:
        with session_scope() as db:
            user: User | None
            if owner:
                user = repository.by_email(db, owner)
                if user is None:
                    raise fail(f"no user with email {owner}")
            else:
                user = next((u for u in repository.all_users(db) if u.role is Role.admin), None)
                if user is None:
                    raise fail("no admin yet: run `trellis user create --role admin` first")
            project = service.create(db, user, data)
            typer.echo(f"created project {project.slug} (owner {user.email})")
    except AppError as exc:
        raise fail(exc.message) from exc
