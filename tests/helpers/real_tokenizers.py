"""Real tokenizers for the tests, built from files that registry packages ship (see real_material.py; never the hub).

`llama_tokenizer(family, folder)`: Mistral-7B v0.1's 32k SentencePiece model — Llama's algorithm and layout (BOS 1,
EOS 2, byte fallback, `▁` word prefix), as in Vicuna, which LLaVA-NeXT-Video-7B and Video-LLaVA-7B use — converted
by transformers' own SentencePiece path, with the special tokens each family's hub conversion adds. The fixture
`real_checkpoints` builds a tiny checkpoint of each family with it.
"""

import shutil

import pytest

from helpers import real_material

# What transformers' convert_{llava_next_video,video_llava}_weights_to_hf.py add to Vicuna's tokenizer, in order
# (ids 32000, 32001, ...), and the pad token: LLaVA-NeXT-Video pads with id 0 (`<unk>`, its config's pad_token_id);
# Video-LLaVA adds `<pad>` (its config's pad_token_id 32002). Both pad on the left.
SPECIAL_TOKENS = {
    "llava-next-video": {"added": ["<video>", "<image>"], "pad": "<unk>"},
    "video-llava": {"added": ["<image>", "<video>", "<pad>"], "pad": "<pad>"},
}


def llama_tokenizer(family: str, folder):
    """A fast Llama tokenizer from the real SentencePiece model, with `family`'s special tokens."""
    from transformers import AddedToken, LlamaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(real_material.path("mistral-common", "mistral_common/data/tokenizer.model.v1"),
                    folder / "tokenizer.model")
    tokenizer = LlamaTokenizer.from_pretrained(folder, add_bos_token=True, padding_side="left")
    spec = SPECIAL_TOKENS[family]
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in spec["added"]], special_tokens=True)
    tokenizer.pad_token = spec["pad"]
    return tokenizer


@pytest.fixture(scope="session")
def real_checkpoints(tmp_path_factory):
    """{family: path} of a tiny checkpoint of each family whose processor has the real Llama-style tokenizer (and,
    for LLaVA-NeXT-Video, the hub's chat template; Video-LLaVA's original processor had none)."""
    from vidlm.demo.tiny import make_tiny_checkpoint

    root = tmp_path_factory.mktemp("real-checkpoints")
    return {
        family: str(make_tiny_checkpoint(family, root / family, tokenizer=llama_tokenizer(family, root / "spm")))
        for family in SPECIAL_TOKENS
    }


# Qwen's pre-tokenizer split (dashscope/tokenizers/qwen_tokenizer.py PAT_STR, the same in Qwen2's tokenizer.json):
# unlike transformers' default tiktoken pattern, digits are split one per token.
QWEN_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 151643, 151644, 151645 as in Qwen2


@pytest.fixture(scope="session")
def qwen_tokenizer():
    """A fast byte-level BPE tokenizer from Qwen's ranks (dashscope's qwen.tiktoken), converted by transformers'
    tiktoken converter: the vocabulary of Qwen2/2.5/3-VL, for Qwen-family work (~6 s to build)."""
    import base64

    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class QwenConverter(TikTokenConverter):
        @staticmethod
        def load_tiktoken_bpe(path) -> dict[bytes, int]:  # the file's format, read without the tiktoken package
            ranks = {}
            for line in open(path, "rb"):
                if line.strip():
                    token, rank = line.split()
                    ranks[base64.b64decode(token)] = int(rank)
            return ranks

    path = real_material.path("dashscope", "dashscope/resources/qwen.tiktoken")
    backend = QwenConverter(vocab_file=str(path), pattern=QWEN_PATTERN,
                            extra_special_tokens=QWEN_SPECIAL_TOKENS).converted()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
