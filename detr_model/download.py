"""Download checkpoints into the torch.hub cache, with progress, hash check, cancel and clear errors.

A download is written to `<name>.part` next to its final place and renamed only once it is
complete and its SHA-256 starts with the expected prefix, so an interrupted or corrupt download
is never mistaken for a finished one. The cache folder is the one torch.hub uses, so a file that
`torch.hub.load_state_dict_from_url` already fetched is reused.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from detr_model.official_models import OFFICIAL_MODELS

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None)
CancelCallback = Callable[[], bool]  # returns True to stop the download

DEFAULT_TIMEOUT_S = 30.0
_CHUNK = 1 << 20


class DownloadError(OSError):
    """A download failed: the message names the URL and what went wrong."""


class DownloadCancelled(DownloadError):
    """The cancel hook asked the download to stop."""


def default_cache_dir() -> Path:
    """Return the torch.hub checkpoint folder: $TORCH_HOME/hub/checkpoints, else XDG, else ~/.cache."""
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        torch_home = os.path.join(xdg, "torch")
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256_prefix: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Return `dest` after downloading `url` to it; an existing `dest` is returned untouched."""
    dest = Path(dest)
    if dest.is_file():
        log.debug("%s: already downloaded", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        digest = _fetch_to(url, part, progress=progress, cancel=cancel, timeout=timeout)
        if sha256_prefix is not None and not digest.startswith(sha256_prefix.lower()):
            raise DownloadError(
                f"{url}: the downloaded file is corrupt (SHA-256 {digest} does not start with "
                f"the expected {sha256_prefix})"
            )
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    log.info("%s: downloaded to %s", url, dest)
    return dest


def _fetch_to(
    url: str,
    part: Path,
    *,
    progress: ProgressCallback | None,
    cancel: CancelCallback | None,
    timeout: float,
) -> str:
    """Return the SHA-256 hex digest of the body of `url`, written to `part` (complete or raise)."""
    if cancel is not None and cancel():
        raise DownloadCancelled(f"{url}: download cancelled")
    request = urllib.request.Request(url, headers={"User-Agent": "detr-studio"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https only)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot download {url} (no network?): {reason}") from exc
    sha = hashlib.sha256()
    done = 0
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if progress is not None:
            progress(0, total)
        with open(part, "wb") as out:
            while True:
                if cancel is not None and cancel():
                    raise DownloadCancelled(f"{url}: download cancelled after {done} bytes")
                try:
                    chunk = response.read(_CHUNK)
                except http.client.IncompleteRead as exc:
                    done += len(exc.partial)
                    raise _interrupted(url, done, total) from exc
                except OSError as exc:  # includes timeouts and connection resets
                    raise _interrupted(url, done, total, exc) from exc
                if not chunk:
                    break
                out.write(chunk)
                sha.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            if total is not None and done != total:
                raise _interrupted(url, done, total)
            out.flush()
            os.fsync(out.fileno())
    return sha.hexdigest()


def _interrupted(
    url: str, done: int, total: int | None, cause: BaseException | None = None
) -> DownloadError:
    """Return the error for a download that stopped before its end."""
    of_total = f" of {total}" if total is not None else ""
    why = f": {cause}" if cause is not None else " (connection closed early)"
    return DownloadError(f"download of {url} interrupted after {done}{of_total} bytes{why}")


def download_official(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Return the local path of official model `name`, downloading it on first use."""
    try:
        model = OFFICIAL_MODELS[name]
    except KeyError:
        known = ", ".join(OFFICIAL_MODELS)
        raise ValueError(f"unknown official model {name!r} (known: {known})") from None
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return download_file(
        model.url,
        folder / model.filename,
        sha256_prefix=model.sha256_prefix,
        progress=progress,
        cancel=cancel,
        timeout=timeout,
    )


def resolve_model(
    path_or_name: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
) -> Path:
    """Return a checkpoint path: an existing file as is, or an official name downloaded on first use."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    if isinstance(path_or_name, str) and path_or_name in OFFICIAL_MODELS:
        return download_official(
            path_or_name, cache_dir=cache_dir, progress=progress, cancel=cancel
        )
    known = ", ".join(OFFICIAL_MODELS)
    raise FileNotFoundError(
        f"{path_or_name}: no such checkpoint file, and not an official model name (known: {known})"
    )
