"""Stackers: members' calibrated video logits -> one logit of "fake" (the ``ensemble`` family).

The input ``z`` is (n_videos, n_members): each member's video logit after that member's own
video calibration (the logit of its calibrated probability), NaN where the member could not
score the video (no audio, no track long enough, no face). Two methods:

- ``logistic``: scikit-learn ``LogisticRegression`` on two features per member, its logit with
  NaN replaced by 0 (a calibrated probability of 0.5: no evidence) and a missing indicator, so
  the stacker learns what a missing member says. A member's contribution to a video's stacked
  logit is exactly ``coef_z * z + coef_missing * missing``; with the intercept
  (``base_value``) they add up to the stacked logit.
- ``gbm``: a small, regularised ``HistGradientBoostingClassifier`` on ``z`` itself (NaN is
  handled natively by the trees); contributions are SHAP values (``shap.TreeExplainer``, exact
  for trees), base value + contributions = stacked logit.

Edge cases, decided here: a member whose column is all NaN in ``fit`` (it answered no
training video) is **dropped with a logged warning**: the stacker ignores its column, gives it
weight and contribution 0 and lists it in ``dropped`` (so a leave-one-generator-out fold whose
validation videos have no audio still fits). Labels without both classes, a shape that does not
match the members, or non-binary labels are a ``ConfigError``: nothing sensible can be fitted.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, MissingDependencyError, ModelError

__all__ = ["STACKERS", "Stacker"]

log = logging.getLogger(__name__)

STACKERS = ("logistic", "gbm")


class Stacker:
    """Stacks members' video logits into one fake logit. Input z: (n_videos, n_members) float,
    each member's video logit after that member's own video calibration (logit of its
    calibrated probability), NaN where the member could not score the video."""

    def __init__(
        self, members: Sequence[str], method: str = "logistic", seed: int = 0, C: float = 1.0
    ) -> None:
        members = [str(m) for m in members]
        if not members:
            raise ConfigError("stacker.members: at least one member is needed")
        if len(set(members)) != len(members):
            raise ConfigError(f"stacker.members: repeated names in {', '.join(members)}")
        if method not in STACKERS:
            raise ConfigError(f"stacker.method: '{method}' (choose {', '.join(STACKERS)})")
        if not C > 0:
            raise ConfigError(f"stacker.C: must be > 0, got {C}")
        self.members: list[str] = members
        self.method = method
        self.seed = int(seed)
        self.C = float(C)
        self.dropped: list[str] = []
        self.model: Any = None
        self._explainer: Any = None
        # logistic: fitted coefficients (JSON-safe, used for prediction without sklearn)
        self.coef_z: np.ndarray | None = None
        self.coef_missing: np.ndarray | None = None
        self.intercept: float = 0.0
        self.base_value_: float | None = None
        self.importance: dict[str, float] = {}

    # ------------------------------------------------------------------ fitting
    @property
    def kept(self) -> list[int]:
        """Indices of the members the stacker reads (all but the dropped ones)."""
        return [i for i, m in enumerate(self.members) if m not in self.dropped]

    @property
    def fitted(self) -> bool:
        return self.coef_z is not None or self.model is not None

    def _check_z(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, np.float64)
        if z.ndim == 1 and len(self.members) == 1:
            z = z.reshape(-1, 1)
        if z.ndim != 2 or z.shape[1] != len(self.members):
            raise ConfigError(
                f"stacker: z must be (n_videos, {len(self.members)}) for members "
                f"{', '.join(self.members)}, got shape {tuple(z.shape)}"
            )
        if np.isinf(z).any():
            raise ConfigError("stacker: z holds infinite logits (clip probabilities first)")
        return z

    def fit(self, z: np.ndarray, y: np.ndarray) -> Stacker:
        z = self._check_z(z)
        y = np.asarray(y).reshape(-1)
        if len(y) != len(z):
            raise ConfigError(f"stacker: {len(z)} rows of z but {len(y)} labels")
        if not np.isin(y, (0, 1)).all():
            raise ConfigError("stacker: labels must be 0 (real) or 1 (fake)")
        y = y.astype(np.int64)
        if len(np.unique(y)) < 2:
            raise ConfigError(
                f"stacker: the labels hold only class {int(y[0]) if len(y) else '-'}; "
                "fitting needs real and fake videos"
            )
        self.dropped = [m for i, m in enumerate(self.members) if np.isnan(z[:, i]).all()]
        for m in self.dropped:
            log.warning("stacker: member '%s' scored no training video; it is dropped", m)
        if not self.kept:
            raise ConfigError("stacker: no member scored any training video")
        if self.method == "logistic":
            self._fit_logistic(z, y)
        else:
            self._fit_gbm(z, y)
        self.importance = self._importance(z)
        return self

    def _features(self, z: np.ndarray) -> np.ndarray:
        k = z[:, self.kept]
        miss = np.isnan(k)
        return np.concatenate([np.where(miss, 0.0, k), miss.astype(np.float64)], axis=1)

    def _fit_logistic(self, z: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=self.C, random_state=self.seed, max_iter=1000)
        clf.fit(self._features(z), y)
        n = len(self.kept)
        coef = np.zeros(len(self.members)), np.zeros(len(self.members))
        coef[0][self.kept] = clf.coef_[0, :n]
        coef[1][self.kept] = clf.coef_[0, n:]
        self.coef_z, self.coef_missing = coef
        self.intercept = float(clf.intercept_[0])
        self.base_value_ = self.intercept

    def _fit_gbm(self, z: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        # small and regularised: shallow trees, few of them, leaves of several videos
        self.model = HistGradientBoostingClassifier(
            max_iter=50,
            learning_rate=0.1,
            max_depth=2,
            max_leaf_nodes=4,
            min_samples_leaf=max(2, min(20, len(y) // 10)),
            l2_regularization=1.0,
            early_stopping=False,
            random_state=self.seed,
        )
        self.model.fit(z[:, self.kept], y)
        self._explainer = None
        self.base_value_ = None

    # -------------------------------------------------------------- prediction
    def _need_fit(self) -> None:
        if not self.fitted:
            raise ModelError("stacker: not fitted (call fit first)")

    def decision(self, z: np.ndarray) -> np.ndarray:
        """(n,) stacked logit of "fake"."""
        self._need_fit()
        z = self._check_z(z)
        if self.method == "logistic":
            assert self.coef_z is not None and self.coef_missing is not None
            miss = np.isnan(z)
            out = np.where(miss, 0.0, z) @ self.coef_z + miss @ self.coef_missing
            return np.asarray(out + self.intercept, np.float64)
        return np.asarray(self.model.decision_function(z[:, self.kept]), np.float64).reshape(-1)

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        """(n,) P(fake) = sigmoid of ``decision``."""
        d = self.decision(z)
        return np.asarray(1.0 / (1.0 + np.exp(-d)), np.float64)

    def _shap(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        if self._explainer is None:  # the signals family's lazy SHAP TreeExplainer
            from .signals import _Explainer

            self._explainer = _Explainer(self.model)
        values, base = self._explainer(x)
        return values, base

    def base_value(self) -> float:
        """The stacked logit's part that no member carries (logistic: the intercept; gbm: the
        SHAP expected value); base value + sum of ``contributions`` = ``decision``."""
        self._need_fit()
        if self.base_value_ is None:
            self.base_value_ = self._shap(np.full((1, len(self.kept)), np.nan))[1]
        return float(self.base_value_)

    def contributions(self, z_row: np.ndarray) -> dict[str, float]:
        """Each member's additive share of the stacked logit for one video (dropped members
        0.0); with ``base_value()`` they add up to ``decision``."""
        self._need_fit()
        z = self._check_z(np.asarray(z_row, np.float64).reshape(1, -1))[0]
        out = dict.fromkeys(self.members, 0.0)
        if self.method == "logistic":
            assert self.coef_z is not None and self.coef_missing is not None
            miss = np.isnan(z)
            terms = np.where(miss, 0.0, z) * self.coef_z + miss * self.coef_missing
            for i in self.kept:
                out[self.members[i]] = float(terms[i])
            return out
        values, base = self._shap(z[self.kept].reshape(1, -1))
        self.base_value_ = base
        for j, i in enumerate(self.kept):
            out[self.members[i]] = float(values[0, j])
        return out

    def weights(self) -> dict[str, float]:
        """A global weight per member: its mean absolute contribution to the stacked logit over
        the training videos (0.0 for a dropped member), the same for both methods."""
        self._need_fit()
        return {m: float(self.importance.get(m, 0.0)) for m in self.members}

    def _importance(self, z: np.ndarray) -> dict[str, float]:
        if self.method == "logistic":
            assert self.coef_z is not None and self.coef_missing is not None
            miss = np.isnan(z)
            terms = np.where(miss, 0.0, z) * self.coef_z + miss * self.coef_missing
        else:
            terms = np.zeros_like(z)
            terms[:, self.kept] = self._shap(z[:, self.kept])[0]
        mean = np.abs(terms).mean(axis=0)
        return {m: float(v) for m, v in zip(self.members, mean)}

    # -------------------------------------------------------------- saving
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (gbm: the estimator as base64 skops bytes; loading trusts only
        scikit-learn and NumPy types)."""
        self._need_fit()
        d: dict[str, Any] = {
            "members": list(self.members),
            "method": self.method,
            "seed": self.seed,
            "C": self.C,
            "dropped": list(self.dropped),
            "importance": {m: float(v) for m, v in self.importance.items()},
        }
        if self.method == "logistic":
            assert self.coef_z is not None and self.coef_missing is not None
            d["coef_z"] = [float(v) for v in self.coef_z]
            d["coef_missing"] = [float(v) for v in self.coef_missing]
            d["intercept"] = self.intercept
            return d
        try:
            import skops.io as sio
        except ImportError:
            raise MissingDependencyError("skops", "forensics", "saving a gbm stacker") from None
        d["estimator"] = {
            "format": "skops-base64",
            "data": base64.b64encode(sio.dumps(self.model)).decode("ascii"),
        }
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stacker:
        if not isinstance(d, dict):
            raise ModelError("stacker: expected a mapping (the card's 'stacker' section)")
        try:
            st = cls(d["members"], d.get("method", "logistic"), d.get("seed", 0), d.get("C", 1.0))
            st.dropped = [str(m) for m in d.get("dropped") or []]
            st.importance = {str(k): float(v) for k, v in (d.get("importance") or {}).items()}
            if st.method == "logistic":
                st.coef_z = np.asarray(d["coef_z"], np.float64).reshape(-1)
                st.coef_missing = np.asarray(d["coef_missing"], np.float64).reshape(-1)
                st.intercept = float(d["intercept"])
                st.base_value_ = st.intercept
                if len(st.coef_z) != len(st.members) or len(st.coef_missing) != len(st.members):
                    raise ModelError("stacker: coefficient count differs from the member count")
                return st
            est = d["estimator"]
        except KeyError as exc:
            raise ModelError(f"stacker: the card's stacker section lacks {exc}") from None
        except ConfigError as exc:
            raise ModelError(str(exc)) from None
        if est.get("format") != "skops-base64":
            raise ModelError(f"stacker: unknown estimator format '{est.get('format')}'")
        try:
            import skops.io as sio
        except ImportError:
            raise MissingDependencyError("skops", "forensics", "loading a gbm stacker") from None
        raw = base64.b64decode(est["data"])
        untrusted = sio.get_untrusted_types(data=raw)
        bad = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
        if bad:
            raise ModelError(f"stacker: refuses to load untrusted types {', '.join(bad)}")
        st.model = sio.loads(raw, trusted=untrusted)
        return st
