"""The only bridge between Qt and the models (see worker.py)."""
