"""`trellis`: serve, worker, db, user, token, project, import, export, stats, check, train,
feedback.

Every command reads the same TRELLIS_* configuration as the server; with none set it works on
the embedded SQLite database under ./trellis-data/.
"""

from app.cli import admin, checks, data, feedback, serve, training  # noqa: F401 - registers
from app.cli.base import app

__all__ = ["app", "main"]


def main() -> None:
    app()
