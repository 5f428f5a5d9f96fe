"""Real S3 clients against depot's S3 API, one scenario per call.

usage: s3_clients.py SCENARIO ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY BUCKET [ARG]

Each scenario drives boto3, s3fs (through pandas) or polars the way their
users do and prints one JSON object of what it saw; an unexpected answer
raises, so the process fails with the traceback. The Rust test checks what
the JSON says and what depot's REST API shows afterwards.
"""

import base64
import hashlib
import io
import json
import os
import socket
import sys

SCENARIO, ENDPOINT, KEY_ID, SECRET, BUCKET = sys.argv[1:6]
ARG = sys.argv[6] if len(sys.argv) > 6 else None


def client(addressing="path", secret=SECRET, key_id=KEY_ID, endpoint=ENDPOINT):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": addressing}, retries={"max_attempts": 1}),
    )


def error_of(call):
    """The S3 error code (and HTTP status) a call fails with."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as err:
        return {
            "code": err.response["Error"]["Code"],
            "status": err.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    raise AssertionError("the call succeeded")


def objects():
    """boto3: every object operation, as a script would use them."""
    s3 = client()
    seen = {"buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]]}
    s3.head_bucket(Bucket=BUCKET)
    data = b"quarter,total\n1,10\n2,20\n"
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    put = s3.put_object(
        Bucket=BUCKET, Key="reports/2024/q1.csv", Body=data, ContentMD5=md5, Metadata={"project": "atlas"}
    )
    seen["put_etag"] = put["ETag"].strip('"')
    for key in ["reports/2024/q2.csv", "reports/summary.txt", "top.txt"]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    got = s3.get_object(Bucket=BUCKET, Key="reports/2024/q1.csv")
    seen["get"] = got["Body"].read().decode()
    seen["get_metadata"] = got["Metadata"]
    seen["get_type"] = got["ContentType"]
    seen["range"] = s3.get_object(Bucket=BUCKET, Key="reports/2024/q1.csv", Range="bytes=8-12")["Body"].read().decode()
    head = s3.head_object(Bucket=BUCKET, Key="reports/2024/q1.csv")
    seen["head_length"] = head["ContentLength"]
    seen["not_modified"] = error_of(
        lambda: s3.get_object(Bucket=BUCKET, Key="reports/2024/q1.csv", IfNoneMatch=head["ETag"])
    )
    seen["precondition"] = error_of(
        lambda: s3.get_object(Bucket=BUCKET, Key="reports/2024/q1.csv", IfMatch='"0000"')
    )
    top = s3.list_objects_v2(Bucket=BUCKET, Delimiter="/")
    seen["top"] = {
        "keys": [o["Key"] for o in top.get("Contents", [])],
        "prefixes": [p["Prefix"] for p in top.get("CommonPrefixes", [])],
    }
    # One key a page, following the continuation tokens to the end.
    paged, token = [], None
    while True:
        args = {"Bucket": BUCKET, "Prefix": "reports/", "MaxKeys": 1}
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(**args)
        paged += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    seen["paged"] = paged
    paginator = s3.get_paginator("list_objects_v2")
    seen["level"] = [
        p["Prefix"]
        for page in paginator.paginate(Bucket=BUCKET, Prefix="reports/", Delimiter="/")
        for p in page.get("CommonPrefixes", [])
    ]
    # A presigned URL: anyone with it reads the object until it expires.
    import urllib.request

    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "reports/2024/q1.csv"}, ExpiresIn=60)
    seen["presigned"] = urllib.request.urlopen(url).read().decode()
    s3.copy_object(Bucket=BUCKET, Key="archive/q1.csv", CopySource={"Bucket": BUCKET, "Key": "reports/2024/q1.csv"})
    seen["copied"] = s3.get_object(Bucket=BUCKET, Key="archive/q1.csv")["Body"].read().decode()
    deleted = s3.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": "top.txt"}, {"Key": "never-there.txt"}]}
    )
    seen["deleted"] = sorted(d["Key"] for d in deleted.get("Deleted", []))
    s3.delete_object(Bucket=BUCKET, Key="reports/summary.txt")
    seen["no_such_key"] = error_of(lambda: s3.get_object(Bucket=BUCKET, Key="top.txt"))
    seen["bad_digest"] = error_of(
        lambda: s3.put_object(Bucket=BUCKET, Key="corrupt.csv", Body=data, ContentMD5=base64.b64encode(b"0" * 16).decode())
    )
    seen["bad_sha256"] = error_of(
        lambda: s3.put_object(
            Bucket=BUCKET, Key="corrupt.csv", Body=data, ChecksumSHA256=base64.b64encode(b"1" * 32).decode()
        )
    )
    seen["only_create"] = error_of(
        lambda: s3.put_object(Bucket=BUCKET, Key="reports/2024/q1.csv", Body=b"x", IfNoneMatch="*")
    )
    seen["empty_folder"] = error_of(lambda: s3.put_object(Bucket=BUCKET, Key="empty/", Body=b""))
    seen["bad_name"] = error_of(lambda: s3.put_object(Bucket=BUCKET, Key="a/../b", Body=b"x"))
    if ARG:
        # Another user's bucket is as missing as one that does not exist.
        seen["other_bucket"] = error_of(lambda: s3.list_objects_v2(Bucket=ARG))
        seen["other_object"] = error_of(lambda: s3.get_object(Bucket=ARG, Key="secret.txt"))
    seen["wrong_secret"] = error_of(lambda: client(secret="x" * 40).list_buckets())
    seen["unknown_key"] = error_of(lambda: client(key_id="AKIAIOSFODNN7EXAMPLE").list_buckets())
    print(json.dumps(seen))


def multipart():
    """boto3: a multipart upload by hand (parts out of order), an abort,
    and a large file through the transfer manager."""
    from boto3.s3.transfer import TransferConfig

    s3 = client()
    seen = {}
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="parts/whole.bin", Metadata={"source": "parts"})
    uid = upload["UploadId"]
    first, second = b"a" * (5 * 1024 * 1024), b"b" * 1000
    etag2 = s3.upload_part(Bucket=BUCKET, Key="parts/whole.bin", UploadId=uid, PartNumber=2, Body=second)["ETag"]
    etag1 = s3.upload_part(Bucket=BUCKET, Key="parts/whole.bin", UploadId=uid, PartNumber=1, Body=first)["ETag"]
    seen["part_etags_are_sha256"] = [
        etag1.strip('"') == hashlib.sha256(first).hexdigest(),
        etag2.strip('"') == hashlib.sha256(second).hexdigest(),
    ]
    listed = s3.list_parts(Bucket=BUCKET, Key="parts/whole.bin", UploadId=uid)
    seen["parts"] = [(p["PartNumber"], p["Size"]) for p in listed["Parts"]]
    seen["uploads"] = [u["Key"] for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
    seen["wrong_etag"] = error_of(
        lambda: s3.complete_multipart_upload(
            Bucket=BUCKET, Key="parts/whole.bin", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag2}, {"PartNumber": 2, "ETag": etag2}]},
        )
    )
    seen["out_of_order"] = error_of(
        lambda: s3.complete_multipart_upload(
            Bucket=BUCKET, Key="parts/whole.bin", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": etag2}, {"PartNumber": 1, "ETag": etag1}]},
        )
    )
    done = s3.complete_multipart_upload(
        Bucket=BUCKET, Key="parts/whole.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag1}, {"PartNumber": 2, "ETag": etag2}]},
    )
    seen["etag"] = done["ETag"].strip('"')
    seen["sha256"] = hashlib.sha256(first + second).hexdigest()
    got = s3.get_object(Bucket=BUCKET, Key="parts/whole.bin")
    seen["whole_matches"] = got["Body"].read() == first + second
    seen["metadata"] = got["Metadata"]
    seen["completed_gone"] = error_of(lambda: s3.list_parts(Bucket=BUCKET, Key="parts/whole.bin", UploadId=uid))

    aborted = s3.create_multipart_upload(Bucket=BUCKET, Key="parts/aborted.bin")["UploadId"]
    s3.upload_part(Bucket=BUCKET, Key="parts/aborted.bin", UploadId=aborted, PartNumber=1, Body=b"c" * 1024)
    s3.abort_multipart_upload(Bucket=BUCKET, Key="parts/aborted.bin", UploadId=aborted)
    seen["aborted_gone"] = error_of(
        lambda: s3.upload_part(Bucket=BUCKET, Key="parts/aborted.bin", UploadId=aborted, PartNumber=2, Body=b"d")
    )
    seen["aborted_object"] = error_of(lambda: s3.head_object(Bucket=BUCKET, Key="parts/aborted.bin"))

    big = bytes(range(256)) * (24 * 1024 * 1024 // 256 + 7)
    config = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)
    s3.upload_fileobj(io.BytesIO(big), BUCKET, "parts/big.bin", Config=config)
    back = io.BytesIO()
    s3.download_fileobj(BUCKET, "parts/big.bin", back, Config=config)
    seen["big_matches"] = back.getvalue() == big
    seen["big_sha256"] = hashlib.sha256(big).hexdigest()
    print(json.dumps(seen))


def streaming():
    """boto3: uploads in parts whose completion may use the parts streamed
    as they arrived — all of them, parts sent again after they streamed,
    and a part left out — each checked against the bytes sent."""
    import time

    s3 = client()
    mib = 1024 * 1024
    seen = {}

    def send(key, parts, complete_with=None, pause=0.0):
        uid = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        etags = {}
        for number, body in parts:
            etags[number] = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=number, Body=body)["ETag"]
            time.sleep(pause)
        chosen = complete_with or sorted(etags)
        done = s3.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in chosen]},
        )
        whole = b"".join(dict(parts)[n] for n in chosen)
        got = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return {"etag": done["ETag"].strip('"') == hashlib.sha256(whole).hexdigest(), "bytes": got == whole}

    a, b, c, d = (bytes([n]) * (5 * mib) for n in b"abcd")
    seen["in_order"] = send("streamed/in-order.bin", [(1, a), (2, b), (3, b"tail")])
    # Part 1 again, other bytes, after parts 1 and 2 had time to stream.
    seen["sent_again"] = send("streamed/sent-again.bin", [(1, a), (2, b), (1, c)], pause=0.5)
    seen["left_out"] = send("streamed/left-out.bin", [(1, a), (2, b), (3, d)], complete_with=[1, 3])
    print(json.dumps(seen))


def read_only():
    """boto3 with a read-only key: reads work, writes are refused."""
    s3 = client()
    seen = {
        "list": [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])],
        "put": error_of(lambda: s3.put_object(Bucket=BUCKET, Key="new.txt", Body=b"x")),
        "delete": error_of(lambda: s3.delete_object(Bucket=BUCKET, Key=ARG)),
        "multipart": error_of(lambda: s3.create_multipart_upload(Bucket=BUCKET, Key="big.bin")),
    }
    print(json.dumps(seen))


def refused():
    """boto3 with a key that no longer works (revoked)."""
    print(json.dumps({"list": error_of(lambda: client().list_buckets())}))


def too_large():
    """boto3 over a user's quota."""
    s3 = client()
    print(json.dumps({"put": error_of(lambda: s3.put_object(Bucket=BUCKET, Key="big.bin", Body=b"x" * 4096))}))


