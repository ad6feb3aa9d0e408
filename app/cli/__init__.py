"""`trellis`: serve, worker, db, user, token, project, import, export, stats, check, train,
eval, generate, feedback.

Every command reads the same TRELLIS_* configuration as the server; with none set it works on
the embedded SQLite database under ./trellis-data/.
"""

# Each module registers its commands.
from app.cli import admin, checks, data, evaluation, feedback, serve, synthetic, training  # noqa: F401
from app.cli.base import app

__all__ = ["app", "main"]


def main() -> None:
    app()
