"""The Docker path cannot run here (no engine): check it statically, so it does not rot.

docker-compose.yaml is validated by Debian's docker-compose; the Dockerfile's
COPY sources, the pinned images, the handler and the env vars are checked
against the code.
"""

from __future__ import annotations

import ast
import re
import subprocess

import yaml

from streaming.consumer.config import Settings
from tests.conftest import REPO
from tests.support.tools import tool

RUNTIME_ENV = {  # what the handler reads: Settings.from_env + boto3 + Powertools
    "PREDICTIONS_STREAM_NAME",
    "DEAD_LETTER_STREAM_NAME",
    "MODEL_LOCATION",
    "MODEL_VERSION",
    "RUN_ID",
    "TEST_RUN",
    "KINESIS_ENDPOINT_URL",
    "PUBLISH_MAX_ATTEMPTS",
    "PUBLISH_TIME_RESERVE_MS",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}


def compose():
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def dockerfile_lines():
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_compose_file_is_valid():
    proc = subprocess.run(
        [tool("docker-compose"), "-f", str(REPO / "docker-compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_compose_images_pinned_and_ports_on_loopback():
    services = compose()["services"]
    assert services["localstack"]["image"] == "localstack/localstack:4.14.0"
    for name, service in services.items():
        image = service.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, name
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_compose_backend_env_is_what_the_code_reads():
    backend = compose()["services"]["backend"]
    env = backend["environment"]
    assert set(env) <= RUNTIME_ENV, set(env) - RUNTIME_ENV
    settings = Settings.from_env({k: str(v) for k, v in env.items()})
    assert settings.kinesis_endpoint_url == "http://localstack:4566"
    init = (REPO / "integration-test/localstack-init/create-streams.sh").read_text()
    for stream in (settings.predictions_stream, settings.dead_letter_stream, "ride_events"):
        assert re.search(rf"^{stream} \d+$", init, re.MULTILINE), stream
    assert backend["depends_on"]["localstack"]["condition"] == "service_healthy"


def test_dockerfile_base_is_pinned_and_copies_only_what_exists():
    lines = dockerfile_lines()
    base = next(line for line in lines if line.startswith("ARG BASE_IMAGE="))
    assert re.fullmatch(
        r"ARG BASE_IMAGE=public\.ecr\.aws/lambda/python:3\.12\.\d{4}(\.\d+)+", base
    ), base
    copies = [line.split()[1:-1] for line in lines if line.startswith("COPY")]
    sources = [s for srcs in copies for s in srcs]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"Dockerfile copies missing {source}"
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    for source in sources:
        assert f"!{source}" in ignore, f".dockerignore hides {source}"


def test_dockerfile_handler_exists():
    cmd = next(line for line in dockerfile_lines() if line.startswith("CMD"))
    assert cmd == 'CMD ["lambda_function.lambda_handler"]'
    tree = ast.parse((REPO / "lambda_function.py").read_text())
    assert "lambda_handler" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_web_service_dockerfile():
    text = (REPO / "web-service/Dockerfile").read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    [base] = [ln for ln in lines if ln.startswith("FROM")]
    assert re.fullmatch(r"FROM python:3\.12\.\d+-slim(-\w+)?", base), base
    sources = [s for ln in lines if ln.startswith("COPY") for s in ln.split()[1:-1]]
    ignore = (REPO / ".dockerignore").read_text().splitlines()  # one context: the repo
    for source in sources:
        assert (REPO / source).exists(), f"web-service/Dockerfile copies missing {source}"
        assert f"!{source}" in ignore, f".dockerignore hides {source}"
    cmd = next(ln for ln in lines if ln.startswith("CMD"))
    assert '"streaming.serving.serve"' in cmd and '"0.0.0.0"' in cmd and '"9696"' in cmd
    assert any(ln.startswith("USER ") and "root" not in ln for ln in lines)


def test_lambda_requirements_are_runtime_only_and_match_the_constraints():
    def pins(path):
        out = {}
        for raw in (REPO / path).read_text().splitlines():
            line = raw.split("#")[0].strip()
            if "==" in line:
                name, version = line.split("==")
                out[name.lower().replace("_", "-")] = version
        return out

    lam, constraints = pins("requirements-lambda.txt"), pins("constraints.txt")
    web = pins("web-service/requirements.txt")
    assert web and all(constraints.get(name) == version for name, version in web.items())
    assert {"numpy", "boto3", "aws-lambda-powertools", "tzdata"} <= set(lam)
    assert not {"scikit-learn", "scipy", "pandas", "pyarrow", "onnxruntime"} & set(lam)
    for name, version in lam.items():
        assert constraints.get(name) == version, f"{name}: {version} vs {constraints.get(name)}"
    monitoring = pins("requirements-monitoring-lambda.txt")
    assert {"sqlalchemy", "psycopg", "psycopg-binary"} == set(monitoring)
    for name, version in monitoring.items():
        assert constraints.get(name) == version, f"{name}: {version} vs {constraints.get(name)}"
