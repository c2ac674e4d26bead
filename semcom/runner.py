"""Experiments described by TOML configs: one or more schemes, one link setting, a sweep of images x SNRs.

A config (see ``experiments/*.toml``)::

    name = "tiny"                     # optional; names the default results folder
    seed = 0
    snr_db = [0.0, 10.0]
    plugins = ["semcom.testing"]      # optional: modules (or .py files) that register their own stages

    [images]
    folder = "embedded"               # the scikit-image photographs, "data:kodak" (under $SEMCOM_DATA), or a path
    limit = 1                         # optional: the first N images
    crop = 64                         # optional: centre-crop to at most N x N pixels (quick runs)

    [channel]
    name = "awgn"                     # any registered channel; other keys are its options

    [[schemes]]                       # or one [scheme] table
    name = "gai"                      # a registered scheme
    label = "generative"              # optional: its row name in reports
    prompt_bits = 100                 # other keys: the scheme's own options
    captions = "default"              # "default": semcom/data/default_captions.json (the embedded photos)
    [schemes.stages.generator]        # a stage built here and handed to the scheme
    name = "tiny-stable-diffusion"    # any registered name, including a plugin's
    steps = 2                         # other keys: the stage's options

Stage kinds: ``codec`` (separation), ``captioner``, ``keywords``, ``generator`` (gai). A stage can also be
named by a plain scheme option (``codec = "jpeg"``, ``generator = "fallback"``); both forms are checked
against the registries before anything runs. Relative paths are taken from the config file's folder;
``data:NAME`` means NAME under the shared data folder (``$SEMCOM_DATA`` or ``../shared/data``).

Every key is checked before anything runs, with the same rules as the command-line flags of the same
name (:mod:`semcom.options`): ``seed``, ``snr_db``, ``images.limit``, ``images.crop`` and the scheme
options (``cbr``, ``mcs``, ``arq``, ``prompt_bits``, ``steps``, ...); channel options must be ones the
channel takes.

Results (:func:`run_experiment`) go to one folder: ``config.json`` (the resolved config), ``meta.json``
(seed, package versions, git revision, command line, hardware), ``results.jsonl`` (one JSON line per
scheme x image x SNR, each appended in one write and synced to disk as it finishes), ``summary.json`` (one
row per scheme x SNR: means with standard deviation and 95 % confidence interval, written atomically),
``psnr_vs_snr.png`` and, with ``save_images``, ``images/<label>/<snr>dB/<image>.png`` (each reconstruction,
lossless).
The images are loaded and every scheme is built before config.json or any result is written, so a config
that fails leaves no state that would refuse the corrected one. A run holds the folder's lock (``.lock``): a second run into the same folder is refused
at once. Running again into the same folder resumes: finished items are read back and skipped (a line
cut short by an interruption is dropped and redone); a folder that holds another experiment's results is
refused rather than overwritten.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from channels import CHANNELS
from semcom import metrics as quality_metrics
from semcom.errors import ConfigError, InputError
from semcom.executors import Built, Executor, Task, make_executor
from semcom.files import (
    append_line,
    default_data_dir,
    exclusive,
    jsonable,
    output_folder,
    read_toml,
    write_bytes,
    write_text,
)
from semcom.images import centre_crop, default_images, list_images, load_image, png_bytes
from semcom.options import CROP, LIMIT, SCHEME_OPTIONS, SEED, SNR_LIST
from semcom.provenance import provenance
from semcom.schemes import SCHEMES, BuildContext, Scheme, SchemeResult, make_scheme

DEFAULT_CAPTIONS = Path(__file__).resolve().parent / "data" / "default_captions.json"

_TOP_KEYS = {"name", "description", "seed", "snr_db", "plugins", "images", "channel", "scheme", "schemes"}
_IMAGE_KEYS = {"folder", "limit", "crop"}
_SCHEME_RESERVED = {"name", "label", "stages"}
#: scheme metrics summarised for records written before records listed their metric names (resumed folders).
_METRICS_BEFORE_NAMES = ("semantic_similarity", "caption_similarity", "prompt_exact", "prompt_bits")


def _stage_registries() -> dict[str, Any]:
    """Stage kind -> (registry, the scheme parameter it fills)."""
    from semcom.generative.captioner import CAPTIONERS
    from semcom.generative.generator import GENERATORS
    from semcom.generative.keywords import KEYWORD_EXTRACTORS
    from semcom.semantic import TEXT_CODECS
    from semcom.source.codecs import CODECS

    return {"codec": (CODECS, "codec"), "captioner": (CAPTIONERS, "captioner"),
            "keywords": (KEYWORD_EXTRACTORS, "keywords"), "generator": (GENERATORS, "generator"),
            "text_codec": (TEXT_CODECS, "text_codec")}


#: stage kinds that can be built in a [stages.KIND] table (the text codec is named by option only).
STAGE_KINDS = ("codec", "captioner", "keywords", "generator")


def default_captions(folder: str | os.PathLike | None) -> str | None:
    """The reference captions of an image set: the shipped captions of the embedded photographs (``folder``
    None or ``embedded``), ``FOLDER/captions.json`` when the folder has one, else None."""
    if folder is None or str(folder) == "embedded":
        return str(DEFAULT_CAPTIONS)
    path = Path(folder).expanduser() / "captions.json"
    return str(path.resolve()) if path.is_file() else None


# ------------------------------------------------------------------------------------------ plugins


def load_plugins(modules: list[str] | tuple[str, ...], base: Path | None = None) -> list[str]:
    """Import each plugin (a module name, or a path to a .py file); its import registers its stages."""
    loaded = []
    for module in modules or ():
        if not isinstance(module, str) or not module:
            raise ConfigError(f"plugins: each plugin must be a module name or a .py path, got {module!r}")
        try:
            if module.endswith(".py") or os.sep in module or "/" in module:
                path = Path(module).expanduser()
                if not path.is_absolute() and base is not None and not path.exists():
                    path = base / path
                if not path.is_file():
                    raise ConfigError(f"plugin file not found: {module}")
                name = f"semcom_plugin_{path.stem}"
                if name not in sys.modules:
                    spec = importlib.util.spec_from_file_location(name, path)
                    mod = importlib.util.module_from_spec(spec)
                    sys.modules[name] = mod
                    try:
                        spec.loader.exec_module(mod)
                    except BaseException:
                        sys.modules.pop(name, None)
                        raise
            else:
                importlib.import_module(module)
        except ConfigError:
            raise
        except SystemExit as stop:
            raise ConfigError(f"plugin {module!r} called sys.exit({stop.code!r}) while being imported") from None
        except Exception as err:
            raise ConfigError(f"cannot import plugin {module!r}: {type(err).__name__}: {err}") from err
        loaded.append(module)
    return loaded


# ------------------------------------------------------------------------------------------- config


def load_config(path: str | os.PathLike, plugins: list[str] | tuple[str, ...] = ()) -> dict:
    """Read, import the plugins of, and validate a TOML experiment config (ConfigError names what is wrong)."""
    path = Path(path)
    raw = read_toml(path, "config")
    raw.setdefault("name", path.stem)
    return validate_config(raw, base=path.resolve().parent, plugins=plugins, source=str(path))


def resolve_path(value: str, base: Path | None) -> str:
    """A path of a config: ``data:NAME`` is NAME in the shared data folder; a relative path is taken from
    ``base`` (the config file's folder)."""
    if value.startswith("data:"):
        return str(default_data_dir() / value[5:])
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path.resolve()) if path.is_absolute() or base is not None else str(path)


