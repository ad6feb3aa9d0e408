"""`trellis`: serve, worker, db, user, token, project, import, export, stats, check, train,
generate.

Every command reads the same TRELLIS_* configuration as the server; with none set it works on
the embedded SQLite database under ./trellis-data/.
"""

from app.cli import admin, checks, data, serve, synthetic, training  # noqa: F401 - each registers commands
from app.cli.base import app

__all__ = ["app", "main"]


def main() -> None:
    app()
