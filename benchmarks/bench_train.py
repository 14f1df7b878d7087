"""Training memory and speed of the real architectures: QLoRA vs bf16 LoRA, 8 vs 32 frames, checkpointing on/off.

    .venv/bin/python benchmarks/bench_train.py [--arch llava-next-video-7b video-llava-7b] [--frames 8 32] [--steps 5]
    .venv/bin/python benchmarks/bench_train.py --dry-run   # every architecture's parameter count (meta device, no
                                                           # memory), then tiny configs trained on CPU: not real numbers

Nothing is downloaded: each family's reference checkpoints are rebuilt from configs written here with the values of
their hub config.json (random weights). `ARCHITECTURES` lists them with the checkpoint's parameter count and where that
number comes from; `tests/benchmarks/test_bench_train.py` checks on the meta device that each build matches it
within 1%.
QLoRA replaces the language model's linear layers by bitsandbytes NF4 (double quantization, bf16 compute) as
`load_model(quantization="4bit")` does; LoRA r=8 on those layers, vision tower frozen, AdamW. Per setting: peak GPU
memory (torch.cuda.max_memory_allocated, model included) and samples/s over `--steps` steps after one warm-up step.
Random weights change no shape, so memory and speed are those of the real model.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from dataclasses import dataclass
from typing import Callable

TEXT_TOKENS = 64  # prompt + a caption of ~50 words


@dataclass(frozen=True)
class Architecture:
    name: str
    hub_id: str
    model_class: str
    kind: str  # how its video goes in: see `batch`
    config: Callable  # (tiny: bool) -> the transformers config
    reference_params: int  # the hub checkpoint's parameter count
    source: str  # where `reference_params` comes from
    frame_size: int = 0  # pixels per frame side fed at real size (0: the vision config's image_size)


# --- configs: values of each hub config.json; the tiny variants keep the classes and shrink every size ---------------

def text_config(tiny: bool):
    """Vicuna-7B v1.5 as LLaVA-NeXT-Video-7B-hf and Video-LLaVA-7B-hf ship it (vocab 32064 with the added tokens)."""
    from transformers import LlamaConfig

    if tiny:
        return LlamaConfig(vocab_size=64, hidden_size=128, intermediate_size=512, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096)
    return LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                       rms_norm_eps=1e-5, pad_token_id=0)


def vision_config(family: str, tiny: bool):
    from transformers import CLIPVisionConfig

    if tiny:
        return CLIPVisionConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                                image_size=64, patch_size=8, projection_dim=64)
    return CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                            image_size=336 if family == "llava-next-video" else 224, patch_size=14,
                            projection_dim=768, hidden_act="quick_gelu")


def model_config(family: str, tiny: bool):
    """The hub config of `family`'s 7B checkpoint (llava-next-video or video-llava), or a tiny one for --dry-run."""
    from transformers import LlavaNextVideoConfig, VideoLlavaConfig

    text, vision = text_config(tiny), vision_config(family, tiny)
    video, image = (60, 61) if tiny else (32000, 32001)
    if family == "llava-next-video":
        return LlavaNextVideoConfig(text_config=text, vision_config=vision, video_token_index=video,
                                    image_token_index=image, spatial_pool_stride=2, spatial_pool_mode="average",
                                    vision_feature_layer=-2, vision_feature_select_strategy="default")
    return VideoLlavaConfig(text_config=text, vision_config=vision, video_token_index=video, image_token_index=image,
                            vision_feature_layer=-2, vision_feature_select_strategy="default")


TINY_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=256)


def _qwen_ids(tiny):  # image, video, vision start, vision end: Qwen's added tokens (small ids in the tiny vocab)
    return dict(zip(("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"),
                    (250, 251, 252, 253) if tiny else (151655, 151656, 151652, 151653)))


