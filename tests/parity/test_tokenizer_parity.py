"""CLIP tokenizer parity: `sdxl-tigris tokenize` vs transformers' CLIPTokenizer.

Both tokenizers are built from the real CLIP vocabulary (open-clip-torch's
bpe_simple_vocab_16e6.txt.gz, via tools/clip_vocab.py) in SDXL's two folder flavours: `tokenizer/`
pads with <|endoftext|>, `tokenizer_2/` pads with "!" (a special token, so "!" in a prompt becomes
id 0, as transformers does). Every string is encoded like diffusers' encode_prompt does:
padding="max_length", max_length=77, truncation=True.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tools"))
import clip_vocab  # noqa: E402

# The transformers CLIP integration-test string (oracles.md section 4.2).
TRANSFORMERS_STRING = (
    "This is a test 😊\nI was born in 92000, and this is falsé.\n生活的真谛是\nHi  Hello\nHi   Hello\n\n"
    " \n  \n Hello\n<s>\nhi<s>there\nThe following string should be properly encoded: Hello.\n"
    "But ird and ปี   ird   ด\nHey how are you doing")
TRANSFORMERS_IDS = [
    589, 533, 320, 1628, 3020, 328, 739, 2683, 530, 280, 273, 271, 271, 271, 267, 537, 589, 533,
    2778, 82, 4166, 269, 33375, 162, 112, 119, 163, 248, 226, 41570, 164, 108, 249, 42891, 363,
    1883, 3306, 1883, 3306, 3306, 283, 338, 285, 1883, 283, 338, 285, 997, 518, 3473, 9696, 1535,
    655, 12560, 524, 33703, 281, 3306, 269, 767, 2770, 537, 1777, 505, 20278, 2770, 38825, 2189,
    829, 631, 592, 1960]

EDGE_CASES = [
    "", " ", "a photo of a cat", "A\n'll 11p223RF☆ho!!to?'d'd''d of a cat to-$''d.",
    "xa\u0303y x\xe3y", "\t \v \f ' ' \u200e \u200f", "\n \r\n \r \u2028 \u2029",
    "I'll don't it's", "&amp; &lt;3", "1234567", "! !! !!!", "hello!world", "wow!",
    "<|endoftext|>", "<|startoftext|>a<|endoftext|>b", "<|ENDOFTEXT|>", "<|endoftext",
    "x<|ENDOFTEXT|>|", "!<|STARTOFTEXT|>!", "<|StartOfText|><|EndOfText|>",
    "İSTANBUL ΣΑΣ ǅ ẞ ﬃ Ⅻ", "ÅNGSTRÖM Ça Ça", "e\u0301\u0301", "'s's's", "''s", "'S 'T 'RE",
    "x\u00a0y\u3000z\u2003w", "a\u200bb", "\u00ad soft hyphen", "tab\tsep\tvalues",
    "👩‍👩‍👧‍👦 family 👍🏽 thumbs 🇯🇵 flag", "₁₂₃ ½ ² ٣ ⅷ", "مرحبا بالعالم", "नमस्ते दुनिया",
    "Привет, мир!", "こんにちは世界", "한국어 텍스트", "a" * 300, "word " * 100,
    "masterpiece, best quality, (cat)1.2, dog++, [bad]", "zero\x00nul", "bell\x07char",
    "\ufeffbom", "\ufffd replacement", "mixed123abc456", "3.14159 and -42",
]

WORDS = ("a photo of the cat dog astronaut riding horse on mars, oil painting by van gogh "
         "highly detailed 4k 8k masterpiece best quality cinematic lighting portrait of young "
         "woman wearing red hat sunset over mountains lake reflection cyberpunk city neon "
         "rain night street bokeh macro shot").split()
UNICODE_POOLS = [
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœ", "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝŸ", "αβγδεζηθλμπσςωΑΒΓΔΣΩ",
    "абвгдеёжзийклмнопрстуфхцчшщыэюяАБВГДЯ", "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
    "กขคงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮะาำิีึืุู", "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह", "😀😂🥲😍🤖👽🎨🖼️🌅🌃🔥✨⭐🍕🐱🐶🦄",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "0123456789٠١٢٣٤٥٦٧٨٩०१२३", "¡¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿",
    "\u0300\u0301\u0302\u0303\u0308\u0327", " \t\n\r\u00a0\u2002\u2003\u3000\u205f",
]


def random_strings(n: int, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        parts = []
        for _ in range(rng.randint(1, 40 if i % 10 else 120)):
            r = rng.random()
            if r < 0.45:
                w = rng.choice(WORDS)
                parts.append(w.upper() if rng.random() < 0.1 else w.capitalize()
                             if rng.random() < 0.2 else w)
            elif r < 0.8:
                pool = rng.choice(UNICODE_POOLS)
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
            elif r < 0.9:
                parts.append(str(rng.randint(0, 10**rng.randint(1, 8))))
            else:
                parts.append(rng.choice(["'s", "'ll", "'d", "'re", "!", "!!", "<|endoftext|>",
                                         "...", "--", "(x)1.2", "\\(", ",", ".", "?!"]))
            parts.append(rng.choice([" ", " ", " ", "", "  ", "\t", "\n", ", ", " \u00a0 "]))
        out.append("".join(parts))
    return out


def write_hub_layout(out: Path, pad_token: str) -> None:
    """The Hub's SDXL layout: vocab.json + merges.txt + configs, no tokenizer.json."""
    out.mkdir(parents=True)
    clip_vocab.write_vocab_files(out)
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
               "unk_token": "<|endoftext|>", "pad_token": pad_token}
    (out / "special_tokens_map.json").write_text(json.dumps(special))
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    added = {str(vocab[t]): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                             "single_word": False, "special": True} for t in set(special.values())}
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"added_tokens_decoder": added, "do_lower_case": True, "model_max_length": 77,
         "tokenizer_class": "CLIPTokenizer", **special}))


