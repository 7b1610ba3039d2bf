"""The front door: ``import forecast`` names the library API and stays light."""

import importlib
import subprocess
import sys

import pytest

import forecast

SUBPACKAGES = ["data", "model", "inference", "runs", "skill", "report"]


@pytest.mark.parametrize("name", forecast.__all__)
def test_every_front_door_name_resolves(name):
    assert getattr(forecast, name) is not None


def test_all_and_dir_agree():
    assert len(set(forecast.__all__)) == len(forecast.__all__)
    assert set(forecast.__all__) <= set(dir(forecast))
    with pytest.raises(AttributeError):
        forecast.no_such_name  # noqa: B018


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_subpackage_name_resolves(package):
    mod = importlib.import_module(f"forecast.{package}")
    assert mod.__doc__ and mod.__doc__.strip()
    assert len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name
        assert name in dir(mod)


def test_import_forecast_is_light():
    code = (
        "import sys, forecast\n"
        "heavy = [m for m in ('pymc', 'pytensor', 'matplotlib', 'arviz') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""
