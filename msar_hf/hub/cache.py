"""The offline cache: a folder installed into the Hugging Face cache as a download would be."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

from ..errors import HubError
from .cards import _atomic_write_text
from .push import _check_repo_id


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_cache_snapshot(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    repo_type: str = "model",
    revision: str = "main",
) -> Path:
    """Install ``folder`` into the Hugging Face cache as if ``repo_id`` had been downloaded.

    Lays out ``<cache>/<type>s--org--name/`` like ``huggingface_hub`` does: file contents in
    ``blobs/<sha256>``, ``snapshots/<commit>/<path>`` as relative links to them (copies where the
    file system has no symlinks), and ``refs/<revision>`` holding the commit. The commit id is a
    hash of the folder's paths and contents, so installing the same folder twice is a no-op.
    Afterwards, with ``HF_HUB_OFFLINE=1``::

        AutoModel.from_pretrained("org/name", trust_remote_code=True)
        snapshot_download("org/name", repo_type="dataset", local_files_only=True)

    find it. ``cache_dir`` defaults to ``huggingface_hub.constants.HF_HUB_CACHE`` (``HF_HUB_CACHE``
    / ``HF_HOME``). Returns the snapshot folder.
    """
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder}: not a folder")
    _check_repo_id(repo_id)
    if repo_type not in ("model", "dataset", "space"):
        raise HubError(f"repo_type must be model, dataset or space, not {repo_type!r}")
    files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
             if p.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                        for part in p.relative_to(folder).parts)}
    if not files:
        raise HubError(f"{folder}: the folder is empty")
    digests = {rel: _file_sha256(p) for rel, p in files.items()}
    commit = hashlib.sha1("".join(f"{rel}\0{d}\n" for rel, d in sorted(digests.items())).encode()).hexdigest()

    cache = Path(cache_dir) if cache_dir is not None else Path(constants.HF_HUB_CACHE)
    storage = cache / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    blobs, snapshot = storage / "blobs", storage / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    tmp_snapshot = snapshot.with_name(f".{commit}.tmp")
    shutil.rmtree(tmp_snapshot, ignore_errors=True)
    for rel, src in files.items():
        blob = blobs / digests[rel]
        if not blob.exists():
            tmp_blob = blob.with_name(blob.name + ".incomplete")
            shutil.copyfile(src, tmp_blob)
            os.replace(tmp_blob, blob)
        dst = tmp_snapshot / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            dst.symlink_to(os.path.relpath(blob, (snapshot / rel).parent))
        except OSError:  # no symlinks (some Windows setups): huggingface_hub copies too
            shutil.copyfile(blob, dst)
    if snapshot.exists():
        shutil.rmtree(tmp_snapshot)
    else:
        os.replace(tmp_snapshot, snapshot)
    refs = storage / "refs"
    refs.mkdir(exist_ok=True)
    _atomic_write_text(refs / revision, commit)  # no newline: huggingface_hub reads it verbatim
    return snapshot


def hub_host_resolves() -> bool:
    """Whether the Hub's host name (``HF_ENDPOINT``) resolves, i.e. whether asking it can work.

    A machine without a network fails that lookup at once; huggingface_hub then retries each
    request five times with back-off (~23 s measured here) before it looks in the local cache,
    which a cached model would have given at once. Callers load ``local_files_only`` when this
    is False: the outcome is the same, only sooner. A name that resolves keeps the online path
    unchanged (a newer revision on the Hub still wins over the cache).
    """
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname
    if not host:
        return False
    try:
        socket.getaddrinfo(host, 443)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        return False
    return True
