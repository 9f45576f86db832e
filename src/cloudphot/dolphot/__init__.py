"""DOLPHOT engine: parameter files, the preprocessing + photometry runner, and output parsing.

DOLPHOT (A. Dolphin) is the PHAT survey's photometry code. It is not a Python
package: on AWS it is compiled into the photometry container
(``ecs_tasks/photometry/Dockerfile``); where it is absent, cloudphot's built-in
engine (:mod:`cloudphot.photometry`) produces the same product tables.
"""

from .params import ImageParams, read_params, write_params
from .parse import phot_to_catalog, phot_to_measurements, read_columns, read_phot
from .runner import DolphotError, dolphot_available, run_dolphot

__all__ = [
    "DolphotError",
    "ImageParams",
    "dolphot_available",
    "phot_to_catalog",
    "phot_to_measurements",
    "read_columns",
    "read_params",
    "read_phot",
    "run_dolphot",
    "write_params",
]
