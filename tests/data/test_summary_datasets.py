import json
import runpy

import h5py
import numpy as np

from mmkeras.data.media import write_video
from mmkeras.training.video_summary import read_summary_manifest


def _write_h5(path):
    with h5py.File(path, "w") as h5:
        for index, name in enumerate(["Cooking", "Bike Polo", "absent"]):
            group = h5.create_group(f"video_{index + 1}")
            users = np.zeros((3, 10), np.float32)
            users[:, 2:4] = 1
            users[1, 6:8] = 1
            group["user_summary"] = users
            group["change_points"] = np.array([[0, 3], [4, 7], [8, 9]])
            group["n_frames"] = 10
            group["features"] = np.zeros((2, 4), np.float32)
            group["video_name"] = name


def test_the_converted_manifest_reads_as_a_summarisation_manifest(
    tmp_path, capsys
):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("Cooking", "Bike Polo"):
        write_video(
            str(videos / f"{name}.gif"), np.zeros((10, 8, 8, 3), "u1"), 5
        )
    _write_h5(tmp_path / "data.h5")
    output = tmp_path / "summe.jsonl"
    script = runpy.run_path("scripts/convert_summe_tvsum.py")
    script["main"](
        [str(tmp_path / "data.h5"), f"--videos={videos}", f"--output={output}"]
    )
    assert "No video found for 1 entries: video_3" in capsys.readouterr().out
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["h5_key"] for r in records] == ["video_1", "video_2"]
    assert records[0]["shots"] == [[0, 4], [4, 8], [8, 10]]
    assert records[0]["annotations"][1] == [0, 0, 1, 1, 0, 0, 1, 1, 0, 0]
    source = read_summary_manifest(str(output))
    assert len(source.records) == 2