def qwen2_5_vl(hidden, intermediate, layers, heads, kv_heads, vocab, tied):
    """Qwen2.5-VL: its ViT (32 blocks, 1280 wide, windowed attention) + a Qwen2.5 LM; hub config.json values."""
    def config(tiny: bool):
        from transformers import Qwen2_5_VLConfig

        text = TINY_TEXT if tiny else dict(hidden_size=hidden, intermediate_size=intermediate,
                                           num_hidden_layers=layers, num_attention_heads=heads,
                                           num_key_value_heads=kv_heads, vocab_size=vocab)
        vision = (dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, window_size=56,
                       fullatt_block_indexes=[1]) if tiny else
                  dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, window_size=112,
                       fullatt_block_indexes=[7, 15, 23, 31]))
        return Qwen2_5_VLConfig(
            text_config={**text, "rms_norm_eps": 1e-6, "rope_parameters": {
                "rope_type": "default", "mrope_section": [2, 3, 3] if tiny else [16, 24, 24], "rope_theta": 1e6}},
            vision_config={**vision, "out_hidden_size": text["hidden_size"], "patch_size": 14,
                           "spatial_merge_size": 2, "temporal_patch_size": 2, "tokens_per_second": 2},
            tie_word_embeddings=tied, **_qwen_ids(tiny))
    return config


def qwen3_vl(hidden, intermediate, layers, heads, kv_heads, tied, depth, vision_hidden, vision_intermediate, deepstack):
    """Qwen3-VL: a SigLIP-2-style ViT (patch 16, DeepStack taps) + a Qwen3 LM (head_dim 128); hub config.json."""
    def config(tiny: bool):
        from transformers import Qwen3VLConfig

        text = ({**TINY_TEXT, "head_dim": 16} if tiny else
                dict(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                     num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=128, vocab_size=151936))
        vision = (dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, deepstack_visual_indexes=[0],
                       num_position_embeddings=64) if tiny else
                  dict(depth=depth, hidden_size=vision_hidden, intermediate_size=vision_intermediate, num_heads=16,
                       deepstack_visual_indexes=deepstack, num_position_embeddings=2304))
        return Qwen3VLConfig(
            text_config={**text, "rope_parameters": {"rope_type": "default", "rope_theta": 5e6,
                                                      "mrope_section": [2, 3, 3] if tiny else [24, 20, 20],
                                                      "mrope_interleaved": True}},
            vision_config={**vision, "out_hidden_size": text["hidden_size"], "patch_size": 16,
                           "spatial_merge_size": 2, "temporal_patch_size": 2},
            tie_word_embeddings=tied, **_qwen_ids(tiny))
    return config


def llava_onevision(hidden, intermediate, layers, heads, kv_heads, vocab, tied):
    """LLaVA-OneVision: SigLIP so400m-patch14-384 (26 layers used) + a Qwen2 LM; llava-hf's config.json values."""
    def config(tiny: bool):
        from transformers import LlavaOnevisionConfig

        text = TINY_TEXT if tiny else dict(hidden_size=hidden, intermediate_size=intermediate,
                                           num_hidden_layers=layers, num_attention_heads=heads,
                                           num_key_value_heads=kv_heads, vocab_size=vocab)
        vision = (dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       image_size=56, patch_size=14) if tiny else
                  dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=26, num_attention_heads=16,
                       image_size=384, patch_size=14))
        return LlavaOnevisionConfig(
            text_config={**text, "model_type": "qwen2", "tie_word_embeddings": tied},
            vision_config={**vision, "model_type": "siglip_vision_model", "vision_use_head": False},
            image_token_index=250 if tiny else 151646, video_token_index=251 if tiny else 151647,
            tie_word_embeddings=tied)
    return config


def smolvlm(hidden, intermediate, layers, heads, kv_heads, vision, scale_factor):
    """SmolVLM2: a SigLIP ViT + pixel shuffle + SmolLM2 (Llama; vocab 49280 with the added tokens)."""
    def config(tiny: bool):
        from transformers import SmolVLMConfig

        text = TINY_TEXT if tiny else dict(hidden_size=hidden, intermediate_size=intermediate,
                                           num_hidden_layers=layers, num_attention_heads=heads,
                                           num_key_value_heads=kv_heads, vocab_size=49280)
        vis = (dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=64,
                    patch_size=16) if tiny else vision)
        return SmolVLMConfig(text_config={**text, "model_type": "llama", "tie_word_embeddings": False},
                             vision_config=vis, scale_factor=2 if tiny else scale_factor,
                             image_token_id=250 if tiny else 49190, tie_word_embeddings=False)
    return config


