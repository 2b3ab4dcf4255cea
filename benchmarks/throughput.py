"""Throughput benchmark (the same as ``ssl-course bench``): training-step images/s, FLOP fraction of the measured
peak, peak memory, and batched vs per-image augmentation. See ssl_course/bench.py.

    PYTHONPATH=. python benchmarks/throughput.py --device cpu
    python benchmarks/throughput.py --device cuda            # on a GPU machine
"""
import sys

from ssl_course.bench import main

if __name__ == "__main__":
    sys.exit(main())
