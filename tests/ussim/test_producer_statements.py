"""What ussim's producers state beside their images: warm-up excluded from `seconds`, the
device that ran, batch size and threads (`timing`), and what the simulator saw (`condition`)."""

import json
import time

import numba
import numpy as np

from ussim import aperture, dataset, engine, imageset, phantom, simulate, tissue

IVUS = dict(size=48, per_cell=1.0, progress=False)  # seconds per image on two cores


def _cache_misses():
    return simulate._point_peak.cache_info().misses + aperture.table.cache_info().misses


class _Journal:
    """Records, in order, the clock reads of ussim.phantom and its calls of warm_up and simulate_mask."""

    def __init__(self, monkeypatch):
        self.events = []
        warm_up, simulate_mask = phantom.warm_up, phantom.simulate_mask

        def logged_warm_up(*args, **kwargs):
            self.events.append("warm-up")
            return warm_up(*args, **kwargs)

        def logged_simulate(*args, **kwargs):
            before = _cache_misses()
            result = simulate_mask(*args, **kwargs)
            self.events.append(("simulate", kwargs["per_cell"], _cache_misses() - before))
            return result

        def clock():
            self.events.append("clock")
            return time.perf_counter()

        monkeypatch.setattr(phantom, "warm_up", logged_warm_up)
        monkeypatch.setattr(phantom, "simulate_mask", logged_simulate)
        monkeypatch.setattr(phantom, "time", type("Clock", (), {"perf_counter": staticmethod(clock)}))

    def timed_simulations(self):
        return [e for e in self.events if isinstance(e, tuple) and e[1] != phantom.WARMUP_PER_CELL]


def test_the_first_timed_image_pays_no_one_off_set_up(monkeypatch):
    # Cold caches, as in a fresh process: the reference level and the aperture tables are built anew.
    simulate._point_peak.cache_clear()
    aperture.table.cache_clear()
    journal = _Journal(monkeypatch)
    phantom.random_sample("ivus", seed=1, device="cpu", **IVUS)
    warm_at = journal.events.index("warm-up")
    _, density, built = journal.events[warm_at + 1]
    assert density == phantom.WARMUP_PER_CELL and built > 0  # the warm-up builds the set-up, untimed
    assert journal.events[warm_at + 2] == "clock"  # the image's clock starts after the warm-up
    assert journal.timed_simulations() == [("simulate", 1.0, 0)]  # and its simulation builds nothing anew

    # Without the warm-up the same image would pay for the set-up itself: what the test guards against.
    simulate._point_peak.cache_clear()
    aperture.table.cache_clear()
    journal.events.clear()
    phantom.random_sample("ivus", seed=1, device="cpu", warm=False, **IVUS)
    assert "warm-up" not in journal.events and journal.timed_simulations()[0][2] > 0


def test_a_mask_file_warms_up_once_before_its_first_timed_image(monkeypatch, tmp_path):
    label = np.zeros((3, 48, 48), np.uint8)
    label[:, 20:30, 20:30] = 2
    masks = imageset.make(np.zeros_like(label), label, class_names=["outside_EEM", "wall", "lumen"], organ="ivus",
                          method="real:test", params={}, sample_id=["a", "b", "c"])
    imageset.write(masks, tmp_path / "masks.h5")
    journal = _Journal(monkeypatch)
    ds = phantom.simulate_set(tmp_path / "masks.h5", "ivus", seed=4, device="auto", per_cell=1.0, progress=False)
    assert journal.events.count("warm-up") == 1 and journal.events.index("warm-up") < journal.events.index("clock")
    assert [e[2] for e in journal.timed_simulations()] == [0, 0, 0]
    assert ds.sizes["sample"] == 3 and np.all(ds["seconds"].values > 0)
    _assert_statements(ds, "ivus")


def test_a_mask_too_sparse_for_the_cheap_warm_up_warms_up_at_its_own_density(monkeypatch):
    label = np.full((128, 128), 2, np.uint8)
    label[60, 60] = 0  # one pixel of tissue (0.48 x 0.27 mm) in fluid: no scatterer at the warm-up's density
    attempted, simulate_mask = [], phantom.simulate_mask

    def recorded(*args, **kwargs):
        attempted.append(kwargs["per_cell"])
        return simulate_mask(*args, **kwargs)

    monkeypatch.setattr(phantom, "simulate_mask", recorded)
    grid = phantom.display_grid(tissue.load("ovary"), (128, 128))
    ds = phantom.mask_sample(label, grid, ["background", "ovary", "follicle"], "ovary", seed=0, sample_id="dot",
                             device="cpu", progress=False)
    assert attempted == [phantom.WARMUP_PER_CELL, 10, 10] and imageset.timing_of(ds)["warmup_excluded"]
    offsets = imageset.params_of(ds)["simulation"]["exam_echogenicity_db"]  # this exam's tissue, recorded
    assert offsets == {k: round(v, 3) for k, v in tissue.exam_offsets_db(tissue.load("ovary"), 0).items()} != {}


def _assert_statements(ds, organ):
    timing = imageset.timing_of(ds)
    resolved = engine.resolve_device("auto")
    assert timing["device"] == resolved or timing["device"].startswith(f"{resolved}:")  # cpu, or cuda:N
    assert timing == {"warmup_excluded": True, "device": timing["device"], "batch_size": 1,
                      "threads": numba.get_num_threads(), "clock": "wall"}
    condition = imageset.condition_of(ds)
    assert condition["condition"] == "mask" and condition["source"] == "none"
    assert "label mask only" in condition["detail"] and f"{organ} tissue table" in condition["detail"]


def test_a_random_phantom_states_its_timing_and_condition_in_the_file(tmp_path):
    ds = phantom.random_sample("ivus", seed=3, device="auto", **IVUS)
    imageset.write(ds, tmp_path / "one.h5")
    with imageset.read(tmp_path / "one.h5") as back:
        _assert_statements(back, "ivus")


def _fake_sample(organ, *, seed, warm, **_):
    """A one-image set shaped like phantom.random_sample's, stating whether it warmed up."""
    return imageset.make(np.zeros((1, 4, 4), np.uint8), np.zeros((1, 4, 4), np.uint8), class_names=["bg"],
                         organ=organ, method="ussim-field", params={"anatomy": {"seed": seed}, "simulation": {}},
                         seed=[seed], seconds=[0.5], sample_id=[f"{organ}-{seed}"], condition=phantom.condition(organ),
                         timing=phantom.timing("cpu", warmed=warm))


def test_a_shard_warms_up_on_its_first_image_only(monkeypatch, tmp_path):
    calls = []

    def recorded(organ, **options):
        calls.append(options["warm"])
        return _fake_sample(organ, **options)

    monkeypatch.setattr(phantom, "random_sample", recorded)
    shard, = dataset.plan("ivus", 3, size=48, shard_size=3)
    with imageset.read(dataset.make_shard(shard, str(tmp_path))) as ds:
        assert calls == [True, False, False] and imageset.timing_of(ds)["warmup_excluded"] is True


def test_merged_timing_keeps_agreement_and_lists_differences():
    one = {"warmup_excluded": True, "device": "cpu", "batch_size": 1, "threads": 2, "clock": "wall"}
    assert dataset.merged_timing([one, dict(one)]) == one
    other = {**one, "device": "cuda:0", "threads": 1}
    assert dataset.merged_timing([one, other, one]) == {**one, "device": ["cpu", "cuda:0"], "threads": [1, 2]}
    json.dumps(dataset.merged_timing([one, other]))  # still a JSON statement for the file
