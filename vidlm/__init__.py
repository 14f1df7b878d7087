"""vidlm: fine-tune video-language models with QLoRA/LoRA and see whether they describe videos better.

`import vidlm` is cheap: torch, transformers and the rest load only in the functions that need them.
"""

from vidlm.video import VideoClip, VideoDecodeError, load_video

__version__ = "0.1.0"
__all__ = ["VideoClip", "VideoDecodeError", "load_video", "__version__"]