def virtual():
    """boto3 with virtual-host-style addressing: the bucket in the host
    name (`ann.s3.depot.test`), resolved to the test's server."""
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host.endswith("s3.depot.test"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = resolve
    port = ENDPOINT.rsplit(":", 1)[1]
    s3 = client(addressing="virtual", endpoint=f"http://s3.depot.test:{port}")
    s3.put_object(Bucket=BUCKET, Key="virtual/hello.txt", Body=b"hello")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="virtual/").get("Contents", [])]
    body = s3.get_object(Bucket=BUCKET, Key="virtual/hello.txt")["Body"].read().decode()
    print(json.dumps({"keys": keys, "body": body}))


def storage_options():
    return {"key": KEY_ID, "secret": SECRET, "client_kwargs": {"endpoint_url": ENDPOINT, "region_name": "us-east-1"}}


def pandas():
    """pandas through s3fs: a CSV read from depot, a Parquet written to it."""
    import pandas as pd

    frame = pd.read_csv(f"s3://{BUCKET}/data/sales.csv", storage_options=storage_options())
    frame["double"] = frame["total"] * 2
    frame.to_parquet(f"s3://{BUCKET}/out/sales.parquet", storage_options=storage_options())
    again = pd.read_parquet(f"s3://{BUCKET}/out/sales.parquet", storage_options=storage_options())
    print(json.dumps({
        "rows": len(frame),
        "columns": list(frame.columns),
        "dtypes": {name: str(dtype) for name, dtype in frame.dtypes.items()},
        "parquet_equal": bool(again.equals(frame)),
    }))


