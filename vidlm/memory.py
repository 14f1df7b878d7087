"""GPU memory of a LoRA/QLoRA training run, known from the model's config before any weight is loaded.

    from vidlm import estimate_memory
    print(estimate_memory("llava-hf/LLaVA-NeXT-Video-7B-hf", num_frames=32, gpu_gib=16))

The model is built on PyTorch's meta device (shapes only, no memory), so weights, LoRA parameters, gradients and
optimizer state are counted from the real module tree, exactly as vidlm loads and wraps it:
- 4-bit (NF4, double quantization, bitsandbytes' block of 64): per quantized weight of n elements, n/2 packed bytes,
  one uint8 scale per block, and per 256 blocks one float32 second-level scale, plus the two code tables;
  8-bit: n int8 bytes + one float32 scale per output row. The language model's linear layers are quantized;
  the vision tower, projector, embeddings, norms and lm_head are not — and peft's prepare_model_for_kbit_training,
  which QLoRA runs, casts those to float32.
- LoRA: r × (in + out) float32 parameters per adapted linear layer (peft keeps adapters in float32); gradients
  of every trainable parameter in its dtype; torch AdamW keeps exp_avg and exp_avg_sq of the same size (its step
  counters are CPU scalars).
- Activations: a formula, UNVERIFIED until compared with a GPU run (benchmarks/bench_gpu.py does): per decoder
  layer and token, without checkpointing, the tensors autograd keeps for a Llama/Qwen-style layer with SDPA (no
  seq² scores): two RMSNorms (float32 input + output), q/k/v and their rotary copies, the attention output, the
  MLP's four intermediate-wide tensors, and each LoRA input's dropout copy + mask. With checkpointing, one hidden
  state per layer and token plus one layer recomputed at a time (its activations and their gradients). Logits:
  bf16 logits + the loss's float32 copy, log-softmax and gradient (14 bytes per token × vocab). The frozen vision
  tower keeps nothing for backward; its forward is transient, before the language model's activations exist.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

GIB = 2**30
# Everything the CUDA runtime holds that torch.cuda.max_memory_allocated does not count (context, kernels) and what
# the caching allocator loses to fragmentation: a reserve when comparing with a GPU's size.
CUDA_CONTEXT_BYTES = GIB // 2
FRAGMENTATION = 0.05
LM_MODULES = ("language_model", "text_model")
LM_LINEARS = r".*(language_model|text_model).*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass
class MemoryEstimate:
    """Bytes by component; `peak_allocated` is what torch.cuda.max_memory_allocated should read."""

    rows: list[tuple[str, int, str]]  # (component, bytes, how it was counted)
    peak_allocated: int
    total: int  # peak_allocated + the CUDA context and fragmentation reserve
    gpu_bytes: int | None
    settings: dict
    recommendations: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.gpu_bytes is None or self.total <= self.gpu_bytes

    def table(self) -> str:
        total_label = "total (+ CUDA context, fragmentation)"
        width = max(len(total_label), *(len(name) for name, _, _ in self.rows))
        lines = [f"Estimated GPU memory ({self.settings['description']}):"]
        lines += [f"  {name:<{width}}  {size / GIB:7.2f} GiB  {note}" for name, size, note in self.rows]
        lines.append(f"  {'peak allocated':<{width}}  {self.peak_allocated / GIB:7.2f} GiB")
        lines.append(f"  {total_label:<{width}}  {self.total / GIB:7.2f} GiB"
                     + (f" of {self.gpu_bytes / GIB:.1f} GiB" if self.gpu_bytes else ""))
        if not self.fits:
            lines.append("Does not fit. To fit:")
            lines += [f"  - {r}" for r in self.recommendations] or ["  - a larger GPU"]
        return "\n".join(lines)

    __str__ = table


def estimate_memory(model, num_frames: int = 8, frame_size: int | None = None, batch_size: int = 1,
                    text_tokens: int = 64, visual_tokens: int | None = None, quantization: str = "4bit",
                    lora_r: int = 8, lora_target_modules: str | None = None, train_projector: bool = False,
                    gradient_checkpointing: bool = True, dtype: str = "bfloat16", gpu_gib: float | None = None,
                    _advise: bool = True) -> MemoryEstimate:
    """Memory of one training step from the config alone (nothing loaded); see the module docstring for the model.

    model: hub id, local folder or a transformers config. frame_size: pixels per frame side for families with a
    pixel budget (Qwen); others use their vision tower's size. visual_tokens: override the visual token count.
    gpu_gib: the GPU's memory; when the total exceeds it, `recommendations` say what fits.
    """
    if quantization not in ("4bit", "8bit", "none"):
        raise ValueError(f"Unknown quantization {quantization!r}; choose '4bit', '8bit' or 'none'")
    if dtype not in _DTYPE_BYTES:
        raise ValueError(f"Unknown dtype {dtype!r}; choose one of {sorted(_DTYPE_BYTES)}")
    config = _config(model)
    kwargs = dict(num_frames=num_frames, frame_size=frame_size, batch_size=batch_size, text_tokens=text_tokens,
                  visual_tokens=visual_tokens, quantization=quantization, lora_r=lora_r,
                  lora_target_modules=lora_target_modules, train_projector=train_projector,
                  gradient_checkpointing=gradient_checkpointing, dtype=dtype, gpu_gib=gpu_gib)
    parts = parameter_bytes(config, quantization, lora_r, lora_target_modules, train_projector, dtype)
    d = _DTYPE_BYTES[dtype]
    visual = visual_tokens if visual_tokens is not None else count_visual_tokens(config, num_frames, frame_size)
    tokens = batch_size * (visual + text_tokens)
    lm, logits, vision = _activation_bytes(config, parts, tokens, batch_size * num_frames, frame_size, d,
                                           gradient_checkpointing)
    rows = [
        ("weights, quantized" if quantization != "none" else "weights", parts["quantized"] + parts["frozen"],
         f"{quantization} language-model linears + {'float32' if quantization != 'none' else dtype} rest"),
        ("LoRA + trained parameters", parts["trainable"], f"r={lora_r}, {parts['trainable_count']:,} parameters"),
        ("gradients", parts["trainable"], "one per trainable parameter"),
        ("AdamW state", 2 * parts["trainable"], "exp_avg + exp_avg_sq"),
        ("activations (unverified formula)", lm, f"{tokens:,} tokens ({visual:,} visual per clip), "
                                                  f"checkpointing {'on' if gradient_checkpointing else 'off'}"),
        ("logits and loss", logits, "bf16 logits, float32 log-softmax + gradient"),
        ("vision forward (transient)", vision, "counted only if larger than activations + logits"),
    ]
    fixed = sum(size for _, size, _ in rows[:4])
    peak = fixed + max(lm + logits, vision)
    total = int(peak * (1 + FRAGMENTATION)) + CUDA_CONTEXT_BYTES
    gpu = int(gpu_gib * GIB) if gpu_gib else None
    settings = {**kwargs, "model_type": config.model_type, "visual_tokens": visual,
                "description": f"{config.model_type}, {quantization}, {num_frames} frames, batch {batch_size}, "
                               f"{visual + text_tokens:,} tokens per clip"}
    estimate = MemoryEstimate(rows, peak, total, gpu, settings)
    if _advise and not estimate.fits:
        estimate.recommendations = _recommend(config, kwargs)
    return estimate


def _recommend(config, kwargs) -> list[str]:
    """Each change that alone brings the run under the GPU's size, with the total it gives."""
    def total(**change):
        return estimate_memory(config, **{**kwargs, **change}, _advise=False)

    advice = []
    if not kwargs["gradient_checkpointing"]:
        advice.append(("gradient_checkpointing=True", total(gradient_checkpointing=True)))
    if kwargs["quantization"] != "4bit":
        advice.append(("quantization='4bit' (QLoRA)", total(quantization="4bit")))
    if kwargs["batch_size"] > 1:
        advice.append((f"batch_size=1 with gradient_accumulation_steps x{kwargs['batch_size']}",
                       total(batch_size=1)))
    frames = kwargs["num_frames"]
    while frames > 1 and not total(num_frames=frames).fits:
        frames //= 2
    if frames < kwargs["num_frames"] and total(num_frames=frames).fits:
        advice.append((f"num_frames={frames}", total(num_frames=frames)))
    if config.model_type in _DYNAMIC_RESOLUTION:
        side = kwargs["frame_size"] or _DYNAMIC_RESOLUTION[config.model_type]
        while side > 112 and not total(frame_size=side).fits:
            side -= 56
        if total(frame_size=side).fits and side < (kwargs["frame_size"] or 10**6):
            advice.append((f"a smaller pixel budget: frames of {side}x{side} px", total(frame_size=side)))
    return [f"{change}: {estimate.total / GIB:.1f} GiB" for change, estimate in advice if estimate.fits]


