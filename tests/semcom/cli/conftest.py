"""Child processes running ``semcom`` commands, to kill and resume them.

A launcher process imports the command line once; each command runs in a child it forks
(``semcom.cli.main.main(argv)``, as ``python -m semcom.cli`` runs it), which a test can SIGKILL or
interrupt at any point. The launcher never computes anything itself, so forking it is safe, and a
command starts in milliseconds instead of paying for the imports again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

LAUNCHER = r"""
import json, os, signal, sys, traceback
from semcom.cli.main import main
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        # Ctrl-C raises KeyboardInterrupt, as in a terminal, even when the suite runs as a background job
        # (which starts with SIGINT ignored)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            os.chdir(request["cwd"])
            log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            code = main(request["argv"])
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class Launcher:
    """Starts ``semcom`` commands in forked children, one at a time."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
        assert self._reply() == {"ready": True}

    def _reply(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the launcher process ended")
        return json.loads(line)

    def start(self, argv: list[str], log: Path, cwd: Path) -> int:
        """Start ``semcom ARGV`` (output appended to ``log``); returns the child's pid."""
        self.process.stdin.write(json.dumps({"argv": argv, "log": str(log), "cwd": str(cwd)}) + "\n")
        self.process.stdin.flush()
        return self._reply()["pid"]

    def wait(self) -> int:
        """The exit code of the running child once it ends (negative: killed by that signal)."""
        return self._reply()["code"]

    def run(self, argv: list[str], log: Path, cwd: Path) -> int:
        self.start(argv, log, cwd)
        return self.wait()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def launcher():
    started = Launcher()
    yield started
    started.close()
