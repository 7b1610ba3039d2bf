"""forecast: calibrated, auditable probability forecasts of diplomatic outcomes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("forecast")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

import warnings

# pip-installed PyTensor warns at import that it found no BLAS to link its C code to. Sampling runs
# in nutpie's numba code, which does its own linear algebra; the warning is noise to every user.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)