def validate_config(raw: dict, base: Path | None = None, plugins: list[str] | tuple[str, ...] = (),
                    source: str = "config") -> dict:
    """The resolved config (plain data) of ``raw``; raises ConfigError naming the bad key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a config is a table of settings, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_TOP_KEYS))}")
    # plugins first: they may register the names used below
    plugin_list = raw.get("plugins", [])
    if not isinstance(plugin_list, list):
        raise ConfigError(f"{source}: plugins must be a list of module names, got {plugin_list!r}")
    all_plugins = list(plugin_list) + [p for p in plugins if p not in plugin_list]
    load_plugins(all_plugins, base)

    name = raw.get("name", "experiment")
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ConfigError(f"{source}: name must be a non-empty string without '/' or '\\' (it names the "
                          f"default results folder), got {name!r}")
    seed = SEED.check(raw.get("seed", 0), f"{source}: seed")
    snrs = raw.get("snr_db")
    if snrs is None:
        raise ConfigError(f"{source}: missing key 'snr_db' (a list of SNRs in dB, e.g. snr_db = [0.0])")
    snrs = SNR_LIST.check(snrs, f"{source}: snr_db")

    # images
    images = raw.get("images", {"folder": "embedded"})
    if isinstance(images, str):
        images = {"folder": images}
    if not isinstance(images, dict):
        raise ConfigError(f"{source}: images must be a table (folder, limit, crop), got {images!r}")
    bad = sorted(set(images) - _IMAGE_KEYS)
    if bad:
        raise ConfigError(f"{source}: unknown key 'images.{bad[0]}'; known: {', '.join(sorted(_IMAGE_KEYS))}")
    folder = images.get("folder", "embedded")
    if not isinstance(folder, str) or not folder:
        raise ConfigError(f"{source}: images.folder must be 'embedded' or a folder path, got {folder!r}")
    folder = folder if folder == "embedded" else resolve_path(folder, base)
    limit = images.get("limit")
    if limit is not None:
        limit = LIMIT.check(limit, f"{source}: images.limit")
    crop = images.get("crop")
    if crop is not None:
        crop = CROP.check(crop, f"{source}: images.crop")

    # channel
    channel = raw.get("channel", {"name": "awgn"})
    if isinstance(channel, str):
        channel = {"name": channel}
    if not isinstance(channel, dict) or not isinstance(channel.get("name"), str):
        raise ConfigError(f"{source}: channel must be a table with a 'name' (e.g. name = \"awgn\"), got {channel!r}")
    _check_channel_options(channel, source)

    # schemes
    if "scheme" in raw and "schemes" in raw:
        raise ConfigError(f"{source}: give either [scheme] or [[schemes]], not both")
    entries = raw.get("schemes", [raw["scheme"]] if "scheme" in raw else None)
    if entries is None:
        raise ConfigError(f"{source}: missing key 'scheme' (a [scheme] table with a name, e.g. name = \"separation\")")
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: schemes must be a non-empty list of tables")
    schemes, labels = [], set()
    for number, entry in enumerate(entries):
        where = f"schemes[{number}]" if "schemes" in raw else "scheme"
        schemes.append(_validate_scheme(entry, where, base, source))
        if schemes[-1]["label"] in labels:
            raise ConfigError(f"{source}: {where}.label {schemes[-1]['label']!r} is used twice; give each a label")
        labels.add(schemes[-1]["label"])
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{source}: description must be a string")
    return {"name": name, "description": description, "seed": seed, "snr_db": snrs,
            "images": {"folder": folder, "limit": limit, "crop": crop}, "channel": dict(channel),
            "schemes": schemes, "plugins": all_plugins}


def _check_channel_options(channel: dict, source: str) -> None:
    """The channel is registered and takes every option given beside its name."""
    try:
        factory = CHANNELS.get(channel["name"])  # unknown channel -> ConfigError listing the known ones
    except ConfigError as err:
        raise ConfigError(f"{source}: channel.name: {err}") from None
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [p for p in params if p not in ("self", "seed", "name")]
    for key in channel:
        if key != "name" and key not in known:
            raise ConfigError(f"{source}: channel {channel['name']!r} has no option {key!r}; "
                              f"options: {', '.join(known) or 'none'}")


def _check_options(options: dict, where: str, source: str) -> dict:
    """``options`` with those of a declared name (:data:`SCHEME_OPTIONS`) checked and converted ('1/16' -> 0.0625)."""
    return {key: SCHEME_OPTIONS[key].check(value, f"{source}: {where}.{key}") if key in SCHEME_OPTIONS else value
            for key, value in options.items()}


def _validate_scheme(entry, where: str, base: Path | None, source: str) -> dict:
    if not isinstance(entry, dict):
        raise ConfigError(f"{source}: {where} must be a table, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str):
        raise ConfigError(f"{source}: missing key '{where}.name' (one of: {', '.join(SCHEMES.names())})")
    try:
        factory = SCHEMES.get(name)
    except ConfigError as err:
        raise ConfigError(f"{source}: {where}.name: {err}") from None
    label = entry.get("label", name)
    if not isinstance(label, str) or not label or "|" in label:
        raise ConfigError(f"{source}: {where}.label must be a non-empty string without '|', got {label!r}")
    options = {k: v for k, v in entry.items() if k not in _SCHEME_RESERVED}
    params = scheme_parameters(factory)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in ("seed", "channel", "context"):
        if key in options:
            raise ConfigError(f"{source}: {where}.{key}: set {key} at the top level of the config ({key} = ...)")
    if not takes_any:
        bad = sorted(k for k in options if k not in params)
        if bad:
            raise ConfigError(f"{source}: {where}: scheme {name!r} has no option {bad[0]!r}; options: "
                              f"{', '.join(p for p in params if p not in ('seed', 'channel', 'context'))}")
    options = _check_options(options, where, source)
    registries = _stage_registries()
    for key, value in list(options.items()):
        if key in registries and isinstance(value, str):
            registry = registries[key][0]
            if not (key == "generator" and value == "fallback"):
                try:
                    registry.get(value)
                except ConfigError as err:
                    raise ConfigError(f"{source}: {where}.{key}: {err}") from None
        if key in ("captions", "corpus", "kb", "model", "generator_model", "captioner_model") and isinstance(value, str):
            if key == "captions" and value == "default":
                options[key] = str(DEFAULT_CAPTIONS)
            elif key == "model" and not ("/" in value or value.startswith("data:")):
                pass  # a registered or hub name, not a path
            elif key in ("generator_model", "captioner_model") and not (value.startswith((".", "/", "~", "data:"))):
                pass  # a hub id
            else:
                options[key] = resolve_path(value, base)
    stages = entry.get("stages", {})
    if not isinstance(stages, dict):
        raise ConfigError(f"{source}: {where}.stages must be a table of stage tables")
    resolved_stages = {}
    for kind, spec in stages.items():
        if kind not in STAGE_KINDS:
            raise ConfigError(f"{source}: unknown stage kind '{where}.stages.{kind}'; known: {', '.join(STAGE_KINDS)}")
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ConfigError(f"{source}: {where}.stages.{kind} needs a name (e.g. name = \"...\")")
        spec = {"name": spec["name"], **_check_options({k: v for k, v in spec.items() if k != "name"},
                                                        f"{where}.stages.{kind}", source)}
        registry, param = registries[kind]
        try:
            registry.get(spec["name"])
        except ConfigError as err:
            raise ConfigError(f"{source}: {where}.stages.{kind}.name: {err}") from None
        if param not in params and not takes_any:
            raise ConfigError(f"{source}: {where}.stages.{kind}: scheme {name!r} has no {kind} stage")
        spec = dict(spec)
        for key in ("captions", "images", "model"):
            if isinstance(spec.get(key), str):
                if key == "captions" and spec[key] == "default":
                    spec[key] = str(DEFAULT_CAPTIONS)
                elif key != "model" or spec[key].startswith((".", "/", "~", "data:")):
                    spec[key] = resolve_path(spec[key], base)
        if param in options:
            raise ConfigError(f"{source}: {where}: {kind} is given both as an option and as a stage; keep one")
        resolved_stages[kind] = spec
    return {"name": name, "label": label, "options": options, "stages": resolved_stages}


# ------------------------------------------------------------------------------------------- images


def load_images(spec: dict) -> list[tuple[str, np.ndarray]]:
    """(name, image) pairs of a resolved ``images`` spec (folder / embedded, limit, crop)."""
    folder, limit, crop = spec.get("folder", "embedded"), spec.get("limit"), spec.get("crop")
    if folder == "embedded":
        images = default_images()
    else:
        paths = list_images(folder)  # InputError for a missing / empty folder
        images = [(path.name, load_image(path)) for path in (paths[:limit] if limit else paths)]
    images = images[:limit] if limit else images
    if crop:
        images = [(name, centre_crop(image, crop)) for name, image in images]
    return images


# ---------------------------------------------------------------------------------------- the run


@dataclass
class RunResult:
    """out: the results folder (None: nothing written); records: one per scheme x image x SNR; summary: one
    row per scheme x SNR; build_seconds: label -> seconds to build the scheme (the slowest worker's);
    wall_seconds: building and running, in all; described: label -> :meth:`Scheme.describe` of the schemes
    built in this run; executor: where items ran."""

    out: Path | None
    records: list[dict]
    summary: list[dict]
    computed: int = 0
    skipped: int = 0
    build_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    described: dict[str, dict] = field(default_factory=dict)
    executor: str = "local"


def item_key(label: str, image: str, snr_db: float) -> str:
    return f"{label}|{image}|{float(snr_db):g}"


def image_file(out: Path, label: str, snr_db: float, image: str) -> Path:
    """Where a run saves the reconstruction of one item: ``out/images/<label>/<snr>dB/<image name>.png``."""
    folder = label.replace("/", "_").replace("\\", "_")
    return out / "images" / folder / f"{float(snr_db):g}dB" / f"{Path(image).stem}.png"


@dataclass
class Finished:
    """What a worker hands back for one item: its result record and, when asked, the reconstruction as PNG."""

    record: dict
    png: bytes | None = None


def read_results(path: Path) -> list[dict]:
    """Finished records of ``results.jsonl``; a last line cut short by an interruption is removed from the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    records, good_end, offset = [], 0, 0
    for line in data.splitlines(keepends=True):
        end = offset + len(line)
        offset = end
        if not line.endswith(b"\n"):
            break  # cut short: redone
        text = line.strip()
        if not text:
            good_end = end
            continue
        try:
            record = json.loads(text)
            if not isinstance(record, dict) or "key" not in record:
                raise ValueError("not a result record")
        except ValueError:
            if end == len(data):
                break  # a damaged last line: redone
            raise InputError(f"{path}: line {len(records) + 1} is not a result record; fix or remove the file")
        records.append(record)
        good_end = end
    if good_end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(good_end)
    return records


def scheme_parameters(factory) -> dict[str, inspect.Parameter]:
    """The options a registered scheme takes: those of its ``from_config`` when it has its own, else its call's."""
    build = getattr(factory, "from_config", None)
    if build is not None and getattr(build, "__func__", None) is not Scheme.from_config.__func__:
        return dict(inspect.signature(build).parameters)
    return dict(inspect.signature(factory).parameters)


def build_scheme(entry: dict, config: dict, context: BuildContext) -> Scheme:
    """The scheme of a resolved config entry, its stages built from their registries."""
    registries = _stage_registries()
    factory = SCHEMES.get(entry["name"])
    params = scheme_parameters(factory)
    options = dict(entry["options"])
    for kind, spec in entry["stages"].items():
        registry, param = registries[kind]
        stage_options = {k: v for k, v in spec.items() if k != "name"}
        if kind == "captioner" and spec["name"] == "reference":
            stage_options = context.reference_captions(stage_options)
        options[param] = registry.create(spec["name"], **stage_options)
    channel = dict(config["channel"])
    options["channel"] = channel.pop("name")
    options.update(channel)
    if "seed" in params:
        options["seed"] = config["seed"]
    if "context" in params:
        options["context"] = context
    return make_scheme(entry["name"], **options)


def run_experiment(config: dict, out: str | os.PathLike | None, progress: bool = True,
                   option: str = "results folder", executor: str = "local", workers: int | None = None,
                   address: str | None = None, save_images: bool | int = False) -> RunResult:
    """Run (or resume) a resolved config; returns every record of the config and the summary.

    With a results folder ``out``, it is created and locked first (ConfigError naming ``option`` at once if it
    cannot be written or another run holds it); the images are loaded and every scheme with items left is built
    before config.json, meta.json or any result is written, and each record is appended as it finishes. With
    ``out=None`` nothing is written (``semcom eval`` without ``--out``). ``executor`` / ``workers`` /
    ``address``: where items run (:mod:`semcom.executors`); records are the same with any executor.
    ``save_images``: keep the reconstructions (:func:`image_file`) of every item (True) or of the first N images
    (an integer N); a finished item whose image is missing is sent again for it (its record stays as it was).
    """
    if isinstance(save_images, bool):
        keep = None if save_images else 0
    elif isinstance(save_images, int) and save_images >= 0:
        keep = save_images
    else:
        raise ConfigError(f"save_images must be true, false or a number of images, got {save_images!r}")
    if keep != 0 and out is None:
        raise ConfigError("saving reconstructions needs a results folder (--out)")
    runner = make_executor(executor, workers, address)  # a bad executor setting fails before anything else
    if out is None:
        with runner:
            return _run(config, None, progress, runner, 0)
    out = output_folder(out, option)
    with exclusive(out, option), runner:
        return _run(config, out, progress, runner, keep)


def build_context(config: dict, images: list[tuple[str, np.ndarray]], out: Path | None) -> BuildContext:
    spec = config["images"]
    return BuildContext(images, spec.get("folder", "embedded"), bool(spec.get("crop")), out)


class Worker:
    """The schemes of ``labels`` built from a resolved config; runs one item at a time on ``images``.

    What an executor makes once per worker (in this process, a worker process or a Ray actor, which gets the
    images with its arguments: a remote machine need not have the image folder).
    """

    def __init__(self, config: dict, labels: list[str], out: Path | None, images: list[tuple[str, np.ndarray]]):
        load_plugins(config.get("plugins", []))
        self.config = config
        self.images = images
        context = build_context(config, self.images, out)
        self.entries = {entry["label"]: entry for entry in config["schemes"]}
        self.schemes, self.built = {}, {}
        for label in labels:
            start = time.perf_counter()
            self.schemes[label] = build_scheme(self.entries[label], config, context)
            self.built[label] = Built(jsonable(self.schemes[label].describe()), round(time.perf_counter() - start, 3))

    def run(self, task: Task) -> Finished:
        """The result record of ``task`` (and its reconstruction, when the task asks for it)."""
        record, result = run_item(self.schemes[task.label], self.entries[task.label], self.config["seed"],
                                  task.index, task.name, self.images[task.index][1], task.snr_db)
        return Finished(jsonable(record), png_bytes(result.reconstruction) if task.save_image else None)

    def release(self, label: str) -> None:
        """Free the scheme ``label`` (its items are done)."""
        self.schemes.pop(label, None)


def _run(config: dict, out: Path | None, progress: bool, runner: Executor, keep: int | None) -> RunResult:
    """``keep``: save the reconstructions of the first ``keep`` images (None: all, 0: none)."""
    resolved = jsonable(config)
    config_file = out / "config.json" if out is not None else None
    if config_file is not None and config_file.exists():
        try:
            previous = json.loads(config_file.read_text(encoding="utf-8"))
        except ValueError:
            previous = None
        if previous != resolved:
            raise ConfigError(f"{out} holds the results of a different experiment (its config.json differs); "
                              f"pass another output folder (--out) or remove that one")
    images = load_images(config["images"])  # a missing or empty folder fails before anything is written
    results_file = out / "results.jsonl" if out is not None else None
    done = {r["key"]: r for r in read_results(results_file)} if results_file is not None else {}
    snrs = config["snr_db"]

    def save(index: int) -> bool:
        return keep is None or index < keep

    tasks = [Task(entry["label"], i, name, snr, save(i)) for entry in config["schemes"] for snr in snrs
             for i, (name, _) in enumerate(images)
             if item_key(entry["label"], name, snr) not in done
             or (save(i) and not image_file(out, entry["label"], snr, name).is_file())]
    labels = list(dict.fromkeys(task.label for task in tasks))  # nothing left: the scheme is not even built
    start = time.perf_counter()
    built = runner.start(partial(Worker, config, labels, out, images)) if labels else {}
    described = {label: b.described for label, b in built.items()}
    build_seconds = {label: b.seconds for label, b in built.items()}
    if out is not None:
        if not config_file.exists():
            write_text(config_file, json.dumps(resolved, indent=1) + "\n")
        write_text(out / "meta.json", json.dumps(jsonable(provenance(config["seed"])), indent=1) + "\n")

    total = len(config["schemes"]) * len(images) * len(snrs)
    skipped = total - sum(item_key(t.label, t.name, t.snr_db) not in done for t in tasks)
    bar = tqdm(total=total, initial=skipped, desc=config["name"], disable=not progress, file=sys.stderr)
    computed = 0
    for finished in runner.run(tasks):
        record = finished.record
        if finished.png is not None:  # the image first: a record on disk means its image is there too
            write_bytes(image_file(out, record["scheme"], record["snr_db"], record["image"]), finished.png)
        if record["key"] in done:
            continue  # sent again only for its image; the record on disk stays
        if results_file is not None:
            append_line(results_file, json.dumps(record))
        done[record["key"]] = record
        computed += 1
        bar.set_description(config["name"] if record["scheme"] == config["name"] else
                            f"{config['name']}: {record['scheme']}")
        bar.update(1)
    bar.close()
    keys = [item_key(e["label"], name, snr) for e in config["schemes"] for snr in snrs for name, _ in images]
    records = [done[k] for k in keys]
    summary = summarise(records, config, build_seconds)
    if out is not None:
        write_text(out / "summary.json", json.dumps(jsonable(summary), indent=1) + "\n")
        if len(snrs) > 1:
            from semcom.plots import plot_psnr_vs_snr

            plot_psnr_vs_snr(summary, out / "psnr_vs_snr.png", title=config["name"])
    return RunResult(out, records, summary, computed, skipped, build_seconds, round(time.perf_counter() - start, 3),
                     described, runner.name)


def run_item(scheme: Scheme, entry: dict, seed: int, index: int, name: str, image: np.ndarray,
             snr: float) -> tuple[dict, SchemeResult]:
    """The result record of one image at one SNR (noise seeded by the seed and the image's index), and the result."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + index)
    t0 = time.perf_counter()
    result = scheme.transmit(image, snr, generator=gen)
    transmit_seconds = time.perf_counter() - t0
    quality = item_quality(image, result)
    seconds = time.perf_counter() - t0  # transmission and quality metrics
    record = {"key": item_key(entry["label"], name, snr), "scheme": entry["label"], "scheme_name": entry["name"],
              "image": name, "snr_db": snr, **quality, **result.metrics,
              "bits": result.bits, "coded_bits": result.coded_bits,
              "channel_uses": result.channel_uses, "failed": result.failed,
              "seconds": round(seconds, 3), "transmit_seconds": round(transmit_seconds, 3),
              "model": scheme.model_label(result), "fallback": scheme.card().fallback,
              "metric_names": sorted(result.metrics), "details": result.details}
    return record, result


def item_quality(reference: np.ndarray, result: SchemeResult) -> dict:
    rec = result.reconstruction
    return {"psnr": quality_metrics.psnr(reference, rec), "ssim": quality_metrics.ssim(reference, rec),
            "ms_ssim": quality_metrics.ms_ssim(reference, rec),
            "bpp": quality_metrics.bits_per_pixel(result.bits, reference)}


#: figures whose spread over the images each summary row gives (``<name>_std``, ``<name>_ci95``)
SPREAD = ("psnr", "ssim", "ms_ssim", "bits_per_image")


def spread(values: list[float]) -> tuple[float | None, float | None]:
    """(sample standard deviation, half-width of the 95 % confidence interval of the mean, Student's t) of
    ``values``; (None, None) for fewer than two values."""
    if len(values) < 2:
        return None, None
    from scipy.stats import t

    std = float(np.std(values, ddof=1))
    return std, float(t.ppf(0.975, len(values) - 1) * std / np.sqrt(len(values)))


def summarise(records: list[dict], config: dict, build_seconds: dict | None = None) -> list[dict]:
    """One row per scheme x SNR: totals and means over the images, with the standard deviation and the 95 %
    confidence interval of the mean of each :data:`SPREAD` figure, and the mean of each scheme metric."""
    build_seconds = build_seconds or {}
    rows = []
    for entry in config["schemes"]:
        label = entry["label"]
        for snr in config["snr_db"]:
            group = [r for r in records if r["scheme"] == label and float(r["snr_db"]) == float(snr)]
            if not group:
                continue
            n = len(group)
            row = {"scheme": label, "scheme_name": entry["name"], "snr_db": snr, "images": n,
                   "bits_total": int(sum(r["bits"] for r in group)),
                   "bits_per_image": float(np.mean([r["bits"] for r in group])),
                   "bpp": float(np.mean([r["bpp"] for r in group])),
                   "channel_uses_total": int(sum(r["channel_uses"] for r in group)),
                   "channel_uses_per_image": float(np.mean([r["channel_uses"] for r in group])),
                   "psnr": float(np.mean([r["psnr"] for r in group])),
                   "ssim": float(np.mean([r["ssim"] for r in group])),
                   "ms_ssim": float(np.mean([r["ms_ssim"] for r in group])),
                   "failures": int(sum(bool(r["failed"]) for r in group)),
                   "model": "; ".join(sorted({str(r.get("model", "")) for r in group})),
                   "fallback": any(r.get("fallback", False) for r in group),
                   "item_seconds": round(float(sum(r["seconds"] for r in group)), 3),
                   # loading counted once per scheme, on its first SNR row
                   "build_seconds": build_seconds.get(label) if snr == config["snr_db"][0] else None}
            for key in SPREAD:
                values = [float(r["bits"] if key == "bits_per_image" else r[key]) for r in group]
                row[f"{key}_std"], row[f"{key}_ci95"] = spread(values)
            if all("capacity_bits" in r for r in group):
                row["capacity_bits_total"] = float(sum(r["capacity_bits"] for r in group))
            names = sorted({key for r in group for key in r.get("metric_names", _METRICS_BEFORE_NAMES)})
            for key in names:
                values = [r[key] for r in group if r.get(key) is not None]
                if values:
                    row[key] = float(np.mean(values))
            rows.append(row)
    return rows


def default_out(config: dict) -> Path:
    return Path("results") / config["name"]
