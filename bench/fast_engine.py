"""The fast engine (ussim.fast) against the full engine, side by side in one run: agreement on
256 x 256 phantoms of both organs (the same scatterers), point-target widths at three depths, the
limits of the approximation, and speed per image; optionally `ussim dataset --engine fast` timed
with its peak memory (bench/dataset_memory.py), and the torch path on a GPU when there is one.

    python bench/fast_engine.py [--organs ovary ivus] [--seeds 2] [--pooled 8] [--dataset-n 200] [--threads 2]

Prints one JSON line per measurement and a Markdown summary (bench/RESULTS.md, "Fast engine").
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import machine  # noqa: E402
from compare.metrics.js import class_histograms, js_divergence  # noqa: E402
from ussim import engine, measure, phantom, probe as probes, psf, simulate, tissue  # noqa: E402


def organ_setup(organ: str, size: int):
    table = tissue.load(organ)
    probe = probes.load(table.probe)
    grid = phantom.display_grid(table, (size, size))
    return table, probe, grid, phantom.GENERATORS[organ]


FAST_REPEATS = 5  # the fast image is timed this many times (median): one run of 0.1-0.3 s is at the load's mercy


def timed_pair(organ: str, seed: int, size: int, device: str):
    """Both engines on the same anatomy and scatterers (seeded alike), each timed warm: the full
    engine once, the fast one FAST_REPEATS times (median, and the fastest)."""
    table, probe, grid, generator = organ_setup(organ, size)
    label, _ = generator.draw(grid.x, grid.z, np.random.default_rng(seed))
    sims, seconds = {}, {}
    for name in ("fast", "full"):
        phantom.warm_up(label, grid, generator.CLASS_NAMES, table, probe, device=device, per_cell=10, engine=name)
        runs, cpu = [], []
        for _ in range(FAST_REPEATS if name == "fast" else 1):
            start, start_cpu = time.perf_counter(), time.process_time()
            sims[name] = phantom.simulate_mask(label, grid, generator.CLASS_NAMES, table, probe, seed=seed,
                                               device=device, progress=False, engine=name)
            runs.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        seconds[name] = float(np.median(runs))
        # CPU seconds (all threads): on a shared machine the wall clock measures the neighbours too
        seconds[f"{name}_cpu"] = float(np.median(cpu))
        if name == "fast":
            seconds["fast_fastest"] = min(runs)
    return label, generator.CLASS_NAMES, sims, seconds


def beam_grid(cloud, probe, overrides: dict):
    """(settings, events, radii, line angles, line geometry) of the organ's imaging settings for
    `cloud`, as `simulate` resolves them: what `fast.beamformed` and `beamform.beamform` take."""
    from ussim import beamform
    settings = simulate.resolve(dataclasses.replace(simulate.Settings(), **overrides), probe, cloud)
    events, radii = simulate.events_for(settings, probe), simulate.radii_for(settings, probe)
    line_angles = None
    if settings.scheme == "diverging":
        fov = np.abs(probe.element_positions()[2]).max()
        line_angles = np.linspace(-fov, fov, settings.n_lines)
    return settings, events, radii, line_angles, beamform.line_geometry(events, probe, radii, line_angles=line_angles)


def fast_stages(organ: str, size: int, device: str, repeats: int = FAST_REPEATS) -> dict:
    """Median seconds of each stage of one fast image (seed 1), warm: scatterers from the mask,
    the fast engine (accumulation + convolution), the rest of `simulate` (settings, envelope, TGC,
    scan conversion, display): the shared chain is the floor of the speed ratio."""
    from ussim import fast, side_scatterers
    table, probe, grid, generator = organ_setup(organ, size)
    label, _ = generator.draw(grid.x, grid.z, np.random.default_rng(1))
    overrides = dict(table.imaging)
    overrides["depth"] = (float(np.hypot(np.abs(grid.x).max(), np.abs(grid.z).max())) - probe.catheter_radius
                          if organ == "ivus" else float(grid.z[-1]) + 2e-3)
    times = {"scatterers": [], "engine": [], "simulate_rest": []}
    for _ in range(repeats):
        start = time.perf_counter()
        cloud = side_scatterers.scatterers_for(label, grid.x, grid.z, generator.CLASS_NAMES, table, probe, seed=1,
                                               per_cell=10)
        times["scatterers"].append(time.perf_counter() - start)
        settings, events, radii, _, geometry = beam_grid(cloud, probe, overrides)
        start = time.perf_counter()
        fast.beamformed(cloud, probe, settings, events, radii, geometry, device=device)
        times["engine"].append(time.perf_counter() - start)
        start = time.perf_counter()
        simulate.simulate(cloud, probe, device=device, progress=False, grid=grid, engine="fast", **overrides)
        times["simulate_rest"].append(time.perf_counter() - start - times["engine"][-1])
    return {name: float(np.median(values)) for name, values in times.items()}


def envelope_stats(envelope: np.ndarray) -> dict:
    intensity = envelope ** 2
    return {"mean_over_std": float(envelope.mean() / envelope.std()),
            "nakagami_m": float(intensity.mean() ** 2 / intensity.var())}


def agreement(label, names, sims) -> dict:
    """Per class: envelope speckle statistics, speckle grain (ussim.measure) and the JS divergence
    of the gray histograms (compare.metrics.js) between the engines; mean log brightness per depth
    band of 1/16 of the image."""
    full, fast = sims["full"], sims["fast"]
    imaged = (full.envelope_image > 0) & (fast.envelope_image > 0)
    counts = {name: class_histograms(s.bmode[None], label[None], len(names)) for name, s in sims.items()}
    classes = {}
    for index, name in enumerate(names):
        region = imaged & (label == index)
        if region.sum() < measure.MIN_REGION_PIXELS:
            continue
        stats = {engine_: envelope_stats(s.envelope_image[region].astype(np.float64)) for engine_, s in sims.items()}
        grains = {engine_: measure.speckle_grain_px([s.bmode], [region]) for engine_, s in sims.items()}
        classes[name] = {
            "pixels": int(region.sum()),
            "mean_over_std": [stats["full"]["mean_over_std"], stats["fast"]["mean_over_std"]],
            "nakagami_m": [stats["full"]["nakagami_m"], stats["fast"]["nakagami_m"]],
            "grain_px": [grains["full"], grains["fast"]],
            "mean_gray": [float(sims["full"].bmode[region].mean()), float(sims["fast"].bmode[region].mean())],
            "js": js_divergence(counts["full"][index], counts["fast"][index])}
    bands = []
    for rows in np.array_split(np.arange(label.shape[0]), 16):
        region = imaged[rows]
        if region.sum() < 50:
            continue
        levels = [float(np.mean(20 * np.log10(s.envelope_image[rows][region]))) for s in (full, fast)]
        bands.append({"rows": [int(rows[0]), int(rows[-1])], "full_db": levels[0], "fast_minus_full_db":
                      levels[1] - levels[0]})
    return {"classes": classes, "depth_bands": bands}


REALISATION_SEED = 1000  # added to a phantom's seed for its second full image (other scatterers)


def pooled_js(organ: str, count: int, size: int, device: str) -> dict:
    """Per class over `count` random phantoms (seeds 1..count): the JS divergence of the gray
    histograms pooled over the phantoms, as compare's JS metric pools a set's images, between the
    engines on the same scatterers, and between two full images of each anatomy with other
    scatterers (the realisation floor: what a second draw of the same physics differs by); and
    the per-image JS of the engines, whose small classes (a few hundred pixels over 256 bins) are
    dominated by how sparse their histograms are."""
    table, probe, grid, generator = organ_setup(organ, size)
    names = generator.CLASS_NAMES
    pooled = {key: np.zeros((len(names), 256), np.int64) for key in ("full", "fast", "full_again")}
    per_image: dict[str, list] = {name: [] for name in names}
    for seed in range(1, count + 1):
        label, _ = generator.draw(grid.x, grid.z, np.random.default_rng(seed))
        counts = {}
        for key, engine_name, scatterer_seed in (("full", "full", seed), ("fast", "fast", seed),
                                                 ("full_again", "full", seed + REALISATION_SEED)):
            image = phantom.simulate_mask(label, grid, names, table, probe, seed=scatterer_seed, device=device,
                                          progress=False, engine=engine_name).bmode
            counts[key] = class_histograms(image[None], label[None], len(names))
            pooled[key] += counts[key]
        for index, name in enumerate(names):
            if counts["full"][index].sum() >= measure.MIN_REGION_PIXELS:
                per_image[name].append(js_divergence(counts["full"][index], counts["fast"][index]))
    classes = {}
    for index, name in enumerate(names):
        if pooled["full"][index].sum() < measure.MIN_REGION_PIXELS:
            continue
        classes[name] = {"pixels": int(pooled["full"][index].sum()), "phantoms": len(per_image[name]),
                         "js_engines_pooled": js_divergence(pooled["full"][index], pooled["fast"][index]),
                         "js_realisations_pooled": js_divergence(pooled["full"][index], pooled["full_again"][index]),
                         "js_engines_per_image": [float(np.min(per_image[name])), float(np.median(per_image[name])),
                                                  float(np.max(per_image[name]))]}
    return {"phantoms": count, "classes": classes}


def point_widths(organ: str, size: int, device: str) -> list[dict]:
    """-6 dB widths along and across the lines of single points at a quarter, half and three
    quarters of the imaging depth, 0.3 line off a line, by both engines."""
    table, probe, grid, _ = organ_setup(organ, size)
    overrides = {k: v for k, v in table.imaging.items() if k not in ("display_chain",)}
    if organ == "ivus":
        overrides["depth"] = float(np.hypot(np.abs(grid.x).max(), np.abs(grid.z).max())) - probe.catheter_radius
    else:
        overrides["depth"] = float(grid.z[-1]) + 2e-3
    dummy = engine.Scatterers([0.0], [0.0], [overrides["depth"] / 2], [1.0])
    settings = simulate.resolve(dataclasses.replace(simulate.Settings(), **overrides), probe, dummy)
    radii = simulate.radii_for(settings, probe)
    step = float(radii[1] - radii[0])
    results = []
    for fraction in (0.25, 0.5, 0.75):
        r = float(radii[0] + fraction * (radii[-1] - radii[0]))
        if organ == "ivus":
            angle = 2 * np.pi * (settings.n_lines // 2 + 0.3) / settings.n_lines
            rho = r + probe.catheter_radius
            x, z = rho * np.sin(angle), rho * np.cos(angle)
        else:
            fov = np.abs(probe.element_positions()[2]).max()
            angle = -fov + (settings.n_lines // 2 + 0.3) * 2 * fov / (settings.n_lines - 1)
            rho = r + probe.radius
            x, z = rho * np.sin(angle), rho * np.cos(angle) - probe.radius
        point = engine.Scatterers([x], [0.0], [z], [1.0])
        widths = {}
        for name in ("full", "fast"):
            lines = np.abs(simulate.simulate(point, probe, settings, device=device, progress=False, engine=name,
                                             shape=(64, 64)).beamformed.lines)
            line, sample = np.unravel_index(lines.argmax(), lines.shape)
            widths[name] = {"across_lines": measure.fwhm(lines[:, sample], 1.0),
                            "along_mm": measure.fwhm(lines[line], step * 1e3)}
        results.append({"depth_mm": r * 1e3, **{f"{k}_{name}": v for name, w in widths.items() for k, v in w.items()}})
    return results


def limits(organ: str, size: int, device: str) -> dict:
    """Where the approximation is worst: the near field (the first 2 mm of tissue; IVUS 0.5 mm),
    below a strong attenuation contrast (a disc attenuating 3 dB/cm/MHz in reference tissue, the
    shadow behind it), inside a dark disc (-30 dB, beside it: how far the PSF's tails fill it)
    and, for sector probes, the outermost 8 lines on each side."""
    table, probe, grid, _ = organ_setup(organ, size)
    names = ["reference", "absorber", "dark"]
    nominal = table.imaging.get("attenuation_db_cm_mhz", 0.5)
    custom = tissue.TissueTable(organ, table.probe, {"reference": tissue.Tissue(0.0, 1.0, nominal),
                                                     "absorber": tissue.Tissue(0.0, 1.0, 3.0),
                                                     "dark": tissue.Tissue(-30.0, 1.0, nominal)},
                                table.display, table.imaging)
    x, z = np.meshgrid(grid.x, grid.z)
    if organ == "ivus":
        centre, dark_centre, radius = (0.0, 2.2e-3), (0.0, -2.2e-3), 0.6e-3
    else:
        depth = grid.z[-1] - grid.z[0]
        centre, dark_centre, radius = (-5e-3, grid.z[0] + 0.35 * depth), (6e-3, grid.z[0] + 0.6 * depth), 3e-3
    label = (np.hypot(x - centre[0], z - centre[1]) < radius).astype(np.uint8)
    dark = np.hypot(x - dark_centre[0], z - dark_centre[1]) < radius
    label[dark] = 2
    sims = {name: phantom.simulate_mask(label, grid, names, custom, probe, seed=1, device=device, progress=False,
                                        engine=name) for name in ("full", "fast")}
    level = {name: np.where(s.envelope_image > 0, 20 * np.log10(np.maximum(s.envelope_image, 1e-30)), np.nan)
             for name, s in sims.items()}
    difference = level["fast"] - level["full"]
    out = {}
    if organ == "ivus":
        radius = np.hypot(x, z)
        near = (radius > probe.dead_zone) & (radius < probe.catheter_radius + 0.5e-3)
        shadow = (np.abs(x - centre[0]) < 0.3e-3) & (z > centre[1] + 0.8e-3)
    else:
        rho = np.hypot(x, z + probe.radius)
        near = (rho > probe.radius) & (rho < probe.radius + 2e-3)
        shadow = (np.abs(x - centre[0]) < 1.5e-3) & (z > centre[1] + 4e-3)
        fov = np.abs(probe.element_positions()[2]).max()
        angle = np.arctan2(x, z + probe.radius)
        edge = np.abs(angle) > fov * (1 - 8 / 128)
        out["sector_edges_db"] = float(np.nanmean(difference[edge & np.isfinite(difference)]))
    out["near_field_db"] = float(np.nanmean(difference[near & np.isfinite(difference)]))
    out["below_absorber_db"] = float(np.nanmean(difference[shadow & np.isfinite(difference)]))
    inner = np.hypot(x - dark_centre[0], z - dark_centre[1]) < radius / 2
    out["dark_disc_db"] = float(np.nanmean(difference[inner & np.isfinite(difference)]))
    out["dark_disc_level_full_db"] = float(np.nanmean(level["full"][inner]) - np.nanmean(level["full"][
        (label == 0) & ~near & ~shadow & np.isfinite(level["full"])]))
    out["elsewhere_db"] = float(np.nanmean(difference[~near & ~shadow & (label == 0) & np.isfinite(difference)]))
    return out


def engine_only_seconds(organ: str, size: int, device: str, repeats: int = 2) -> dict:
    """Seconds of the part the engines differ in (channel data + beamforming, or the fast
    engine's accumulation + convolution), on the same scatterers of one phantom."""
    table, probe, grid, generator = organ_setup(organ, size)
    label, _ = generator.draw(grid.x, grid.z, np.random.default_rng(0))
    from ussim import beamform, fast, side_scatterers
    cloud = side_scatterers.scatterers_for(label, grid.x, grid.z, generator.CLASS_NAMES, table, probe, seed=0,
                                           per_cell=10)
    overrides = dict(table.imaging)
    overrides["depth"] = (float(np.hypot(np.abs(grid.x).max(), np.abs(grid.z).max())) - probe.catheter_radius
                          if organ == "ivus" else float(grid.z[-1]) + 2e-3)
    settings, events, radii, line_angles, geometry = beam_grid(cloud, probe, overrides)
    fast.beamformed(cloud, probe, settings, events, radii, geometry, device=device)  # the bank, once
    timings = {"fast": [], "full": [], "fast_cpu": [], "full_cpu": []}
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fast.beamformed(cloud, probe, settings, events, radii, geometry, device=device)
        timings["fast"].append(time.perf_counter() - start)
        timings["fast_cpu"].append(time.process_time() - start_cpu)
    start, start_cpu = time.perf_counter(), time.process_time()
    channels = engine.simulate_channels(cloud, probe, events, attenuation_db_cm_mhz=settings.attenuation_db_cm_mhz,
                                        device=device, progress=False)
    beamform.beamform(channels, events, probe, radii, f_number=settings.rx_f_number,
                      apodization=settings.rx_apodization, line_angles=line_angles)
    timings["full"].append(time.perf_counter() - start)
    timings["full_cpu"].append(time.process_time() - start_cpu)
    result = {"scatterers": len(cloud), "fast_s": min(timings["fast"]), "full_s": timings["full"][0],
              "fast_cpu_s": min(timings["fast_cpu"]), "full_cpu_s": timings["full_cpu"][0]}
    try:
        import torch
        if torch.cuda.is_available():
            fast.beamformed(cloud, probe, settings, events, radii, geometry, device=device, backend="torch")
            torch.cuda.synchronize()
            start = time.perf_counter()
            gpu = fast.beamformed(cloud, probe, settings, events, radii, geometry, device=device, backend="torch")
            torch.cuda.synchronize()
            result["fast_torch_cuda_s"] = time.perf_counter() - start
            reference = fast.beamformed(cloud, probe, settings, events, radii, geometry, device=device).lines
            result["torch_max_rel_diff"] = float(np.abs(gpu.lines - reference).max() / np.abs(reference).max())
    except ImportError:
        pass
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organs", nargs="+", default=["ovary", "ivus"], choices=("ovary", "ivus"))
    parser.add_argument("--seeds", type=int, default=2, help="phantoms per organ for agreement and speed")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="numba threads (the FFTs run on one, ussim.fast.FFT_WORKERS)")
    parser.add_argument("--dataset-n", type=int, default=0, help="also time `ussim dataset --engine fast --n N`")
    parser.add_argument("--pooled", type=int, default=0, help="also the per-class JS pooled over N phantoms")
    parser.add_argument("--skip", nargs="*", default=[], choices=("agreement", "points", "limits", "engine"))
    args = parser.parse_args()
    import numba
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    print(f"# {machine.describe()}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"numba threads {numba.get_num_threads()}; "
          f"command: python bench/fast_engine.py {' '.join(sys.argv[1:])}", flush=True)
    for organ in args.organs:
        start = time.perf_counter()
        table, probe, grid, generator = organ_setup(organ, args.size)
        label, _ = generator.draw(grid.x, grid.z, np.random.default_rng(0))
        phantom.simulate_mask(label, grid, generator.CLASS_NAMES, table, probe, seed=0, device=args.device,
                              progress=False, engine="fast", per_cell=0.01)
        print(json.dumps({"organ": organ, "psf_bank_s_incl_first_image": round(time.perf_counter() - start, 1),
                          "cache": str(psf.cache_dir())}), flush=True)
        if "agreement" not in args.skip:
            for seed in range(1, args.seeds + 1):
                label, names, sims, seconds = timed_pair(organ, seed, args.size, args.device)
                print(json.dumps({"organ": organ, "seed": seed, "seconds": seconds, "load": os.getloadavg()[0],
                                  "speedup": seconds["full"] / seconds["fast"],
                                  "speedup_cpu": seconds["full_cpu"] / seconds["fast_cpu"], **agreement(label, names, sims)}),
                      flush=True)
        if args.pooled:
            print(json.dumps({"organ": organ, "pooled_js": pooled_js(organ, args.pooled, args.size, args.device)}),
                  flush=True)
        if "points" not in args.skip:
            print(json.dumps({"organ": organ, "points": point_widths(organ, args.size, args.device)}), flush=True)
        if "limits" not in args.skip:
            print(json.dumps({"organ": organ, "limits": limits(organ, args.size, args.device)}), flush=True)
        if "engine" not in args.skip:
            print(json.dumps({"organ": organ, "engine_only": engine_only_seconds(organ, args.size, args.device)}),
                  flush=True)
            print(json.dumps({"organ": organ, "fast_stages_s": fast_stages(organ, args.size, args.device),
                              "load": os.getloadavg()[0]}), flush=True)
        if args.dataset_n:
            from bench import dataset_memory
            with tempfile.TemporaryDirectory() as folder:
                print(json.dumps({"organ": organ, "dataset": dataset_memory.measure(
                    organ, args.dataset_n, args.size, 10.0, 2, Path(folder), "fast"), "load": os.getloadavg()[0]}),
                    flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
