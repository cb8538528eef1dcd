"""Conversion of whole script repositories into one Primus tree.

discover.py  which files are launch scripts (text pre-filter, include/exclude globs)
variants.py  which knob assignments to convert (model sizes yes, toggles and thresholds no)
worker.py    one script, all its variants, laid out and parity-checked as in the final tree
layout.py    paths in the tree; content-addressed, comment-free shared model files
knobmap.py   the knob -> key table (traced from token origins, measured between variants)
runner.py    the process pool, crash isolation, deterministic ordering
tree.py      merging every script's files (same path, same bytes)
report.py    batch_report.md / batch_report.json
backend.py   the seam to the conversion pipeline (faked in tests)
"""
