"""The main job behind `make demo`.

What exists so far: the real archives are imported into image sets (when ../shared/data/real
is present, else a generated toy set is written) and summarised. Simulation, GAN training and
the metrics join this job as they land, ending in runs/demo/results.nc and report.html.
"""

from __future__ import annotations

from pathlib import Path

from ussim import examples, imageset, importers
from ussim.cli import format_summary

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
    for path in written:
        with imageset.read(path) as ds:
            print(format_summary(path, imageset.summary(ds)))
    print("\nThe physics simulator, the GANs and the metrics are not implemented yet; "
          "this demo covers the image-set format and the importers.")
    return written
