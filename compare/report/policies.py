"""The policies behind the numbers of a results file, stated in words for the report.

Every sentence is built from the parameters the results file recorded, so the report says what
was done for these numbers, not what today's defaults are. The run's notes (each policy that
applied to these sets, each metric left NaN and why) follow them verbatim in the report.
"""

from __future__ import annotations

import xarray as xr

from compare import results
from compare.segmentation import store


def comparison(ds: xr.Dataset) -> list[str]:
    p = results.parameters_of(ds)
    backbone = ds.attrs["backbone"]
    lines = [f"Feature backbone {backbone}: FID, KID, precision/recall and density/coverage are computed on its "
             f"features and labelled with its name."]
    if int(ds.attrs.get("backbone_is_inception", 0)):
        lines[0] += f" Weights SHA-256 {ds.attrs.get('backbone_weights_sha256', '?')}."
    else:
        lines[0] += " " + str(ds.attrs.get("backbone_note", "It is weights-free: never compare its numbers with "
                                                              "Inception-based ones")).rstrip(".") + "."
    if p.get("size_mismatch") == "error":
        sizes = "image sets of different sizes are refused"
    else:
        sizes = ("features and per-class statistics use each set's native pixels; where a method's image size "
                 "differs from the reference's, its images are resized to the reference size (bilinear, "
                 "anti-aliased) for SSIM/MS-SSIM and paired by sample id")
    if p.get("protocol") == "ellipse":
        lines.append(f"Protocol ellipse (the SpeckleGAN paper's GAN evaluation): every method generated "
                     f"{p.get('ellipse_samples')} images from random IVUS masks (randomly rotated, disturbed "
                     f"ellipses: ussim.phantoms.ivus, seed {p.get('ellipse_seed')}) and is scored unpaired against "
                     f"all reference images; no image pairs with a reference image by mask.")
    else:
        lines.append("Protocol held-out: every method made one image per held-out reference mask; SSIM and MS-SSIM "
                     "pair the images of one mask.")
    lines += [
        f"Image sizes (policy '{p.get('size_mismatch', '?')}'): {sizes}.",
        "Classes are matched by name across sets (the reference's order first); a class missing from a set, or "
        "without pixels in it, is NaN there.",
        f"KID: {p.get('kid_subsets')} subsets of min({p.get('kid_subset_size')}, n) images (seed {p.get('kid_seed')}), "
        f"kernel (x·y/d + 1)³, unbiased MMD²; where a set has fewer images the subset size shrinks to it (the "
        f"notes below say where).",
        f"Precision/recall with k = {p.get('precision_recall_k')}; density/coverage with k = "
        f"{p.get('density_coverage_k')}.",
        f"SSIM and MS-SSIM: Gaussian window σ {p.get('ssim_sigma')}, K1 {p.get('ssim_k1')}, K2 {p.get('ssim_k2')}, "
        f"data range 1, MS-SSIM weights {p.get('ms_ssim_weights')}; averaged over the pairs of a method's image and "
        f"the reference image made from the same mask.",
        f"Diversity MS-SSIM: {p.get('diversity_pairs')} random pairs of distinct images of one set (seed "
        f"{p.get('diversity_seed')}); lower means more diverse; images under 176 px use the finest scales that fit. "
        f"A set whose diversity reaches {p.get('collapse_ms_ssim', '?')} is collapsed (the same image whatever the "
        f"mask): its method is flagged [COLLAPSED] in every table and ranked in no verdict.",
        f"Per-class statistics: per image, over class regions of at least {p.get('min_class_pixels')} pixels, "
        f"averaged over images; display gray levels (mean, std) and gCNR (each class against class 0) for every "
        f"set; envelope statistics (mean/std, Nakagami m, std of the log envelope) only for sets that store the "
        f"linear envelope, never from display gray values.",
        "Seconds per image: the mean wall time per sample that each set's producer recorded, with the device that "
        "ran, batch size, threads and whether its warm-up was excluded (real images record none).",
        f"Intervals: 95 % percentile bootstrap, {p.get('bootstrap_resamples')} resamples (seed "
        f"{p.get('bootstrap_seed')}): the reference's images and each method's images are resampled with "
        f"replacement, SSIM/MS-SSIM by pairs (paired), set-level metrics (FID, KID, FRD, JS, precision/recall, "
        f"density/coverage) recomputed on every resample of both sets; a method with several training seeds is "
        f"resampled over seeds, then images (two-level). FID and KID replicates use the exact resampled-set "
        f"formulas of compare.metrics (no subsets); counts carry no interval. Plug-in distances (FID, JS, FRD) "
        f"sit higher in resamples (a resample holds about 63 % distinct images): their intervals are shifted down "
        f"by that bootstrap bias (and clipped at 0 for FID and JS).",
        "Verdicts: a method is called better than another on a metric only when their intervals do not overlap; "
        "anything else is 'not resolved at this sample size'.",
        "Conditions: every method states what it saw of each reference sample (mask only, a sketch, the image) "
        "and where that came from; tables group methods by it and mark † those fed from the reference image "
        "itself.",
    ]
    if int(ds.attrs.get("frd_computed", 0)):
        lines.append("FRD v1 (frd-score): radiomic features of each whole image and of each class region, Fréchet "
                     "distance as the library computes it.")
    return lines


