"""Settings from the environment (prefix ``FENGQIAO_``) or a ``.env`` file.

Read once by the CLI and handed to ``create_app``; nothing reads the environment at import.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FENGQIAO_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_VAR_DIR / 'fengqiao.db'}",
        description="sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )
    # The key that encrypts ID numbers, phones and addresses at rest (urlsafe base64 of 32
    # bytes). Without one, `data_key_file` is read (make run creates it once).
    data_key: str | None = None
    data_key_file: Path = DEFAULT_VAR_DIR / "data.key"
    token_ttl_hours: int = Field(default=12, ge=1, le=24 * 30)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    db_pool_size: int = Field(default=10, ge=1)
    host: str = "127.0.0.1"
    port: int = 8000
    # The idle check over UDP (docs/sync-protocol.md): the port on `host`, told to phones
    # when they enroll. None: phones use the HTTP check only.
    beacon_udp_port: int | None = Field(default=None, ge=1, le=65535)
    debug: bool = False
    default_page_size: int = Field(default=50, ge=1, le=500)
    max_page_size: int = Field(default=500, ge=1)
    # Attachments: `uploads/` holds partial tus uploads, `blobs/` the verified contents.
    files_dir: Path = DEFAULT_VAR_DIR / "files"
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    # An unfinished upload is kept this long (a phone may be offline for days).
    upload_expiry_hours: int = Field(default=7 * 24, ge=1)
    # A PATCH whose client sends nothing for this long is ended and its bytes kept.
    upload_idle_timeout_s: float = Field(default=60.0, gt=0)
    # The county's escalation policy (docs/escalation-policy.md); None: the packaged
    # default of 柞水县 (grid/policies/zhashui.toml). Read once per process.
    escalation_policy_file: Path | None = None
    # How often `fengqiao serve` sweeps for due escalations, lights and 督办; 0 turns the
    # sweeper off (then run `fengqiao escalate --apply` from cron).
    sweep_interval_seconds: float = Field(default=60.0, ge=0)
    # Notifications (docs/supervision-and-notifications.md): POSTed as signed JSON to this
    # URL; None keeps them in the outbox, readable in the app (GET /notifications).
    notification_webhook_url: str | None = None
    notification_webhook_secret: str | None = None
    notification_webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    notification_interval_seconds: float = Field(default=30.0, gt=0)
    notification_batch_size: int = Field(default=100, ge=1, le=1000)
    # How often the 排查 reminder job looks for reminders that have come (docs/screening.md);
    # a reminder goes out within one interval of its instant. 0 turns it off.
    screening_reminder_interval_seconds: float = Field(default=300.0, ge=0)
    # Worker processes that render PDFs (documents, case files) off the event loop; each
    # holds the CJK fonts in memory (docs/documents.md).
    render_workers: int = Field(default=1, ge=1, le=64)
    # The field app's build (pwa/, `make setup` runs `npm run build`), served at `/`.
    pwa_dir: Path = PROJECT_ROOT / "pwa" / "dist"
    # Archive packages of closed cases (docs/archive.md): written once under this folder,
    # read-only, never replaced. The job builds the missing ones every interval; 0 turns
    # it off (then run `fengqiao archive build --pending` from cron).
    archive_dir: Path = DEFAULT_VAR_DIR / "archive"
    archive_interval_seconds: float = Field(default=60.0, ge=0)

    @field_validator("database_url")
    @classmethod
    def supported_database(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("FENGQIAO_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_data_key(self) -> str:
        if self.data_key:
            return self.data_key
        if self.data_key_file.exists():
            return self.data_key_file.read_text().strip()
        raise RuntimeError(
            f"没有数据加密密钥：请设置 FENGQIAO_DATA_KEY 或运行 `fengqiao keygen` 生成 {self.data_key_file}"
        )
