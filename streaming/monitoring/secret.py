"""The database URL kept in AWS Secrets Manager, read once at init.

template.yaml gives the function the secret's ARN, never the password: the value
is fetched with ``GetSecretValue`` (the role may read that one secret). Two
shapes are accepted: the URL itself (``postgresql://user:pw@host:5432/db``), or
the JSON that RDS writes for a managed secret (``engine``, ``host``, ``port``,
``username``, ``password``, ``dbname``), turned into a URL. An error names the
secret and the fix, never its value.
"""

from __future__ import annotations

import json
from typing import Any

from streaming.monitoring.settings import MonitoringConfigError

_RDS_KEYS = ("host", "username", "password")


def url_from_secret(arn: str, client: Any = None) -> str:
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    try:
        value = client.get_secret_value(SecretId=arn).get("SecretString")
    except Exception as exc:  # access denied, no such secret, no network route
        raise MonitoringConfigError(
            f"cannot read MONITORING_DB_SECRET_ARN {arn}: {type(exc).__name__} (check the "
            "role's secretsmanager:GetSecretValue and, in a VPC, a Secrets Manager endpoint)"
        ) from exc
    return url_from_secret_string(arn, value)


def url_from_secret_string(arn: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MonitoringConfigError(f"secret {arn} has no SecretString: store the database URL")
    text = value.strip()
    if text.startswith("postgres://"):  # Heroku's and others' spelling
        text = "postgresql://" + text.removeprefix("postgres://")
    if text.startswith(("postgresql://", "sqlite:")):
        return text
    try:
        fields = json.loads(text)
    except ValueError:
        fields = None
    if isinstance(fields, dict) and isinstance(fields.get("url"), str):
        return url_from_secret_string(arn, fields["url"])
    if isinstance(fields, dict) and all(isinstance(fields.get(k), str) for k in _RDS_KEYS):
        from sqlalchemy.engine import URL

        port = fields.get("port", 5432)
        return URL.create(
            "postgresql",
            username=fields["username"],
            password=fields["password"],
            host=fields["host"],
            port=int(port) if str(port).isdigit() else 5432,
            database=str(fields.get("dbname") or "postgres"),
        ).render_as_string(hide_password=False)
    raise MonitoringConfigError(
        f"secret {arn} is neither a database URL nor RDS's JSON (host, username, password)"
    )


def open_database(
    url: str, secret_arn: str | None, error: type[ValueError] = MonitoringConfigError
):
    """The settings' database opened and migrated: the URL, or the one read from the
    secret. A URL that cannot be used is ``error``, naming the variable."""
    from streaming.database.engine import StoreError, open_store

    if secret_arn is not None:
        url = url_from_secret(secret_arn)
    try:
        return open_store(url)
    except StoreError as exc:
        raise error(f"MONITORING_DB_URL: {exc}") from exc
