"""One-row LightGBM scoring through the library's own fast single-row C API.

`Booster.predict` on one row spends most of its ~0.2 ms in Python-side setup (a predictor object,
array conversion) repeated on every call. LightGBM's C API has a path made for serving,
`LGBM_BoosterPredictForMatSingleRowFastInit` once, then `LGBM_BoosterPredictForMatSingleRowFast`
per row, which reuses its configuration. `SingleRowScorer` wraps it and gives the same
probabilities as `Booster.predict` (tested bit for bit); where the C entry points are missing it
falls back to `Booster.predict`.

A scorer holds a preallocated output buffer, so one scorer serves one thread at a time (a payment
service's event loop); it is not shared across threads.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

C_API_DTYPE_FLOAT64 = 1
C_API_PREDICT_NORMAL = 0
C_API_PREDICT_CONTRIB = 3


class SingleRowScorer:
    """Probability for one row of features at a time, via LightGBM's fast single-row path."""

    def __init__(self, booster: Any, feature_count: int, *, contributions: bool = False) -> None:
        """`contributions`: per-feature SHAP contributions (and the bias, last) instead of the
        probability, as `Booster.predict(pred_contrib=True)` gives them."""
        self._booster = booster
        self._features = feature_count
        self._contributions = contributions
        self._out = np.zeros(feature_count + 1 if contributions else 1, dtype=np.float64)
        self._out_length = ctypes.c_int64(0)
        self._handle = ctypes.c_void_p()
        self._predict: Any = None
        try:
            from lightgbm import basic
        except ImportError:  # pragma: no cover - lightgbm is a dependency
            return
        library = getattr(basic, "_LIB", None)
        init = getattr(library, "LGBM_BoosterPredictForMatSingleRowFastInit", None)
        predict = getattr(library, "LGBM_BoosterPredictForMatSingleRowFast", None)
        if init is None or predict is None:
            return
        status = init(
            booster._handle,
            ctypes.c_int(C_API_PREDICT_CONTRIB if contributions else C_API_PREDICT_NORMAL),
            ctypes.c_int(0),  # start iteration
            ctypes.c_int(-1),  # all iterations
            ctypes.c_int(C_API_DTYPE_FLOAT64),
            ctypes.c_int32(feature_count),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self._handle),
        )
        if status != 0:
            return
        self._library = library
        self._predict = predict
        self._out_pointer = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

    @property
    def fast(self) -> bool:
        """Whether the C fast path is in use (else `Booster.predict`)."""
        return self._predict is not None

    def score(self, row: np.ndarray) -> float:
        """The probability of one row (a scorer made without `contributions`)."""
        return float(self._run(row)[0])

    def contributions(self, row: np.ndarray) -> np.ndarray:
        """Per-feature contributions then the bias, a copy (a scorer made with them)."""
        return self._run(row).copy()

    def _run(self, row: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(row, dtype=np.float64).reshape(-1)
        if values.shape[0] != self._features:
            raise ValueError(f"expected {self._features} features, got {values.shape[0]}")
        if self._predict is None:
            return np.asarray(
                self._booster.predict(
                    values.reshape(1, -1), num_threads=1, pred_contrib=self._contributions
                ),
                dtype=np.float64,
            ).reshape(-1)
        status = self._predict(
            self._handle,
            values.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(self._out_length),
            self._out_pointer,
        )
        if status != 0:
            raise RuntimeError("LightGBM single-row prediction failed")
        return self._out

    def __del__(self) -> None:
        if self._predict is not None and self._handle:
            free = getattr(self._library, "LGBM_FastConfigFree", None)
            if free is not None:
                free(self._handle)
            self._predict = None


class MatrixScorer:
    """Probabilities for a whole matrix of rows in one `LGBM_BoosterPredictForMat` call on one
    thread, the C function `Booster.predict` itself ends in (tested equal, bit for bit).

    Why: batch scoring runs the model on a worker thread beside the feature thread, and every
    ctypes call hands the GIL over and has to win it back from that busy thread (up to a switch
    interval, 5 ms, each time). `Booster.predict` makes several such calls per matrix (it builds
    a predictor first); this makes one. Falls back to `Booster.predict` where the entry point
    is missing. Safe to call from one thread at a time."""

    def __init__(self, booster: Any, feature_count: int) -> None:
        self._booster = booster
        self._features = feature_count
        self._out_length = ctypes.c_int64(0)
        from lightgbm import basic

        library = getattr(basic, "_LIB", None)
        self._predict: Any = getattr(library, "LGBM_BoosterPredictForMat", None)

    def score(self, rows: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(rows, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self._features:
            raise ValueError(f"expected rows of {self._features} features, got {values.shape}")
        if self._predict is None or not len(values):
            return np.asarray(self._booster.predict(values, num_threads=1), dtype=np.float64)
        out = np.empty(len(values), dtype=np.float64)
        status = self._predict(
            self._booster._handle,
            values.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_int(C_API_DTYPE_FLOAT64),
            ctypes.c_int32(len(values)),
            ctypes.c_int32(self._features),
            ctypes.c_int(1),  # row major
            ctypes.c_int(C_API_PREDICT_NORMAL),
            ctypes.c_int(0),  # start iteration
            ctypes.c_int(-1),  # all iterations
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self._out_length),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        )
        if status != 0 or self._out_length.value != len(values):
            raise RuntimeError("LightGBM matrix prediction failed")
        return out
