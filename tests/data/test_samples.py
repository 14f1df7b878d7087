import pytest

from vidlm.data.samples import read_captions_csv
from vidlm.prompts import DEFAULT_PROMPT


def write_csv(tmp_path, text, videos=("clip_a.mp4",)):
    """A CSV in tmp_path/data with the given text, and placeholder video files beside it."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in videos:
        (folder / name).write_bytes(b"\x00")
    path = folder / "captions.csv"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))  # "\udce9": the byte 0xe9, not UTF-8
    return path


def test_reads_samples_with_resolved_paths_ids_and_meta(tmp_path):
    absolute = tmp_path / "elsewhere.mp4"
    absolute.write_bytes(b"\x00")
    path = write_csv(tmp_path, "path,caption,colour\n"
                               "clip_a.mp4,a red circle moves left,red\n"
                               f"{absolute}, a blue square moves up ,blue\n")
    first, second = read_captions_csv(path)
    assert first.video == str(tmp_path / "data" / "clip_a.mp4")
    assert first.id == "clip_a"
    assert first.answer == "a red circle moves left"
    assert first.instruction == DEFAULT_PROMPT
    assert first.meta == {"colour": "red"}
    assert second.video == str(absolute)
    assert second.id == "elsewhere"
    assert second.answer == "a blue square moves up"
    assert second.meta == {"colour": "blue"}


def test_custom_instruction(tmp_path):
    path = write_csv(tmp_path, "path,caption\nclip_a.mp4,a red circle moves left\n")
    assert read_captions_csv(path, instruction="What moves?")[0].instruction == "What moves?"


def test_missing_caption_column(tmp_path):
    path = write_csv(tmp_path, "path,label\nclip_a.mp4,a red circle moves left\n")
    with pytest.raises(ValueError, match=r"needs a 'path' column and a 'caption' \(or 'text'\) column; found "
                                         r"\['path', 'label'\]"):
        read_captions_csv(path)


@pytest.mark.parametrize("row, problem", [
    ("clip_a.mp4,", "line 3: empty caption"),
    (",a red circle moves left", "line 3: empty path"),
    ("nowhere.mp4,a red circle moves left", "line 3: video not found"),
    ("../clip_a.mp4,a red circle moves left", "line 3: path outside its folder: '../clip_a.mp4' leads outside"),
    ("clip_a.mp4,caf\udce9", "line 3: invalid UTF-8: byte 0xe9 at column 15"),
])
def test_bad_row_is_named(tmp_path, row, problem):
    path = write_csv(tmp_path, f"path,caption\nclip_a.mp4,a red circle moves left\n{row}\n")
    with pytest.raises(ValueError) as info:
        read_captions_csv(path)
    assert problem in str(info.value) and str(path) in str(info.value)
    assert "line 2" not in str(info.value)


def test_all_bad_rows_listed_in_one_error(tmp_path):
    path = write_csv(tmp_path, "path,caption\n"
                               "clip_a.mp4,   \n"  # row 2
                               "clip_a.mp4,a red circle moves left\n"  # row 3: fine
                               "gone.mp4,a blue square moves up\n"  # row 4
                               "clip_a.mp4,\n")  # row 5
    with pytest.raises(ValueError) as info:
        read_captions_csv(path)
    message = str(info.value)
    assert "3 bad row(s)" in message
    assert "line 2: empty caption" in message
    assert f"line 4: video not found: {tmp_path / 'data' / 'gone.mp4'}" in message
    assert "line 5: empty caption" in message
    assert "line 3" not in message


def test_bom_crlf_and_the_open_sora_text_column_read_like_a_plain_file(tmp_path):
    plain = read_captions_csv(write_csv(tmp_path, "path,caption\nclip_a.mp4,a red circle\n"))
    (tmp_path / "data" / "bom.csv").write_bytes(b"\xef\xbb\xbfpath,caption\r\nclip_a.mp4,a red circle\r\n")
    (tmp_path / "data" / "text.csv").write_text("path,text\nclip_a.mp4,a red circle\n")
    for other in ("bom.csv", "text.csv"):
        (sample,) = read_captions_csv(tmp_path / "data" / other)
        assert (sample.id, sample.video, sample.answer, sample.meta) == (plain[0].id, plain[0].video, "a red circle",
                                                                         {})


@pytest.mark.parametrize("text", ["", "path,caption\n", "\ufeffpath,caption\r\n"])
def test_empty_or_header_only_csv(tmp_path, text):
    with pytest.raises(ValueError, match="no rows"):
        read_captions_csv(write_csv(tmp_path, text))
