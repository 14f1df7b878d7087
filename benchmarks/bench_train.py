"""Training memory and speed of the real 7B architectures: QLoRA vs bf16 LoRA, 8 vs 32 frames, checkpointing on/off.

    .venv/bin/python benchmarks/bench_train.py [--family llava-next-video video-llava] [--frames 8 32] [--steps 5]
    .venv/bin/python benchmarks/bench_train.py --dry-run   # tiny configs on CPU: checks the script, no real numbers

Nothing is downloaded: each family's 7B model is built from a config written here to mirror its hub config.json
(Vicuna-7B: Llama hidden 4096, 32 layers, 32 heads, MLP 11008, vocab 32064; LLaVA-NeXT-Video: CLIP ViT-L/14 at
336 px, 144 tokens per frame after 2×2 pooling; Video-LLaVA: ViT-L/14 at 224 px, 257 tokens per frame) with random
weights, on the GPU. QLoRA replaces the language model's linear layers by bitsandbytes NF4 (double quantization,
bf16 compute) as `load_model(quantization="4bit")` does; LoRA r=8 on those layers, vision tower frozen, batch 1,
AdamW. Per setting: peak GPU memory (torch.cuda.max_memory_allocated, model included) and samples/s over `--steps`
steps after one warm-up step. Random weights change no shape, so memory and speed are those of the real model.
"""

import argparse
import gc
import sys
import time

TEXT_TOKENS = 64  # prompt + a caption of ~50 words


def text_config(tiny: bool):
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
    """The hub config of `family`'s 7B checkpoint, as far as shapes go (or a tiny one for --dry-run)."""
    from transformers import LlavaNextVideoConfig, VideoLlavaConfig

    text, vision = text_config(tiny), vision_config(family, tiny)
    video, image = (60, 61) if tiny else (32000, 32001)
    if family == "llava-next-video":
        return LlavaNextVideoConfig(text_config=text, vision_config=vision, video_token_index=video,
                                    image_token_index=image, spatial_pool_stride=2, spatial_pool_mode="average",
                                    vision_feature_layer=-2, vision_feature_select_strategy="default")
    return VideoLlavaConfig(text_config=text, vision_config=vision, video_token_index=video, image_token_index=image,
                            vision_feature_layer=-2, vision_feature_select_strategy="default")


def quantize_language_model(model, compute_dtype):
    """Swap the language model's nn.Linear layers for NF4 bitsandbytes layers in place (what QLoRA loading does)."""
    import bitsandbytes as bnb
    import torch

    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}"
            if not isinstance(child, torch.nn.Linear) or "language_model" not in full:
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


def build(family: str, quantization: str, gradient_checkpointing: bool, tiny: bool, device):
    import torch
    import transformers

    from vidlm.families import get_family
    from vidlm.lora import LoraSettings, apply_lora

    fam = get_family(family)
    dtype = torch.float32 if tiny else torch.bfloat16
    config = model_config(family, tiny)
    torch.manual_seed(0)
    with torch.device(device):
        model = getattr(transformers, fam.model_class)(config).to(dtype)
    if quantization == "4bit":
        model = quantize_language_model(model, dtype)
    model.vidlm_family = family
    return apply_lora(model, LoraSettings(r=8, alpha=16, dropout=0.05,
                                          gradient_checkpointing=gradient_checkpointing), family, verbose=False)


def batch(model, family: str, num_frames: int, device):
    """One clip: input ids with the video placeholder expanded to every visual token, labels on the text."""
    import torch

    from vidlm.families import get_family

    config = model.config
    visual = get_family(family).tokens_per_frame(config) * num_frames
    ids = torch.randint(1, 50, (1, visual + TEXT_TOKENS), device=device)
    ids[0, 1:1 + visual] = config.video_token_index
    labels = ids.clone()
    labels[0, :1 + visual] = -100
    size = config.vision_config.image_size
    pixels = torch.randn(1, num_frames, 3, size, size, device=device, dtype=next(
        p.dtype for p in model.parameters() if p.is_floating_point()))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels,
            "pixel_values_videos": pixels}, visual + TEXT_TOKENS


def measure(family, quantization, num_frames, gradient_checkpointing, steps, tiny, device) -> dict:
    import torch

    row = {"family": family, "method": "QLoRA" if quantization == "4bit" else "bf16 LoRA", "frames": num_frames,
           "checkpointing": "on" if gradient_checkpointing else "off"}
    cuda = device.startswith("cuda")
    try:
        model = build(family, quantization, gradient_checkpointing, tiny, device)
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        inputs, row["tokens"] = batch(model, family, num_frames, device)
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
        row["samples/s"] = f"{steps / (time.perf_counter() - start):.2f}"
        row["peak GiB"] = f"{torch.cuda.max_memory_allocated() / 2**30:.1f}" if cuda else "n/a (CPU)"
    except torch.OutOfMemoryError:
        row["samples/s"], row["peak GiB"] = "OOM", "OOM"
    finally:
        model = optimizer = inputs = None
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    return row


def table(rows: list[dict]) -> str:
    columns = ["family", "method", "frames", "tokens", "checkpointing", "peak GiB", "samples/s"]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", nargs="+", default=["llava-next-video", "video-llava"])
    parser.add_argument("--frames", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--quantization", nargs="+", default=["4bit", "none"], choices=["4bit", "none"])
    parser.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up step")
    parser.add_argument("--dry-run", action="store_true", help="tiny configs on the CPU: check the script runs")
    args = parser.parse_args(argv)
    import torch

    if args.dry_run:
        device, args.steps = "cpu", min(args.steps, 2)
        torch.set_num_threads(1)
    elif torch.cuda.is_available():
        device = "cuda:0"
    else:
        print("No GPU: the 7B numbers need one. Use --dry-run to check the script on the CPU.", file=sys.stderr)
        return 2
    rows = []
    for family in args.family:
        for quantization in args.quantization:
            for frames in args.frames:
                for checkpointing in (True, False):
                    rows.append(measure(family, quantization, frames, checkpointing, args.steps, args.dry_run,
                                        device))
                    print(rows[-1], flush=True)
    print(("Dry run (tiny configs, CPU): not real numbers.\n\n" if args.dry_run else "") + table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
