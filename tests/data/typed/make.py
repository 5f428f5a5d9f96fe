#!/usr/bin/env python3
"""Writes the Parquet and Excel fixtures in this folder and pandas' answers for
them (expected.jsonl): rows, and each column's name, dtype and missing count as
`pandas.read_parquet` / `pandas.read_excel` give them. pandas 3 names text
columns `str`; depot calls them `object`, as pandas 2 did.

    pip install pandas pyarrow openpyxl && python3 tests/data/typed/make.py
"""
import datetime as dt
import decimal
import json
import pathlib

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = pathlib.Path(__file__).parent


def parquet_fixtures():
    yield "types.parquet", pa.table({
        "i64": pa.array([1, 2, 3], pa.int64()),
        "i64_missing": pa.array([1, None, 3], pa.int64()),
        "i32": pa.array([-1, 2, 3], pa.int32()),
        "i8": pa.array([1, 2, 3], pa.int8()),
        "u8": pa.array([1, 2, 255], pa.uint8()),
        "u64": pa.array([1, 2, 2**64 - 1], pa.uint64()),
        "u32_missing": pa.array([1, None, 3], pa.uint32()),
        "f32": pa.array([1.5, None, 3], pa.float32()),
        "f64": pa.array([1.5, 2, -3.25], pa.float64()),
        "flag": pa.array([True, False, True]),
        "flag_missing": pa.array([True, None, True]),
        "text": pa.array(["a", "b", None]),
        "bytes": pa.array([b"a", b"b", b"c"]),
        "ts_us": pa.array([0, 86_400_000_000, 1_600_000_000_000_000], pa.timestamp("us")),
        "ts_ms": pa.array([1, 2, 3], pa.timestamp("ms")),
        "ts_ns": pa.array([1, 2, None], pa.timestamp("ns")),
        "ts_utc": pa.array([1, 2, None], pa.timestamp("us", tz="UTC")),
        "ts_paris": pa.array([1, 2, 3], pa.timestamp("us", tz="Europe/Paris")),
        "day": pa.array([dt.date(2020, 1, 1)] * 3, pa.date32()),
        "clock": pa.array([dt.time(1, 2)] * 3, pa.time64("us")),
        "price": pa.array([decimal.Decimal("1.50")] * 3, pa.decimal128(5, 2)),
        "tags": pa.array([[1], [2, 3], None]),
        "kind": pa.array(["a", "b", "a"]).dictionary_encode(),
        "half": pa.array([1, 2, 3], pa.float16()),
        "wait": pa.array([1, 2, 3], pa.duration("s")),
        "nothing": pa.array([None, None, None], pa.null()),
    }), {}
    # Several row groups: missing counts and extremes are summed and combined.
    n = 10_000
    yield "row_groups.parquet", pa.table({
        "id": pa.array(range(n), pa.int64()),
        "score": pa.array([None if i % 7 == 0 else i / 4 for i in range(n)], pa.float64()),
        "name": pa.array([f"n{i % 100}" for i in range(n)]),
    }), {"row_group_size": 1_000}
    # Written by pandas with a named index: the index is not a column.
    frame = pd.DataFrame({"city": ["Oslo", "Lima"], "people": [709_000, 10_000_000]},
                         index=pd.Index([10, 20], name="code"))
    yield "pandas_index.parquet", pa.Table.from_pandas(frame), {}
    yield "empty.parquet", pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())}), {}


def excel_fixtures():
    def sheet(rows, title="data"):
        book = openpyxl.Workbook()
        ws = book.active
        ws.title = title
        for row in rows:
            ws.append(row)
        return book

    yield "types.xlsx", sheet([
        ["int", "int_as_float", "int_missing", "float", "flag", "flag_missing", "text",
         "number_text", "mixed", "day", "moment", "na_text", "blank", "clock", None, "int"],
        [1, 1.0, 1, 1.5, True, True, "a", "12", 1, dt.date(2020, 1, 1),
         dt.datetime(2020, 1, 1, 12, 30), "NA", None, dt.time(1, 2), 5, 9],
        [2, 2.0, None, 2, False, None, "b", "13", "x", dt.date(2020, 1, 2),
         dt.datetime(2021, 1, 1), "x", None, dt.time(1, 3), 6, 9],
        [3, 3.0, 3, 3, True, False, None, "14", 2.5, dt.date(2020, 1, 3),
         None, "y", None, dt.time(1, 4), 7, -9],
    ])
    # Data that starts below and right of A1, and a blank row inside it: pandas
    # reads from A1 and keeps blank rows, so the integers become float64.
    book = openpyxl.Workbook()
    ws = book.active
    ws.cell(3, 3, "a"), ws.cell(4, 3, 1), ws.cell(6, 3, 2)
    ws.cell(3, 4, "b"), ws.cell(4, 4, 2.5)
    yield "offset.xlsx", book
    # pandas reads the first sheet in the workbook's order.
    book = sheet([["first"], [1]], title="one")
    second = book.create_sheet("two")
    second.append(["second", "x"])
    second.append(["a", "b"])
    yield "two_sheets.xlsx", book
    yield "wider_rows.xlsx", sheet([["a"], [1, 2], [3, None]])
    yield "one_column_blank_row.xlsx", sheet([["a"], [1], [None], [2]])
    yield "header_only.xlsx", sheet([["a", "b"]])
    yield "big_integers.xlsx", sheet([["a", "b"], [2**63, 1e20], [1, 2]])


def answer(name, frame):
    columns = [[str(c), "object" if str(frame[c].dtype) == "str" else str(frame[c].dtype),
                int(frame[c].isna().sum())] for c in frame.columns]
    return {"file": name, "rows": len(frame), "columns": columns}


def main():
    answers = []
    for name, table, options in parquet_fixtures():
        pq.write_table(table, HERE / name, **options)
        answers.append(answer(name, pd.read_parquet(HERE / name)))
    for name, book in excel_fixtures():
        book.save(HERE / name)
        answers.append(answer(name, pd.read_excel(HERE / name)))
    with open(HERE / "expected.jsonl", "w") as out:
        for item in answers:
            out.write(json.dumps(item) + "\n")


if __name__ == "__main__":
    main()
