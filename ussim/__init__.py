"""ussim: physical ultrasound simulation (phantoms, pulse-echo physics, B-mode) and the
image-set file format that every package of the toolkit exchanges."""

__version__ = "0.1.0"
