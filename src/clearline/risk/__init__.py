"""Risk decisioning: features (one code path online and offline), a LightGBM model, rules,
decisions with reasons, a model registry and evaluation reports.

Guarantees (each module states its own in detail):
- A feature is computed by `FeatureState.observe` only, per event online and by replay offline.
- Models train on a strictly time-ordered split; thresholds come from the validation slice only.
- A model's version is a hash of its parameters, feature list and training-data fingerprint.
"""

from clearline import native

# The compiled feature modules (one group) only when their build matches the sources, else the
# Python source of every one of them.
native.load("clearline.risk.features")
