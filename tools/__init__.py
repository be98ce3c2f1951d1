"""The project's own tools: training, evaluation and validation scripts (not installed with rtsr).

Run from the checkout as ``python -m tools.NAME`` (``python -m tools.train --help``). What the scripts
share lives in tools.lab; what users run lives in rtsr.
"""
