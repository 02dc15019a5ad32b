"""asv benchmarks: the workloads of bench/compare.py (nnc's own training and
inference steps on the first 1,024 bundled MNIST images, one thread), timed
by airspeed velocity for the long history.  See asv.conf.json and
bench/README.md.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import compare  # noqa: E402


class Workloads:
    """One fit (or predict) of a compare.py workload on a fresh network."""

    params = [list(compare.TRAIN) + ["predict"], list(compare.DTYPES)]
    param_names = ["workload", "dtype"]
    number = 1
    repeat = (3, 10, 20.0)

    def setup_cache(self):
        import nnc
        data = tempfile.mkdtemp(prefix="nnc-asv-")
        # the MNIST images that ship with the nnc being measured (or synthetic)
        compare.write_data(os.path.dirname(os.path.dirname(os.path.abspath(nnc.__file__))),
                           data)
        return data

    def setup(self, data_dir, workload, dtype):
        import nnc
        data = {dtype: compare._load_data(data_dir, dtype)}
        self.run = compare.make_workload(nnc, data, f"{workload} {dtype}")
        self.run()  # first-call costs outside the timing

    def time_workload(self, data_dir, workload, dtype):
        self.run()
