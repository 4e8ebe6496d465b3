"""Every setting of the service, read once from the environment (prefix `DAJ_`) at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from daj.hardware import DtypeRequest
from daj.models import DEFAULT_MODEL
from daj.paths import default_cache_dir, repo_root


class Settings(BaseSettings):
    """Configuration table: README.md lists each field with its environment variable."""

    model_config = SettingsConfigDict(env_prefix="DAJ_", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", description="Bind address; localhost by default, set 0.0.0.0 deliberately.")
    port: int = Field(8000, ge=1, le=65535, description="HTTP port.")
    model: str = Field(DEFAULT_MODEL, description="Judge backbone: embedded alias, local folder or hub id.")
    adapters_dir: Path = Field(repo_root() / "adapters", description="Folder of LoRA adapters, one per subfolder.")
    default_adapter: str | None = Field(
        "auto",
        description="Adapter used when a request names none; empty = the base model without LoRA; "
        "auto = `default` if the adapters folder has one (the committed judge), else the base model.",
    )
    merge_default_adapter: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Serve the default adapter merged into the base weights (no LoRA kernels; requests may then "
        "use only that adapter); auto = on when vLLM runs on the CPU, where its LoRA path is ~88x slower.",
    )
    backend: Literal["vllm", "remote"] = Field("vllm", description="In-process vLLM, or a remote vLLM server.")
    remote_url: str | None = Field(None, description="Base URL of the OpenAI-compatible vLLM server (remote).")
    engine_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated base URLs of several vLLM servers (the judge tier); set, "
        "it replaces backend and remote_url: a selection's calls go to one server (its prefix cache), selections "
        "are spread by load, and a failed server's work moves to the others."
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "DAJ_REDIS_URL"),
        description="Verdict cache in Redis; unset = in-process LRU cache.",
    )
    cache_ttl_s: int = Field(7 * 24 * 3600, ge=1, description="Lifetime of a cached verdict.")
    cache_max_entries: int = Field(100_000, ge=1, description="Size bound of the in-process verdict cache.")
    max_candidates: int = Field(32, ge=2, le=256, description="Most candidates one request may send.")
    max_field_chars: int = Field(50_000, ge=1, description="Most characters in the problem or one candidate.")
    max_model_len: int = Field(4096, ge=256, description="Engine context length (prompt + answer tokens).")
    max_concurrent_requests: int = Field(64, ge=1, description="Selections in flight before 429.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated bearer keys; empty = auth off."
    )
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Converted models and build caches.")
    kv_cache_gib: int = Field(1, ge=1, description="vLLM CPU KV-cache size (GiB).")
    compile: bool = Field(
        True, description="Compile the judge with torch.compile (vLLM's default): ~13% faster bf16 calls on CPU, for "
        "~70 s once per model, dtype and vLLM version (kept in DAJ_CACHE_DIR/vllm-compile); off = eager, a start "
        "without that first compilation."
    )
    dtype: DtypeRequest = Field(
        "auto", description="Judge weights and compute dtype: auto = bfloat16 on a GPU or on a CPU with native bf16 "
        "(avx512_bf16, AMX), float32 on other CPUs, where bf16 is emulated and several times slower. /ready and "
        "/metrics report the choice and why."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    # ---- execution (the sandbox) ----
    execution_workers: int = Field(2, ge=1, le=64, description="Sandbox processes running at once.")
    execution_budget_s: float = Field(
        30.0, gt=0, le=600, description="Longest time one request may spend running candidates (the cap of "
        "its execution_budget_s field)."
    )
    execution_wall_s: float = Field(10.0, gt=0, description="Wall-clock limit of one candidate's run.")
    execution_cpu_s: float = Field(5.0, gt=0, description="CPU limit of one candidate's run.")
    execution_memory_mb: int = Field(1024, ge=64, description="Address-space limit of one candidate's run.")
    execution_case_s: float = Field(0.5, gt=0, description="Time limit of one probe (one call).")
    execution_output_chars: int = Field(200, ge=16, description="Longest output text kept per probe.")
    execution_generated_inputs: int = Field(12, ge=0, le=64, description="Inputs generated per problem.")
    execution_generator_runs: int = Field(8, ge=1, le=64, description="Runs of a request's input_generator "
                                          "when it does not say (generated_inputs).")
    execution_generator_s: float = Field(2.0, gt=0, le=30, description="CPU seconds per run of an "
                                         "input_generator.")
    execution_max_tests: int = Field(64, ge=0, description="Most entries in a request's tests or inputs.")
    execution_max_test_chars: int = Field(2000, ge=16, description="Most characters in one test or input.")
    execution_cache_entries: int = Field(20_000, ge=1, description="Size of the in-process execution cache.")
    execution_max_queue: int = Field(
        512, ge=1, description="Sandbox runs queued (running or waiting) past which a /rewards batch gets 429 with "
        "Retry-After."
    )
    executor_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated base URLs of executor services (`daj executor`) that run "
        "the candidates; empty = in this process. With URLs set, no candidate ever runs in the API process. "
        "`dns+http://name:port` makes every address the name resolves to an executor of its own, looked up again "
        "at every probe (replicas behind one name: compose --scale, a Kubernetes headless Service)."
    )
    executor_token: str | None = Field(None, description="Bearer token the service sends to its executors.")
    executor_probe_s: float = Field(2.0, gt=0, description="How often each executor's /ready is read (an "
                                    "executor marked down is used again once it answers).")
    # ---- /rewards (code rewards for RL trainers) ----
    rewards_budget_s: float = Field(
        120.0, gt=0, le=600, description="Longest time one /rewards batch may spend running completions (the cap "
        "of its budget_s field); what is not run by then gets budget_exceeded and reward null."
    )
    rewards_max_items: int = Field(512, ge=1, description="Most items (problems) in one /rewards batch.")
    rewards_max_group: int = Field(64, ge=1, description="Most completions of one /rewards item.")
    rewards_max_completions: int = Field(2048, ge=1, description="Most completions in one /rewards batch.")
    rewards_max_body_mb: int = Field(64, ge=1, description="Largest /rewards request body, in MiB.")
    rewards_openrlhf_window_s: float = Field(
        0.05, ge=0, le=5, description="/rewards/openrlhf gathers the requests that arrive within this window into "
        "one batch (OpenRLHF sends one completion per request)."
    )
    # ---- the judge between behaviour clusters ----
    prompt_version: Literal["daj-pairwise-v1", "daj-pairwise-v2", "daj-pairwise-v3"] = Field(
        "daj-pairwise-v1",
        description="Judge prompt for the base model and for adapters without daj metadata: v2 shows the inputs "
        "two clusters disagree on with the code, v3 those inputs without the code, v1 only the code."
        " An adapter trained by daj is always judged with the prompt "
        "its daj_adapter.json names (the shipped one: v1), and refused if this build does not render it.",
    )
    evidence_inputs: int = Field(3, ge=0, le=16, description="Disagreeing inputs shown per judged pair (K).")
    consensus_margin: float = Field(
        0.5, ge=0.0, le=0.5, description="A match whose judge probability is within this of 0.5, or whose two "
        "orders disagree, goes to the larger behaviour cluster. 0.5 (the default, 'consensus first'): the larger "
        "cluster always wins, and the judge decides only between clusters of the same size; lower margins let a "
        "sure judge overrule a larger cluster, which pays only for a judge right on about 4 mixed matches in 5 "
        "(docs/evaluation.md, `daj headroom`)."
    )
    shutdown_grace_s: int = Field(
        30, ge=1, description="On SIGTERM, how long in-flight selections may finish before they are cancelled."
    )
    stream_keepalive_s: float = Field(
        15.0, gt=0, description="A streamed selection quiet for this long sends a `: keep-alive` comment, so "
        "proxies and clients with read timeouts do not drop it during a long judge call."
    )

    @model_validator(mode="after")
    def _resolve_auto_adapter(self) -> Settings:
        if self.default_adapter == "auto":
            committed = self.adapters_dir / "default" / "adapter_config.json"
            self.default_adapter = "default" if committed.is_file() else None
        return self

    @field_validator("api_keys", "executor_urls", "engine_urls", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("executor_urls")
    @classmethod
    def _executor_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parts = urlsplit(url)
            try:
                parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
            except ValueError:
                parts = parts._replace(netloc="")
            if parts.scheme not in ("http", "https", "dns+http") or not parts.hostname:
                raise ValueError(f"{url!r}: an executor is http(s)://host:port, or dns+http://name:port for every "
                                 "address of a name")
        return urls

    @field_validator("default_adapter", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value in ("", "none", "base") else value
