"""Environment variables -> one frozen ``Settings`` object, read once at init.

The variable names of the MLOps Zoomcamp streaming example are kept
(``PREDICTIONS_STREAM_NAME``, ``RUN_ID``, ``TEST_RUN``, ``KINESIS_ENDPOINT_URL``)
so its users can switch without touching their infrastructure. Everything is
validated here, at cold start, so a misconfigured function fails its init with a
message naming the variable instead of failing every batch later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The model shipped with the repository (``models/`` beside ``streaming/``,
#: which is also the layout of the Lambda task root).
SHIPPED_MODEL_DIR = Path(__file__).resolve().parents[2] / "models"

DEFAULT_PREDICTIONS_STREAM = "ride_predictions"
#: PutRecords calls in flight per batch; chosen from bench/PUBLISH.md (a 10,000-record
#: batch is 20 calls: 8 at once cut the wait at 30 ms per call to about a quarter,
#: more only queue behind the output stream's shards).
DEFAULT_PUBLISH_CONCURRENCY = 8
MAX_PUBLISH_CONCURRENCY = 32

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class ConfigError(ValueError):
    """A setting is missing or malformed; raised at init so the cause is obvious."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the handler reads from its environment."""

    predictions_stream: str = DEFAULT_PREDICTIONS_STREAM
    dead_letter_stream: str | None = None
    model_location: str = str(SHIPPED_MODEL_DIR)
    #: ``MODEL_VERSION``, else the course's ``RUN_ID``; ``None`` means "use the
    #: version recorded in the model's own metadata".
    model_version_override: str | None = None
    test_run: bool = False
    #: The course's ``KINESIS_ENDPOINT_URL``. When unset, boto3 applies its own
    #: ``AWS_ENDPOINT_URL_KINESIS`` / ``AWS_ENDPOINT_URL`` variables.
    kinesis_endpoint_url: str | None = None
    #: PutRecords attempts per invocation (the first call included).
    publish_max_attempts: int = 6
    #: Time kept in reserve before the Lambda timeout: retries stop early enough
    #: to still return a response that lists what was not published.
    publish_time_reserve_s: float = 2.0
    #: PutRecords calls of one batch in flight at once (1: one after another).
    publish_concurrency: int = DEFAULT_PUBLISH_CONCURRENCY
    #: The shadow (challenger) model, its stream and the share of rides it scores.
    shadow: ShadowSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; raise ``ConfigError`` naming the variable."""
        env = os.environ if env is None else env
        return cls(
            predictions_stream=_stream_name(
                env, "PREDICTIONS_STREAM_NAME", DEFAULT_PREDICTIONS_STREAM
            ),
            dead_letter_stream=_stream_name(env, "DEAD_LETTER_STREAM_NAME", None),
            model_location=env.get("MODEL_LOCATION") or str(SHIPPED_MODEL_DIR),
            model_version_override=env.get("MODEL_VERSION") or env.get("RUN_ID") or None,
            test_run=_flag(env, "TEST_RUN"),
            kinesis_endpoint_url=env.get("KINESIS_ENDPOINT_URL") or None,
            publish_max_attempts=_int(env, "PUBLISH_MAX_ATTEMPTS", 6, lo=1, hi=50),
            publish_time_reserve_s=_int(env, "PUBLISH_TIME_RESERVE_MS", 2000, lo=0, hi=900_000)
            / 1000.0,
            shadow=ShadowSettings.from_env(env),
            publish_concurrency=_int(
                env,
                "PUBLISH_CONCURRENCY",
                DEFAULT_PUBLISH_CONCURRENCY,
                lo=1,
                hi=MAX_PUBLISH_CONCURRENCY,
            ),
        )


@dataclass(frozen=True, slots=True)
class ShadowSettings:
    """``SHADOW_MODEL_LOCATION``, ``SHADOW_STREAM_NAME``, ``SHADOW_SAMPLE_PERCENT``.

    Read apart from the champion's settings on purpose: a mistake here must not
    fail the function's init (the champion never suffers for its challenger), so
    it is kept in ``problem`` and the shadow is disabled with that reason."""

    model_location: str
    stream: str | None
    sample_percent: float = 100.0
    #: why the shadow cannot run (``None``: it can)
    problem: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ShadowSettings | None:
        location = env.get("SHADOW_MODEL_LOCATION") or ""
        if not location:
            return None
        problems: list[str] = []
        try:
            stream = _stream_name(env, "SHADOW_STREAM_NAME", None)
        except ConfigError as exc:
            stream, problems = None, [str(exc)]
        if stream is None and not problems:
            problems.append("SHADOW_STREAM_NAME is not set: the shadow has nowhere to publish")
        percent = _percent(env, "SHADOW_SAMPLE_PERCENT", problems)
        return cls(location, stream, percent, "; ".join(problems) or None)


def _percent(env: Mapping[str, str], name: str, problems: list[str]) -> float:
    raw = env.get(name) or ""
    if not raw:
        return 100.0
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} is not a number")
        return 0.0
    if not 0.0 <= value <= 100.0:  # NaN fails too
        problems.append(f"{name}={raw} is outside [0, 100]")
        return 0.0
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={env[name]!r} is not a boolean (use True or False)")


def _int(env: Mapping[str, str], name: str, default: int, *, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={value} is outside [{lo}, {hi}]")
    return value


def _stream_name(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    """Kinesis stream names are 1-128 chars of ``[a-zA-Z0-9_.-]`` (CreateStream API)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if len(raw) > 128 or not all(c.isascii() and (c.isalnum() or c in "_.-") for c in raw):
        raise ConfigError(f"{name}={raw!r} is not a valid Kinesis stream name")
    return raw