def internvl3(hidden, intermediate, layers, heads, kv_heads):
    """InternVL3: InternViT-300M-448px-V2.5 + pixel shuffle 0.5 + a Qwen2.5 LM, embeddings untied (-hf configs)."""
    def config(tiny: bool):
        from transformers import InternVLConfig

        text = TINY_TEXT if tiny else dict(hidden_size=hidden, intermediate_size=intermediate,
                                           num_hidden_layers=layers, num_attention_heads=heads,
                                           num_key_value_heads=kv_heads, vocab_size=151674)
        vision = (dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       image_size=[56, 56], patch_size=[14, 14]) if tiny else
                  dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                       image_size=[448, 448], patch_size=[14, 14]))
        return InternVLConfig(
            text_config={**text, "model_type": "qwen2", "tie_word_embeddings": False},
            vision_config={**vision, "layer_scale_init_value": 0.1, "use_qk_norm": False, "norm_type": "layer_norm",
                           "attention_bias": True},  # InternViT's qkv bias (the hub configs' attention_bias)
            image_token_id=250 if tiny else 151667, image_seq_length=4 if tiny else 256, tie_word_embeddings=False)
    return config


def _siglip_smol(hidden, intermediate, layers, heads, image_size, patch_size):
    return dict(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers, num_attention_heads=heads,
                image_size=image_size, patch_size=patch_size)


