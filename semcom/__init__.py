"""semcom: generative semantic communication over simulated wireless links.

The Python interface (:mod:`semcom.api`), loaded on first use so that ``import semcom`` stays light::

    import semcom
    images = semcom.load_images("data:kodak", limit=4)              # (name, [H, W, 3] uint8) pairs
    scheme = semcom.make_scheme("separation", codec="heif", cbr="1/16")
    sent = semcom.transmit(scheme, images[0][1], snr_db=10.0)       # sent.record["psnr"], sent.reconstruction
    result = semcom.evaluate("jscc", "data:kodak", snr_db=[1, 7, 13], out="results/jscc")   # resumable
    result = semcom.run_config("experiments/tiny.toml", out="results/tiny", executor="process")
"""

#: what ``semcom.<name>`` gives, from :mod:`semcom.api`
API = ("load_images", "make_scheme", "transmit", "evaluate", "run_config", "Transmission")
__all__ = ["__version__", *API]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("semcom")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        return _version()
    if name in API:
        from semcom import api

        return getattr(api, name)
    raise AttributeError(f"module 'semcom' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "__version__", *API])