def visible_gpu_gib() -> float | None:
    """Memory of the GPU this process trains on, or None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory / GIB


# --- counting --------------------------------------------------------------------------------------------------------

def _config(model):
    if isinstance(model, str):
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(model)
    return model


def build_on_meta(config):
    """The model class of this config, instantiated on the meta device: every parameter's shape, no memory."""
    import torch
    import transformers

    from vidlm.families import family_of

    try:
        model_class = getattr(transformers, family_of(config).model_class)
    except ValueError:  # a family vidlm has no file for yet: the class its config names
        model_class = getattr(transformers, (config.architectures or [None])[0] or "", None)
        if model_class is None:
            from transformers import AutoModelForImageTextToText

            model_class = AutoModelForImageTextToText._model_mapping[type(config)]
    with torch.device("meta"):
        return model_class(config)


def quantized_weight_bytes(out_features: int, in_features: int, quantization: str) -> int:
    """Bytes bitsandbytes keeps for one quantized weight (see the module docstring)."""
    n = out_features * in_features
    if quantization == "8bit":
        return n + 4 * out_features
    blocks = math.ceil(n / 64)
    # packed NF4 + uint8 absmax per block + float32 absmax per 256 blocks + 256-entry nested code + 16-entry NF4 code
    # + the nested offset
    return math.ceil(n / 2) + blocks + 4 * math.ceil(blocks / 256) + 4 * 256 + 4 * 16 + 4


