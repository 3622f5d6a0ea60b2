"""`ussim dataset`: shards on dask.distributed, named by their parameters, resumable, merged."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ussim import cli, dataset, imageset, phantom

# Tiny and sparse so that a run takes seconds: 48 x 48 px, one scatterer per resolution cell.
TINY = ["--organ", "ivus", "--size", "48", "--scatterers-per-cell", "1", "--device", "cpu", "--shard-size", "1"]


def run(capsys, *argv):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def test_shards_cover_the_seeds_and_their_names_follow_every_parameter():
    shards = dataset.plan("ivus", 10, seed=5, size=64, shard_size=4)
    assert [list(s.seeds) for s in shards] == [[5, 6, 7, 8], [9, 10, 11, 12], [13, 14]]
    assert [s.name for s in shards] == [s.name for s in dataset.plan("ivus", 10, seed=5, size=64, shard_size=4)]
    names = {s.name for s in shards}
    for changed in (dict(size=96), dict(per_cell=5.0), dict(probe="ivus-20"), dict(seed=6)):
        options = {**dict(seed=5, size=64, shard_size=4), **changed}
        assert not names & {s.name for s in dataset.plan("ivus", 10, **options)}, changed


@pytest.mark.parametrize("argv, words", [
    (["--n", "0"], "--n: 0 is out of range"),
    (["--n", "-3"], "--n: -3 is out of range"),
    (["--n", "2", "--workers", "0"], "--workers: 0 is out of range"),
    (["--n", "2", "--shard-size", "0"], "--shard-size: 0 is out of range"),
    (["--n", "2", "--size", "8"], "too small"),
    (["--n", "2", "--scatterers-per-cell", "0"], "--scatterers-per-cell: 0 is out of range"),
    (["--n", "2", "--probe", "no-such-probe"], "no-such-probe"),
])
def test_bad_values_give_one_line_and_status_2(capsys, tmp_path, argv, words):
    code, _, err = run(capsys, "dataset", "--organ", "ivus", "--out", tmp_path / "d.h5", *argv)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "d.h5").exists()


def test_an_unreachable_scheduler_gives_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "dataset", *TINY, "--n", "2", "--out", tmp_path / "d.h5",
                       "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2 and "cannot reach the dask scheduler at tcp://127.0.0.1:9" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "d.h5").exists()


def _shard_files(folder):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("shard-*.h5")} \
        if folder.is_dir() else {}


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_result(capsys, tmp_path):
    from dask.distributed import LocalCluster

    # Uninterrupted reference, on a running scheduler given by address (the cluster path).
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        code, out, err = run(capsys, "dataset", *TINY, "--n", "4", "--out", tmp_path / "whole.h5",
                             "--scheduler", cluster.scheduler_address)
    assert code == 0, err
    assert "samples   4" in out and not (tmp_path / "whole.h5.shards").exists()

    # The same dataset on a local cluster, SIGKILLed (with its workers) after its first shards.
    target = tmp_path / "resumed.h5"
    folder = dataset.shard_folder(target)
    argv = [sys.executable, "-m", "ussim", "dataset", *TINY, "--n", "4", "--workers", "1", "--out", str(target)]
    child = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(_shard_files(folder)) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    finished = _shard_files(folder)
    assert 1 <= len(finished) < 4, f"the kill came too late to test a resume: {finished}"
    assert not target.exists()

    environ = dict(os.environ)
    code, _, err = run(capsys, "dataset", *TINY, "--n", "4", "--workers", "1", "--out", target, "--keep-shards")
    assert code == 0, err
    # the local cluster leaves this process's environment as it found it (dask's nannies left
    # MALLOC_TRIM_THRESHOLD_ and *_NUM_THREADS behind, for every process started afterwards)
    assert dict(os.environ) == environ
    after = _shard_files(folder)
    assert len(after) == 4 and all(after[name] == stamp for name, stamp in finished.items()), \
        "finished shards were simulated again"

    with imageset.read(tmp_path / "whole.h5") as whole, imageset.read(target) as resumed:
        assert whole["seed"].values.tolist() == resumed["seed"].values.tolist() == [0, 1, 2, 3]
        for name in ("image", "label", "envelope"):
            assert np.array_equal(whole[name].values, resumed[name].values), name
        assert whole["sample_id"].values.tolist() == resumed["sample_id"].values.tolist()
        assert whole.attrs["params"] == resumed.attrs["params"]
        for merged in (whole, resumed):  # every shard warmed up before its timed image, on the CPU asked for
            timing = imageset.timing_of(merged)
            assert {k: timing[k] for k in ("warmup_excluded", "device", "batch_size", "clock")} == \
                {"warmup_excluded": True, "device": "cpu", "batch_size": 1, "clock": "wall"}
            assert isinstance(timing["threads"], int) and timing["threads"] >= 1
            assert imageset.condition_of(merged) == phantom.condition("ivus")
        params = imageset.params_of(resumed)
        assert params["dataset"]["n"] == 4 and params["dataset"]["scatterers_per_cell"] == 1.0
        # Any sample is remade by `ussim phantom` with its seed, as the params say.
        one = phantom.random_sample("ivus", seed=2, size=48, per_cell=1.0, device="cpu", progress=False,
                                    engine=params["dataset"]["engine"])
        assert np.array_equal(one["image"].values[0], resumed["image"].values[2])


def test_a_local_fast_dataset_pays_the_set_up_in_the_calling_process_before_its_workers(tmp_path, monkeypatch):
    """The PSF bank is measured by the caller with every core, not by the first worker on its share
    of them while the others wait on its lock; a remote cluster's workers and the full engine have
    no bank to share from here."""
    calls = []
    monkeypatch.setattr(phantom, "warm_up_random", lambda organ, **options: calls.append(("warm", organ,
                                                                                        options["engine"])))

    def compute(todo, folder, **options):
        calls.append(("workers", options["scheduler"]))
        raise RuntimeError("no workers in this test")
    monkeypatch.setattr(dataset, "_compute", compute)
    for options, expected in (({}, [("warm", "ivus", "fast"), ("workers", None)]),
                              ({"engine": "full"}, [("workers", None)]),
                              ({"scheduler": "tcp://127.0.0.1:1"}, [("workers", "tcp://127.0.0.1:1")])):
        calls.clear()
        with pytest.raises(RuntimeError, match="no workers"):
            dataset.run("ivus", 2, tmp_path / "set.h5", progress=False, **options)
        assert calls == expected
