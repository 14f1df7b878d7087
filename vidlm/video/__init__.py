"""Reading videos: frame-exact decoding (`decode`), where each frame is in the file (`index`), unusable or damaged
files (`scan`), cutting and detecting shots (`shots`), and GIFs of the frames a model saw (`gif`)."""

from vidlm.video.decode import VideoClip, VideoDecodeError, load_video
from vidlm.video.gif import write_gif, write_gifs

__all__ = ["VideoClip", "VideoDecodeError", "load_video", "write_gif", "write_gifs"]
