"""line311 benchmarks: `python -m bench [NAME ...]` (or `make bench`).

Each benchmark is a module `bench/<name>.py` with `run() -> str` returning a Markdown section
(what was measured, the numbers, the command). `python -m bench` runs them and rewrites each
one's section of docs/benchmarks.md between `<!-- bench:<name> -->` markers, so the document
always shows the latest run of each with the command that produced it.
"""
