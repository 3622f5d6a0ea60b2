"""The main job behind `make demo`.

What exists so far: the real archives are imported into image sets (when ../shared/data/real
is present, else a generated toy set is written), the physical simulator images a tissue
phantom with an anechoic cyst, and every set is summarised. Organ phantom sets, GAN training
and the metrics join this job as they land, ending in runs/demo/results.nc and report.html.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ussim import engine, examples, imageset, importers, probe, scatter, simulate
from ussim.cli import format_summary

CYST = (0.0, 20e-3, 4e-3)  # x, z, radius (m)

# DECISION: the demo's ovary set is the normal_ovary images of the OTU_2D train split (the
# ovary itself is masked there), without colour-Doppler frames (> 1 % coloured pixels, the
# threshold the archive's README suggests), with the class renamed to the organ name.
OVARY_IMPORT = dict(organ="ovary", split="train", image_class="normal_ovary", drop_unused_classes=True,
                    rename={"normal_ovary": "ovary"}, max_color_fraction=0.01)
IVUS_IMPORT = dict(organ="ivus")


def run_demo(out_dir: Path = Path("runs/demo"), progress: bool = True) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    real = importers.real_data_dir()
    written = []
    if real is not None:
        print(f"real data found in {real}: importing the ovary and IVUS archives")
        for name, archive, options in (("real_ovary", "otu2d_ovary_256.npz", OVARY_IMPORT),
                                       ("real_ivus", "ivus_dmolony_256.npz", IVUS_IMPORT)):
            ds = importers.import_npz(real / archive, progress=progress, **options)
            written.append(imageset.write(ds, out_dir / f"{name}.h5", overwrite=True))
    else:
        print("no real data (../shared/data/real or $USSIM_REAL_DATA): writing a generated toy speckle set")
        ds = examples.toy_imageset(n=32, size=256, seed=0)
        written.append(imageset.write(ds, out_dir / "toy_speckle.h5", overwrite=True))
    written.append(simulated_cyst(out_dir, progress))
    for path in written:
        with imageset.read(path) as ds:
            print(format_summary(path, imageset.summary(ds)))
    print(f"\npreview of the simulated image: {out_dir / 'sim_cyst.png'}")
    print("Organ phantoms: `ussim phantom --organ ovary|ivus --out FILE`. "
          "The GANs, the metrics and the dashboard are not implemented yet.")
    return written


def simulated_cyst(out_dir: Path, progress: bool = True) -> Path:
    """A 256 x 256 B-mode of homogeneous tissue with an anechoic cyst (linear array, plane wave)."""
    linear = probe.load("linear-7.6")
    x0, x1 = linear.element_positions()[0][[0, -1]]
    # One elevation cell thick: 10 scatterers per 3-D resolution cell at a third of the cost.
    tissue = scatter.homogeneous_box(linear, (x0, x1), (2e-3, 35e-3), thickness=scatter.resolution_cell(linear)[2],
                                     seed=0)
    cx, cz, radius = CYST
    keep = np.hypot(tissue.x - cx, tissue.z - cz) > radius
    phantom = engine.Scatterers(tissue.x[keep], tissue.y[keep], tissue.z[keep], tissue.amplitude[keep])
    print(f"simulating a cyst phantom: {len(phantom)} scatterers, linear-7.6, one plane wave")
    sim = simulate.simulate(phantom, linear, scheme="plane", depth=35e-3, progress=progress)
    x, z = np.meshgrid(sim.grid.x, sim.grid.z)
    label = (np.hypot(x - cx, z - cz) <= radius).astype(np.uint8)
    params = {"phantom": {"kind": "cyst", "box_m": [[x0, x1], [2e-3, 35e-3]], "cyst_m": CYST, "seed": 0},
              "simulation": sim.params}
    ds = imageset.make(sim.bmode[None], label[None], envelope=sim.envelope_image[None].astype(np.float32),
                       class_names=["tissue", "cyst"], organ="phantom", method="ussim-field", params=params,
                       seed=[0], seconds=[sim.seconds], sample_id=["cyst-0"], y_mm=sim.grid.z_mm, x_mm=sim.grid.x_mm)
    Image.fromarray(sim.bmode).save(out_dir / "sim_cyst.png")
    return imageset.write(ds, out_dir / "sim_cyst.h5", overwrite=True)
