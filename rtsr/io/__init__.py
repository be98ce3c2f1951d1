"""Everything rtsr reads and writes, with PyAV and numpy only (no torch here, by design).

* probe:   InputVideo / VideoInfo -- the input opened and probed once per run
* reader:  FrameReader -- the one decode loop and its policy (resume seek, damage, timestamps)
* planes:  decoded frames <-> integer planes; one upscaled frame from one decoded frame
* encode:  EncodePlan and add_video_stream -- the one encoder set-up
* chunks:  ChunkWriter -- the upscaled video into resumable chunk files
* resume:  WorkFolder -- the chunks and their manifest beside the output
* remux:   the final mux of the chunks with the input's audio, subtitles and cover art
* output:  output-path policy (containers, checks before any work)
* describe: an input's facts for people, and how compressed it looks
* deinterlace: the field order, and bwdif as a filter graph
* sequences: numbered pictures in and out (FFmpeg's image2)
* side_data: a decoded frame's side data, read safely
* degradation: which weights an input wants (clean or compressed), from its bits and quantiser
* packets:  a run of compressed video packets that travels to a worker process or a Ray node
* priority: encoder threads yield the CPU to the upscale stage
* hdr:      PQ/HLG input: the codec that keeps it, mastering display and light levels into the encoder
* alpha:    the alpha plane: which outputs keep it, upscaled beside the picture
* playable: outputs most players cannot open (beyond every codec level, H.264 4:4:4), said before any work
"""

from rtsr.io.encode import EncodePlan, EncodeSettings, add_video_stream
from rtsr.io.output import OUTPUT_FORMATS, check_output, check_paths
from rtsr.io.probe import InputVideo, VideoInfo, open_input, probe_video
from rtsr.io.reader import FrameReader, PtsOrder

__all__ = [
    "OUTPUT_FORMATS",
    "EncodePlan",
    "EncodeSettings",
    "FrameReader",
    "InputVideo",
    "PtsOrder",
    "VideoInfo",
    "add_video_stream",
    "check_output",
    "check_paths",
    "open_input",
    "probe_video",
]
