from __future__ import annotations

import av

from rtsr.sample import make_sample_clip


def test_sample_clip_is_coded_like_real_footage(tmp_path) -> None:
    path = make_sample_clip(tmp_path / "sample.mp4", size=(64, 48), frames=30)
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        video = [packet for packet in container.demux(video=0) if packet.dts is not None]
    assert len(video) == 30
    # One keyframe, then predicted frames: decoding costs what it costs on real footage.
    assert [packet.is_keyframe for packet in video].count(True) == 1
