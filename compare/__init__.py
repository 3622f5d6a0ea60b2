"""compare: metrics, timing, the comparison runner and reports over ussim image-set files, and
the `uscompare` command (not `compare`, which is ImageMagick's)."""

__version__ = "0.1.0"
