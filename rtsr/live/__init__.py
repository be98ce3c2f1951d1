"""``rtsr live``: upscale a webcam, a network stream, a file or a test source in real time.

* sources:  where frames come from (webcam, stream, file, lavfi)
* upscale:  LiveUpscaler -- frames through the file pipeline's plane path
* session:  run_live -- capture, upscale and show/record threads, drop policy, report
* recorder: Recorder -- the recording, on its own thread with a bounded queue
* view:     what the window shows
* sound:    a separate audio input for a source that has none (--audio)
* command:  the ``rtsr live`` command's options and checks
"""

from rtsr.live.recorder import Recorder
from rtsr.live.session import KEYS, LatestSlot, LiveOptions, LiveReport, run_live
from rtsr.live.sources import CameraSource, PyAVSource, Source, open_source
from rtsr.live.upscale import LiveUpscaler

__all__ = ["KEYS", "CameraSource", "LatestSlot", "LiveOptions", "LiveReport", "LiveUpscaler", "PyAVSource",
           "Recorder", "Source", "open_source", "run_live"]
