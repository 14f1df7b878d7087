"""Every loader on tiny files in the upstream formats: samples field by field, and every bad record reported."""

import json
import math
import os
import shutil
import zipfile

import pytest

from helpers.source_fixtures import grey_clip, make_llava_json, make_sharegpt4video, make_shot2story, sg_record
from vidlm.data.sources import (SkippedRecordsWarning, load_captions_csv, load_llava_json, load_samples,
                           load_sharegpt4video, load_shot2story)
from vidlm.data.sources.sharegpt4video import KEYFRAME_PROMPT, SUMMARY_PROMPT, extract_member, index_zips
from vidlm.video.decode import load_video


@pytest.fixture
def sg(tmp_path):
    return make_sharegpt4video(tmp_path / "sg")


def skips(report) -> dict:
    return {s.record: s.reason for s in report.skipped}


# ShareGPT4Video

def test_sharegpt4video_summaries_extract_only_what_is_chosen(sg):
    with pytest.warns(SkippedRecordsWarning, match="9 records → 3 samples"):
        samples, report = load_sharegpt4video(sg["jsonl"], sg["videos"], zip_dir=sg["zips"],
                                              sources=["mixkit", "pexels"])
    a, c, t = samples
    assert (a.id, c.id, t.id) == ("mixkit-a", "pexels-c", "mixkit-t")  # mixkit-t's bad timestamps do not matter
    assert t.video == a.video  # here; it shares mixkit-a's file
    assert a.video == str(sg["videos"] / "mixkit" / "mixkit-a.mp4")
    assert c.video == str(sg["videos"] / "pexels" / "pexels-c.mp4")
    assert (a.answer, c.answer) == ("a grey square brightens", "grey fades up")
    assert a.instruction == SUMMARY_PROMPT and a.history == [] and a.window is None
    assert (a.source, c.source) == ("mixkit", "pexels")
    assert a.meta == {"video_id": "mixkit-a", "video_path": "mixkit/mixkit-a.mp4",
                      "zip_folder": "mixkit_videos_1.zip", "caption": "summary"}
    assert open(a.video, "rb").read() == (sg["staging"] / "mixkit-a.mp4").read_bytes()
    # Only the videos of samples were extracted: mixkit-b's record has no usable summary.
    extracted = sorted(p.relative_to(sg["videos"]).as_posix() for p in sg["videos"].rglob("*") if p.is_file())
    assert extracted == ["mixkit/mixkit-a.mp4", "pexels/pexels-c.mp4"]
    assert skips(report) == {
        "line 3": "invalid JSON",
        "mixkit-gone": "video not found",
        "mixkit-nocap": "missing field 'captions'",
        "mixkit-b": "empty caption",  # its empty keyframe caption is not used by summaries, so not reported
        "line 9": "wrong type: the record is not an object",
    }
    assert report.left_out == {"source not chosen (pixabay)": 1}
    text = report.summary()
    assert "9 records → 3 samples, 5 skipped" in text and "1 source not chosen (pixabay)" in text
    assert "mixkit-gone: video not found: " in text and str(sg["zips"]) in text


def test_sharegpt4video_keyframe_captions_get_their_time_windows(sg):
    samples, report = load_sharegpt4video(sg["jsonl"], sg["videos"], zip_dir=sg["zips"], sources="pexels",
                                          captions="keyframes", warn=False)
    assert [s.id for s in samples] == ["pexels-c#0", "pexels-c#1", "pexels-c#2"]
    assert [s.window for s in samples] == [(0.0, 0.5), (0.5, 1.25), (1.25, math.inf)]
    assert [s.answer for s in samples] == ["dark", "middle", "light"]
    assert [s.meta["keyframe"] for s in samples] == [0, 4, 10]
    assert all(s.instruction == KEYFRAME_PROMPT and s.meta["video_id"] == "pexels-c" for s in samples)
    assert set(skips(report)) == {"line 3", "line 9"}  # lines that do not parse belong to no source: reported
    assert report.left_out["source not chosen (mixkit)"] == 5
    # The window reaches load_video: frames come from inside it (8 fps: 0.5–1.25 s is frames 4..9).
    clip = load_video(samples[1].video, num_frames=3, window=samples[1].window)
    assert clip.indices.tolist() == [5, 7, 9] and 0.5 <= clip.timestamps.min() and clip.timestamps.max() < 1.25


