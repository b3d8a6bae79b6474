"""Diagnostics of trained models: likelihoods, latent usage, ELBO surgery, sample quality."""

from keras_vae.diagnostics.active_units import ActiveUnitsResult
from keras_vae.diagnostics.active_units import active_units
from keras_vae.diagnostics.batching import example_rank
from keras_vae.diagnostics.batching import host_batches
from keras_vae.diagnostics.codebook_usage import CodebookUsageResult
from keras_vae.diagnostics.codebook_usage import codebook_usage
from keras_vae.diagnostics.dci import DCIResult
from keras_vae.diagnostics.dci import dci
from keras_vae.diagnostics.elbo_surgery import ELBOSurgeryResult
from keras_vae.diagnostics.elbo_surgery import elbo_surgery
from keras_vae.diagnostics.factor_vae_score import FactorVAEScoreResult
from keras_vae.diagnostics.factor_vae_score import factor_vae_score
from keras_vae.diagnostics.frechet_distance import frechet_distance
from keras_vae.diagnostics.frechet_distance import frechet_distance_from_moments
from keras_vae.diagnostics.kernel_distance import KernelDistanceResult
from keras_vae.diagnostics.kernel_distance import kernel_distance
from keras_vae.diagnostics.log_likelihood import LogLikelihoodResult
from keras_vae.diagnostics.log_likelihood import log_likelihood
from keras_vae.diagnostics.mnist_features import mnist_feature_extractor
from keras_vae.diagnostics.mutual_information_gap import MIGResult
from keras_vae.diagnostics.mutual_information_gap import mutual_information_gap
from keras_vae.diagnostics.precision_recall import PrecisionRecallResult
from keras_vae.diagnostics.precision_recall import precision_recall
from keras_vae.diagnostics.reconstruction_probability import reconstruction_probability
from keras_vae.diagnostics.sample_quality import SampleQualityResult
from keras_vae.diagnostics.sample_quality import extract_features
from keras_vae.diagnostics.sample_quality import sample_quality
from keras_vae.diagnostics.sap_score import SAPResult
from keras_vae.diagnostics.sap_score import sap_score

__all__ = [
    "ActiveUnitsResult",
    "CodebookUsageResult",
    "DCIResult",
    "ELBOSurgeryResult",
    "FactorVAEScoreResult",
    "KernelDistanceResult",
    "LogLikelihoodResult",
    "MIGResult",
    "PrecisionRecallResult",
    "SAPResult",
    "SampleQualityResult",
    "active_units",
    "codebook_usage",
    "dci",
    "elbo_surgery",
    "example_rank",
    "extract_features",
    "factor_vae_score",
    "frechet_distance",
    "frechet_distance_from_moments",
    "host_batches",
    "kernel_distance",
    "log_likelihood",
    "mnist_feature_extractor",
    "mutual_information_gap",
    "precision_recall",
    "reconstruction_probability",
    "sample_quality",
    "sap_score",
]
