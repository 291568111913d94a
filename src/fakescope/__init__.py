"""fakescope: detect deepfake videos."""

__version__ = "0.1.0"