# Parameter counts of the hub checkpoints. "shards": the sum of the model-*.safetensors sizes on the hub's file list
# (GB = 1e9 bytes, bf16 = 2 bytes per parameter, so ±0.05% from the 3-digit rounding); "model size": the hub page's
# "Model size" figure; "card": counted from the checkpoint's tensors by a model card.
ARCHITECTURES = {a.name: a for a in [
    Architecture("llava-next-video-7b", "llava-hf/LLaVA-NeXT-Video-7B-hf", "LlavaNextVideoForConditionalGeneration",
                 "llava-next-video", lambda tiny: model_config("llava-next-video", tiny), 7_065_000_000,
                 "shards 4.99+4.96+4.18 GB (hub file list); model size 7.06B"),
    Architecture("video-llava-7b", "LanguageBind/Video-LLaVA-7B-hf", "VideoLlavaForConditionalGeneration",
                 "video-llava", lambda tiny: model_config("video-llava", tiny), 7_370_000_000,
                 "shards 4.98+4.95+4.81 GB (hub file list); model size 7.37B"),
    Architecture("qwen2.5-vl-3b", "Qwen/Qwen2.5-VL-3B-Instruct", "Qwen2_5_VLForConditionalGeneration", "qwen2.5",
                 qwen2_5_vl(2048, 11008, 36, 16, 2, 151936, True), 3_750_000_000,
                 "model size 3.75B (hub page; not re-read in this session)", frame_size=448),
    Architecture("qwen2.5-vl-7b", "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen2_5_VLForConditionalGeneration", "qwen2.5",
                 qwen2_5_vl(3584, 18944, 28, 28, 4, 152064, False), 8_292_000_000,
                 "card: 8.292B counted from the upstream checkpoint's tensors (OpenExplorer/Qwen2.5-VL-7B-Instruct)",
                 frame_size=448),
    Architecture("qwen3-vl-2b", "Qwen/Qwen3-VL-2B-Instruct", "Qwen3VLForConditionalGeneration", "qwen3",
                 qwen3_vl(2048, 6144, 28, 16, 8, True, 24, 1024, 4096, [5, 11, 17]), 2_130_000_000,
                 "model size 2.13B (hub page; not re-read in this session)", frame_size=448),
    Architecture("qwen3-vl-8b", "Qwen/Qwen3-VL-8B-Instruct", "Qwen3VLForConditionalGeneration", "qwen3",
                 qwen3_vl(4096, 12288, 36, 32, 8, False, 27, 1152, 4304, [8, 16, 24]), 8_770_000_000,
                 "model size 8.77B (hub page; not re-read in this session)", frame_size=448),
    Architecture("llava-onevision-0.5b", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
                 "LlavaOnevisionForConditionalGeneration", "onevision",
                 llava_onevision(896, 4864, 24, 14, 2, 152000, True), 894_000_000,
                 "model size 894M (hub page; not re-read in this session)"),
    Architecture("llava-onevision-7b", "llava-hf/llava-onevision-qwen2-7b-ov-hf",
                 "LlavaOnevisionForConditionalGeneration", "onevision",
                 llava_onevision(3584, 18944, 28, 28, 4, 152128, False), 8_030_000_000,
                 "model size 8.03B (hub page; not re-read in this session)"),
    Architecture("smolvlm2-256m", "HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "SmolVLMForConditionalGeneration",
                 "smolvlm", smolvlm(576, 1536, 30, 9, 3, _siglip_smol(768, 3072, 12, 12, 512, 16), 4), 256_000_000,
                 "the name (256M); processor image_seq_len 64 = (512/16)²/4² checks the vision side"),
    Architecture("smolvlm2-2.2b", "HuggingFaceTB/SmolVLM2-2.2B-Instruct", "SmolVLMForConditionalGeneration", "smolvlm",
                 smolvlm(2048, 8192, 24, 32, 32, _siglip_smol(1152, 4304, 27, 16, 384, 14), 3), 2_250_000_000,
                 "model size 2.25B (hub page; not re-read in this session)"),
    Architecture("internvl3-1b", "OpenGVLab/InternVL3-1B-hf", "InternVLForConditionalGeneration", "internvl",
                 internvl3(896, 4864, 24, 14, 2), 940_000_000,
                 "model.safetensors 1.88 GB (OpenGVLab/InternVL3-1B file list)"),
    Architecture("internvl3-2b", "OpenGVLab/InternVL3-2B-hf", "InternVLForConditionalGeneration", "internvl",
                 internvl3(1536, 8960, 28, 12, 2), 2_090_000_000,
                 "model.safetensors 4.18 GB (OpenGVLab/InternVL3-2B-hf file list)"),
    Architecture("internvl3-8b", "OpenGVLab/InternVL3-8B-hf", "InternVLForConditionalGeneration", "internvl",
                 internvl3(3584, 18944, 28, 28, 4), 7_945_000_000,
                 "shards 4.88+4.99+4.93+1.09 GB (OpenGVLab/InternVL3-8B-hf file list)"),
]}
SEVEN_B = ["llava-next-video-7b", "video-llava-7b", "qwen2.5-vl-7b", "qwen3-vl-8b", "llava-onevision-7b",
           "internvl3-8b"]


def architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise SystemExit(f"Unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def build_empty(name: str, tiny: bool = False):
    """The architecture on the meta device: every shape, no memory, nothing initialised."""
    import torch
    import transformers

    arch = architecture(name)
    with torch.device("meta"):
        return getattr(transformers, arch.model_class)(arch.config(tiny))


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())  # tied weights are one Parameter, counted once


def parameter_table() -> str:
    lines = ["| architecture | hub checkpoint | built | reference | off by | reference from |",
             "| --- | --- | --- | --- | --- | --- |"]
    for arch in ARCHITECTURES.values():
        built = count_parameters(build_empty(arch.name))
        lines.append(f"| {arch.name} | {arch.hub_id} | {built:,} | {arch.reference_params / 1e9:.3f}B | "
                     f"{100 * (built / arch.reference_params - 1):+.2f}% | {arch.source} |")
    return "\n".join(lines)


# --- training ---------------------------------------------------------------------------------------------------------

