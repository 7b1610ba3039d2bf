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

# Compiling a model's gradient into an empty numba cache, numba notes that np.dot meets transposed
# (non-contiguous) views that PyTensor's gradient graph makes; the result is correct, the cost is
# negligible at this model's sizes, and the note appears only on a cold cache. Not for users.
warnings.filterwarnings("ignore", message=r"np\.dot\(\) is faster on contiguous arrays")
