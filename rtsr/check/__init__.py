"""Before the long job: ``rtsr check`` (will it help, how long, what to run) and ``rtsr compare`` (the picture).

* sampling: a dozen frames spread over the clip, a short consecutive run, one frame at a time
* quality:  the self-downscale test -- each model's gain over bicubic on the clip's own frames
* codec_match: the input's own compression, applied again to the shrunk frames of that test
* speed:    decode, frame work, each engine and the encoder timed on the clip's real frame size
* advice:   model, engine, jobs and the command line from those measurements
* checking: ``rtsr check``'s report (text and JSON)
* compare:  ``rtsr compare``'s labelled panels and PNG
* cli:      the two command lines (torch-free: --help and typos answer at once)
* commands: their work, once the arguments have parsed
"""
