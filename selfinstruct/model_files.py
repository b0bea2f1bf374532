"""Model files in the local cache: where they live, their SHA-256, and assembling chunk packages once.

    path = assemble_once(cache_dir() / "m.gguf", SHA256, find_chunks, label="m", reinstall="reinstall them with ...")
    file_sha256(path)

Models too big for one PyPI package ship as chunk files spread over several packages. First use
concatenates the chunks, in order, into one file in the cache dir (`$SELFINSTRUCT_CACHE` or
`~/.cache/selfinstruct/`), streaming through a temp file while hashing, and renames it into place
only when its SHA-256 matches. A marker beside it (`<file>.verified`) records the checksum, size
and mtime of the verified file; later runs trust a file whose size and mtime still match its
marker instead of re-reading hundreds of megabytes on every start. Used by the packaged teacher
models (teacher/packaged.py) and the packaged Gemma base (finetune/base.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from selfinstruct.errors import UserError
from selfinstruct.safe_files import atomic_file, write_json_atomic

COPY_BLOCK = 8 * 1024 * 1024  # big enough to stream at disk speed, small enough to never matter for memory


def cache_dir() -> Path:
    """Where assembled and converted models live: $SELFINSTRUCT_CACHE, else ~/.cache/selfinstruct."""
    env = os.environ.get("SELFINSTRUCT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "selfinstruct"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def marker_path(path: Path) -> Path:
    """The `.verified` marker written beside an assembled file."""
    return path.with_name(path.name + ".verified")


def is_verified(path: Path, sha256: str, size: int | None = None) -> bool:
    """Cheap reuse check: the file's size and mtime match a marker written after a verified assembly."""
    try:
        st = path.stat()
        marker = json.loads(marker_path(path).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and (size is None or st.st_size == size)
        and marker.get("sha256") == sha256
        and marker.get("size") == st.st_size
        and marker.get("mtime_ns") == st.st_mtime_ns
    )


def assemble(
    chunks: Sequence[Path],
    dest: Path,
    sha256: str,
    *,
    label: str = "model",
    reinstall: str = "reinstall the packages that hold its chunks",
    console: Console | None = None,
) -> Path:
    """Concatenate chunk files into dest, streaming; keep it (and write its marker) only if its SHA-256 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in chunks)
    free = shutil.disk_usage(dest.parent).free
    if free < total:
        raise UserError(f"not enough disk space in {dest.parent} to assemble {label}: need {total / 1e9:.2f} GB, {free / 1e9:.2f} GB free")
    digest = hashlib.sha256()
    # A unique temp file renamed into place: concurrent first runs do not clobber each other,
    # and a reader never sees a half-written model.
    with atomic_file(dest, "wb") as out, _progress(console) as progress:
        task = progress.add_task(f"assembling {label}", total=total)
        for chunk in chunks:
            with chunk.open("rb") as fh:
                while block := fh.read(COPY_BLOCK):
                    digest.update(block)
                    out.write(block)
                    progress.advance(task, len(block))
        if digest.hexdigest() != sha256:
            raise UserError(
                f"assembled {label} has SHA-256 {digest.hexdigest()}, expected {sha256}: the chunk packages are corrupt "
                f"or the wrong version; refusing to use it: {reinstall}"
            )
    st = dest.stat()
    write_json_atomic(marker_path(dest), {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return dest


def assemble_once(
    dest: Path,
    sha256: str,
    find_chunks: Callable[[], Sequence[Path]],
    *,
    size: int | None = None,
    label: str = "model",
    reinstall: str = "reinstall the packages that hold its chunks",
    console: Console | None = None,
) -> Path:
    """dest, trusted through its marker if verified before, else assembled from `find_chunks()` and verified."""
    if is_verified(dest, sha256, size):
        return dest
    return assemble(find_chunks(), dest, sha256, label=label, reinstall=reinstall, console=console)


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )
