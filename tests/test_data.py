import pytest

from vidlm.data import read_captions_csv
from vidlm.synthetic import PROMPT


def write_csv(tmp_path, text, videos=("clip_a.mp4",)):
    """A CSV in tmp_path/data with the given text, and placeholder video files beside it."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in videos:
        (folder / name).write_bytes(b"\x00")
    path = folder / "captions.csv"
    path.write_text(text)
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
    assert first.instruction == PROMPT
    assert first.meta == {"colour": "red"}
    assert second.video == str(absolute)
    assert second.id == "elsewhere"
    assert second.answer == "a blue square moves up"
    assert second.meta == {"colour": "blue"}


def test_custom_instruction(tmp_path):
    path = write_csv(tmp_path, "path,caption\nclip_a.mp4,a red circle moves left\n")
    assert read_captions_csv(path, instruction="What moves?")[0].instruction == "What moves?"


def test_missing_caption_column(tmp_path):
    path = write_csv(tmp_path, "path,text\nclip_a.mp4,a red circle moves left\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['caption'\]"):
        read_captions_csv(path)


@pytest.mark.parametrize("row, problem", [
    ("clip_a.mp4,", "row 3: empty caption"),
    (",a red circle moves left", "row 3: empty path"),
    ("nowhere.mp4,a red circle moves left", "row 3: video not found"),
])
def test_bad_row_is_named(tmp_path, row, problem):
    path = write_csv(tmp_path, f"path,caption\nclip_a.mp4,a red circle moves left\n{row}\n")
    with pytest.raises(ValueError) as info:
        read_captions_csv(path)
    assert problem in str(info.value)
    assert "row 2" not in str(info.value)


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
    assert "row 2: empty caption" in message
    assert f"row 4: video not found: {tmp_path / 'data' / 'gone.mp4'}" in message
    assert "row 5: empty caption" in message
    assert "row 3" not in message
