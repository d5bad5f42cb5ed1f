"""Adds a domain record (what a model's training data looks like to the model; see
attnviewer/domain.py) to model files, as the "domain" key of their safetensors metadata. The
weights and the other metadata are kept as they are; each file is rewritten atomically. A
transformers model folder gets the record as domain.json beside its config.json.

    python scripts/stamp-domain.py [MODEL.safetensors ...] [--check N] [--device cpu]

Without paths: every bundled model in resources/models. --check N prints, for each model, the
distances of N more generated inputs (seed 12345, the evaluation seed) and how many would get
the out-of-domain note: the false-alarm rate of its threshold.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

CHECK_SEED = 12345


def stamp(path: Path, device: str, check: int, log=print) -> dict:
    from safetensors.torch import load_file, save_file

    from attnviewer import domain
    from attnviewer.catalog import read_metadata
    from attnviewer.files import atomic_path
    from attnviewer.models.checkpoint import load_checkpoint

    t0 = time.perf_counter()
    if path.is_dir():
        return stamp_folder(path, device, check, log)
    model = load_checkpoint(path, device)
    rec = domain.record(model.kind, model, log=lambda line: log(f"  {line}"))
    meta = dict(read_metadata(path))
    meta["domain"] = json.dumps(rec, separators=(",", ":"))
    tensors = load_file(str(path))
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)
    # the weights are the same tensors, and the file loads with its record
    again = load_file(str(path))
    if set(again) != set(tensors) or any(not again[k].equal(tensors[k]) for k in tensors):
        raise SystemExit(f"{path}: the weights changed while stamping")
    if read_metadata(path) != meta:
        raise SystemExit(f"{path}: the metadata did not come back as written")
    return _stamped(model, rec, len(meta["domain"]), t0, check, log)


def stamp_folder(path: Path, device: str, check: int, log=print) -> dict:
    """A transformers folder: the record goes into a file of its own beside config.json (the weights
    file stays exactly what save_pretrained wrote)."""
    from attnviewer import domain
    from attnviewer.files import atomic_path
    from attnviewer.models.registry import DOMAIN_FILE, folder_domain, load
    from attnviewer.model_folders import folder_kind

    t0 = time.perf_counter()
    model = load(str(path), device, kind=folder_kind(path))
    rec = domain.record(model.kind, model, log=lambda line: log(f"  {line}"))
    text = json.dumps(rec, separators=(",", ":"))
    with atomic_path(path / DOMAIN_FILE) as tmp:
        Path(tmp).write_text(text)
    if folder_domain(path) != json.loads(text):
        raise SystemExit(f"{path}: the domain record did not come back as written")
    return _stamped(model, rec, len(text), t0, check, log)


def _stamped(model, rec: dict, size: int, t0: float, check: int, log) -> dict:
    log(f"  {size} bytes of domain record, {time.perf_counter() - t0:.0f} s")
    if check:
        model.domain = rec
        check_record(model, rec, check, log)
    return rec


def check_record(model, rec: dict, n: int, log=print) -> None:
    """How many of n generated inputs of the evaluation seed would be told they are out of domain."""
    import numpy as np

    from attnviewer import domain

    if model.kind == "translate":
        from attnviewer.data.pairs import generate_pairs
        from attnviewer.kinds import Sentence

        pairs = generate_pairs(n, CHECK_SEED)
        over = sum(domain.sentence_reason(rec, model, Sentence(p.source_text, p.source)) is not None for p in pairs)
        log(f"  check: {n} generated sentences (seed {CHECK_SEED}): {over} false alarms ({over / n:.1%})")
        return
    d = domain.generated_distances(model.kind, model, CHECK_SEED, n)
    over = int(np.sum(d > rec["threshold"]))
    log(f"  check: {n} generated inputs (seed {CHECK_SEED}): median {np.median(d):.2f}, 99th percentile "
        f"{np.percentile(d, 99):.2f}, max {d.max():.2f}; threshold {rec['threshold']:.2f}: {over} false alarms "
        f"({over / n:.1%})")


def main(argv=None) -> int:
    from attnviewer.catalog import bundled

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="model files (default: every bundled model)")
    parser.add_argument("--check", type=int, default=0, metavar="N",
                        help="also measure false alarms on N generated inputs of the evaluation seed")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    paths = args.paths or list(bundled().values())
    if not paths:
        print("no model files to stamp", file=sys.stderr)
        return 1
    for path in paths:
        print(f"{path}:", flush=True)
        stamp(path, args.device, args.check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
