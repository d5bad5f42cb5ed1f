"""`attnviewer import sat-tutorial CKPT WORDMAP --out FILE.safetensors`: another project's
checkpoint as an ordinary attnviewer model (safetensors), which the window, caption, export and
everything else then open like any other. The checkpoint is a pickle and is read without running
anything in it (models/safe_pickle.py); the output is written atomically and never replaces a
file without --overwrite."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import OutputError, printable
from .options import add_overwrite


def import_model(args: argparse.Namespace) -> int:
    from .outputs import check_outputs

    out = Path(args.out)
    if out.suffix.lower() != ".safetensors":
        raise OutputError(f"{printable(out)}: an imported model is written as .safetensors; name the file so")
    check_outputs([out], args.overwrite)  # before reading anything: exists, folder, writable

    from ..domain import unchecked
    from ..models.checkpoint import save_checkpoint
    from ..models.sat_tutorial import import_tutorial

    imported = import_tutorial(args.checkpoint, args.wordmap)
    model = imported.model
    save_checkpoint(model, out, training=imported.training, domain=unchecked("caption", "imported sat-tutorial"))
    c = model.config
    grid = "x".join(map(str, c.grid))
    print(f"{printable(out)}: Show-Attend-Tell tutorial model, {c.vocab_size} words, attention {grid} over "
          f"{c.encoder} features of {c.image_size} px images; decoder {c.hidden_dim}, attention {c.attn_dim}, "
          f"embedding {c.embed_dim}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="convert another project's checkpoint into an attnviewer model")
    kinds = p.add_subparsers(dest="source", required=True)
    t = kinds.add_parser(
        "sat-tutorial", help="a checkpoint of the PyTorch Show-Attend-Tell tutorial (BEST_checkpoint_*.pth.tar)",
        description="Convert the Show-Attend-Tell tutorial's BEST_checkpoint_*.pth.tar and WORDMAP_*.json into "
                    "a caption model. The pickle is read without running anything in it; any class other than "
                    "the tutorial's modules is refused.")
    t.add_argument("checkpoint", metavar="CKPT", help="BEST_checkpoint_<name>.pth.tar (either torch format)")
    t.add_argument("wordmap", metavar="WORDMAP", help="WORDMAP_<name>.json of the same training run")
    t.add_argument("--out", required=True, metavar="FILE.safetensors", help="the model file to write")
    add_overwrite(t)