def quantize_language_model(model, compute_dtype):
    """Swap the language model's nn.Linear layers for NF4 bitsandbytes layers in place (what QLoRA loading does)."""
    import bitsandbytes as bnb
    import torch

    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}"
            if not isinstance(child, torch.nn.Linear) or not ("language_model" in full or "text_model" in full):
                continue
            layer = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                      compute_dtype=compute_dtype, compress_statistics=True, quant_type="nf4",
                                      device="meta")
            layer.weight = bnb.nn.Params4bit(child.weight.data.to("cpu"), requires_grad=False,
                                             compress_statistics=True, quant_type="nf4").to(child.weight.device)
            if child.bias is not None:
                layer.bias = child.bias
            setattr(module, child_name, layer)
            del child
    model.is_loaded_in_4bit = True  # what peft's prepare_model_for_kbit_training looks for
    return model


def build(name: str, quantization: str, gradient_checkpointing: bool, tiny: bool, device, lora_r: int = 8):
    """The architecture with random weights on `device`, quantized as vidlm loads it, LoRA applied as vidlm does."""
    import torch
    import transformers

    from vidlm.lora import LoraSettings, apply_lora

    arch = ARCHITECTURES.get(name) or architecture(_by_family(name))
    dtype = torch.float32 if tiny else torch.bfloat16
    torch.manual_seed(0)
    with torch.device(device):
        model = getattr(transformers, arch.model_class)(arch.config(tiny)).to(dtype)
    if quantization == "4bit":
        model = quantize_language_model(model, dtype)
    settings = LoraSettings(r=lora_r, alpha=2 * lora_r, dropout=0.05, gradient_checkpointing=gradient_checkpointing)
    return apply_lora(model, settings, verbose=False)  # the family its config's model_type names


def _by_family(name: str) -> str:
    # The old command line named families (`--family llava-next-video`): their 7B architecture.
    return {"llava-next-video": "llava-next-video-7b", "video-llava": "video-llava-7b"}.get(name, name)


def visual_tokens(arch: Architecture, config, num_frames: int) -> int:
    """Tokens the clip's visual features fill in the sequence (checked by every forward: a mismatch raises)."""
    from vidlm.memory import count_visual_tokens

    return count_visual_tokens(config, num_frames, frame_side(arch, config))


def frame_side(arch: Architecture, config) -> int:
    if arch.kind in ("qwen2.5", "qwen3"):
        # Tiny configs: 4x4 merged patches per frame pair; real size: `frame_size` px (448: 32x32 patches of 14).
        return arch.frame_size if config.text_config.hidden_size > 64 else 4 * config.vision_config.patch_size * 2
    size = config.vision_config.image_size
    return size if isinstance(size, int) else size[0]


def batch(model, name: str, num_frames: int, device, batch_size: int = 1):
    """Clips of `num_frames` random frames at the architecture's size, each with its visual placeholder tokens and
    TEXT_TOKENS of text (labels on the text only). Returns (inputs, sequence length)."""
    import torch

    arch = ARCHITECTURES.get(name) or architecture(_by_family(name))
    config = model.config
    dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
    visual = visual_tokens(arch, config, num_frames)
    side = frame_side(arch, config)
    inputs = {}
    if arch.kind in ("qwen2.5", "qwen3"):
        vision = config.vision_config
        groups, grid = math.ceil(num_frames / vision.temporal_patch_size), side // vision.patch_size
        per_group = visual // groups
        token = config.video_token_id
        # Qwen3-VL separates frame groups (<vision_start> group <vision_end> each); Qwen2.5-VL wraps the whole clip.
        blocks = ([[config.vision_start_token_id] + [token] * per_group + [config.vision_end_token_id]] * groups
                  if arch.kind == "qwen3" else
                  [[config.vision_start_token_id] + [token] * visual + [config.vision_end_token_id]])
        placeholder = [t for block in blocks for t in block]
        patch = 3 * vision.temporal_patch_size * vision.patch_size ** 2
        inputs["pixel_values_videos"] = torch.randn(batch_size * groups * grid * grid, patch, device=device,
                                                    dtype=dtype)
        inputs["video_grid_thw"] = torch.tensor([[groups, grid, grid]] * batch_size, device=device)
    elif arch.kind in ("smolvlm", "internvl"):
        placeholder = [config.image_token_id] * visual
        shape = (batch_size, num_frames, 3, side, side) if arch.kind == "smolvlm" else (
            batch_size * num_frames, 3, side, side)
        inputs["pixel_values"] = torch.randn(*shape, device=device, dtype=dtype)
    else:
        token = config.video_token_index
        placeholder = [token] * visual
        inputs["pixel_values_videos"] = torch.randn(batch_size, num_frames, 3, side, side, device=device, dtype=dtype)
    length = 1 + len(placeholder) + TEXT_TOKENS
    ids = torch.randint(1, 50, (batch_size, length), device=device)
    ids[:, 1:1 + len(placeholder)] = torch.tensor(placeholder, device=device)
    labels = ids.clone()
    labels[:, :1 + len(placeholder)] = -100
    inputs.update(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels)
    if arch.kind == "qwen3":  # its processor marks the video tokens (image 1, video 2) for M-RoPE
        inputs["mm_token_type_ids"] = (ids == config.video_token_id).long() * 2
    return inputs, length


