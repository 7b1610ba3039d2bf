"""forecast: calibrated, auditable probability forecasts of diplomatic outcomes.

``import forecast`` is the library's front door: the names in ``__all__`` load a scenario and its
evidence, fit or update a forecast, open the run store, project and summarize, explain what moved,
ask what-if, backtest against resolved questions and write the report. They are imported on first
use (PEP 562), so ``import forecast`` itself stays light (no PyMC, ArviZ or matplotlib).

Subpackages, in the order data flows: ``forecast.data`` (input files), ``forecast.model``,
``forecast.inference``, ``forecast.runs``, ``forecast.skill``, ``forecast.report`` and
``forecast.cli``.
"""

from importlib.metadata import PackageNotFoundError, version

from forecast._lazy import lazy_exports

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

_WHERE = {
    # inputs
    "DEFAULT_SCENARIO": "forecast.data.inputs",
    "Inputs": "forecast.data.inputs",
    "InputError": "forecast.data.errors",
    "load_inputs": "forecast.data.inputs",
    "load_scenario": "forecast.data.scenario_file",
    "load_evidence": "forecast.data.evidence",
    "scenario_paths": "forecast.data.inputs",
    "append_row": "forecast.data.append",
    "import_evidence": "forecast.data.importing",
    # fit / update, the run store
    "SamplerSettings": "forecast.inference.sampling",
    "Gate": "forecast.inference.gate",
    "DEFAULT_GATE": "forecast.inference.gate",
    "run_update": "forecast.runs.update",
    "forecast_records": "forecast.runs.update",
    "RunStore": "forecast.runs.store",
    "Run": "forecast.runs.store",
    # project / summarize, explain, what-if
    "project": "forecast.model.posterior",
    "summarize": "forecast.model.posterior",
    "influences": "forecast.runs.explain",
    "change_since": "forecast.runs.explain",
    "whatif": "forecast.runs.what_if",
    # backtest
    "BacktestSettings": "forecast.skill.backtest",
    "run_backtest": "forecast.skill.backtest",
    "load_questions": "forecast.data.questions",
    "load_links": "forecast.skill.links",
    "links_path": "forecast.skill.links",
    "read_backtest": "forecast.report.track_record",
    "reliability_frame": "forecast.report.track_record",
    "HindcastSettings": "forecast.skill.hindcast",
    "run_hindcast": "forecast.skill.hindcast",
    "read_hindcast": "forecast.report.hindcast_report",
    # report
    "write_report": "forecast.report.html",
    "plots": "forecast.report.plots",
}

__all__ = [
    "DEFAULT_GATE",
    "DEFAULT_SCENARIO",
    "BacktestSettings",
    "Gate",
    "HindcastSettings",
    "InputError",
    "Inputs",
    "Run",
    "RunStore",
    "SamplerSettings",
    "__version__",
    "append_row",
    "change_since",
    "forecast_records",
    "import_evidence",
    "influences",
    "links_path",
    "load_evidence",
    "load_inputs",
    "load_links",
    "load_questions",
    "load_scenario",
    "plots",
    "project",
    "read_backtest",
    "read_hindcast",
    "reliability_frame",
    "run_backtest",
    "run_hindcast",
    "run_update",
    "scenario_paths",
    "summarize",
    "whatif",
    "write_report",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
