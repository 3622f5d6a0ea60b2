"""The segmentation-utility benchmark: MONAI's residual U-Net trained on a method's synthetic images
only, pretrained on them and fine-tuned on N real images, or trained on the N real images only;
Dice and HD95 (MONAI) per class on real test images, mean and 95 % interval over training seeds.

presets (every default), data (sets, classes, splits, real subsets), leakage (refuses training sets
that overlap the test set), unet, train, evaluate, intervals, benchmark (the experiment), store
(its place in the results file), command (the CLI).
"""
