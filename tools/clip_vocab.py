#!/usr/bin/env python3
"""Real CLIP BPE vocabulary from open-clip-torch, in Hugging Face's tokenizer file layout.

open-clip-torch ships `bpe_simple_vocab_16e6.txt.gz` (the merges list OpenAI's CLIP was trained
with). CLIP's simple_tokenizer builds its 49408-entry vocabulary from it: the 256 byte-unicode
characters, the same with `</w>`, one entry per merge (48894 merges), then the two special tokens.
This module rebuilds exactly that vocabulary and writes `vocab.json` + `merges.txt` (+ the
transformers tokenizer config) so tiny test pipelines tokenize like SDXL's real tokenizers.

Usage as a script: python3 tools/clip_vocab.py OUT_DIR [--pad-token '<|endoftext|>' | '!']
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
from pathlib import Path

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
VOCAB_SIZE = 49408
NUM_MERGES = 49152 - 256 - 2  # lines [1 : 49152-256-2+1] of the gz file


def bpe_gz_path() -> Path:
    import open_clip

    path = Path(os.path.dirname(open_clip.__file__)) / "bpe_simple_vocab_16e6.txt.gz"
    if not path.exists():
        raise SystemExit(f"{path} not found: install open-clip-torch (deps/requirements.txt)")
    return path


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte -> printable unicode map (printables keep their code point)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def load_merges() -> list[tuple[str, str]]:
    lines = gzip.open(bpe_gz_path()).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
    assert len(merges) == NUM_MERGES and all(len(m) == 2 for m in merges)
    return merges  # type: ignore[return-value]


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + [BOS, EOS]
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == VOCAB_SIZE, len(vocab)
    return vocab


def write_vocab_files(out_dir: str | Path) -> tuple[Path, Path]:
    """Writes vocab.json and merges.txt (HF layout: '#version: 0.2' header) into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merges = load_merges()
    vocab = build_vocab(merges)
    vocab_path, merges_path = out / "vocab.json", out / "merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_path.write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8"
    )
    return vocab_path, merges_path


def write_tokenizer(out_dir: str | Path, pad_token: str = EOS) -> None:
    """Writes a complete transformers CLIPTokenizer folder (SDXL: tokenizer pads with
    <|endoftext|>, tokenizer_2 with "!")."""
    import tempfile

    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        write_vocab_files(tmp)
        merges = load_merges()
        tok = CLIPTokenizer(
            vocab=build_vocab(merges),
            merges=merges,
            pad_token=pad_token,
            model_max_length=77,
        )
        tok.save_pretrained(str(out_dir))
    # Keep the plain files too (save_pretrained of a fast tokenizer may only write tokenizer.json).
    write_vocab_files(out_dir)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--pad-token", default=EOS, help='"<|endoftext|>" (tokenizer) or "!" (tokenizer_2)')
    args = ap.parse_args()
    write_tokenizer(args.out_dir, args.pad_token)
    print(f"wrote CLIP tokenizer (vocab {VOCAB_SIZE}, pad {args.pad_token!r}) to {args.out_dir}")


if __name__ == "__main__":
    main()
