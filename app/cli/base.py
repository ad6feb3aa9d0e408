"""The `trellis` command's Typer apps and the helpers every command group shares."""

import typer

from app.config import get_settings

app = typer.Typer(help="Trellis: curate the data LLM fine-tuning runs on.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts.", no_args_is_help=True)
project_app = typer.Typer(help="Projects.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(project_app, name="project")
check_app = typer.Typer(help="Checks on files, with no server or database.", no_args_is_help=True)
app.add_typer(check_app, name="check")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def upgrade_database() -> None:
    from app.migrate import upgrade

    upgrade(get_settings().effective_database_url)