@pytest.fixture(scope="module", params=["save_pretrained", "hub", "tokenizer_json_only"])
def tokenizer_dirs(request, tmp_path_factory):
    """A model folder with tokenizer/ and tokenizer_2/ in one of three on-disk layouts."""
    root = tmp_path_factory.mktemp(f"clip_tokenizers_{request.param}")
    for sub, pad in (("tokenizer", "<|endoftext|>"), ("tokenizer_2", "!")):
        if request.param == "hub":
            write_hub_layout(root / sub, pad)
        else:
            clip_vocab.write_tokenizer(root / sub, pad_token=pad)
            if request.param == "tokenizer_json_only":
                (root / sub / "vocab.json").unlink()
                (root / sub / "merges.txt").unlink()
    return root


def cpp_encode(binary: Path, model: Path, which: int, texts: list[str], no_pad=False):
    args = [str(binary), "tokenize", "--model", str(model), "--tokenizer", str(which), "--jsonl"]
    if no_pad:
        args.append("--no-pad")
    proc = subprocess.run(args, input="".join(json.dumps(t) + "\n" for t in texts),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(texts)
    return [json.loads(line) for line in lines]


def corpus() -> list[str]:
    return EDGE_CASES + [TRANSFORMERS_STRING] + random_strings(1100)


@pytest.mark.parametrize("which,subdir", [(1, "tokenizer"), (2, "tokenizer_2")])
def test_ids_match_transformers(sdxl_binary, tokenizer_dirs, which, subdir):
    from transformers import CLIPTokenizer

    ref = CLIPTokenizer.from_pretrained(str(tokenizer_dirs / subdir))
    texts = corpus()
    assert len(texts) >= 1000
    expected = ref(texts, padding="max_length", max_length=77, truncation=True).input_ids
    got = cpp_encode(sdxl_binary, tokenizer_dirs, which, texts)
    mismatches = [(t, e, g) for t, e, g in zip(texts, expected, got) if e != g]
    assert not mismatches, (f"{len(mismatches)}/{len(texts)} differ; first: "
                            f"{mismatches[0][0]!r}\nexpected {mismatches[0][1]}\ngot      "
                            f"{mismatches[0][2]}")
    long = sum(1 for t in texts if len(ref(t).input_ids) > 77)
    assert long >= 50, "the corpus must exercise truncation"
    pads = {ids[-1] for ids in expected if len(ref(texts[0]).input_ids) < 77}
    assert (0 if which == 2 else 49407) in pads


def test_untruncated_ids_and_oracle(sdxl_binary, tokenizer_dirs):
    from transformers import CLIPTokenizer

    ref = CLIPTokenizer.from_pretrained(str(tokenizer_dirs / "tokenizer"))
    got = cpp_encode(sdxl_binary, tokenizer_dirs, 1, [TRANSFORMERS_STRING], no_pad=True)[0]
    assert got == [49406] + TRANSFORMERS_IDS + [49407]
    assert ref(TRANSFORMERS_STRING).input_ids == got
    # A "!" is id 0 for tokenizer_2 (special pad token) but "!</w>" (256) for tokenizer.
    one = cpp_encode(sdxl_binary, tokenizer_dirs, 1, ["! !! !!!"], no_pad=True)[0]
    two = cpp_encode(sdxl_binary, tokenizer_dirs, 2, ["! !! !!!"], no_pad=True)[0]
    assert one == [49406, 256, 748, 995, 49407]
    assert two == [49406, 0, 0, 0, 0, 0, 0, 49407]


def test_cli_errors_are_one_clear_line(sdxl_binary, tmp_path):
    proc = subprocess.run([str(sdxl_binary), "tokenize", "--model", str(tmp_path / "nope"), "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "nope" in proc.stderr and proc.stderr.count("\n") == 1


def test_empty_prompt_is_a_prompt_and_missing_text_a_usage_error(sdxl_binary, tokenizer_dirs):
    # "" is the seed's default prompt: BOS, EOS, then padding; no TEXT at all is a usage error.
    proc = subprocess.run([str(sdxl_binary), "tokenize", "--model", str(tokenizer_dirs),
                           "--no-pad", ""], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["49406", "49407"]
    proc = subprocess.run([str(sdxl_binary), "tokenize", "--model", str(tokenizer_dirs)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "needs TEXT" in proc.stderr
