"""Stand-in `pynvml` for losswatch run as a subprocess in tests: put this folder first on PYTHONPATH and
name a JSON scenario in LOSSWATCH_FAKE_NVML (see tests/fakenvml.py). Without it, this module is the
real nvidia-ml-py, so nothing changes.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_root = os.path.dirname(os.path.dirname(_here))
if _root not in sys.path:
    sys.path.append(_root)

from tests.fakenvml import build_module, from_json, real_pynvml  # noqa: E402

_real = real_pynvml(skip=_here)
_scenario = os.environ.get("LOSSWATCH_FAKE_NVML")
if _scenario:
    with open(_scenario) as _f:
        _mod = build_module(from_json(_f.read()), _real)
else:
    _mod = _real
globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})
