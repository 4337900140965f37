"""Runs the same SQL in DuckDB and Spark (local mode) over a Mekong tree and
compares each engine's rows with mekong-analyzer's (JSON lines written by the
Rust test). Usage: compare.py TREE CASES_DIR. Exit 1 with the differences."""

import datetime as dt
import decimal
import json
import os
import pathlib
import sys

TS = {"first_ts", "last_ts", "ts", "first", "a", "b"}


def norm(col, v):
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        return round(v.timestamp() * 1e6)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str) and col in TS:
        return norm(col, dt.datetime.fromisoformat(v))
    if isinstance(v, decimal.Decimal):
        return int(v)
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, (list, tuple)):
        return [norm(col, x) for x in v]
    return v


def rows(cols, data):
    return [{c: norm(c, v) for c, v in zip(cols, r)} for r in data]


def main():
    tree, cases = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    queries = json.loads((cases / "queries.json").read_text())
    import duckdb

    con = duckdb.connect()
    for t in ("flows", "alerts"):
        con.execute(
            f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{tree}/{t}/**/*.parquet', "
            "hive_partitioning = true, hive_types_autocast = false)"
        )
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("mekong-interop")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    for t in ("flows", "alerts"):
        spark.read.option("basePath", f"{tree}/{t}").parquet(f"{tree}/{t}").createOrReplaceTempView(t)
    bad = 0
    for i, q in enumerate(queries):
        mk = [
            {c: norm(c, v) for c, v in json.loads(l).items()}
            for l in (cases / f"q{i}.jsonl").read_text().splitlines()
            if l.strip()
        ]
        cur = con.execute(q)
        cols = [d[0] for d in cur.description]
        duck = rows(cols, cur.fetchall())
        sdf = spark.sql(q)
        sp = rows(sdf.columns, [tuple(r) for r in sdf.collect()])
        # Mekong's JSON leaves out nulls' keys: compare with every column.
        mk = [{c: r.get(c) for c in cols} for r in mk]
        for name, other in (("duckdb", duck), ("spark", sp)):
            if other != mk:
                bad += 1
                print(f"query {i} differs in {name}: {q}")
                for a, b in list(zip(mk, other))[:5]:
                    if a != b:
                        print(f"  mekong {a}\n  {name} {b}")
                print(f"  rows: mekong {len(mk)}, {name} {len(other)}")
        print(f"query {i}: {len(mk)} rows, the same in DuckDB and Spark" if bad == 0 else "", flush=True)
    spark.stop()
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
