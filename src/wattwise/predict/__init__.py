"""How long and how much power will this job take: quantile regression on the store's
history, a cold-start estimate from the job spec, a calibrated upper quantile."""

from __future__ import annotations

from wattwise.predict.model import Prediction, Predictor
from wattwise.predict.records import HistoryRecord, JobFeatures, from_store, numeric_flags

__all__ = ["HistoryRecord", "JobFeatures", "Prediction", "Predictor", "from_store", "numeric_flags"]
