"""``SparkEngine``: batch matching on Spark, in local mode or on a cluster.

The pipeline's SQL runs unchanged as Spark SQL. Tables are temporary views; a materialized
one is persisted (memory, spilling to disk) and computed at once, so the steps after it read
it instead of recomputing it. Jaro-Winkler similarity, which Spark does not have, is a
vectorised pandas UDF over rapidfuzz, the library DuckDB's ``jaro_winkler_similarity`` comes
from, so both engines give the same gammas.

Needs pyspark and a Java runtime (17 or newer); ``docs/matching-spark.md`` says how to run it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from allroads.batch.sql import SPARK, Dialect
from allroads.domain.errors import InvalidInput

try:
    import pandas as pd
    from pyspark import StorageLevel
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.pandas.functions import pandas_udf
except ImportError as error:  # pragma: no cover - depends on the installation
    raise InvalidInput(
        f"the spark engine needs pyspark and pandas: {error}", field="engine",
        hint="pip install pyspark==4.3.0 pandas (and a Java 17+ runtime), or use engine=duckdb",
    ) from error

# Settings for a session this engine starts in local mode: few shuffle partitions (the
# default 200 is for clusters), no web UI, the driver on the loopback interface only.
LOCAL_CONFIG: Mapping[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
# Settings for any session it starts.
CONFIG: Mapping[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
}


def jaro_winkler(left: pd.Series, right: pd.Series) -> pd.Series:  # type: ignore[type-arg]
    """Jaro-Winkler similarity of each pair of strings; NULL where either is NULL, and, as
    in DuckDB, 0 where either is empty."""
    present = (left.notna() & right.notna()).to_numpy()
    scores = np.full(len(left), np.nan)
    scores[present] = 0.0
    present &= (left.str.len() > 0).to_numpy() & (right.str.len() > 0).to_numpy()
    if present.any():
        scores[present] = cpdist(left[present].tolist(), right[present].tolist(),
                                 scorer=JaroWinkler.similarity, dtype=np.float64)
    return pd.Series(scores, index=left.index, dtype="float64")


class SparkEngine:
    """A Spark session (one it starts, or one handed to it) holding the pipeline's tables.

    ``master`` is ``local[N]`` to run on this machine with N cores, or a cluster's URL
    (``spark://host:7077``, ``yarn``, ``k8s://...``); ``config`` adds Spark settings.
    Handed a ``session`` (or when one is already active in this process), the engine works in
    a new session over its SparkContext (its own temporary views and functions) and leaves
    the context running on close; ``master`` and ``config`` then do not apply.
    """

    dialect: Dialect = SPARK

    def __init__(self, *, master: str = "local[2]", app_name: str = "allroads-match",
                 session: SparkSession | None = None,
                 config: Mapping[str, str] | None = None) -> None:
        session = session or SparkSession.getActiveSession()
        self._owned = session is None
        self.session = (_start(master, app_name, config or {}) if session is None
                        else session.newSession())
        self._frames: dict[str, DataFrame] = {}
        self.session.udf.register(
            SPARK.jaro_winkler, pandas_udf(jaro_winkler, "double"))  # type: ignore[call-overload]

    def load(self, name: str, table: pa.Table) -> None:
        self._keep(name, self.session.createDataFrame(_for_spark(table)))

    def materialize(self, name: str, select: str) -> None:
        self._keep(name, self.session.sql(select))

    def fetch(self, select: str) -> pa.Table:
        return self.session.sql(select).toArrow()

    def random_pairs(self, name: str, records: int, pairs: int, seed: int) -> None:
        # Two generators, seeded apart: the same seed twice would give l = r on every row.
        self.materialize(name, (
            f"SELECT CAST(floor(rand({seed}) * {records}) AS BIGINT) AS l, "
            f"CAST(floor(rand({seed * 7919 + 104729}) * {records}) AS BIGINT) AS r "
            f"FROM range({pairs})"))

    def close(self) -> None:
        for name in list(self._frames):
            self._drop(name)
        if self._owned:
            self.session.stop()

    def _keep(self, name: str, frame: DataFrame) -> None:
        """Persist ``frame``, compute it now, and name it (replacing an earlier ``name``)."""
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        frame.count()
        self._drop(name)
        frame.createOrReplaceTempView(name)
        self._frames[name] = frame

    def _drop(self, name: str) -> None:
        frame = self._frames.pop(name, None)
        if frame is not None:
            self.session.catalog.dropTempView(name)
            frame.unpersist()


def _start(master: str, app_name: str, config: Mapping[str, str]) -> SparkSession:
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise InvalidInput(
            "the spark engine needs a Java runtime: no java on PATH and JAVA_HOME is not set",
            field="engine",
            hint="install Java 17 or newer (Debian: apt-get install default-jre-headless) "
                 "or use engine=duckdb")
    settings: dict[str, str] = dict(CONFIG)
    if master.startswith("local"):
        settings.update(LOCAL_CONFIG)
    settings.update(config)
    builder: Any = SparkSession.builder
    builder = builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    # Python workers run PYSPARK_PYTHON (read when the context starts), else 'python3' from
    # PATH, which may lack rapidfuzz and pandas: in local mode they run this interpreter.
    local_python = master.startswith("local") and "PYSPARK_PYTHON" not in os.environ
    if local_python:
        os.environ["PYSPARK_PYTHON"] = sys.executable
    try:
        session: SparkSession = builder.getOrCreate()
    finally:
        if local_python:
            del os.environ["PYSPARK_PYTHON"]
    return session


def _for_spark(table: pa.Table) -> pa.Table:
    """Columns Spark reads: a column of only NULLs becomes a string column."""
    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
              for f in table.schema]
    return table.cast(pa.schema(fields))
