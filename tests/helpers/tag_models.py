"""Two tiny chat LMs for the `vidlm tag` tests, neither trained, so no test depends on how well a model learned.

- `scripted`: a 1-layer Llama whose replies are fixed by construction. Its embeddings are one-hot, its layer adds
  nothing (zero output projections) and its LM head maps each token to the next token of a script, so greedy
  decoding after `<|assistant|>` writes `[dog, ball]` then `<|end|>`, on any CPU (the winning logit leads by ~80).
  After a pad token it writes `horse`: a row generated after right padding differs from one generated after its
  own last token.
- `random_weights`: a 2-layer Llama with seeded random weights: its replies depend on every token of the prompt and
  on the attention mask and positions, so batching, padding and row order show in what it writes.
"""

from pathlib import Path

from vidlm.jobs.tag import EXAMPLE_CAPTION, EXAMPLE_REPLIES, INSTRUCTIONS

NOUNS = ["dog", "cat", "man", "woman", "bird", "horse", "ball", "tree"]
VERBS = {"run": "runs", "jump": "jumps", "walk": "walks", "swim": "swims", "fly": "flies", "eat": "eats",
         "sit": "sits", "play": "plays"}
ADJECTIVES = ["red", "small", "big", "white", "old"]
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
SCRIPT = {"<|assistant|>": "[", "[": "dog", "dog": ",", ",": "ball", "ball": "]", "]": "<|end|>",
          "<pad>": "horse"}  # every other token is followed by <|end|>
SCRIPTED_REPLY = ["dog", "ball"]


def build_tokenizer():
    """A word-level tokenizer over the tag prompts and the synthetic captions' words, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [*INSTRUCTIONS.values(), EXAMPLE_CAPTION, *EXAMPLE_REPLIES.values(), "Caption: [] , .",
              " ".join([*NOUNS, *ADJECTIVES, *VERBS, *VERBS.values(), "a", "the", "near"])]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(
        special_tokens=["<unk>", "<pad>", "<|user|>", "<|assistant|>", "<|end|>"]))
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # words joined by spaces, " ," tidied to ","
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|end|>",
                                   chat_template=CHAT_TEMPLATE, model_max_length=512)


def _config(tokenizer, hidden: int, layers: int, **extra):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                       num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                       max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
                       eos_token_id=tokenizer.eos_token_id, bos_token_id=None, **extra)


def _save(model, tokenizer, folder: Path) -> str:
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def scripted(folder: Path) -> str:
    """Save the scripted chat LM (see the module docstring) in `folder`; returns the folder."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer = build_tokenizer()
    vocab = len(tokenizer)
    hidden = -(-vocab // 4) * 4
    model = LlamaForCausalLM(_config(tokenizer, hidden, 1, tie_word_embeddings=False))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for norm in (model.model.norm, *[n for layer in model.model.layers
                                         for n in (layer.input_layernorm, layer.post_attention_layernorm)]):
            norm.weight.fill_(1.0)
        model.model.embed_tokens.weight[:, :vocab] = torch.eye(vocab)
        end = tokenizer.convert_tokens_to_ids("<|end|>")
        following = [end] * vocab
        for token, after in SCRIPT.items():
            following[tokenizer.convert_tokens_to_ids(token)] = tokenizer.convert_tokens_to_ids(after)
        for token, after in enumerate(following):
            model.lm_head.weight[after, token] = 10.0
    return _save(model, tokenizer, folder)


def random_weights(folder: Path, seed: int = 0) -> str:
    """Save the seeded random-weight chat LM (see the module docstring) in `folder`; returns the folder."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    # A wide initialisation spreads the logits (top two ~5 apart), so float rounding never changes the argmax.
    model = LlamaForCausalLM(_config(tokenizer, 64, 2, tie_word_embeddings=True, initializer_range=0.5))
    return _save(model, tokenizer, folder)
