"""Inference: sampling backends (nutpie, pm.sample) with the diagnostics gate; PSIS reweighting."""

from forecast._lazy import lazy_exports

__all__ = [
    "ESS_MIN",
    "GROUPS",
    "K_HAT_MAX",
    "PROCESS_CACHE",
    "RHAT_MAX",
    "CompileCache",
    "Diagnostics",
    "Fit",
    "Sampler",
    "SamplerSettings",
    "compile_nutpie",
    "diagnose",
    "escalate",
    "find_base",
    "free_parameter_names",
    "psis_weights",
    "reuse_note",
    "reweight",
    "sample",
    "sample_compiled",
    "systematic_resample",
    "total_log_likelihood",
]

_WHERE = {
    "CompileCache": "forecast.inference.sampling",
    "Diagnostics": "forecast.inference.sampling",
    "ESS_MIN": "forecast.inference.sampling",
    "Fit": "forecast.inference.sampling",
    "GROUPS": "forecast.inference.reweighting",
    "K_HAT_MAX": "forecast.inference.reweighting",
    "PROCESS_CACHE": "forecast.inference.sampling",
    "RHAT_MAX": "forecast.inference.sampling",
    "Sampler": "forecast.inference.sampling",
    "SamplerSettings": "forecast.inference.sampling",
    "compile_nutpie": "forecast.inference.sampling",
    "diagnose": "forecast.inference.sampling",
    "escalate": "forecast.inference.sampling",
    "find_base": "forecast.inference.reweighting",
    "free_parameter_names": "forecast.inference.sampling",
    "psis_weights": "forecast.inference.reweighting",
    "reuse_note": "forecast.inference.sampling",
    "reweight": "forecast.inference.reweighting",
    "sample": "forecast.inference.sampling",
    "sample_compiled": "forecast.inference.sampling",
    "systematic_resample": "forecast.inference.reweighting",
    "total_log_likelihood": "forecast.inference.reweighting",
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