def measure(family, quantization, num_frames, gradient_checkpointing, steps, tiny, device, batch_size=1) -> dict:
    import torch

    row = {"family": _by_family(family), "method": "QLoRA" if quantization == "4bit" else "bf16 LoRA",
           "frames": num_frames, "batch": batch_size, "checkpointing": "on" if gradient_checkpointing else "off"}
    cuda = device.startswith("cuda")
    model = optimizer = inputs = None
    try:
        model = build(family, quantization, gradient_checkpointing, tiny, device)
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        inputs, row["tokens"] = batch(model, family, num_frames, device, batch_size)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        for step in range(steps + 1):  # step 0 warms up (kernels, optimizer state)
            if step == 1:
                if cuda:
                    torch.cuda.synchronize()
                start = time.perf_counter()
            model(**inputs).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        row["samples/s"] = f"{steps * batch_size / (time.perf_counter() - start):.2f}"
        row["peak GiB"] = f"{torch.cuda.max_memory_allocated() / 2**30:.1f}" if cuda else "n/a (CPU)"
    except torch.OutOfMemoryError:
        row["samples/s"], row["peak GiB"] = "OOM", "OOM"
    finally:
        model = optimizer = inputs = None
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    return row


def table(rows: list[dict], columns=("family", "method", "frames", "batch", "tokens", "checkpointing", "peak GiB",
                                     "samples/s")) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", "--family", nargs="+", default=["llava-next-video-7b", "video-llava-7b"],
                        help=f"architectures: {', '.join(ARCHITECTURES)}")
    parser.add_argument("--frames", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--quantization", nargs="+", default=["4bit", "none"], choices=["4bit", "none"])
    parser.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up step")
    parser.add_argument("--dry-run", action="store_true",
                        help="parameter counts of every architecture (meta device), then tiny configs on the CPU")
    args = parser.parse_args(argv)
    names = [_by_family(a) for a in args.arch]
    for name in names:
        architecture(name)
    import torch

    if args.dry_run:
        device, args.steps = "cpu", min(args.steps, 2)
        torch.set_num_threads(1)
        print("Parameters of each reference architecture, built on the meta device:\n\n" + parameter_table() + "\n",
              flush=True)
    elif torch.cuda.is_available():
        device = "cuda:0"
    else:
        print("No GPU: the real numbers need one. Use --dry-run to check the script on the CPU.", file=sys.stderr)
        return 2
    rows = []
    for name in names:
        for quantization in args.quantization:
            for frames in args.frames:
                for checkpointing in (True, False):
                    rows.append(measure(name, quantization, frames, checkpointing, args.steps, args.dry_run,
                                        device))
                    print(rows[-1], flush=True)
    print(("Dry run (tiny configs, CPU): not real numbers.\n\n" if args.dry_run else "") + table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
