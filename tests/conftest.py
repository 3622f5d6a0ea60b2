import os

# DECISION: under pytest-xdist each worker takes its share of the cores for numba's and torch's
# thread pools (read when numba and torch are first imported, so before ussim below): `make test`
# runs two workers on a 2-core machine, and two threads each made the small parallel loops (the
# fast engine's kernels, the beamformer, the GANs' convolutions) contend for two cores.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _SHARE = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, _SHARE)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ussim import examples, importers  # noqa: E402


def run_folder(tmp_path_factory, name: str):
    """A folder for the whole run: under pytest-xdist the run's common temporary folder, which every
    worker sees (a worker's own basetemp is a subfolder of it); else one of this session's."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.getbasetemp().parent / name
        folder.mkdir(exist_ok=True)
        return folder
    return tmp_path_factory.mktemp(name)


@pytest.fixture(scope="session", autouse=True)
def psf_cache(tmp_path_factory):
    """The fast engine's PSF banks (ussim.psf) in one folder per run, not the user's cache:
    measured once per probe and settings, shared by the tests, the processes they start and every
    pytest-xdist worker (the run's common temporary folder; ussim.psf locks a bank while one
    process measures it)."""
    folder = run_folder(tmp_path_factory, "ussim-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("USSIM_CACHE", str(folder))
        yield folder


@pytest.fixture
def toy():
    """A small image set with every optional variable that the format allows."""
    ds = examples.toy_imageset(n=5, size=32, seed=7)
    ds["sketch"] = (("sample", "y", "x"), (ds["label"].values > 0).astype(np.uint8))
    return ds.assign_coords(y_mm=("y", np.arange(32) * 0.1 + 0.05), x_mm=("x", np.arange(32) * 0.2 + 0.1))


@pytest.fixture
def real_dir():
    folder = importers.real_data_dir()
    if folder is None:
        pytest.skip("real archives absent: ../shared/data/real (or $USSIM_REAL_DATA) not found")
    return folder


@pytest.fixture(scope="session")
def grouped_comparisons(tmp_path_factory):
    """Two comparisons (ovary: two methods, IVUS: one) and the grouped results file written from
    them, built once for the run: tests/compare and tests/app read the same file, and building it
    (two uscompare runs) is among the suite's costliest set-ups. The first worker that needs it
    builds it in run_folder, under a lock, and pickles the datasets beside it; the others read them.
    Returns (datasets, path); users that change a dataset take a copy (`grouped` in
    tests/compare/test_results_groups.py)."""
    import pickle

    import filelock

    from compare import results
    from tests.compare.test_results_groups import NOTICE, make_comparisons
    folder = run_folder(tmp_path_factory, "grouped")
    path, pickled = folder / "results.nc", folder / "datasets.pickle"
    with filelock.FileLock(f"{folder}.lock"):
        if not pickled.is_file():
            with pytest.MonkeyPatch.context() as patch:  # the autouse private caches are per test; this runs before
                patch.setenv("USCOMPARE_CACHE", str(folder / "cache"))
                patch.setenv("TORCH_HOME", str(folder / "torch"))
                datasets = make_comparisons(folder)
            results.write_comparisons(datasets, path, attrs={"notice": NOTICE})
            pickled.write_bytes(pickle.dumps(datasets))  # last: its presence says the folder is complete
        datasets = pickle.loads(pickled.read_bytes())
    return datasets, path
