"""One Settings object; every value comes from a TRELLIS_* environment variable.

With nothing set, Trellis runs embedded: SQLite and a SQLite-backed Celery broker under
`./trellis-data/`, and a secret key generated once into that folder (never a built-in default).
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.formats.limits import ImportLimits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRELLIS_", extra="ignore")

    data_dir: Path = Path("trellis-data")
    database_url: str = ""
    broker_url: str = ""
    secret_key: str = ""
    upload_max_bytes: int = Field(default=2 * 1024**3, ge=1)
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    session_max_age_s: int = 14 * 24 * 3600
    job_stale_after_s: int = Field(default=120, ge=5)
    job_heartbeat_s: float = Field(default=10.0, gt=0)
    job_max_attempts: int = Field(default=3, ge=1)
    reaper_interval_s: float = Field(default=30.0, gt=0)
    import_batch_rows: int = Field(default=5000, ge=1)
    worker_concurrency: int = Field(default=2, ge=1)
    job_threads: int | None = Field(default=None, ge=1)  # CPU threads per job process (torch)
    page_size: int = Field(default=50, ge=1, le=500)
    db_pool_size: int = Field(default=30, ge=1)  # PostgreSQL connections kept per process
    label_lease_s: int = Field(default=900, ge=10)  # how long "next item" reserves an item
    tokenizer_path: Path | None = None  # a tokenizers JSON file for exact token counts in exports
    embedding_model: str | None = None  # a local sentence-transformers dir; default MiniLM
    embedding_precision: Literal["auto", "bf16", "fp32"] = "auto"
    lsh_redis_url: str | None = None  # share the contamination LSH index through Redis
    training_poll_s: float = Field(default=3.0, gt=0)  # how often workers poll training runs
    # Sign-in throttling (docs/security.md): failures counted per account and per client address
    # within the window; past the limit each further failure doubles the wait, up to the cap.
    login_window_s: int = Field(default=900, ge=1)
    login_max_failures_account: int = Field(default=5, ge=1)
    login_max_failures_address: int = Field(default=20, ge=1)
    login_lockout_s: int = Field(default=30, ge=1)
    login_lockout_max_s: int = Field(default=900, ge=1)
    # Import limits (docs/security.md), checked while the file streams.
    import_max_decompressed_bytes: int = Field(default=20 * 1024**3, ge=1)
    import_max_line_bytes: int = Field(default=64 * 1024**2, ge=1)  # a JSONL line / JSON record
    import_max_field_chars: int = Field(default=16 * 1024**2, ge=1)  # one string in a record
    import_max_depth: int = Field(default=32, ge=2)  # nesting of objects and arrays
    import_max_rows: int = Field(default=10_000_000, ge=1)  # rows per upload
    import_max_rejects_kept: int = Field(default=10_000, ge=0)  # rows written to a rejects file
    # Custom chat templates (docs/security.md): per render, and the isolated check's memory.
    template_timeout_s: float = Field(default=2.0, gt=0)
    template_max_output_chars: int = Field(default=1_000_000, ge=1000)
    template_memory_bytes: int = Field(default=1 << 30, ge=64 * 1024**2)

    def import_limits(self) -> ImportLimits:
        return ImportLimits(
            max_decompressed_bytes=self.import_max_decompressed_bytes,
            max_line_bytes=self.import_max_line_bytes,
            max_field_chars=self.import_max_field_chars,
            max_depth=self.import_max_depth,
            max_rows=self.import_max_rows,
            max_rejects_kept=self.import_max_rejects_kept,
        )

    @property
    def embedded(self) -> bool:
        """True when the broker is the embedded SQLite one (no Redis configured)."""
        return self.effective_broker_url.startswith("sqla+sqlite")

    @property
    def effective_job_threads(self) -> int:
        """Threads one job process may compute with: by default the cores shared out among
        the `worker_concurrency` job processes. torch's own default, every core in every
        process, oversubscribes a machine that also runs the web server: its spinning threads
        made an eval set's embeddings 7x slower on two busy cores."""
        return self.job_threads or max(1, (os.cpu_count() or 1) // self.worker_concurrency)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'trellis.db').resolve()}"

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{(self.data_dir / 'broker.db').resolve()}"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def export_dir(self) -> Path:
        return self.data_dir / "exports"

    def effective_secret_key(self) -> str:
        """The configured key, or one generated on first use and kept in the data folder."""
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.touch(mode=0o600)
        key_file.write_text(key)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
