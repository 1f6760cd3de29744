"""bedtime-audio: scene scripts in, calm chaptered bedtime audio out."""

__version__ = "0.1.0"
