"""Speech detection leaves PyTorch's thread count alone.

silero_vad's import runs ``torch.set_num_threads(1)``; before ``io.audio`` put the count back,
one VAD call (evaluate's leading-silence baseline, an audio test) left every later training,
scan or evaluation in the process on one core. Checked in a fresh interpreter: in this one an
earlier test may already have imported silero_vad.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import numpy as np, torch
torch.set_num_threads(3)
from fakescope.io.audio import SAMPLE_RATE, AudioTrack, speech_segments
t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
speech_segments(AudioTrack((0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SAMPLE_RATE, 0.0))
print(torch.get_num_threads())
"""


def test_speech_detection_keeps_torch_threads():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the 3 threads are set explicitly, not read
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "3", out.stdout
