"""Keyframe-aligned segments as the unit of work: parallel workers, many files, a Ray cluster.

    plan.py      the input cut into display-time ranges from its packet index
    worker.py    one segment: its packets decoded, upscaled, encoded into one chunk
    pool.py      local worker processes (--jobs N)
    ray_pool.py  the same work on Ray actors (--ray)
    driver.py    one input through a pool: plan, schedule, resume, final mux
    batch.py     many inputs (a folder of videos) into an output folder
"""
