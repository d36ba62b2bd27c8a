"""Side-by-side benchmarks: `python -m bench.run` (attacks against peers and the limit), `bench/face_bench.py`."""
