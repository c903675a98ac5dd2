"""`python -m tuner` is `cnn-tune`."""

from tuner.cli import entry

entry()
