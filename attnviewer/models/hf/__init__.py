"""Transformer encoder-decoders users bring, saved by Hugging Face transformers: the safe folder
check (model_folders.py), loading offline (loading.py), the step-by-step driver with the app's
decoding interface (stepper.py), and where each encoder token lies in the input (places.py).
The only package that imports transformers."""
