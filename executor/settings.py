"""The executor's settings, read once from the environment (prefix `DAJ_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ExecutorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAJ_", extra="ignore")

    executor_host: str = Field("127.0.0.1", description="Bind address; containers set 0.0.0.0.")
    executor_port: int = Field(8100, ge=1, le=65535, description="HTTP port.")
    executor_token: str | None = Field(None, description="Bearer token every endpoint but /health requires.")
    execution_workers: int = Field(2, ge=1, le=256, description="Sandbox runs at once.")
    executor_python: str | None = Field(
        None, description="The interpreter candidates run under (e.g. a venv built from a requirements file at "
        "image build time); default: the executor's own."
    )
    executor_site_packages: bool = Field(
        False, description="Candidates may import what that interpreter has installed (its site-packages); off: "
        "the standard library only."
    )
    executor_max_jobs: int = Field(64, ge=1, description="Most jobs in one POST /v1/run.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
