#!/usr/bin/env python3
"""Differential test of depot's dataset profiler against real pandas.

    python3 bench/pandas_compare.py [--files 2000] [--seed 1] [--depot PATH]

Generates random CSV files from tokens that sit on pandas' inference edges
(integer ranges, float spellings, booleans, NA strings, ISO 8601 date/times,
text), profiles them with `depot profile --json`, reads them with
`pandas.read_csv`, and reports every file where rows, column names or dtypes
differ. pandas 3 names text `str`; depot, like pandas 2, says `object`. A text
column pandas leaves as text but whose every value `pandas.to_datetime(...,
format="ISO8601")` reads — all naive or all with an offset — is `datetime64[ns]`
by depot's contract (DESIGN.md, "Dataset profiling contract").
Needs `pip install pandas`; exits non-zero when anything differs.
"""

import argparse
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import warnings

import pandas as pd

# pandas' ISO8601 parser also takes "-3" or ".5"; the contract speaks of dates.
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

POOLS = {
    "int": ["0", "-3", "+7", "007", " 12 ", "42", "9223372036854775807", "-9223372036854775808"],
    "uint": ["9223372036854775808", "18446744073709551615"],
    "toobig": ["18446744073709551616", "-9223372036854775809"],
    "float": ["1.5", ".5", "5.", "1e3", "-2.5E-3", "inf", "-Infinity", "1.0", " 2.25"],
    "bool": ["True", "false", "TRUE", "tRuE", "False"],
    "badbool": [" True", "yes"],
    "na": ["", "NA", "NaN", "null", "None", "n/a", "<NA>", "#N/A", "nan"],
    "date": ["2024-01-01", "2024-03-01T10:00:00", "2024-03-01 11:30", "2023-12-31T23:59:59.5"],
    "datetz": ["2024-03-01T10:00:00Z", "2024-03-01T10:00:00+01:00", "2024-03-01 08:00-05:00"],
    "text": ["abc", "x y", "NULLX", " NA", "0x10", "1,000", "1d5", "nAn", "café", "2024-02-30"],
}


# Fields written as they are, not quoted by `quote`: the tokenizer's edges
# (a quote inside an unquoted field, text after a closing quote, doubled
# quotes, quoted line ends, blanks before a quote).
RAW = ['a"b', '"ab"cd', '"a""b"', '"x\ny"', '"x\r\ny"', '"x\ry"', '" "', '""', ' "q"', '"1"', '"1"2', '"2024-01-01"']
# Lines that pandas skips or treats specially when they stand alone.
ODD_LINES = ["", " ", "\t", "  \t ", '""', ",", " ,"]


def token(pools):
    return random.choice(POOLS[random.choice(pools)])


def quote(value):
    if any(c in value for c in ',"\n') or random.random() < 0.1:
        return '"' + value.replace('"', '""') + '"'
    return value


def random_csv():
    """A small CSV; one in three also gets the tokenizer's structural edges."""
    structural = random.random() < 0.33
    columns = random.randint(1, 4)
    rows = random.randint(0, 6)
    kinds = list(POOLS)
    column_pools = [random.sample(kinds, random.choice([1, 1, 1, 2, 2, 3])) for _ in range(columns)]
    header = [random.choice(["a", "b", "a", "", "a.1", "value"]) for _ in range(columns)]
    lines = [",".join(quote(h) for h in header)]
    for row in range(rows):
        width = columns if random.random() > 0.1 else random.randint(1, columns)
        if structural and random.random() < 0.1:
            width = columns + random.randint(1, 2)  # an index (first row) or too wide
        fields = []
        for i in range(width):
            if structural and random.random() < 0.15:
                fields.append(random.choice(RAW))
            else:
                fields.append(quote(token(column_pools[min(i, columns - 1)])))
        lines.append(",".join(fields))
        if random.random() < 0.05 or (structural and random.random() < 0.15):
            lines.append(random.choice(ODD_LINES) if structural else "")
    if not structural:
        newline = "\r\n" if random.random() < 0.2 else "\n"
        return newline.join(lines) + (newline if random.random() < 0.9 else "")
    endings = random.choice([["\n"], ["\r\n"], ["\r"], ["\n", "\r\n", "\r"]])
    text = "".join(line + random.choice(endings) for line in lines)
    if random.random() < 0.2:
        text = text.rstrip("\r\n")
    if random.random() < 0.05:
        text += '"unterminated'
    if random.random() < 0.1:
        text = "\ufeff" + text
    return text


def pandas_view(text):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pd.read_csv(io.StringIO(text))
    except Exception as err:  # pandas refuses the file
        return {"error": type(err).__name__}
    dtypes = []
    for name, dtype in frame.dtypes.items():
        shown = str(dtype)
        if shown in ("str", "object", "string"):
            shown = "object"
            values = frame[name].dropna()
            looks_like_dates = all(isinstance(v, str) and ISO_DATE.match(v) for v in values)
            if len(values) and looks_like_dates:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        parsed = [pd.to_datetime(v, format="ISO8601") for v in values]
                    zones = {p.tzinfo is not None for p in parsed}
                    if len(zones) == 1:
                        shown = "datetime64[ns]"
                except (ValueError, TypeError, OverflowError):
                    pass
        dtypes.append([str(name), shown])
    return {"rows": len(frame), "dtypes": dtypes}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/depot-target")
    parser.add_argument("--depot", default=os.path.join(target, "release", "depot"))
    args = parser.parse_args()
    random.seed(args.seed)

    with tempfile.TemporaryDirectory() as work:
        texts = {}
        for i in range(args.files):
            path = os.path.join(work, f"case{i:05}.csv")
            texts[path] = random_csv()
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(texts[path])
        differences = 0
        for path, text in texts.items():
            run = subprocess.run([args.depot, "profile", "--json", path], capture_output=True, text=True)
            if run.returncode == 0:
                profile = json.loads(run.stdout)["profile"]
                depot = {"rows": profile["rows"], "dtypes": [[c["name"], c["dtype"]] for c in profile["columns"]]}
            else:
                depot = {"error": run.stderr.strip().splitlines()[-1] if run.stderr else "failed"}
            expected = pandas_view(text)
            same = ("error" in depot and "error" in expected) or depot == expected
            if not same:
                differences += 1
                if differences <= 20:
                    print(f"--- {os.path.basename(path)}\n{text!r}\n  pandas: {expected}\n  depot:  {depot}")
        print(f"{args.files} files, {differences} differ")
        sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
