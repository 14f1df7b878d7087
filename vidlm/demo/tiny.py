"""Tiny checkpoints: real configs of each family, random weights (safetensors) and a locally trained tokenizer.

They stand in for the hub models wherever nothing can be downloaded (tests, CI, the demo) and are loaded by the same
`load_model` / `load_processor` path. The tokenizer is word-level, trained here on the synthetic captions and a few
prompt words, so a caption is a handful of tokens and a 2-core CPU trains the model in minutes.

    vidlm tiny llava-next-video checkpoints/tiny-llava-next-video
"""

from __future__ import annotations

from pathlib import Path

from vidlm.families import get_family
from vidlm.demo.synthetic import COLOURS, DIRECTIONS, SHAPES, all_specs
from vidlm.prompts import DEFAULT_PROMPT

_EXTRA_WORDS = (
    "user assistant system : . , ? ! ' what is in the video describe this clip happening shape colour color "
    "moves moving move to from left right up down which direction does it and of an one object briefly short"
)
# Words only the chat-template families' prompts have: Qwen2.5-VL's default system turn, Qwen3-VL's `<0.5 seconds>`
# frame times. Kept out of the LLaVA families' vocabulary, which the demo's results depend on.
_TEMPLATE_WORDS = "you are a helpful seconds < > 0 1 2 3 4 5 6 7 8 9"


def tokenizer_corpus(family: str = "llava-next-video") -> list[str]:
    """The sentences the tiny tokenizer's vocabulary is learned from."""
    captions = [spec.caption for spec in all_specs()]
    extra = [_TEMPLATE_WORDS] if get_family(family).video_placeholder is None else []
    return [*captions, DEFAULT_PROMPT, _EXTRA_WORDS, " ".join([*COLOURS, *SHAPES, *DIRECTIONS]), *extra]


def build_tokenizer(family: str = "llava-next-video"):
    """A word-level tokenizer trained on `tokenizer_corpus()` with `family`'s special tokens (BOS added where the
    family has one: `<s>` for the LLaVA families; Qwen has none)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    fam = get_family(family)
    roles = fam.token_roles
    specials = list(dict.fromkeys(["<unk>", *fam.tiny_special_tokens]))
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(tokenizer_corpus(family), trainers.WordLevelTrainer(special_tokens=specials))
    if "bos" in roles:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{roles['bos']} $A", pair=f"{roles['bos']} $A {roles['bos']} $B",
            special_tokens=[(roles["bos"], tok.token_to_id(roles["bos"]))]
        )
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words with spaces, tidies " ." → "."
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=roles.get("bos"), eos_token=roles["eos"], unk_token="<unk>",
        # every other role is a named token the processor reads (`video_token`; InternVL's `start_image_token` …)
        pad_token=roles["pad"], extra_special_tokens={f"{role}_token": token for role, token in roles.items()
                                                      if role not in ("bos", "eos", "pad")},
        model_max_length=1024 if fam.video_placeholder is not None else 2048,  # the tiny configs' positions
    )


def make_tiny_checkpoint(family: str, output_dir, seed: int = 0, tokenizer=None) -> Path:
    """Write a tiny checkpoint of `family` to `output_dir` (config, safetensors weights, processor); returns the path.

    tokenizer: the word-level `build_tokenizer(family)` by default; any tokenizer with the family's special tokens
    (`Family.tiny_special_tokens`, EOS and pad) otherwise (the tests use real SentencePiece and byte-level BPE ones),
    the vocabulary sized to match.

    >>> make_tiny_checkpoint("video-llava", "checkpoints/tiny-video-llava")
    """
    import torch
    import transformers

    from vidlm.runtime.progress import use_for_transformers

    use_for_transformers()  # its "Writing model shards" bar: text when no one watches a widget
    fam = get_family(family)
    tokenizer = build_tokenizer(family) if tokenizer is None else tokenizer
    ids = {"vocab_size": len(tokenizer), "bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id,
           "pad": tokenizer.pad_token_id}
    ids.update({token: tokenizer.convert_tokens_to_ids(token) for token in fam.tiny_special_tokens})
    needed = ["bos", "eos", "pad"] if "bos" in fam.token_roles else ["eos", "pad"]
    roles = {fam.token_roles.get(role) for role in ("bos", "eos", "pad")}
    missing = [name for name in needed if ids[name] is None] + [
        token for token in fam.tiny_special_tokens if token != "<unk>" and token not in roles
        and ids[token] in (None, tokenizer.unk_token_id)]
    if missing:
        raise ValueError(f"The tokenizer for a tiny {family} checkpoint lacks {missing}; add them as special tokens")
    config = fam.tiny_config(ids)
    torch.manual_seed(seed)
    model = getattr(transformers, fam.model_class)(config)
    # LoRA leaves lm_head and the final norm frozen. At the default init (std 0.02, hidden 128) the largest logit a
    # hidden state can reach is ~2.6, which caps every token's probability near 0.19 (loss ≥ 1.66) however well
    # the adapters learn. A wider head lets the tiny model become confident, as a pretrained head already is.
    torch.nn.init.normal_(model.lm_head.weight, std=0.2)
    model.generation_config.pad_token_id = ids["pad"]
    model.generation_config.eos_token_id = ids["eos"]
    if ids["bos"] is not None:
        model.generation_config.bos_token_id = ids["bos"]
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    fam.tiny_processor(tokenizer).save_pretrained(out)
    return out
