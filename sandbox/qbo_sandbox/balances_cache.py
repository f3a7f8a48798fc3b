"""The large company's balances pass, persisted between sandbox starts.

The pass (``balances.compute``) reads every posting document of a realm once: ~half a million
documents for ``--size large``, minutes of CPU on the first report or Account/Customer/Vendor read.
Its result is a pure function of what the documents are made from — (seed, realm, size, the data
period that ``--as-of`` fixes) and the code that generates and posts them — so it is saved under the
user's cache directory keyed by all of that (the code by a hash of its source files) and loaded on
the next start instead of recomputed.

Only a realm nobody has changed yet is saved or loaded (changes made through the API before the pass
are part of its result). The file is written to a temporary name and renamed, so a reader never sees
half a file; a file that fails to load is recomputed and rewritten. ``QBO_SANDBOX_CACHE_DIR`` moves the
directory (empty: no persistence); the default is ``platformdirs.user_cache_dir("ml-connector")/qbo-sandbox``.
The files are pickles: the directory is the user's own (as any cache), nothing else is read from it.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from functools import lru_cache
from pathlib import Path

#: Modules whose code decides the documents or their postings: a change to any makes new keys.
_SOURCES = ("company.py", "generator.py", "ledger.py", "balances.py", "wire.py", "timefmt.py", "store.py",
            "render.py", "linksums.py")  # the last two: the sums of linked documents saved with the pass
KEEP_FILES = 4  # newest files of each kind kept (a key per realm and as-of day; a large realm's ~36 + 3 MB)


@lru_cache(maxsize=1)
def code_version() -> str:
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in _SOURCES:
        h.update(name.encode() + b"\0" + (here / name).read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path | None:
    env = os.environ.get("QBO_SANDBOX_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None
    import platformdirs
    return Path(platformdirs.user_cache_dir("ml-connector")) / "qbo-sandbox"


def key(realm) -> str:
    c, g = realm.company, realm.gen
    return (f"seed{c.seed}-realm{c.realm_index}-{realm.id}-cycles{g.n_cycles}-{int(c.start)}-{int(c.end)}"
            f"-{code_version()}")


KINDS = ("balances", "linksums")  # the pass's totals; the sums payments and deposits copy (loaded at start)


def _path(realm, kind: str = "balances") -> Path | None:
    d = cache_dir()
    return None if d is None else d / f"{kind}-{key(realm)}.pickle"


def load(realm, kind: str = "balances") -> dict | None:
    """The saved state of ``balances.Balances`` (``kind="balances"``) or of the renderer's kept sums
    (``"linksums"``) for this realm, or None (none saved, or unreadable)."""
    path = _path(realm, kind)
    if path is None or not path.is_file():
        return None
    try:
        with path.open("rb") as f:
            state = pickle.load(f)
    except Exception:  # noqa: BLE001 - a damaged cache file is recomputed and rewritten
        return None
    return state if isinstance(state, dict) and state.get("key") == key(realm) else None


def save(realm, state: dict, kind: str = "balances") -> Path | None:
    """Write ``state`` atomically; never fails the caller (the cache is an optimisation)."""
    path = _path(realm, kind)
    if path is None:
        return None
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{kind}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(dict(state, key=key(realm)), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        tmp = None
        _prune(path.parent, kind)
        return path
    except OSError:
        return None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _prune(directory: Path, kind: str) -> None:
    files = sorted(directory.glob(f"{kind}-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP_FILES:]:
        try:
            old.unlink()
        except OSError:
            pass
