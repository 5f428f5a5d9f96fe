"""Uploads a file to depot with tuspy, which retries a failed request from
the offset the server reports. Prints the upload URL and how many times it
had to retry.

    python3 tus_upload.py <endpoint> <token> <path> <file name>
"""

import json
import os
import sys

from tusclient import client

endpoint, token, path, name = sys.argv[1:5]
tus = client.TusClient(endpoint, headers={"Authorization": f"Bearer {token}"})
uploader = tus.uploader(
    file_path=path,
    # One request for the whole file: the network cuts it halfway.
    chunk_size=os.path.getsize(path),
    metadata={"filename": name, "description": "sent by tuspy"},
    retries=5,
    retry_delay=0.25,
)
uploader.upload()
print(json.dumps({"url": uploader.url, "retries": uploader._retried}))