def segmentation(ds: xr.Dataset) -> list[str]:
    """How the segmentation benchmark was run, then one verdict line per method, size, class and score."""
    p = store.parameters_of(ds)
    synthetic = f"at most {p['max_synthetic']}" if p.get("max_synthetic") else "all"
    if p.get("test"):
        test = f"the test images are {p['test']} ({p.get('n_test')} images)"
    else:
        test = (f"the test images are a seeded {p.get('test_fraction', 0):.0%} of the real set (split seed "
                f"{p.get('split_seed')}, {p.get('n_test')} images)")
    return [
        f"Segmentation preset '{p.get('preset')}': images resized to {p.get('size')} px, MONAI's residual U-Net "
        f"(widths from {p.get('width')}, depth {p.get('depth')}, {p.get('res_units')} residual unit(s) per level, "
        f"{p.get('unet_parameters')} parameters), Adam at learning rate {p.get('learning_rate')}, batch "
        f"{p.get('batch_size')}, Dice + cross-entropy loss; {p.get('pretrain_steps')} steps on {synthetic} of a "
        f"method's synthetic images (the synthetic-only network, then the start of fine-tuning), "
        f"{p.get('train_steps')} steps on the real images (from scratch or fine-tuning); device {p.get('device')}.",
        f"Training seeds {p.get('seeds')}: each sets the initial weights, the batches and flips, and the draw of "
        f"nested real subsets of {p.get('n_real')} images from the {p.get('n_real_pool')} of {p.get('real')}; within "
        f"a seed every row uses the same subsets and initial weights; {test}.",
        "Before training, the real training pool and every synthetic set were checked against the test set (sample "
        "ids, SHA-256 of the mask pixels at native and at training size, mask sources named in their parameters); "
        "an overlap is refused, so no network saw a test mask.",
        "Classes are matched by name between the synthetic and the real sets"
        + (f" (with the map {p['class_map']})" if p.get("class_map") else "") + ".",
        "Dice and HD95 from MONAI (DiceMetric, HausdorffDistanceMetric at the 95th percentile, between class edges, "
        "in pixels of the test labels) per test image and class. A class absent from both the prediction and the "
        "truth of an image leaves that image out; a class present in only one scores Dice 0 and HD95 = the image "
        "diagonal.",
        f"Intervals ({p.get('interval_level', 0.95):.0%}): Student's t with Welch-Satterthwaite degrees of freedom "
        "over two variance components, the spread of the per-seed means (training) and of the seed-averaged "
        "per-image scores (test images); differences from real-only are paired by seed and test image. A row is "
        "called better or worse than real-only only when the interval of that difference excludes 0.",
        *(f"Verdict: {line}" for line in store.verdicts(ds)),
    ]
