"""daj as the code reward of RL trainers: TRL's `GRPOTrainer` and verl, through `POST /rewards`.

Every completion is run in the service's sandbox on the problem's examples and the row's tests; its reward is the
pass rate (or `binary`, `agreement`, `judge`: see `RewardKind`). A completion the service could not score (the
sandbox failed, the batch's budget ran out, its problem could not be run) gets None, never a made-up 0.

TRL (`GRPOTrainer`): a dataset with a `prompt` column, and `problem` and `tests` columns (`tests`: daj's test
forms, `[{"stdin": ..., "stdout": ...}]`, `[{"args": [...], "expected": ...}]` or assert statements, or a
`{"inputs", "outputs", "fn_name"?}` object as below). Without a `problem` column the prompt is the problem. Columns
named `entry_point`, `shape`, `time_limit_s`, `checker` or `inputs` are read too::

    from daj_client.rewards import trl_reward
    trainer = GRPOTrainer(model=..., reward_funcs=[trl_reward("http://daj:8000")], train_dataset=dataset, ...)

The completions of one prompt go to the service as one item, so `reward="agreement"` sees the whole group. The
reward is logged as `rewards/daj_pass_rate/mean` (the function's name, `daj_<reward>`), each completion's status
in the completions table (`daj_pass_rate_status`, `daj_pass_rate_passed`: `3/5`), and the share of each status as
`daj_pass_rate/passed_frac`, `daj_pass_rate/failed_frac`, ..., `daj_pass_rate/unscored_frac`.
`async_trl_reward(...)` is the same as a coroutine function: TRL runs it concurrently with other reward functions.

verl: `custom_reward_function.path` is `pkg://daj_client.rewards` (a verl that takes only files: this file's path,
`python -c "import daj_client.rewards as r; print(r.__file__)"`) and `name` is `compute_score`, or
`compute_score_batch` with `reward_manager.name=batch` (older verl: `reward_model.reward_manager=batch`; the
completions of one prompt then go as one item). `reward_model.ground_truth` is `{"tests": [...]}` (with optional
`entry_point`, `shape`, `inputs`, `time_limit_s`, `checker`) or the PRIME / LiveCodeBench form
`{"inputs": [...], "outputs": [...], "fn_name"?: ...}`, as a dict or a JSON string; the problem statement is
`extra_info["problem"]` (or `["question"]`); the service is `extra_info["daj_url"]`, else
`custom_reward_function.reward_kwargs.daj_url`, else `$DAJ_BASE_URL`::

    python -m verl.trainer.main_ppo ... custom_reward_function.path=pkg://daj_client.rewards \\
        custom_reward_function.name=compute_score_batch reward_manager.name=batch \\
        +custom_reward_function.reward_kwargs.daj_url=http://daj:8000 \\
        +custom_reward_function.reward_kwargs.reward=pass_rate

Each result is `{"score", "scored", "status", "passed", "total", "daj_reward"}`: verl needs a number, so a
completion that could not be scored has `score` 0.0 and `scored` False; `daj_reward` is the service's reward (NaN
when there is none; verl already logs a `reward` of its own, so the key is not `reward`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import httpx
from pydantic import ValidationError

# verl may load this file by its path (`custom_reward_function.path=/.../rewards.py`) as a module outside the
# package and outside sys.modules: so absolute imports (relative ones fail there), and no dataclasses (they look
# their module up in sys.modules).
from daj_client import _base
from daj_client._async_client import AsyncClient
from daj_client._client import Client
from daj_client.errors import APIError
from daj_client.types import CompletionStatus, RewardItem, RewardKind, RewardsResponse

__all__ = [
    "ITEM_FIELDS",
    "TRLReward",
    "async_trl_reward",
    "compute_score",
    "compute_score_batch",
    "item_fields_from_ground_truth",
    "trl_reward",
]

logger = logging.getLogger(__name__)

ITEM_FIELDS = ("inputs", "entry_point", "shape", "time_limit_s", "checker")
"""The `RewardItem` fields besides problem, completions and tests: constants (`trl_reward(shape="stdin")`),
dataset columns of the same name (TRL), or keys of the ground truth (verl)."""

DEFAULT_TRAINER_RETRIES = 5
"""The adapters retry more than a `Client` does (2): a training step should wait out a full sandbox queue (429
with Retry-After), not crash."""

STATUS_METRICS = ("passed", "failed", "timeout", "syntax_error", "no_code", "unscored")
"""The per-status shares logged through TRL's `log_metric` as `<function name>/<status>_frac`, every call and all
of them (TRL averages each metric across processes, so every process must log the same names)."""

# ---- ground truth: daj's test forms, and the PRIME / LiveCodeBench `{inputs, outputs, fn_name}` form ----


def item_fields_from_ground_truth(ground_truth: Any) -> dict[str, Any]:
    """`RewardItem` fields (`tests`, and maybe `entry_point`, `shape`, `inputs`, `time_limit_s`, `checker`,
    `problem`) from a dataset's ground truth: a dict or its JSON string. ValueError when it is neither form.

    - None or "": no tests (the service scores the completions on the statement's examples).
    - `{"tests": [...], ...}`: daj's forms as they are (`{stdin, stdout}`, `{args, expected}`, assert statements),
      with any of the other fields; a bare list is the tests.
    - `{"inputs": [...], "outputs": [...]}` without `fn_name`: standard-input programs, one
      `{"stdin", "stdout"}` test per pair, and `shape` "stdin".
    - the same with `fn_name`: calls of that function (or `class Solution` method), one `{"args", "expected"}`
      test per pair, `entry_point` fn_name. An input is the argument list, or a string of one JSON value per
      argument, one per line (LiveCodeBench); an output is the expected value, or its JSON string. When the
      inputs are lists and every output is a one-element list, the outputs are APPS / TACO's wrapped results:
      `[[3], [5]]` expects 3 and 5.
    """
    value = _plain(ground_truth)
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"the ground truth is a string but not JSON: {exc}") from None
    if isinstance(value, list):
        return {"tests": value}
    if not isinstance(value, dict):
        raise ValueError(f"the ground truth is a {type(value).__name__}, not a dict with `tests` or `outputs`")
    if "outputs" in value:
        if "tests" in value:
            raise ValueError("the ground truth has both `tests` and `outputs`: give one form")
        fields = _io_tests(value)
        overrides = {key: value[key] for key in ITEM_FIELDS if key != "inputs" and value.get(key) is not None}
        return {**fields, **overrides}
    known = ("tests", "problem", *ITEM_FIELDS)
    if value and not {"tests", "inputs"} & set(value):
        raise ValueError(f"the ground truth has neither `tests` nor `outputs` (keys: {', '.join(sorted(value))})")
    return {key: value[key] for key in known if value.get(key) is not None}


def _io_tests(value: dict[str, Any]) -> dict[str, Any]:
    inputs, outputs = value.get("inputs"), value["outputs"]
    if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
        raise ValueError("`inputs` and `outputs` must be lists of the same length")
    fn_name = value.get("fn_name")
    if not fn_name:
        runs = [{"stdin": _text(i), "stdout": _text(o)} for i, o in zip(inputs, outputs, strict=True)]
        return {"tests": runs, "shape": "stdin"}
    if not isinstance(fn_name, str):
        raise ValueError(f"`fn_name` is a {type(fn_name).__name__}, not a string")
    arguments = [_arguments(item, number) for number, item in enumerate(inputs)]
    expected = [_json_value(item) for item in outputs]
    wrapped = all(not isinstance(item, str) for item in inputs) and all(
        isinstance(item, list) and len(item) == 1 for item in expected
    )
    if wrapped and expected:
        expected = [item[0] for item in expected]
    calls = [{"args": args, "expected": result} for args, result in zip(arguments, expected, strict=True)]
    return {"tests": calls, "entry_point": fn_name}


def _text(value: Any) -> str:
    """A standard-input test's text: a string as is, a list of lines joined (ending in a newline)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(f"{line}\n" for line in value)
    return str(value)


def _arguments(value: Any, number: int) -> list[Any]:
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        return [value]
    try:
        return [json.loads(line) for line in value.split("\n") if line.strip()]
    except ValueError:
        raise ValueError(f"input {number} is not one JSON value per line (the functional format)") from None


def _json_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _plain(value: Any) -> Any:
    """Plain Python values from what a dataset loader gives: numpy arrays and scalars (parquet columns in verl)
    through their `tolist`, tuples as lists, bytes decoded. numpy itself is never imported."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode()
    if not isinstance(value, str | int | float | bool) and value is not None and hasattr(value, "tolist"):
        return _plain(value.tolist())
    return value


# ---- grouping: completions of the same problem and tests go as one item, and their rewards come back in order ----


class _Batch:
    """The items of one request and where each completion went. A completion whose row cannot make an item (its
    ground truth or fields are malformed) is not sent: it gets no reward and status `not_scored`, with a warning,
    rather than failing the training step."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.positions: list[tuple[int, int] | None] = []  # completion -> (item, its index there); None: not sent
        self._groups: dict[str, int | None] = {}  # fields -> item number; None: they make no valid item

    def add(self, fields: dict[str, Any], completion: Any) -> None:
        key = json.dumps(fields, sort_keys=True, default=str)
        if key not in self._groups:
            self._groups[key] = self._new_item(fields)
        number = self._groups[key]
        if number is None:
            self.positions.append(None)
            return
        self.positions.append((number, len(self.items[number]["completions"])))
        self.items[number]["completions"].append(completion)

    def skip(self, why: str) -> None:
        """The next completion is not sent (`why` says which and why)."""
        logger.warning("daj: %s: not scored", why)
        self.positions.append(None)

    def _new_item(self, fields: dict[str, Any]) -> int | None:
        try:
            RewardItem.model_validate({**fields, "completions": [""]})
        except ValidationError as exc:
            logger.warning("daj: completions of problem %.60r are not scored: %s", fields.get("problem"), exc)
            return None
        self.items.append({**fields, "completions": []})
        return len(self.items) - 1


class _Scored(NamedTuple):
    """One completion's result, in the caller's order."""

    reward: float | None
    status: str
    passed: int
    total: int


NOT_SENT = _Scored(None, CompletionStatus.NOT_SCORED.value, 0, 0)


def _scored(batch: _Batch, response: RewardsResponse | None) -> list[_Scored]:
    """Each completion's result in the caller's order, from the flat `rewards` and `statuses` (items in order);
    passed and total from the item reports."""
    offsets = [0]
    for item in batch.items[:-1]:
        offsets.append(offsets[-1] + len(item["completions"]))
    details = {(report.index, c.index): c for report in response.items for c in report.completions} if response else {}
    results = []
    for position in batch.positions:
        if position is None or response is None:
            results.append(NOT_SENT)
            continue
        number, index = position
        flat = offsets[number] + index
        detail = details.get(position)
        passed, total = (detail.passed, detail.total) if detail is not None else (0, 0)
        results.append(_Scored(response.rewards[flat], response.statuses[flat].value, passed, total))
    return results


class _Options(NamedTuple):
    """The request's options, as `Client.rewards` takes them (`**options._asdict()`); None: the server's."""

    reward: str
    no_code_reward: float | None
    agreement_weight: float | None
    budget_s: float | None


# ---- TRL ----


def _prompt_text(prompt: Any) -> str:
    """A standard prompt as is; a conversational one's last user message (its text parts, if it has parts), else
    its last message."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and all(isinstance(message, Mapping) for message in prompt):
        users = [message for message in prompt if message.get("role") == "user"]
        last = users[-1] if users else prompt[-1] if prompt else {}
        return _content_text(last.get("content"))
    raise TypeError(f"a prompt is a string or a list of chat messages, not {prompt!r:.80}")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, Sequence):  # multimodal parts: [{"type": "text", "text": ...}, {"type": "image"}]
        return "".join(part.get("text") or "" for part in content if isinstance(part, Mapping))
    return str(content)


def _completion(completion: Any) -> str | list[dict[str, Any]]:
    """Text as is; chat messages as they are, but with text content (a content of parts or None becomes its
    text, so one multimodal or tool-call message does not fail the whole batch)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and all(isinstance(m, Mapping) for m in completion):
        return [
            {**message, "content": _content_text(message.get("content"))}
            if not isinstance(message.get("content"), str)
            else dict(message)
            for message in completion
        ]
    raise TypeError(f"a completion is a string or a list of chat messages, not {completion!r:.80}")


class _TRLConfig(NamedTuple):
    name: str  # TRL's name for the function: rewards/<name>/mean; also the prefix of what it logs
    options: _Options
    problem_column: str
    tests_column: str
    item_fields: dict[str, Any]
    on_error: Literal["raise", "none"]

    def batch(self, prompts: Sequence[Any], completions: Sequence[Any], columns: Mapping[str, Any]) -> _Batch:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
        problems = _column(columns, self.problem_column)
        tests = _column(columns, self.tests_column)
        per_row = {name: values for name in ITEM_FIELDS if (values := _column(columns, name)) is not None}
        batch = _Batch()
        for i, completion in enumerate(completions):
            fields: dict[str, Any] = dict(self.item_fields)
            if tests is not None and tests[i] is not None:
                try:
                    fields |= _tests_fields(tests[i])
                except ValueError as exc:
                    batch.skip(f"completion {i}, its {self.tests_column!r}: {exc}")
                    continue
            fields |= {name: _plain(values[i]) for name, values in per_row.items() if values[i] is not None}
            truth_problem = fields.pop("problem", None)  # a ground truth's own `problem`
            if problems is not None and problems[i] is not None:
                fields["problem"] = str(problems[i])
            else:
                fields["problem"] = truth_problem if isinstance(truth_problem, str) else _prompt_text(prompts[i])
            batch.add(fields, _completion(completion))
        return batch

    def finish(self, results: list[_Scored], columns: Mapping[str, Any]) -> list[float | None]:
        """The rewards in order; through TRL's `log_extra` (a column of its completions table) each completion's
        status and `passed/total`, through `log_metric` the share of each status. The names carry the function's:
        two daj reward functions in one trainer must not write into one column (it would get two values per
        completion)."""
        log_extra, log_metric = columns.get("log_extra"), columns.get("log_metric")
        if callable(log_extra):
            log_extra(f"{self.name}_status", [r.status for r in results])
            log_extra(f"{self.name}_passed", [f"{r.passed}/{r.total}" for r in results])
        if callable(log_metric):
            for status, share in _status_shares(results).items():
                log_metric(f"{self.name}/{status}_frac", share)
        return [r.reward for r in results]

    def failed(self, error: APIError, count: int, columns: Mapping[str, Any]) -> list[float | None]:
        """The request failed for good: raise it, or (on_error="none") give every completion None."""
        if self.on_error == "raise":
            raise error
        logger.warning("daj /rewards failed, %d completions get no reward: %s", count, error)
        return self.finish([_Scored(None, "request_error", 0, 0)] * count, columns)


def _column(columns: Mapping[str, Any], name: str) -> Sequence[Any] | None:
    """A dataset column TRL passed (a list, one value per completion), or None."""
    values = columns.get(name)
    return values if isinstance(values, Sequence) and not isinstance(values, str | bytes) else None


def _tests_fields(value: Any) -> dict[str, Any]:
    """A tests column's value: a list of tests, a ground-truth dict, or a JSON string of either (a string that is
    not JSON is one test: an assert statement, or several)."""
    value = _plain(value)
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            json.loads(value)
        except ValueError:
            return {"tests": [value]}
    return item_fields_from_ground_truth(value)


def _status_shares(results: Sequence[_Scored]) -> dict[str, float]:
    count = max(len(results), 1)
    shares = {name: sum(r.status == name for r in results) / count for name in STATUS_METRICS}
    shares["unscored"] = sum(r.reward is None for r in results) / count
    return shares


def _trl_config(
    name: str | None,
    reward: RewardKind | str,
    problem_column: str,
    tests_column: str,
    no_code_reward: float | None,
    agreement_weight: float | None,
    budget_s: float | None,
    on_error: Literal["raise", "none"],
    item_fields: dict[str, Any],
) -> _TRLConfig:
    unknown = set(item_fields) - set(ITEM_FIELDS)
    if unknown:
        raise TypeError(f"unknown item field(s): {', '.join(sorted(unknown))} (known: {', '.join(ITEM_FIELDS)})")
    if on_error not in ("raise", "none"):
        raise ValueError(f"on_error is 'raise' or 'none', not {on_error!r}")
    options = _Options(RewardKind(reward).value, no_code_reward, agreement_weight, budget_s)
    fields = {key: _plain(value) for key, value in item_fields.items() if value is not None}
    return _TRLConfig(name or f"daj_{options.reward}", options, problem_column, tests_column, fields, on_error)


class TRLReward:
    """A reward function for TRL's `GRPOTrainer` (`reward_funcs=[trl_reward(...)]`): `(prompts, completions,
    **columns) -> list[float | None]`. A class rather than a closure so that it pickles (TRL's async GRPO sends
    reward functions to another process); its client is made again there, from the base URL and key."""

    def __init__(
        self,
        config: _TRLConfig,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        client: Client | None = None,
    ) -> None:
        self.__name__ = config.name  # TRL's metric name: rewards/<name>/mean
        self.config = config
        self.base_url = base_url
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                self._client = Client(self.base_url, self.api_key, timeout=self.timeout, max_retries=self.max_retries)
            return self._client

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        batch = self.config.batch(prompts, completions, columns)
        try:
            response = self.client.rewards(batch.items, **self.config.options._asdict()) if batch.items else None
        except APIError as error:
            return self.config.failed(error, len(completions), columns)
        return self.config.finish(_scored(batch, response), columns)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TRLReward({self.__name__!r}, base_url={self.base_url!r})"


def trl_reward(
    base_url: str | None = None,
    *,
    api_key: str | None = None,
    reward: RewardKind | str = RewardKind.PASS_RATE,
    problem_column: str = "problem",
    tests_column: str = "tests",
    timeout: float | httpx.Timeout = _base.DEFAULT_TIMEOUT_S,
    max_retries: int = DEFAULT_TRAINER_RETRIES,
    no_code_reward: float | None = None,
    agreement_weight: float | None = None,
    budget_s: float | None = None,
    name: str | None = None,
    on_error: Literal["raise", "none"] = "raise",
    client: Client | None = None,
    **item_fields: Any,
) -> TRLReward:
    """A TRL `GRPOTrainer` reward function scored by daj: `reward_funcs=[trl_reward("http://daj:8000")]`.

    Per completion: the problem is the row's `problem_column`, else its prompt (the last user message of a
    conversational prompt); the tests its `tests_column` (daj's forms, or a ground truth that
    `item_fields_from_ground_truth` reads). `item_fields` are constants for every item (`shape="stdin"`,
    `time_limit_s=2.0`); a dataset column of the same name wins. Completions with the same problem, tests and
    fields go as one item. `name` (TRL's metric name) defaults to `daj_<reward>`; `on_error="none"` gives every
    completion of a batch None (TRL skips it) when the service cannot be reached or keeps failing, instead of
    raising. `client` replaces the client made from `base_url`, `api_key`, `timeout` and `max_retries`.
    """
    config = _trl_config(
        name, reward, problem_column, tests_column, no_code_reward, agreement_weight, budget_s, on_error, item_fields
    )
    return TRLReward(
        config, base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries, client=client
    )


def async_trl_reward(
    base_url: str | None = None,
    *,
    api_key: str | None = None,
    reward: RewardKind | str = RewardKind.PASS_RATE,
    problem_column: str = "problem",
    tests_column: str = "tests",
    timeout: float | httpx.Timeout = _base.DEFAULT_TIMEOUT_S,
    max_retries: int = DEFAULT_TRAINER_RETRIES,
    no_code_reward: float | None = None,
    agreement_weight: float | None = None,
    budget_s: float | None = None,
    name: str | None = None,
    on_error: Literal["raise", "none"] = "raise",
    client: AsyncClient | None = None,
    **item_fields: Any,
) -> Callable[..., Awaitable[list[float | None]]]:
    """`trl_reward` as a coroutine function (`inspect.iscoroutinefunction` is true, which is how `GRPOTrainer`
    picks the reward functions it awaits concurrently on its event loop). It is a closure: it does not pickle, so
    for TRL's experimental async GRPO (which sends reward functions to another process) use `trl_reward`."""
    config = _trl_config(
        name, reward, problem_column, tests_column, no_code_reward, agreement_weight, budget_s, on_error, item_fields
    )
    clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = weakref.WeakKeyDictionary()

    def client_for_this_loop() -> AsyncClient:
        # An httpx.AsyncClient's connections belong to the loop that opened them: one client per loop.
        if client is not None:
            return client
        loop = asyncio.get_running_loop()
        if loop not in clients:
            clients[loop] = AsyncClient(base_url, api_key, timeout=timeout, max_retries=max_retries)
        return clients[loop]

    async def daj_reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        batch = config.batch(prompts, completions, columns)
        try:
            response = None
            if batch.items:
                response = await client_for_this_loop().rewards(batch.items, **config.options._asdict())
        except APIError as error:
            return config.failed(error, len(completions), columns)
        return config.finish(_scored(batch, response), columns)

    daj_reward.__name__ = daj_reward.__qualname__ = config.name
    return daj_reward


# ---- verl ----


VERL_OPTIONS = ("reward", "no_code_reward", "agreement_weight", "budget_s", "daj_url", "api_key", "timeout",
                "max_retries")  # fmt: skip
"""What `custom_reward_function.reward_kwargs` may set for `compute_score` and `compute_score_batch`; other
keyword arguments (verl passes some of its own) are ignored."""

_clients: dict[tuple[str | None, str | None, float, int], Client] = {}
_clients_lock = threading.Lock()


def _shared_client(base_url: str | None, api_key: str | None, timeout: float, max_retries: int) -> Client:
    """One pooled client per service and settings in this process (verl calls `compute_score` once per
    completion, from threads in its newer reward loop; `Client` is thread-safe)."""
    key = (base_url, api_key, timeout, max_retries)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = Client(base_url, api_key, timeout=timeout, max_retries=max_retries)
        return _clients[key]


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's `custom_reward_function` (`NaiveRewardManager`): one completion scored by daj. See the module
    docstring for the ground truth and `extra_info`; `kwargs` may set `VERL_OPTIONS`."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """verl's batch `custom_reward_function` (`reward_manager.name=batch`): the completions of a batch in
    one request per service, those with the same problem and ground truth as one item (so `agreement` sees the
    group). Returns one `{"score", "scored", "status", "passed", "total", "daj_reward"}` per completion, in order."""
    count = len(solution_strs)
    infos: Sequence[Mapping[str, Any] | None] = extra_infos if extra_infos is not None else [None] * count
    if not len(data_sources) == len(ground_truths) == len(infos) == count:
        raise ValueError(
            f"{count} solutions for {len(data_sources)} data sources, {len(ground_truths)} ground truths and "
            f"{len(infos)} extra infos"
        )
    options = _Options(
        RewardKind(kwargs.get("reward") or RewardKind.PASS_RATE).value,
        kwargs.get("no_code_reward"),
        kwargs.get("agreement_weight"),
        kwargs.get("budget_s"),
    )
    results: list[_Scored] = [NOT_SENT] * count
    batches: dict[str | None, tuple[_Batch, list[int]]] = {}  # one request per service
    for i, (solution, truth, info) in enumerate(zip(solution_strs, ground_truths, infos, strict=True)):
        info = info or {}
        url = _plain(info.get("daj_url")) or kwargs.get("daj_url") or None
        batch, indices = batches.setdefault(url, (_Batch(), []))
        indices.append(i)
        try:
            fields = item_fields_from_ground_truth(truth)
        except ValueError as exc:
            batch.skip(f"completion {i}, its ground truth: {exc}")
            continue
        problem = _plain(info.get("problem") or info.get("question") or fields.get("problem") or "")
        fields["problem"] = problem if isinstance(problem, str) else str(problem)
        batch.add(fields, solution)
    for url, (batch, indices) in batches.items():
        response = None
        if batch.items:
            client = _shared_client(
                url,
                kwargs.get("api_key"),
                float(kwargs.get("timeout") or _base.DEFAULT_TIMEOUT_S),
                int(kwargs.get("max_retries", DEFAULT_TRAINER_RETRIES)),
            )
            response = client.rewards(batch.items, **options._asdict())
        for i, scored in zip(indices, _scored(batch, response), strict=True):
            results[i] = scored
    return [_verl_result(r.reward, r.status, r.passed, r.total) for r in results]


def _verl_result(reward: float | None, status: str, passed: int, total: int) -> dict[str, Any]:
    """The same keys for every completion (verl gathers each key into one column per batch)."""
    return {
        "score": 0.0 if reward is None else float(reward),
        "scored": reward is not None,
        "status": status,
        "passed": passed,
        "total": total,
        "daj_reward": float("nan") if reward is None else float(reward),
    }
