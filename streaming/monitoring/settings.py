"""The monitoring function's settings, from the environment, checked at init.

| variable | meaning | default |
|---|---|---|
| ``MONITORING_DB_URL`` | ``sqlite:///file`` or ``postgresql://...`` | ``sqlite:///monitoring.db`` locally; on Lambda this or the secret |
| ``MONITORING_DB_SECRET_ARN`` | a Secrets Manager secret holding the URL, or RDS's JSON (``engine``, ``host``, ``port``, ``username``, ``password``, ``dbname``), read at init | none |
| ``SHADOW_STREAM_NAME`` | records from this stream are the shadow's | none |
| ``MODEL_LOCATION`` / ``SHADOW_MODEL_LOCATION`` | models whose training reference is stored for drift (the champion under ``MODEL_VERSION``/``RUN_ID`` when set, as the consumer labels it) | the shipped ``models/``, as the prediction function; no shadow |
| ``MONITORING_PENDING_TTL_S`` | how long a prediction waits for its ride to finish (and a finished ride for its prediction) | 14400 (4 h; rides are at most a day, most under an hour) |
| ``MONITORING_PENDING_MAX`` | pending predictions kept at most (the oldest beyond are counted as evicted) | 1,000,000 |
| ``MONITORING_MIN_DRIFT_RECORDS`` | a window needs this many predictions before drift is reported | 200 |
"""  # noqa: E501

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from streaming.consumer.config import SHIPPED_MODEL_DIR

LOCAL_DB_URL = "sqlite:///monitoring.db"


class MonitoringConfigError(ValueError):
    """A setting that cannot work; the message names the variable and the fix."""


@dataclass(frozen=True)
class MonitoringSettings:
    db_url: str = LOCAL_DB_URL
    #: the URL is in this Secrets Manager secret (template.yaml): read at init
    db_secret_arn: str | None = None
    shadow_stream: str | None = None
    #: (location, version label, role) of the models whose reference is stored: the
    #: champion labelled as the consumer labels it (``MODEL_VERSION``, else ``RUN_ID``,
    #: else its metadata's version: ``None``), and the shadow
    models: tuple[tuple[str, str | None, str], ...] = ()
    pending_ttl_s: int = 4 * 3600
    pending_max: int = 1_000_000
    min_drift_records: int = 200

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MonitoringSettings:
        env = os.environ if env is None else env
        url, secret = database_from_env(env, LOCAL_DB_URL)
        models: list[tuple[str, str | None, str]] = []
        champion = env.get("MODEL_LOCATION", "").strip() or (
            str(SHIPPED_MODEL_DIR) if SHIPPED_MODEL_DIR.is_dir() else ""
        )
        if champion:  # the prediction function's default: the model shipped with it
            label = env.get("MODEL_VERSION") or env.get("RUN_ID") or None
            models.append((champion, label, "champion"))
        if env.get("SHADOW_MODEL_LOCATION", "").strip():
            models.append((env["SHADOW_MODEL_LOCATION"].strip(), None, "shadow"))
        return cls(
            db_url=url,
            db_secret_arn=secret,
            shadow_stream=env.get("SHADOW_STREAM_NAME", "").strip() or None,
            models=tuple(models),
            pending_ttl_s=int_setting(
                env, "MONITORING_PENDING_TTL_S", cls.pending_ttl_s, 60, 7 * 86400
            ),
            pending_max=int_setting(env, "MONITORING_PENDING_MAX", cls.pending_max, 1, 100_000_000),
            min_drift_records=int_setting(
                env, "MONITORING_MIN_DRIFT_RECORDS", cls.min_drift_records, 1, 10**9
            ),
        )


def database_from_env(
    env: Mapping[str, str], local_url: str, error: type[ValueError] = MonitoringConfigError
) -> tuple[str, str | None]:
    """(URL, secret ARN) of the database the monitoring function and the batch job
    share: ``MONITORING_DB_URL``, else ``MONITORING_DB_SECRET_ARN`` (the URL is then
    empty, read from the secret at init), else ``local_url`` - except on Lambda,
    where a local file would belong to one sandbox: there it is ``error``."""
    url = env.get("MONITORING_DB_URL", "").strip()
    secret = env.get("MONITORING_DB_SECRET_ARN", "").strip() or None
    if url:
        return url, None
    if secret:
        return "", secret
    if env.get("AWS_LAMBDA_FUNCTION_NAME"):
        raise error(
            "neither MONITORING_DB_URL nor MONITORING_DB_SECRET_ARN is set: on Lambda "
            "give the PostgreSQL database (template.yaml: MonitoringDbSecretArn)"
        )
    return local_url, None


def int_setting(
    env: Mapping[str, str],
    name: str,
    default: int,
    low: int,
    high: int,
    error: type[ValueError] = MonitoringConfigError,
) -> int:
    """The whole number ``name`` of ``env``, from ``low`` to ``high``; ``default`` if unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise error(f"{name}={raw!r}: give a whole number from {low} to {high}")
    return value
