"""GIFs show exactly the sampled frames, with the options asked for, and stay within a byte budget."""

import io
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from vidlm import load_video
from vidlm.video.gif import (draw_text, format_time, gif_name, is_complete_gif, model_view, render_gif,
                             stored_or_rendered, text_box, write_gif, write_gifs)

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "test_videos" / "test_0004.mp4"


def read_back(data: bytes) -> np.ndarray:
    """The GIF's frames as RGB, composited the way a viewer shows them (imageio, not vidlm's code)."""
    return iio.imread(data, index=None, mode="RGB")


def gif_info(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as im:
        durations = []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info["duration"])
        return {"frames": im.n_frames, "size": im.size, "durations": durations, "loop": im.info.get("loop")}


def smooth_colourful_frames(count=6, height=48, width=64) -> np.ndarray:
    """A moving gradient with a little noise: ~18,000 distinct colours, so the palette must approximate."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    frames = [np.stack([x * 4 + t * 8, y * 5, 255 - x * 2 - y * 2], -1) + rng.normal(0, 3, (height, width, 3))
              for t in range(count)]
    return np.clip(frames, 0, 255).astype(np.uint8)


def test_gif_holds_exactly_the_frames_the_model_saw(tmp_path):
    clip = load_video(CLIP, num_frames=4)  # what captioning and training load for this clip
    gif = write_gif(CLIP, tmp_path / "clip.gif", num_frames=4, timestamps=False)
    frames = read_back((tmp_path / "clip.gif").read_bytes())
    assert frames.shape == (4, 64, 64, 3)
    # The bundled clips have fewer than 256 colours, so the shared palette is exact: no quantisation error at all.
    assert np.array_equal(frames, clip.frames)
    assert gif.frames == 4 and gif.size == (64, 64) and gif.colors <= 256 and gif.path == tmp_path / "clip.gif"
    info = gif_info(gif.data)
    assert info == {"frames": 4, "size": (64, 64), "durations": [250] * 4, "loop": 0}  # 4 fps, loops forever
    assert render_gif(clip, timestamps=False).data == gif.data  # a clip or its path: the same GIF


def test_many_colours_are_quantised_closely():
    frames = smooth_colourful_frames()
    back = read_back(render_gif(frames).data).astype(int)
    assert back.shape == frames.shape
    error = np.abs(back - frames)
    assert error.mean() < 6 and error.max() <= 32, (error.mean(), error.max())


def test_fps_loop_and_size_options():
    frames = load_video(CLIP, num_frames=4).frames
    assert gif_info(render_gif(frames, fps=2).data)["durations"] == [500] * 4
    assert gif_info(render_gif(frames, fps=3).data)["durations"] == [330] * 4  # GIF delays are in 1/100 s
    assert gif_info(render_gif(frames, loop=None).data)["loop"] is None  # plays once
    assert gif_info(render_gif(frames, loop=2).data)["loop"] == 2
    big = render_gif(frames, size=128)
    # Enlarging is nearest-neighbour: every pixel of the model's frame becomes an exact 2x2 block.
    assert np.array_equal(read_back(big.data), frames.repeat(2, axis=1).repeat(2, axis=2))
    wide = np.zeros((3, 48, 64, 3), dtype=np.uint8)
    wide[:, :, :, 0] = np.arange(3)[:, None, None] * 100
    assert render_gif(wide, size=32).size == (32, 24)  # longest side 32, aspect kept
    with pytest.raises(ValueError, match="fps"):
        render_gif(frames, fps=100)
    with pytest.raises(ValueError, match="uint8"):
        render_gif(frames.astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\]"):
        render_gif(frames[..., :2])


def test_timestamp_overlay_changes_only_its_corner():
    clip = load_video(CLIP, num_frames=4)
    plain = read_back(render_gif(clip, timestamps=False).data)
    stamped = read_back(render_gif(clip).data)  # a clip knows its timestamps: drawn by default
    for k, t in enumerate(clip.timestamps):
        top, bottom, left, right = text_box(64, 64, format_time(t))
        assert (bottom - top, right - left) == (7, 21)  # "0.25s": 5 glyphs of 3+1 dots, a 1-dot margin, at 64 px
        outside = np.ones((64, 64), dtype=bool)
        outside[top:bottom, left:right] = False
        changed = np.any(stamped[k] != plain[k], axis=-1)
        assert changed.any() and not changed[outside].any()
        box = stamped[k, top:bottom, left:right]
        assert set(np.unique(box)) == {0, 255}  # white dots on black
        assert np.array_equal(stamped[k], draw_text(clip.frames[k], format_time(t)))
    assert [format_time(t) for t in clip.timestamps] == ["0.25s", "0.75s", "1.25s", "1.75s"]
    # Frame arrays carry no times: none drawn unless given.
    assert np.array_equal(read_back(render_gif(clip.frames).data), plain)
    given = read_back(render_gif(clip.frames, timestamps=clip.timestamps).data)
    assert np.array_equal(given, stamped)
    with pytest.raises(ValueError, match="timestamps=True"):
        render_gif(clip.frames, timestamps=True)
    with pytest.raises(ValueError, match="bitmap font"):
        draw_text(clip.frames[0], "t=1")


def test_byte_budget_shrinks_the_gif_until_it_fits_or_says_why_not():
    noise = np.random.default_rng(0).integers(0, 256, (8, 96, 96, 3), dtype=np.uint8)  # incompressible
    full = render_gif(noise, timestamps=False)
    assert (full.size, full.frames, full.colors) == ((96, 96), 8, 256)
    for budget in (len(full.data) // 2, len(full.data) // 5, len(full.data) // 20):
        small = render_gif(noise, timestamps=False, max_bytes=budget)
        assert len(small.data) <= budget
        assert small.colors < 256 or small.size[0] < 96
        assert gif_info(small.data)["size"] == small.size
    assert len(render_gif(noise, timestamps=False, max_bytes=len(full.data)).data) == len(full.data)  # fits as is
    # Not allowed to shrink: frames are dropped, each shown longer so the clip keeps its pace.
    kept = render_gif(noise, timestamps=False, max_bytes=len(full.data) // 3, min_side=96)
    assert kept.size == (96, 96) and kept.frames < 8 and len(kept.data) <= len(full.data) // 3
    assert kept.frames * kept.frame_ms == 8 * 250 and gif_info(kept.data)["frames"] == kept.frames
    with pytest.raises(ValueError, match=r"max_bytes=200.*smallest version \(16x16 px, 2 frames, 16 colours\)"):
        render_gif(noise, timestamps=False, max_bytes=200)


def test_bundled_clips_make_small_gifs(tmp_path):
    videos = sorted((ROOT / "test_videos").glob("*.mp4"))
    paths = write_gifs(videos, tmp_path, num_frames=4, max_bytes=40_000)
    assert [p.name for p in paths] == [v.stem + ".gif" for v in videos] and len(paths) == 48
    total = sum(p.stat().st_size for p in paths)
    assert total < 200_000, total  # the demo's results/ holds these: 48 clips of 64x64, 4 frames, timestamped
    assert gif_name("clip/one #1") == "clip_one__1.gif"
    with pytest.raises(ValueError, match="2 names for 48 videos"):
        write_gifs(videos, tmp_path, names=["a", "b"])


def test_model_view_is_what_the_processor_feeds_the_model(tiny_checkpoints):
    from vidlm.models import load_processor

    processor = load_processor(tiny_checkpoints["llava-next-video"])  # shortest edge 64, centre crop 64x64
    frames = np.random.default_rng(1).integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    seen = model_view(frames, processor)
    assert seen.shape == (2, 64, 64, 3) and seen.dtype == np.uint8
    # No resize needed (height is already 64): the crop keeps the middle 64 columns, to within float rounding.
    assert np.abs(seen.astype(int) - frames[:, :, 16:80]).max() <= 1
    assert render_gif(frames, processor=processor).data == render_gif(seen).data


def test_a_stored_gif_is_used_only_when_whole(tmp_path):
    whole = render_gif(CLIP, num_frames=4).data
    other = render_gif(CLIP, num_frames=2, size=16).data  # a whole GIF made with other options is kept as it is
    stored = tmp_path / "clip.gif"
    stored.write_bytes(other)
    assert is_complete_gif(other) and stored_or_rendered(CLIP, stored, num_frames=4) == other
    cut_at_semicolon = other[: other.rindex(b";", 0, len(other) - 1) + 1]  # ends with the trailer byte, by chance
    for torn in (other[: len(other) // 2], other[:-1], cut_at_semicolon, other[:6], b"", b"GIF89a;", b"\0" * 99):
        assert not is_complete_gif(torn), torn
        stored.write_bytes(torn)
        assert stored_or_rendered(CLIP, stored, num_frames=4) == whole and stored.read_bytes() == torn  # not saved
        assert stored_or_rendered(CLIP, stored, save=True, num_frames=4) == whole and stored.read_bytes() == whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif"]  # no temporary file left beside it
    stored.write_bytes(other[:-1])
    assert stored_or_rendered(tmp_path / "gone.mp4", stored) is None  # neither a whole GIF nor the video
    assert stored_or_rendered(tmp_path / "gone.mp4", tmp_path / "none.gif") is None
    assert stored_or_rendered(CLIP, None, save=True, num_frames=4) == whole


def test_write_gif_replaces_a_file_whole(tmp_path):
    target = tmp_path / "clip.gif"
    target.write_bytes(b"old")
    gif = write_gif(CLIP, target, num_frames=4)
    assert target.read_bytes() == gif.data and is_complete_gif(gif.data) and gif.path == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif"]
    with pytest.raises(ValueError, match="fps must be"):  # a render that fails leaves the file as it was
        write_gif(CLIP, target, num_frames=4, fps=0)
    assert target.read_bytes() == gif.data
