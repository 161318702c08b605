"""The workbench's web UI: ``python app.py`` serves it on http://127.0.0.1:7860.

    python app.py [--host HOST] [--port PORT] [--workspace DIR] [--runs DIR]

Bound to 127.0.0.1 (this machine only) unless ``--host`` says otherwise. Beyond localhost a
password is required: ``$WORKBENCH_PASSWORD``, ``--ask-password`` (typed at a prompt), or
``--password`` (works, but shows in ``ps`` to every user of the machine, with a warning);
user ``workbench``, or ``--user``. ``--no-password`` opens it to anyone who can reach the
port, with a warning. Failed logins are limited per client (5 in 5 minutes).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Whisper domain workbench: the web UI")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: local only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--workspace", type=Path, help="folder for your recipes and uploads")
    parser.add_argument("--runs", type=Path, help="runs folder (default: $WORKBENCH_RUNS or runs/)")
    parser.add_argument("--user", default="workbench", help="user name when a password is set")
    parser.add_argument(
        "--password",
        help="require this password (shows in `ps`: prefer $WORKBENCH_PASSWORD, --ask-password)",
    )
    parser.add_argument(
        "--ask-password", action="store_true", help="read the password from a prompt (not echoed)"
    )
    parser.add_argument(
        "--no-password", action="store_true", help="serve beyond localhost without a password"
    )
    return parser.parse_args(argv)


class ExposureError(ValueError):
    """Serving beyond localhost without a password, and not told that is fine."""


def auth_for(args: argparse.Namespace) -> tuple[list[tuple[str, str]] | None, str | None]:
    """(Gradio auth, a warning to print) for the chosen host and password options.

    Raises:
        ExposureError: beyond localhost with no password and no ``--no-password``.
    """
    password = args.password or os.environ.get("WORKBENCH_PASSWORD")
    note = None
    if args.password:
        note = (
            "WARNING: --password shows in the process list (`ps`) to every user of this "
            "machine; prefer $WORKBENCH_PASSWORD or --ask-password"
        )
    elif not password and getattr(args, "ask_password", False):
        import getpass

        password = getpass.getpass(f"password for user {args.user!r}: ")
        if not password:
            raise ExposureError("no password typed")
    local = args.host in LOCAL_HOSTS
    if password:
        return [(args.user, password)], note
    if local:
        return None, None
    if args.no_password:
        return None, (
            f"WARNING: serving on {args.host}:{args.port} WITHOUT a password; anyone who can "
            "reach this port can train, read your data and download your adapters"
        )
    raise ExposureError(
        f"refusing to serve on {args.host} without a password: set $WORKBENCH_PASSWORD "
        "(or --ask-password, or --password), or pass --no-password to accept the risk"
    )


def app_kwargs_for(auth: list[tuple[str, str]] | None) -> dict:
    """What Gradio passes to its FastAPI app: with a password, the login throttle."""
    if not auth:
        return {}
    from starlette.middleware import Middleware

    from workbench.ui.login_throttle import LoginThrottle

    return {"middleware": [Middleware(LoginThrottle)]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        auth, warning = auth_for(args)
    except ExposureError as exc:
        print(f"app.py: {exc}", file=sys.stderr)
        return 2
    if warning:
        print(warning, file=sys.stderr)
    if args.runs:
        os.environ["WORKBENCH_RUNS"] = str(args.runs)  # the trainers started from here too
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from workbench.ui.app import build_app, launch_options
    from workbench.ui.workspace import Workspace

    ws = Workspace.open(args.workspace, args.runs)
    if args.runs is None:
        os.environ["WORKBENCH_RUNS"] = str(ws.runs)
    where = "this machine only" if args.host in LOCAL_HOSTS else "the network"
    print(
        f"workbench UI on http://{args.host}:{args.port} ({where}); workspace {ws.root}, "
        f"runs {ws.runs}" + (f"; password required (user {args.user!r})" if auth else ""),
        flush=True,
    )
    app = build_app(ws)
    app.queue(default_concurrency_limit=4)
    options = {**launch_options(ws), "app_kwargs": app_kwargs_for(auth)}
    app.launch(server_name=args.host, server_port=args.port, auth=auth, quiet=True, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
