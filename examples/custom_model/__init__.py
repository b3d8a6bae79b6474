"""Your own model on keras_vae's public contract: the IWAE of `iwae.py`."""
