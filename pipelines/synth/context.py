"""What every source module needs to know about the block it generates for."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.synth.ids import Kind, record_ids
from pipelines.synth.people import Population
from pipelines.synth.settings import DAY_S, GeneratorSpec
from pipelines.synth.timestamps import draw_times


@dataclass(frozen=True)
class BlockContext:
    """A block's people and devices seen through one activity window."""

    spec: GeneratorSpec
    block: int
    population: Population
    active_start_s: np.ndarray  # per person: max(window start, signup)
    active_end_s: np.ndarray  # per person: min(window end, churn); <= start means inactive

    @classmethod
    def build(cls, spec: GeneratorSpec, block: int, population: Population) -> BlockContext:
        p = population.people
        signup = p["signup_s"].to_numpy()
        churn = p["churn_s"].to_numpy()
        start = np.where(np.isnan(signup), spec.window_start_s,
                         np.maximum(signup, spec.window_start_s)).astype(np.int64)
        end = np.where(np.isnan(churn), spec.window_end_s,
                       np.minimum(churn, spec.window_end_s)).astype(np.int64)
        return cls(spec, block, population, start, np.maximum(end, start))

    @property
    def people(self) -> pd.DataFrame:
        return self.population.people

    @property
    def devices(self) -> pd.DataFrame:
        return self.population.devices

    @property
    def active_days(self) -> np.ndarray:
        return (self.active_end_s - self.active_start_s) / DAY_S

    def rng(self, source: str) -> np.random.Generator:
        """An independent stream per (seed, block, window, source): sources never shift
        each other's draws, and a later window gets fresh activity for the same people."""
        spec = self.spec
        return np.random.default_rng(
            [spec.seed, self.block, spec.window_day, spec.days, zlib.crc32(source.encode())]
        )

    def poisson_counts(self, rng: np.random.Generator, per_day: np.ndarray) -> np.ndarray:
        """Events per person: Poisson(rate x days active in the window)."""
        return rng.poisson(np.maximum(per_day, 0) * self.active_days)

    def times(self, rng: np.random.Generator, person_rows: np.ndarray) -> np.ndarray:
        """One time (epoch s) per entry inside that person's active interval."""
        p = self.people
        return draw_times(
            rng,
            self.active_start_s[person_rows],
            self.active_end_s[person_rows],
            p["decaying"].to_numpy()[person_rows],
            p["utc_offset_s"].to_numpy()[person_rows],
        )

    def ids(self, kind: Kind, count: int) -> np.ndarray:
        return record_ids(kind, self.spec.window_day, self.block, count)