def polars():
    """polars: a CSV read and a Parquet written and scanned, its own S3 client (object_store)."""
    import polars as pl

    options = {
        "aws_endpoint_url": ENDPOINT,
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": SECRET,
        "aws_region": "us-east-1",
        "aws_allow_http": "true",
    }
    frame = pl.read_csv(f"s3://{BUCKET}/data/sales.csv", storage_options=options)
    frame = frame.with_columns((pl.col("total") * 3).alias("triple"))
    frame.write_parquet(f"s3://{BUCKET}/out/polars.parquet", storage_options=options)
    total = pl.scan_parquet(f"s3://{BUCKET}/out/polars.parquet", storage_options=options).select(pl.col("triple").sum()).collect()
    print(json.dumps({"rows": frame.height, "columns": frame.columns, "triple_sum": total.item()}))


{
    "objects": objects,
    "multipart": multipart,
    "streaming": streaming,
    "read_only": read_only,
    "refused": refused,
    "too_large": too_large,
    "virtual": virtual,
    "pandas": pandas,
    "polars": polars,
}[SCENARIO]()

# Done, and everything the test reads is printed: leave without the
# interpreter's teardown, where Arrow's thread pools (under pandas' Parquet
# reader) now and then abort the process with "terminate called without an
# active exception" after the work succeeded (apache/arrow#34314, #39162).
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
