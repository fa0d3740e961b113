"""``sys.modules["httplib2"] = asynchttp`` before a library's import, in a fresh
interpreter per library (module_swap_child.py), against this process's servers.

With the module aliased, ``httplib2.Http`` is ``asynchttp.Http``: the libraries get
promises, so the promise limits of the other tests apply here too.
"""

from __future__ import annotations

import builtins
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.realworld import module_swap_child as child
from tests.realworld.conftest import NOT_A_BUFFER
from tests.servers.http_server import TestServer
from tests.servers.realworld import GoogleLikeApi, LaunchpadLikeApi

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_STEPS = {
    "googleapiclient": ["build", "get", "insert", "batch", "retries"],
    "google_auth_httplib2": ["http class", "refresh on 401"],
    "oauth2client": ["refresh on 401"],
    "oauth2": ["subclass", "signed get"],
    "apitools": ["retries"],
    "lazr_restfulclient": ["service root twice"],
}

WADL_REASON = (
    "with the module aliased lazr gets Http promises, and wadllib wraps the WADL content "
    "in io.BytesIO(content): not a buffer before Python 3.12 (TypeError)"
)


def _params() -> list[Any]:
    params = []
    for library in EXPECTED_STEPS:
        marks = []
        if library == "lazr_restfulclient" and NOT_A_BUFFER:
            marks.append(pytest.mark.xfail(strict=True, reason=WADL_REASON, raises=TypeError))
        params.append(pytest.param(library, marks=marks, id=library))
    return params


def _raise_child_failure(steps: dict[str, str]) -> None:
    """A step that failed in the child with a builtin exception fails here with the
    same class, so an expected failure can name it exactly."""
    for name, outcome in steps.items():
        cls = getattr(builtins, outcome.split(":", 1)[0], None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            raise cls(f"step {name!r} in the child: {outcome}")


@pytest.mark.parametrize("library", _params())
def test_library_under_module_alias(library: str, http_server: TestServer) -> None:
    google = GoogleLikeApi(http_server)
    google.flaky_plan["swap"] = [500, 429]
    launchpad = LaunchpadLikeApi(http_server, child.CONSUMER, child.TOKEN)
    done = subprocess.run(
        [sys.executable, "-m", "tests.realworld.module_swap_child", library, http_server.url("/")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    _raise_child_failure(steps)
    assert steps == dict.fromkeys(["import"] + EXPECTED_STEPS[library], "ok")
    assert launchpad.unsigned == []
