"""vidlm: fine-tune video-language models with QLoRA/LoRA and see whether they describe videos better.

`import vidlm` is cheap: torch, transformers and the rest load only in the functions that need them.
"""

import logging

from vidlm.memory import estimate_memory  # cheap: torch and transformers load when it is called
from vidlm.video.decode import VideoClip, VideoDecodeError, load_video

__version__ = "0.1.0"
__all__ = ["VideoClip", "VideoDecodeError", "estimate_memory", "load_video", "__version__"]


def _not_the_kernels_notice(record: logging.LogRecord) -> bool:
    # bitsandbytes (CPUs with AVX512-BF16) looks for an optional CPU kernel from the `kernels` package when it is
    # imported and warns when it is missing; its own fallback gives the same results, so in every notebook the
    # warning only looks like a failure. Set here, before anything imports bitsandbytes; its other messages stay.
    return not str(record.msg).startswith("Failed to load CPU gemm_4bit_forward from kernels-community")


logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_not_the_kernels_notice)
