"""The block engine on Ray: the corpus goes to the object store once, one actor per worker checks block parts.

    kept, match, score = run_ray(corpus, references, workers=None, address="ray://head:10001", ...)

Each actor holds the corpus (zero-copy from the object store on its node) and its own copy of the kept flags.
The driver splits each block among the actors, resolves the block in input order (blocks.py) and sends the texts
the block dropped with the next block's work, so every actor checks against the pool as it stood before that block:
the same decisions as the local engine. Needs the `ray` extra (pip install 'selfinstruct[ray]').
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import numpy as np

from selfinstruct.errors import UserError
from selfinstruct.rouge.blocks import Pairs, blocks, check_block, resolve_block, split_block
from selfinstruct.rouge.corpus import Corpus


def _import_ray():  # noqa: ANN202 - the ray module
    try:
        import ray
    except ImportError:
        raise UserError("--engine ray needs Ray: pip install 'selfinstruct[ray]'") from None
    return ray


def _check_reachable(address: str) -> None:
    """A clear error at once for an address nothing answers at (Ray itself retries for minutes)."""
    target = address.removeprefix("ray://")
    if target == "auto":
        return
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray-address {address}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as error:
        raise UserError(f"--ray-address {address}: nothing answers there ({error}); is `ray start --head` running?") from None


class BlockChecker:
    """One Ray actor: checks parts of blocks against its copy of the pool."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.big = corpus.all_codes_string()
        self.kept = np.ones(len(corpus), dtype=bool)

    def check(self, start: int, stop: int, dropped: np.ndarray) -> Pairs:
        """Apply the texts dropped since the last call (the previous block's), then check candidates [start, stop)."""
        self.kept[dropped] = False
        return check_block(self.corpus, self.big, start, stop, self.kept)


def run_ray(corpus: Corpus, references: int, workers: int | None, address: str | None, block_texts: int,
            progress: Callable[[int], None] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """kept, match and score for every text of the corpus, decided on a Ray cluster (started here without `address`)."""

    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            if address:
                _check_reachable(address)
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        except ConnectionError as error:
            raise UserError(f"--ray-address {address}: cannot join the Ray cluster ({error})") from None
    try:
        count = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        corpus_ref = ray.put(corpus)
        actor = ray.remote(num_cpus=1)(BlockChecker)
        actors = [actor.remote(corpus_ref) for _ in range(count)]
        total = len(corpus)
        kept = np.ones(total, dtype=bool)
        match = np.full(total, -1, dtype=np.int64)
        score = np.zeros(total, dtype=np.float64)
        dropped = np.empty(0, dtype=np.int64)
        for start, stop in blocks(references, total, block_texts):
            runs = split_block(corpus, start, stop, len(actors))
            # Every actor gets a call each block (an empty run if the block has fewer), so none misses a drop.
            runs += [(stop, stop)] * (len(actors) - len(runs))
            futures = [a.check.remote(begin, end, dropped) for a, (begin, end) in zip(actors, runs)]
            before = kept[start:stop].copy()
            resolve_block(Pairs.join(ray.get(futures)), kept, match, score)
            dropped = np.flatnonzero(before & ~kept[start:stop]) + start
            if progress is not None:
                progress(stop - references)
        return kept, match, score
    finally:
        if started:
            ray.shutdown()
