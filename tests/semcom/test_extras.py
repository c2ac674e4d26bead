"""The core install: link, separation, JSCC and bound run without the packages of the optional extras, and a
feature that needs one says which extra to install."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from semcom.errors import MissingDependencyError, SemcomError
from semcom.extras import OPTIONAL, require

REPO = Path(__file__).resolve().parents[2]

#: a fresh interpreter in which the optional packages cannot be imported, as in a core-only install
CORE_ONLY = textwrap.dedent("""
    import importlib.abc, json, sys

    BLOCKED = set({blocked!r})

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Blocked())
""")

PROBE = textwrap.dedent("""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import semcom
    import semcom.cli.main, semcom.runner, semcom.table4, semcom.models, semcom.plots
    import channels, knowledge_base, semcom.schemes, semcom.generative, semcom.semantic, semcom.inference
    from semcom.errors import MissingDependencyError
    from semcom.generative import CAPTIONERS, KEYWORD_EXTRACTORS

    image = semcom.load_images(limit=1, crop=64)[0][1]
    sent = {}
    for name, options in (("separation", {"codec": "webp", "cbr": "1/4"}), ("jscc", {}), ("bound", {})):
        scheme = semcom.make_scheme(name, **options)
        sent[name] = semcom.transmit(scheme, image, snr_db=10.0).record["psnr"]
    refusals = {}
    for what, make in (("vit-gpt2", lambda: CAPTIONERS.create("vit-gpt2")),
                       ("yake", lambda: KEYWORD_EXTRACTORS.create("yake")),
                       ("gai", lambda: semcom.make_scheme("gai", captions="default"))):
        try:
            make()
            refusals[what] = None
        except MissingDependencyError as err:
            refusals[what] = str(err)
    loaded = sorted(m for m in BLOCKED if m in sys.modules)
    print(json.dumps({"psnr": sent, "refusals": refusals, "loaded": loaded}))
""")


def test_core_runs_without_the_optional_packages():
    blocked = sorted(OPTIONAL)
    code = CORE_ONLY.format(blocked=blocked) + PROBE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_WAIT_POLICY": "PASSIVE",
                              "HOME": str(Path.home())})
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    assert all(value > 15 for value in report["psnr"].values()), report["psnr"]
    for what, message in report["refusals"].items():
        assert message is not None, f"{what} was built without its packages"
        assert "pip install 'semcom[gai]'" in message, message


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(OPTIONAL, "no_such_package_here", ("no-such-package", "ray"))
    with pytest.raises(MissingDependencyError, match=r"the ray executor needs the package 'no-such-package'.*"
                                                     r"pip install 'semcom\[ray\]'"):
        require("no_such_package_here.module", "the ray executor")
    assert isinstance(MissingDependencyError("x"), (SemcomError, ImportError))
    assert require("json", "reading results").dumps([1]) == "[1]"


def test_every_optional_package_is_declared_in_its_extra():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = {extra: {req.split(">")[0].split("<")[0].split("[")[0].strip().lower() for req in reqs}
                for extra, reqs in extras.items()}
    for module, (distribution, extra) in OPTIONAL.items():
        assert distribution in declared[extra], f"{distribution} ({module}) is not in the {extra} extra"
        core = {req.split(">")[0].split("<")[0].strip().lower() for req in project["dependencies"]}
        assert distribution not in core, f"{distribution} is a core dependency but {module} is optional"
    assert "semcom[gai,ray,notebooks,fl,optimisation]" in extras["dev"]
