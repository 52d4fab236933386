"""The command lines of ``streaming score`` and ``streaming serve``: help text, one-line
mistakes, and gunicorn instances that do not share a control socket."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import time

import pytest

from streaming.serving import score, serve
from tests.support.cli import STREAMING, cli
from tests.support.web import call, free_port

MODULES = {"score": score, "serve": serve}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_help_is_plain_text_and_every_option_has_help_and_its_default(name, capsys):
    module = MODULES[name]
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text  # no RST: argparse prints it as is
    assert text.startswith(f"usage: streaming {name}")
    parser = module.parser()
    formatter = parser.formatter_class(prog=parser.prog)
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{action.option_strings} has no help"
        if action.default not in (None, False):
            shown = formatter._get_help_string(action) % {"default": action.default}
            assert "default" in shown and str(action.default).rstrip("0").rstrip(".") in shown


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_real_cli_prints_the_same_help(name):
    proc = cli(name, "--help", timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "``" not in proc.stdout and "(default: " in proc.stdout


@pytest.mark.parametrize(
    ("name", "argv", "says"),
    [
        ("serve", ["--port", "70000"], "argument --port: a port is 1-65535, got 70000"),
        ("serve", ["--port", "0"], "argument --port: a port is 1-65535, got 0"),
        ("serve", ["--workers", "0"], "argument --workers: must be at least 1"),
        ("serve", ["--threads", "0"], "unrecognized arguments: --threads 0"),
        ("serve", ["--body-timeout", "nan"], "argument --body-timeout"),
        (
            "serve",
            ["--body-timeout", "31"],
            "argument --body-timeout: must be more than 0 and at most 30 seconds",
        ),
        ("score", ["--input", "x.parquet"], "the following arguments are required: --output"),
        (
            "score",
            ["--input", "a", "--output", "b", "--chunk-rows", "-5"],
            "argument --chunk-rows: must be at least 1",
        ),
    ],
)
def test_a_command_line_mistake_is_one_line(capsys, name, argv, says):
    with pytest.raises(SystemExit) as stop:
        MODULES[name].main(argv)
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"streaming {name}: {says}")
    assert captured.err.rstrip().endswith(f"(see streaming {name} --help)")


def test_a_port_in_use_is_one_line_at_once():
    """Before: gunicorn tried five times, a second apart, with ten ERROR lines."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        proc = cli("serve", "--port", str(port), timeout=60)
        took = time.monotonic() - started
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"streaming serve: port {port} is in use on 127.0.0.1 (another streaming serve?): "
        "stop it, or choose another --port"
    ]
    assert took < 4, took


def _serve(port: int, home) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_LOCATION", "XDG_RUNTIME_DIR")}
    env["HOME"] = str(home)
    return subprocess.Popen(
        [*STREAMING, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if call("GET", "/health", port=port)[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"no answer on port {port}")


@pytest.mark.slow  # starts two servers
def test_two_servers_share_no_control_socket(tmp_path):
    """gunicorn's default control socket is one path per user (~/.gunicorn/gunicorn.ctl):
    it is off, so two servers on one machine each run, and stop, on their own."""
    ports = [free_port(), free_port()]
    servers = [_serve(port, tmp_path) for port in ports]
    try:
        for port in ports:
            _wait_healthy(port)
        assert not (tmp_path / ".gunicorn").exists()
        servers[0].terminate()
        assert servers[0].wait(timeout=30) == 0
        assert call("GET", "/health", port=ports[1])[0] == 200  # the other one serves on
    finally:
        for proc in servers:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    assert not (tmp_path / ".gunicorn").exists()
