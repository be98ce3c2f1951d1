"""What the training and evaluation scripts share (the installed rtsr package holds none of it).

* data:      the papers' data protocol: images, PIL bicubic LR, patches, validation
* benchmark: PSNR / SSIM of an upscaler on a benchmark folder (Set5, Set14, BSD100)
* pairs:     training pairs for compressed input: clips with motion through real codecs
* clips:     held-out clips for validation: frames, the user's clip at a codec level, luma
* temporal:  windows of LR luma through the recurrent model, as the temporal tools run it
* runs:      run bookkeeping: settings, schedule, resumable state, devices, the git commit

The codec round-trip itself is rtsr.io.roundtrip (``rtsr check`` uses the same one), and the papers'
metrics are rtsr.metrics.
"""
