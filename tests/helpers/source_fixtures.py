"""Tiny datasets in the exact upstream formats (ShareGPT4Video, Shot2Story, LLaVA JSON, CSV), with bad records.

Videos are written with vidlm.demo.synthetic.write_video: 32x32 px at 8 fps, frame k uniformly grey at level 10 + 10k,
so a decoded frame tells which frame it is.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from vidlm.demo.synthetic import write_video


def grey_clip(path, frames: int = 16, size: int = 32) -> Path:
    levels = [min(10 + 10 * k, 250) for k in range(frames)]
    write_video(path, np.stack([np.full((size, size, 3), v, np.uint8) for v in levels]), fps=8)
    return Path(path)


def sg_record(video_id, video_path, zip_folder, summary="a summary", keyframe_captions=("first part", "second part"),
              timestamp=(0.0, 1.0), keyframe=(0, 8)):
    captions = [{"idx": str(k), "content": c} for k, c in enumerate(keyframe_captions)]
    if summary is not None:
        captions.append({"idx": "-1", "content": summary})
    return {"video_id": video_id, "video_path": video_path, "timestamp": list(timestamp), "keyframe": list(keyframe),
            "captions": captions, "zip_folder": zip_folder}


def make_sharegpt4video(root: Path) -> dict:
    """sharegpt4video_40k.jsonl + zip_folder/{mixkit,pexels}/*.zip; returns the paths and the expected outcomes."""
    root.mkdir(parents=True, exist_ok=True)
    staging = root / "staging"
    staging.mkdir()
    a, b, c = (grey_clip(staging / n) for n in ("mixkit-a.mp4", "mixkit-b.mp4", "pexels-c.mp4"))
    zips = root / "zip_folder"
    (zips / "mixkit").mkdir(parents=True)
    (zips / "pexels").mkdir(parents=True)
    with zipfile.ZipFile(zips / "mixkit" / "mixkit_videos_1.zip", "w") as z:  # members under a folder, as upstream
        z.write(a, "mixkit_videos_1/mixkit-a.mp4")
        z.write(b, "mixkit_videos_1/mixkit-b.mp4")
    with zipfile.ZipFile(zips / "pexels" / "pexels_videos_1.zip", "w") as z:
        z.write(c, "pexels_videos_1/pexels-c.mp4")
    lines = [
        json.dumps(sg_record("mixkit-a", "mixkit/mixkit-a.mp4", "mixkit_videos_1.zip", "a grey square brightens")),
        json.dumps(sg_record("pexels-c", "pexels/pexels-c.mp4", "pexels_videos_1.zip", "grey fades up",
                             keyframe_captions=("dark", "middle", "light"), timestamp=(0.0, 0.5, 1.25),
                             keyframe=(0, 4, 10))),
        '{"video_id": "broken", "video_path": ',  # line 3: truncated JSON
        json.dumps(sg_record("pixabay-x", "pixabay/pixabay-x.mp4", "pixabay_videos_1.zip")),  # a source not chosen
        json.dumps(sg_record("mixkit-gone", "mixkit/mixkit-gone.mp4", "mixkit_videos_1.zip")),  # in no zip
        json.dumps({"video_id": "mixkit-nocap", "video_path": "mixkit/mixkit-b.mp4", "timestamp": [0.0],
                    "keyframe": [0], "zip_folder": "mixkit_videos_1.zip"}),  # no captions field
        json.dumps(sg_record("mixkit-b", "mixkit/mixkit-b.mp4", "mixkit_videos_1.zip", summary="  ",
                             keyframe_captions=("", "only the end"))),  # empty summary and keyframe 0 caption
        json.dumps({**sg_record("mixkit-t", "mixkit/mixkit-a.mp4", "mixkit_videos_1.zip"),
                    "timestamp": "0,1"}),  # wrong type (fine for summaries, bad for keyframes)
        json.dumps(["not", "an", "object"]),  # line 9
    ]
    jsonl = root / "sharegpt4video_40k.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")
    sizes = {n: (staging / n).stat().st_size for n in ("mixkit-a.mp4", "mixkit-b.mp4", "pexels-c.mp4")}
    return {"jsonl": jsonl, "zips": zips, "videos": root / "videos", "staging": staging, "sizes": sizes}


def make_shot2story(root: Path) -> dict:
    """20k_val.json + a 24-frame multi-shot clip; one record's clip is missing, others are malformed."""
    videos = root / "videos"
    videos.mkdir(parents=True)
    grey_clip(videos / "clipA.mp4", frames=24)
    (videos / "clipE.mp4").write_bytes(b"")  # an empty file
    records = [
        {"video": "clipA.mp4", "image_id": "clipA", "nvid": "clipA.mp4", "id": 0,
         "whole_caption": "It gets lighter, then lighter still.", "whole_ASR": "hello there",
         "video_names": ["clipA_0_8.mp4", "clipA_8_24.mp4"],
         "audio_captions": ["quiet", "a voice"], "captions": ["a dark grey frame", "a lighter grey frame"],
         "ASR": ["", "hello there"]},
        {"video": "clipB.mp4", "image_id": "clipB", "nvid": "clipB.mp4", "id": 1, "whole_caption": "never seen",
         "whole_ASR": "", "video_names": ["clipB_0_8.mp4"], "audio_captions": [""], "captions": ["x"], "ASR": [""]},
        {"video": "clipA.mp4", "image_id": "clipA", "nvid": "clipA.mp4", "id": 2, "whole_caption": "",
         "whole_ASR": "", "video_names": ["clipA_0_8.mp4", "clipA_8_99.mp4", "nonsense.mp4"],
         "audio_captions": ["", "", ""], "captions": ["", "past the end", "bad name"], "ASR": ["", "", ""]},
        {"image_id": "clipC", "id": 3, "whole_caption": "no file name", "captions": [], "video_names": []},
        {"video": "clipA.mp4", "nvid": "clipA.mp4", "id": 4, "whole_caption": "ok", "video_names": "clipA_0_8.mp4",
         "captions": "a dark grey frame"},  # wrong types
        {"video": "clipE.mp4", "nvid": "clipE.mp4", "id": 5, "whole_caption": "an empty file",
         "video_names": [], "captions": []},
    ]
    annotations = root / "20k_val.json"
    annotations.write_text(json.dumps(records))
    return {"json": annotations, "videos": videos}


def make_shot2story_test(root: Path) -> dict:
    """20k_test.json in Shot2Story's format: three multi-shot clips of 2-3 shots each (6 shots, 3 summaries), and
    one record whose clip is missing (skipped by both tasks)."""
    videos = root / "videos"
    videos.mkdir(parents=True)
    for name, frames in (("vidA", 24), ("vidB", 16), ("vidC", 32)):
        grey_clip(videos / f"{name}.mp4", frames=frames)
    records = [
        {"video": "vidA.mp4", "image_id": "vidA", "nvid": "vidA.mp4", "id": 0,
         "whole_caption": "A dark grey screen slowly turns lighter grey, then almost white.", "whole_ASR": "",
         "video_names": ["vidA_0_8.mp4", "vidA_8_24.mp4"], "audio_captions": ["", ""],
         "captions": ["a dark grey screen", "the grey screen gets lighter"], "ASR": ["", ""]},
        {"video": "vidB.mp4", "image_id": "vidB", "nvid": "vidB.mp4", "id": 1,
         "whole_caption": "The screen is grey and brightens a little.", "whole_ASR": "look at it",
         "video_names": ["vidB_0_16.mp4"], "audio_captions": ["a voice"], "captions": ["a grey screen brightens"],
         "ASR": ["look at it"]},
        {"video": "vidC.mp4", "image_id": "vidC", "nvid": "vidC.mp4", "id": 2,
         "whole_caption": "Three shots of a grey screen, each lighter than the one before.", "whole_ASR": "",
         "video_names": ["vidC_0_10.mp4", "vidC_10_20.mp4", "vidC_20_32.mp4"], "audio_captions": ["", "", ""],
         "captions": ["a very dark screen", "a grey screen", "a light grey screen"], "ASR": ["", "", ""]},
        {"video": "gone.mp4", "image_id": "gone", "nvid": "gone.mp4", "id": 3, "whole_caption": "never seen",
         "whole_ASR": "", "video_names": ["gone_0_8.mp4"], "audio_captions": [""], "captions": ["never seen"],
         "ASR": [""]},
    ]
    annotations = root / "20k_test.json"
    annotations.write_text(json.dumps(records))
    return {"json": annotations, "videos": videos}


def make_llava_json(root: Path) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    grey_clip(root / "one.mp4")
    (root / "clips").mkdir()
    grey_clip(root / "clips" / "two.mp4")
    records = [
        {"id": "single", "video": "one.mp4", "conversations": [
            {"from": "human", "value": "<video>\nDescribe the video."},
            {"from": "gpt", "value": "It gets lighter."}]},
        {"id": "multi", "video": "clips/two.mp4", "source": "mine", "conversations": [
            {"from": "human", "value": "<video>\nWhat colour is it?"}, {"from": "gpt", "value": "Grey."},
            {"from": "human", "value": "Does it change?"}, {"from": "gpt", "value": "It brightens."}]},
        {"id": "odd", "video": "one.mp4", "conversations": [{"from": "human", "value": "<video>\nHi"}]},
        {"id": "gone", "video": "missing.mp4", "conversations": [
            {"from": "human", "value": "<video>\nDescribe."}, {"from": "gpt", "value": "Nothing."}]},
        {"id": "noplaceholder", "video": "one.mp4", "conversations": [
            {"from": "human", "value": "Describe."}, {"from": "gpt", "value": "Grey."}]},
        {"id": "notalist", "video": "one.mp4", "conversations": "Describe."},
        {"id": "emptyanswer", "video": "one.mp4", "conversations": [
            {"from": "human", "value": "<video>\nDescribe."}, {"from": "gpt", "value": " "}]},
        {"video": "one.mp4"},  # no id, no conversations: "record 7"
    ]
    path = root / "llava.json"
    path.write_text(json.dumps(records))
    return {"json": path}


def make_all(root: Path) -> dict:
    return {"sharegpt4video": make_sharegpt4video(root / "sharegpt4video"),
            "shot2story": make_shot2story(root / "shot2story"), "llava": make_llava_json(root / "llava")}