def test_sharegpt4video_keyframes_report_bad_timestamps(sg):
    samples, report = load_sharegpt4video(sg["jsonl"], sg["videos"], zip_dir=sg["zips"], sources=["mixkit"],
                                          captions="keyframes", warn=False)
    assert [s.id for s in samples] == ["mixkit-a#0", "mixkit-a#1", "mixkit-b#1"]
    assert samples[2].window == (1.0, math.inf)
    assert skips(report)["mixkit-t"] == "wrong type for 'timestamp'"
    assert skips(report)["mixkit-b#0"] == "empty caption"


def test_sharegpt4video_caps_count_and_bytes_before_extracting(sg):
    samples, report = load_sharegpt4video(sg["jsonl"], sg["videos"], zip_dir=sg["zips"], max_videos=1, warn=False)
    assert [s.id for s in samples] == ["mixkit-a"]
    assert report.left_out == {"over max_videos=1": 2}  # pexels-c and mixkit-t; the others had problems
    assert not (sg["videos"] / "pexels").exists()
    size_a, size_c = sg["sizes"]["mixkit-a.mp4"], sg["sizes"]["pexels-c.mp4"]
    samples, report = load_sharegpt4video(sg["jsonl"], sg["videos"], zip_dir=sg["zips"],
                                          max_bytes=size_a + size_c - 1, warn=False)
    assert [s.id for s in samples] == ["mixkit-a"] and report.left_out["over max_bytes=%g" % (size_a + size_c - 1)]


def test_sharegpt4video_extraction_resumes_and_never_leaves_half_files(sg, monkeypatch):
    member = index_zips(sg["zips"])["mixkit-a.mp4"]
    assert member.name == "mixkit_videos_1/mixkit-a.mp4" and member.size == sg["sizes"]["mixkit-a.mp4"]
    target = sg["videos"] / "mixkit" / "mixkit-a.mp4"

    def crash(src, dst, length=0):
        dst.write(src.read(100))
        raise KeyboardInterrupt  # the user stops the run mid-copy

    monkeypatch.setattr(shutil, "copyfileobj", crash)
    with pytest.raises(KeyboardInterrupt):
        extract_member(member, target)
    assert not target.exists() and list(target.parent.iterdir()) == []  # no half file, no leftover partial
    monkeypatch.undo()
    extract_member(member, target)
    assert target.read_bytes() == (sg["staging"] / "mixkit-a.mp4").read_bytes()
    before = target.stat().st_mtime_ns
    extract_member(member, target)  # already there: kept
    assert target.stat().st_mtime_ns == before
    target.write_bytes(target.read_bytes()[:50])  # truncated by something else: extracted again
    extract_member(member, target)
    assert target.read_bytes() == (sg["staging"] / "mixkit-a.mp4").read_bytes()


def test_sharegpt4video_without_zips_uses_videos_on_disk_and_reports_damaged_zip(sg):
    (sg["videos"] / "pexels").mkdir(parents=True)
    shutil.copy(sg["staging"] / "pexels-c.mp4", sg["videos"] / "pexels" / "pexels-c.mp4")
    samples, report = load_sharegpt4video(sg["jsonl"], sg["videos"], sources=["pexels", "mixkit"], warn=False)
    assert [s.id for s in samples] == ["pexels-c"]
    assert skips(report)["mixkit-a"] == "video not found"
    bad = sg["zips"] / "mixkit" / "mixkit_videos_1.zip"
    data = bytearray(bad.read_bytes())
    start = data.index(b"mixkit_videos_1/mixkit-a.mp4") + 200  # corrupt mixkit-a's compressed bytes → CRC error
    data[start:start + 64] = bytes(64)
    bad.write_bytes(bytes(data))
    samples, report = load_sharegpt4video(sg["jsonl"], sg["videos"], zip_dir=sg["zips"], sources="mixkit", warn=False)
    assert skips(report)["mixkit-a"] == "cannot extract the video"
    assert not (sg["videos"] / "mixkit" / "mixkit-a.mp4").exists()
    assert [s.id for s in samples] == [] and skips(report)["mixkit-t"] == "cannot extract the video"  # same file


