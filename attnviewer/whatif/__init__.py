"""Asking the model what if: forced words, masking, attribution (issue 22)."""