def parameter_bytes(config, quantization="4bit", lora_r=8, lora_target_modules=None, train_projector=False,
                    dtype="bfloat16") -> dict:
    """Bytes of the quantized weights, the other (frozen) weights and the trainable parameters."""
    import torch

    from vidlm.families import family_of

    model = build_on_meta(config)
    try:
        family = family_of(config)
        targets = lora_target_modules or family.lora_target_modules
        projector = family.projector
    except ValueError:
        targets, projector = lora_target_modules or LM_LINEARS, None
    target = re.compile(targets)
    # peft's prepare_model_for_kbit_training casts every non-quantized parameter to float32
    rest = 4 if quantization != "none" else _DTYPE_BYTES[dtype]
    quantized_params, quantized, lora, lora_inputs = set(), 0, 0, 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if quantization != "none" and _in_language_model(name):
            quantized_params.add(id(module.weight))
            quantized += quantized_weight_bytes(module.out_features, module.in_features, quantization)
        if target.fullmatch(name):
            lora += lora_r * (module.in_features + module.out_features)
            lora_inputs += module.in_features
    frozen = sum(p.numel() for p in model.parameters() if id(p) not in quantized_params) * rest
    projector_params = 0
    if train_projector and projector:
        projector_params = sum(p.numel() for p in model.get_submodule(projector).parameters())
    trainable = 4 * lora + rest * projector_params  # modules_to_save: a trained copy beside the frozen original
    return {"quantized": quantized, "frozen": frozen, "trainable": trainable, "trainable_count": lora +
            projector_params, "lora_inputs": lora_inputs}


