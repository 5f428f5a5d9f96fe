#!/usr/bin/env python3
"""Differential test of depot's Parquet and Excel profiles against real pandas.

    python3 bench/pandas_compare_typed.py [--files 300] [--seed 1] [--depot PATH]

Writes random Parquet tables (pyarrow: every common type, with and without
nulls, several row groups) and random Excel sheets (openpyxl: numbers, whole
floats, booleans, text that looks like numbers or NA, dates, times, blanks, data
that starts away from A1), profiles each with `depot profile --json` (a build
with the `parquet` and `excel` features) and reads it with
`pandas.read_parquet` / `pandas.read_excel`. Reports every file where rows,
column names, dtypes or missing counts differ. pandas 3's `str` is depot's
`object`. Needs `pip install pandas pyarrow openpyxl`; exits non-zero when
anything differs.
"""

import argparse
import datetime as dt
import decimal
import json
import os
import random
import subprocess
import sys
import tempfile
import warnings

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ARROW_TYPES = {
    "int8": (pa.int8(), lambda: random.randint(-128, 127)),
    "int32": (pa.int32(), lambda: random.randint(-2**31, 2**31 - 1)),
    "int64": (pa.int64(), lambda: random.randint(-2**63, 2**63 - 1)),
    "uint16": (pa.uint16(), lambda: random.randint(0, 2**16 - 1)),
    "uint64": (pa.uint64(), lambda: random.randint(0, 2**64 - 1)),
    "float32": (pa.float32(), lambda: random.uniform(-1e6, 1e6)),
    "float64": (pa.float64(), lambda: random.choice([random.uniform(-1e9, 1e9), 0.0, -0.0, 1e300])),
    "bool": (pa.bool_(), lambda: random.random() < 0.5),
    "string": (pa.string(), lambda: random.choice(["a", "NA", "", "1", "x y"])),
    "binary": (pa.binary(), lambda: b"\x00\x01"),
    "ts_ms": (pa.timestamp("ms"), lambda: random.randint(0, 2**40)),
    "ts_us_utc": (pa.timestamp("us", tz="UTC"), lambda: random.randint(-2**50, 2**50)),
    "ts_ns_tz": (pa.timestamp("ns", tz="America/New_York"), lambda: random.randint(0, 2**60)),
    "date": (pa.date32(), lambda: dt.date(2000, 1, 1) + dt.timedelta(days=random.randint(0, 9000))),
    "decimal": (pa.decimal128(9, 2), lambda: decimal.Decimal(random.choice(["1.50", "-2.25"]))),
    "list": (pa.list_(pa.int64()), lambda: [random.randint(0, 9)]),
    "dict": ("dictionary", lambda: random.choice(["red", "green"])),
    "duration": (pa.duration("ms"), lambda: random.randint(0, 10**6)),
}

EXCEL_VALUES = {
    # Not 2**63 .. 2**64: there pandas counts some blanks as text (see excel.rs).
    "int": lambda: random.choice([0, 7, -3, 2**40, 2**62]),
    "whole_float": lambda: random.choice([1.0, -2.0, 1e15, 1e20]),
    "float": lambda: random.choice([1.5, -0.25, 1e-7, 3.14159]),
    "bool": lambda: random.random() < 0.5,
    "numeric_text": lambda: random.choice(["12", "-4", "1.5", " 3", "1e3"]),
    "na_text": lambda: random.choice(["NA", "null", "N/A", "nan", "#N/A"]),
    "text": lambda: random.choice(["abc", "True", "false", "x y", "2024-01-01"]),
    "date": lambda: dt.date(2020, 1, 1) + dt.timedelta(days=random.randint(0, 2000)),
    "datetime": lambda: dt.datetime(2021, 6, 1, random.randint(0, 23), random.randint(0, 59)),
    "time": lambda: dt.time(random.randint(0, 23), random.randint(0, 59)),
    "blank": lambda: None,
}


def random_parquet(path):
    columns = {}
    rows = random.randint(0, 40)
    for i in range(random.randint(1, 5)):
        kind = random.choice(list(ARROW_TYPES))
        arrow_type, make = ARROW_TYPES[kind]
        nulls = random.random() < 0.4
        values = [None if nulls and random.random() < 0.3 else make() for _ in range(rows)]
        name = f"{kind}_{i}"
        if arrow_type == "dictionary":
            columns[name] = pa.array(values, pa.string()).dictionary_encode()
        else:
            columns[name] = pa.array(values, arrow_type)
    table = pa.table(columns)
    if random.random() < 0.3:
        frame = table.to_pandas()
        frame.index = pd.Index(range(100, 100 + len(frame)), name="key")
        table = pa.Table.from_pandas(frame)
    pq.write_table(table, path, row_group_size=random.choice([5, 16, 1000]))


def random_excel(path):
    book = openpyxl.Workbook()
    sheet = book.active
    columns = random.randint(1, 4)
    kinds = [random.sample(list(EXCEL_VALUES), random.choice([1, 1, 2])) for _ in range(columns)]
    top, left = (random.randint(1, 3), random.randint(1, 2)) if random.random() < 0.2 else (1, 1)
    header = [random.choice(["a", "b", "a", None, 7, "value"]) for _ in range(columns)]
    for c, name in enumerate(header):
        sheet.cell(top, left + c, name)
    for r in range(random.randint(0, 8)):
        if random.random() < 0.1:
            continue  # a blank row
        for c in range(columns):
            value = EXCEL_VALUES[random.choice(kinds[c])]()
            if value is not None:
                sheet.cell(top + 1 + r, left + c, value)
    book.save(path)


def pandas_view(path):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_excel(path)
    except Exception as err:  # pandas refuses the file
        return {"error": type(err).__name__}
    columns = []
    for name in frame.columns:
        shown = str(frame[name].dtype)
        columns.append([str(name), "object" if shown == "str" else shown, int(frame[name].isna().sum())])
    return {"rows": len(frame), "columns": columns}


def describe(path):
    """The file's cells (Excel) or schema (Parquet), to show with a difference."""
    if path.endswith(".parquet"):
        return str(pq.read_schema(path))
    sheet = openpyxl.load_workbook(path).active
    return "\n".join(f"  {row}" for row in sheet.iter_rows(values_only=True))


def depot_view(depot, path):
    run = subprocess.run([depot, "profile", "--json", path], capture_output=True, text=True)
    if run.returncode != 0:
        return {"error": run.stderr.strip().splitlines()[-1] if run.stderr else "failed"}
    profile = json.loads(run.stdout)["profile"]
    columns = [[c["name"], c["dtype"], c.get("missing")] for c in profile["columns"]]
    return {"rows": profile["rows"], "columns": columns}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/depot-target")
    parser.add_argument("--depot", default=os.path.join(target, "release", "depot"))
    args = parser.parse_args()
    random.seed(args.seed)

    differences = 0
    with tempfile.TemporaryDirectory() as work:
        for i in range(args.files):
            parquet = i % 2 == 0
            path = os.path.join(work, f"case{i:05}.{'parquet' if parquet else 'xlsx'}")
            (random_parquet if parquet else random_excel)(path)
            expected, got = pandas_view(path), depot_view(args.depot, path)
            if ("error" in expected and "error" in got) or expected == got:
                continue
            differences += 1
            if differences <= 20:
                print(f"--- {os.path.basename(path)}\n{describe(path)}\n  pandas: {expected}\n  depot:  {got}")
    print(f"{args.files} files, {differences} differ")
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
