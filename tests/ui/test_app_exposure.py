"""app.py binds to 127.0.0.1 unless told otherwise; beyond it a password is required."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app import ExposureError, auth_for, parse_args


def test_local_by_default_without_a_password():
    args = parse_args([])
    assert args.host == "127.0.0.1" and args.port == 7860
    assert auth_for(args) == (None, None)


def test_beyond_localhost_needs_a_password(monkeypatch):
    monkeypatch.delenv("WORKBENCH_PASSWORD", raising=False)
    with pytest.raises(ExposureError, match="refusing"):
        auth_for(parse_args(["--host", "0.0.0.0"]))
    auth, message = auth_for(parse_args(["--host", "0.0.0.0", "--password", "s3cret"]))
    assert auth == [("workbench", "s3cret")] and "ps" in message  # it shows in `ps`
    monkeypatch.setenv("WORKBENCH_PASSWORD", "env-pass")
    assert auth_for(parse_args(["--host", "0.0.0.0"]))[0] == [("workbench", "env-pass")]
    monkeypatch.delenv("WORKBENCH_PASSWORD")
    auth, message = auth_for(parse_args(["--host", "0.0.0.0", "--no-password"]))
    assert auth is None and "WITHOUT a password" in message


def test_app_refuses_to_start_open_to_the_network(monkeypatch):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    done = subprocess.run(
        [sys.executable, "app.py", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2 and "without a password" in done.stderr
