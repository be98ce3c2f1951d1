"""The recurrent model and what it needs between frames.

* ``network``: the RLSP-style network (``rtsr.models`` registers it as ``rlsp``), its packed
  inputs and outputs, and the warping both training and inference use (torch only).
* ``state``: one video's recurrence at run time: motion from the previous frame, scene cuts,
  resets (torch and OpenCV).
"""