# Shot2Story

def test_shot2story_shots_are_cut_once_and_captioned(tmp_path):
    data = make_shot2story(tmp_path)
    with pytest.warns(SkippedRecordsWarning):
        samples, report = load_shot2story(data["json"], data["videos"], task="shots", with_asr=True)
    first, second = samples
    shots = data["videos"] / "shots"
    assert (first.id, first.video) == ("clipA_0_8", str(shots / "clipA_0_8.mp4"))
    assert (second.id, second.video) == ("clipA_8_24", str(shots / "clipA_8_24.mp4"))
    assert (first.answer, second.answer) == ("a dark grey frame", "a lighter grey frame")
    assert first.instruction == "Describe the video."  # no speech in this shot: the plain prompt
    assert second.instruction == 'Describe the video. What is said in it: "hello there"'
    assert first.source == "shot2story" and first.window is None
    assert second.meta == {"video_id": "0", "nvid": "clipA.mp4", "split": "val", "image_id": "clipA", "task": "shot",
                           "shot": 1, "start_frame": 8, "end_frame": 24, "asr": "hello there",
                           "audio_caption": "a voice"}
    cut = load_video(second.video, indices=[0, 15])  # frames [8, 24) of the clip: grey levels 90 and 240
    assert cut.total_frames == 16
    assert abs(int(cut.frames[0].mean()) - 90) <= 3 and abs(int(cut.frames[1].mean()) - 240) <= 3
    assert skips(report) == {
        "1#0": "video not found",
        "2#0": "empty caption",
        "2#1": "cannot cut the shot",
        "2#2": "bad shot name",
        "3": "missing field 'nvid'",
        "4": "wrong type for 'video_names'",
        "5": "empty 'video_names'",
    }
    assert "cannot cut frames [8, 99); the video has 24 frames" in next(s.detail for s in report.skipped
                                                                        if s.record == "2#1")
    assert report.records == 6 and report.samples == 2
    mtimes = [os.stat(s.video).st_mtime_ns for s in samples]
    again, _ = load_shot2story(data["json"], data["videos"], task="shots", warn=False)  # resumes: nothing re-cut
    assert [os.stat(s.video).st_mtime_ns for s in again] == mtimes
    assert again[1].instruction == "Describe the video."  # without with_asr


def test_shot2story_summaries(tmp_path):
    data = make_shot2story(tmp_path)
    samples, report = load_shot2story(data["json"], data["videos"], task="summary", with_asr=True, warn=False)
    assert [s.id for s in samples] == ["0", "4"]
    assert samples[0].video == str(data["videos"] / "clipA.mp4")
    assert samples[0].answer == "It gets lighter, then lighter still."
    assert samples[0].instruction == 'Describe the video in detail, shot by shot. What is said in it: "hello there"'
    assert samples[0].meta["task"] == "summary" and samples[0].meta["split"] == "val"
    assert skips(report) == {"1": "video not found", "2": "empty caption", "3": "missing field 'nvid'",
                             "5": "unreadable video"}
    assert not (data["videos"] / "shots").exists()  # the summary task cuts nothing


def test_shot2story_rejects_a_file_that_is_not_a_list(tmp_path):
    path = tmp_path / "20k_train.json"
    path.write_text('{"id": 1}')
    with pytest.raises(ValueError, match="expected a JSON list of records, got a dict"):
        load_shot2story(path, tmp_path)
    with pytest.raises(ValueError, match="task must be 'shots'"):
        load_shot2story(path, tmp_path, task="shot")


# LLaVA JSON and CSV

