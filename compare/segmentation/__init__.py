"""The segmentation-utility benchmark: a residual U-Net trained on real images only, or pretrained on
a method's synthetic images and fine-tuned on real ones; Dice and modified Hausdorff distance.

presets (every default), data (sets, classes, splits), unet, train, evaluate, benchmark (the
experiment), store (its place in the results file), command (the CLI).
"""
