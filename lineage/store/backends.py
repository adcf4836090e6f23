"""Opening a remote's filesystem: fsspec behind a scheme registry.

A scheme's backend (s3fs, gcsfs, adlfs) is imported only when a remote of that
scheme is opened; a missing one is a ConfigError naming the package to install
(``pip install 'lineage[s3]'``). Backend failures become one credential-free
RemoteError line.
"""

from __future__ import annotations

import os
import re
from typing import Any, Protocol

from lineage.errors import ConfigError, RemoteError

#: scheme -> (module fsspec needs, extra that installs it)
BACKENDS: dict[str, tuple[str, str]] = {
    "s3": ("s3fs", "lineage[s3]"),
    "s3a": ("s3fs", "lineage[s3]"),
    "gs": ("gcsfs", "gcsfs"),
    "gcs": ("gcsfs", "gcsfs"),
    "az": ("adlfs", "adlfs"),
    "abfs": ("adlfs", "adlfs"),
}


class RemoteSpec(Protocol):
    """What the store needs to know of a remote (``lineage.sync.remotes.Remote`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def options(self) -> dict[str, Any]: ...

    @property
    def scheme(self) -> str: ...


def scheme_of(url: str) -> str:
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return m.group(1).lower() if m else "file"


def filesystem(remote: RemoteSpec) -> tuple[Any, str]:
    """An fsspec filesystem for ``remote`` and the root path inside it."""
    import fsspec

    scheme = remote.scheme
    opts = remote.options
    if scheme == "file":
        return fsspec.filesystem("file"), remote.url
    module, extra = BACKENDS.get(scheme, (None, None))
    kwargs: dict[str, Any] = {}
    if scheme in ("s3", "s3a"):
        kwargs = _s3_kwargs(opts)
    try:
        fs = fsspec.filesystem(scheme, **kwargs)
    except ImportError:
        raise ConfigError(f"remote {remote.name!r} needs the {module or scheme} package: "
                          f"pip install '{extra or module}'") from None
    except ValueError as exc:
        raise ConfigError(f"cannot open remote {remote.name!r}: {exc}") from None
    if scheme in ("s3", "s3a"):
        fs.retries = 1  # botocore retries (config above); s3fs's loop on top would multiply them
    quiet_async_backends()
    root = remote.url.split("://", 1)[1]
    return fs, root


#: Loggers of the async backends. Left alone, a server dying mid-transfer makes them (or
#: asyncio on their loop) print tracebacks before our one-line error.
_BACKEND_LOGGERS = ("s3fs", "fsspec", "aiobotocore", "botocore", "aiohttp", "gcsfs", "adlfs")
_quieted = False


def quiet_async_backends() -> None:
    """Keep backend noise (``Task exception was never retrieved``, logged tracebacks) off
    stderr: the failure reaches the user once, as a RemoteError.

    A ``NullHandler`` on each backend logger stops Python's last-resort printing while
    records still reach whatever handlers an application configured; fsspec's IO loop
    gets an exception handler that logs at debug level instead of printing.
    """
    global _quieted
    if _quieted:
        return
    import logging  # lazy, as fsspec: only a remote being opened needs them

    import fsspec.asyn

    for name in _BACKEND_LOGGERS:
        logging.getLogger(name).addHandler(logging.NullHandler())
    log = logging.getLogger("lineage.remote")

    def on_loop_error(loop: Any, context: dict[str, Any]) -> None:
        # an abandoned request of a failed transfer; the caller has its own error already
        exc = context.get("exception")
        log.debug("backend loop: %s%s", context.get("message", ""),
                  f" ({type(exc).__name__})" if exc is not None else "")

    fsspec.asyn.get_loop().set_exception_handler(on_loop_error)
    _quieted = True


def s3_client(remote: RemoteSpec) -> Any:
    """A plain (threaded) botocore S3 client with the same endpoint, credentials chain and
    settings as the remote's filesystem: bulk bytes go through it, each request on its own
    thread, sent from the buffer without copies (see ``RemoteStore.put_file``)."""
    import botocore.config
    import botocore.session

    kwargs = _s3_kwargs(remote.options)
    session = botocore.session.Session(profile=kwargs.get("profile"))
    region = kwargs.get("client_kwargs", {}).get("region_name")
    return session.create_client("s3", endpoint_url=kwargs.get("endpoint_url"), region_name=region,
                                 config=botocore.config.Config(**kwargs["config_kwargs"]))


def _s3_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    endpoint = (opts.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3")
                or os.environ.get("AWS_ENDPOINT_URL"))
    retries = int(opts.get("retries", 4))
    config = {
        "connect_timeout": float(opts.get("connect_timeout", 10)),
        "read_timeout": float(opts.get("read_timeout", 60)),
        "retries": {"max_attempts": retries + 1, "mode": "standard"},
        "max_pool_connections": 64,
        # no SHA-256 of each body on plain-http endpoints (https never computes it for
        # uploads): every upload carries a CRC32 the server checks, and objects are
        # checked against their BLAKE3 digest when they come back
        "s3": {"payload_signing_enabled": False},
    }
    kwargs: dict[str, Any] = {"config_kwargs": config, "skip_instance_cache": True}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if opts.get("profile"):
        kwargs["profile"] = opts["profile"]
    if opts.get("region"):
        kwargs["client_kwargs"] = {"region_name": opts["region"]}
    return kwargs


def describe_error(remote: RemoteSpec, exc: BaseException) -> RemoteError:
    """A one-line, credential-free RemoteError for a backend exception."""
    kind = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else kind
    if "Connect" in kind or isinstance(exc, (ConnectionError, TimeoutError)):
        attempts = int(remote.options.get("retries", 4)) + 1
        where = remote.options.get("endpoint_url") or remote.url
        return RemoteError(f"cannot reach remote {remote.name!r} ({where}) after {attempts} attempt(s): "
                           f"{kind}; check the URL, the endpoint and the network")
    # botocore messages may echo a signed URL; keep only what precedes a query string
    text = re.sub(r"\?[^\s]*", "", text)
    text = re.sub(r"(?i)(AKIA|ASIA)[A-Z0-9]{12,}", "***", text)
    return RemoteError(f"remote {remote.name!r} ({remote.url}) failed: {kind}: {text}")