def test_llava_json_single_and_multi_turn(tmp_path):
    data = make_llava_json(tmp_path)
    samples, report = load_llava_json(data["json"], warn=False)
    single, multi = samples
    assert (single.id, single.video) == ("single", str(tmp_path / "one.mp4"))
    assert (single.instruction, single.answer, single.history) == ("Describe the video.", "It gets lighter.", [])
    assert (multi.id, multi.video) == ("multi", str(tmp_path / "clips" / "two.mp4"))
    assert multi.history == [("What colour is it?", "Grey.")]
    assert (multi.instruction, multi.answer) == ("Does it change?", "It brightens.")
    assert multi.turns == [("What colour is it?", "Grey."), ("Does it change?", "It brightens.")]
    assert multi.meta == {"source": "mine"} and multi.source == "mine" and single.source == "llava"
    assert skips(report) == {
        "odd": "conversation does not end with a gpt answer",
        "gone": "video not found",
        "noplaceholder": "'<video>' must appear once, in the first human turn",
        "notalist": "wrong type for 'conversations'",
        "emptyanswer": "empty caption",
        "record 7": "missing field 'conversations'",
    }
    assert report.records == 8 and report.samples == 2


def test_captions_csv_reports_bad_rows_and_reads_open_sora_text(tmp_path):
    grey_clip(tmp_path / "a.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "captions.csv").write_text("path,text,colour\na.mp4,grey clip,grey\nmissing.mp4,x,\n"
                                           "a.mp4,  ,\n,no path,\nempty.mp4,y,\n")
    samples, report = load_captions_csv(tmp_path / "captions.csv", warn=False)
    (sample,) = samples
    assert (sample.id, sample.video, sample.answer) == ("a", str(tmp_path / "a.mp4"), "grey clip")
    assert sample.meta == {"colour": "grey"} and sample.source == "captions"
    assert skips(report) == {"line 3": "video not found", "line 4": "empty caption", "line 5": "empty path",
                             "line 6": "unreadable video"}


