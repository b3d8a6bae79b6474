"""Export of trained models for serving (SavedModel, TF Serving layout)."""

from keras_vae.export.export_for_serving import SIGNATURES
from keras_vae.export.export_for_serving import available_signatures
from keras_vae.export.export_for_serving import export_for_serving

__all__ = ["SIGNATURES", "available_signatures", "export_for_serving"]