def _in_language_model(name: str) -> bool:
    return any(f".{part}." in f".{name}." for part in LM_MODULES) and not name.endswith("lm_head")


# Default frame side (px) where the family takes a pixel budget rather than a fixed size.
_DYNAMIC_RESOLUTION = {"qwen2_5_vl": 448, "qwen2_vl": 448, "qwen3_vl": 448}


def count_visual_tokens(config, num_frames: int, frame_size: int | None = None) -> int:
    """Tokens a clip's visual features fill in the sequence, from the config (what each processor expands).

    Training asks the processor itself (`collate.visual_tokens`); an estimate made before anything is downloaded has
    only the config, so each family's expansion is written out here and tested against the tiny processors.
    """
    vision, kind = config.vision_config, config.model_type
    if kind in _DYNAMIC_RESOLUTION:  # frames merged in temporal pairs, patches 2x2
        side = (frame_size or _DYNAMIC_RESOLUTION[kind]) // vision.patch_size // vision.spatial_merge_size
        return math.ceil(num_frames / vision.temporal_patch_size) * side * side
    size = vision.image_size if isinstance(vision.image_size, int) else vision.image_size[0]
    patch = vision.patch_size if isinstance(vision.patch_size, int) else vision.patch_size[0]
    patches = size // patch
    if kind == "llava_next_video":  # pooled with stride 2: a quarter of the patches (the processor's fixed // 4)
        return num_frames * (patches * patches // 4)
    if kind == "video_llava":  # every patch and the CLS token, for every frame
        return num_frames * (patches * patches + 1)
    if kind == "llava_onevision":  # 2x2 bilinear pooling per frame, one newline token after the clip
        return num_frames * math.ceil(patches / 2) ** 2 + 1
    if kind == "smolvlm":  # frames go in as images, pixel-shuffled by scale_factor
        return num_frames * (patches // config.scale_factor) ** 2
    if kind == "internvl":
        return num_frames * int(patches * config.downsample_ratio) ** 2
    raise ValueError(f"No visual token count for model_type {kind!r}; pass visual_tokens=")


def _activation_bytes(config, parts, tokens, frames, frame_size, d, checkpointing):
    text = config.get_text_config()
    h, i, layers, vocab = text.hidden_size, text.intermediate_size, text.num_hidden_layers, text.vocab_size
    head_dim = getattr(text, "head_dim", None) or h // text.num_attention_heads
    q, kv = text.num_attention_heads * head_dim, (getattr(text, "num_key_value_heads", None) or
                                                 text.num_attention_heads) * head_dim
    per_layer = (2 * (4 * h + d * h)  # input and post-attention RMSNorm: float32 input + output
                 + d * (q + 2 * kv) + d * (q + kv) + d * q  # q, k, v; their rotary copies; attention output
                 + 4 * d * i)  # gate, up, act(gate), act(gate) * up
    per_layer_token = per_layer + (d + 1) * parts["lora_inputs"] // layers  # LoRA dropout copies + masks
    if checkpointing:  # one hidden state per layer kept; one layer recomputed, with its gradients, at a time
        lm = tokens * (layers * d * h + 2 * per_layer_token)
    else:
        lm = tokens * layers * per_layer_token
    logits = tokens * vocab * 14
    vision = config.vision_config
    hv = vision.hidden_size
    iv = vision.intermediate_size
    size = frame_size or _DYNAMIC_RESOLUTION.get(config.model_type) or (
        vision.image_size if isinstance(vision.image_size, int) else vision.image_size[0])
    patch = vision.patch_size if isinstance(vision.patch_size, int) else vision.patch_size[0]
    vision_bytes = frames * ((size // patch) ** 2 + 1) * (6 * hv + iv) * d + frames * 3 * size * size * 4
    return lm, logits, vision_bytes


__all__ = ["MemoryEstimate", "estimate_memory", "visible_gpu_gib", "count_visual_tokens", "parameter_bytes",
           "quantized_weight_bytes"]
