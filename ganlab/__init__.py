"""ganlab: the GANs of the comparison (cGAN, Sgan, PGSgan, SpeckleGAN and its baseline), their
training loop, presets and the `ganlab` command. Reads and writes ussim image-set files."""

__version__ = "0.1.0"
