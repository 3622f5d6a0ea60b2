"""Random anatomy: label-mask generators per organ (ovary.py, ivus.py) on display grids in mm."""