def test_check_videos_skips_files_that_do_not_decode(tmp_path):
    grey_clip(tmp_path / "good.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 100)
    (tmp_path / "captions.csv").write_text("path,caption\ngood.mp4,fine\njunk.mp4,broken\n")
    samples, report = load_captions_csv(tmp_path / "captions.csv", check_videos=True, warn=False)
    assert [s.id for s in samples] == ["good"]
    (skip,) = report.skipped
    assert (skip.record, skip.reason) == ("junk", "unreadable video") and "junk.mp4" in skip.detail


def test_load_samples_picks_the_loader_by_name(tmp_path):
    data = make_llava_json(tmp_path)
    samples, _ = load_samples("llava", data["json"], warn=False)
    assert [s.id for s in samples] == ["single", "multi"]
    with pytest.raises(ValueError, match=r"Unknown dataset format 'coco'; known: \['csv', 'llava', "):
        load_samples("coco", data["json"])


# Hostile records: paths that leave their folder, and text that is not plain UTF-8

def test_sharegpt4video_paths_from_records_never_leave_the_video_folder(tmp_path):
    import uuid

    staging = tmp_path / "staging"
    staging.mkdir()
    clip = grey_clip(staging / "clip.mp4")
    loose = f"vidlm-escape-{uuid.uuid4().hex}.mp4"  # a name that is unique under /, in case the check fails
    zips, videos, outside = tmp_path / "zips", tmp_path / "root" / "videos", tmp_path / "root" / "outside"
    zips.mkdir()
    outside.mkdir(parents=True)
    with zipfile.ZipFile(zips / "mixkit_videos_1.zip", "w") as z:
        for name in ("escape.mp4", "dotdot.mp4", loose, "linked.mp4", "good.mp4"):
            z.write(clip, f"mixkit_videos_1/{name}")
    grey_clip(outside / "read-me.mp4")  # an existing file outside: must not be read as a video either
    (videos / "pexels").mkdir(parents=True)
    os.symlink(outside, videos / "pexels" / "elsewhere")
    records = [
        sg_record("escape", "../escape.mp4", ""),  # no zip_folder: the source folder came from the path: ".."
        sg_record("dotdot", "mixkit/dotdot.mp4", ".._videos_1.zip"),  # source ".." from the zip's name
        sg_record("absolute", f"/{loose}", ""),  # source "/" → extracted to /<name>
        sg_record("read-outside", "../outside/read-me.mp4", "mixkit_videos_1.zip"),
        sg_record("symlink", "pexels/elsewhere/linked.mp4", ""),
        sg_record("good", "mixkit/good.mp4", "mixkit_videos_1.zip"),
    ]
    jsonl = tmp_path / "root" / "sharegpt4video_40k.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    try:
        samples, report = load_sharegpt4video(jsonl, videos, zip_dir=zips, warn=False)
        assert not os.path.exists(f"/{loose}")
    finally:
        if os.path.exists(f"/{loose}"):
            os.unlink(f"/{loose}")
    assert [s.id for s in samples] == ["good"] and samples[0].video == str(videos / "mixkit" / "good.mp4")
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == ["outside", "sharegpt4video_40k.jsonl", "videos"]
    assert sorted(p.name for p in outside.iterdir()) == ["read-me.mp4"]
    assert sorted(str(p.relative_to(videos)) for p in videos.rglob("*")) == ["mixkit", "mixkit/good.mp4", "pexels",
                                                                           "pexels/elsewhere"]
    reasons = skips(report)
    assert {reasons[r] for r in ("escape", "dotdot", "absolute", "read-outside", "symlink")} == {
        "path outside its folder"}
    details = {s.record: s.detail for s in report.skipped}
    assert "'../escape.mp4'" in details["escape"] and "absolute" in details["absolute"]
    assert "'..'" in details["dotdot"] and "symlink" in details["symlink"]


def test_shot2story_and_llava_paths_from_records_stay_in_the_video_folder(tmp_path):
    videos, outside = tmp_path / "videos", tmp_path / "outside"
    videos.mkdir()
    outside.mkdir()
    grey_clip(outside / "clipX.mp4", frames=24)
    grey_clip(videos / "clipA.mp4", frames=24)
    os.symlink(outside / "clipX.mp4", videos / "link.mp4")
    base = {"whole_caption": "a clip", "video_names": ["clipX_0_8.mp4"], "captions": ["grey"]}
    records = [{**base, "id": "up", "nvid": "../outside/clipX.mp4"},
               {**base, "id": "absolute", "nvid": str(outside / "clipX.mp4")},
               {**base, "id": "symlink", "nvid": "link.mp4"},
               {**base, "id": "good", "nvid": "clipA.mp4", "video_names": ["clipA_0_8.mp4"]}]
    (tmp_path / "20k_val.json").write_text(json.dumps(records))
    for task in ("summary", "shots"):
        samples, report = load_shot2story(tmp_path / "20k_val.json", videos, task=task, warn=False)
        assert [s.meta["video_id"] for s in samples] == ["good"]
        assert skips(report) == {r: "path outside its folder" for r in ("up", "absolute", "symlink")}
    assert sorted(p.name for p in (videos / "shots").iterdir()) == ["clipA_0_8.mp4"]

    turn = [{"from": "human", "value": "<video>\nDescribe."}, {"from": "gpt", "value": "Grey."}]
    llava = [{"id": "up", "video": "../outside/clipX.mp4", "conversations": turn},
             {"id": "absolute", "video": str(outside / "clipX.mp4"), "conversations": turn},
             {"id": "symlink", "video": "link.mp4", "conversations": turn},
             {"id": "good", "video": "clipA.mp4", "conversations": turn}]
    (videos / "llava.json").write_text(json.dumps(llava))
    samples, report = load_llava_json(videos / "llava.json", warn=False)
    assert [s.id for s in samples] == ["good"]
    assert skips(report) == {r: "path outside its folder" for r in ("up", "absolute", "symlink")}


def test_captions_csv_relative_paths_stay_in_their_folder_absolute_ones_are_the_users(tmp_path):
    folder, outside = tmp_path / "data", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    grey_clip(folder / "a.mp4")
    grey_clip(outside / "b.mp4")
    os.symlink(outside / "b.mp4", folder / "link.mp4")
    (folder / "captions.csv").write_text(f"path,caption\na.mp4,in\n../outside/b.mp4,up\n{outside / 'b.mp4'},abs\n"
                                         "link.mp4,linked\n")
    samples, report = load_captions_csv(folder / "captions.csv", warn=False)
    assert [(s.video, s.answer) for s in samples] == [(str(folder / "a.mp4"), "in"), (str(outside / "b.mp4"), "abs")]
    assert skips(report) == {"line 3": "path outside its folder", "line 5": "path outside its folder"}


def test_not_a_regular_file_is_reported_as_such(tmp_path):
    grey_clip(tmp_path / "a.mp4")
    (tmp_path / "folder.mp4").mkdir()
    os.mkfifo(tmp_path / "fifo.mp4")
    (tmp_path / "captions.csv").write_text("path,caption\na.mp4,x\nfolder.mp4,y\nfifo.mp4,z\nnone.mp4,w\n")
    samples, report = load_captions_csv(tmp_path / "captions.csv", warn=False)
    assert [s.answer for s in samples] == ["x"]
    assert skips(report) == {"line 3": "not a regular file", "line 4": "not a regular file",
                             "line 5": "video not found"}
    details = {s.record: s.detail for s in report.skipped}
    assert "a folder" in details["line 3"] and "FIFO" in details["line 4"]


def test_text_files_with_bom_crlf_and_invalid_utf8(tmp_path):
    grey_clip(tmp_path / "a.mp4")
    bad = "a.mp4,caf\u00e9\r\n".encode("latin-1")  # é as one latin-1 byte: not UTF-8
    (tmp_path / "captions.csv").write_bytes(b"\xef\xbb\xbfpath,caption\r\na.mp4,first\r\n" + bad +
                                            "a.mp4,caf\u00e9 ok\r\n".encode())
    samples, report = load_captions_csv(tmp_path / "captions.csv", warn=False)
    assert [s.answer for s in samples] == ["first", "caf\u00e9 ok"]
    (skip,) = report.skipped
    assert (skip.record, skip.reason) == ("line 3", "invalid UTF-8") and "byte 0xe9" in skip.detail

    sg = make_sharegpt4video(tmp_path / "sg")
    lines = sg["jsonl"].read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"grey fades up", b"grey fades \xff up")  # pexels-c's line
    sg["jsonl"].write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines))
    samples, report = load_sharegpt4video(sg["jsonl"], sg["videos"], zip_dir=sg["zips"], warn=False)
    assert [s.id for s in samples] == ["mixkit-a", "mixkit-t"]  # line 1 starts with a BOM and still reads
    assert skips(report)["line 2"] == "invalid UTF-8" and report.records == 9

    data = make_llava_json(tmp_path / "llava")
    text = data["json"].read_bytes()
    data["json"].write_bytes(b"\xef\xbb\xbf" + text.replace(b"}, {", b"},\r\n{"))
    samples, _ = load_llava_json(data["json"], warn=False)
    assert [s.id for s in samples] == ["single", "multi"]
    data["json"].write_bytes(text.replace(b"}, {", b"},\n{").replace(b"Grey.", b"Gr\xc3y."))
    with pytest.raises(ValueError, match=r"llava\.json, line 4: not valid UTF-8 \(byte 0xc3"):
        load_llava_json(data["json"], warn=False)


@pytest.mark.parametrize("text", ["", "\ufeff", "path,caption\n", "\ufeffpath,caption\r\n\r\n"])
def test_an_empty_or_header_only_csv_is_an_error(tmp_path, text):
    (tmp_path / "captions.csv").write_text(text)
    with pytest.raises(ValueError, match=r"captions\.csv.*no rows"):
        load_captions_csv(tmp_path / "captions.csv", warn=False)
