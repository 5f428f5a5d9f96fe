#!/usr/bin/env python3
"""The disk's ceiling for durable small files, without depot: how many 4 KiB
files a second threads can create as depot stores a new blob — write a temp
file, fsync it, rename it into its directory, fsync the directory.

    python3 bench/disk_commits.py [DIR] [THREADS] [SECONDS]

DIR defaults to a scratch dir under /var/tmp (the disk bench/small.sh uses);
it is removed afterwards. Prints files/s for one thread and for THREADS (32).
"""
import os
import shutil
import sys
import tempfile
import threading
import time

SIZE = 4096


def run(root, threads, seconds):
    created = [0] * threads
    blobs = os.path.join(root, "blobs")
    os.makedirs(blobs, exist_ok=True)

    def work(thread):
        directory = os.open(blobs, os.O_RDONLY)
        body = os.urandom(SIZE)
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            temp = os.path.join(root, f"tmp-{thread}-{n}")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, body)
            os.fsync(fd)
            os.close(fd)
            os.rename(temp, os.path.join(blobs, f"{thread}-{n}"))
            os.fsync(directory)
            n += 1
        os.close(directory)
        created[thread] = n

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    shutil.rmtree(blobs)
    return sum(created) / seconds


def main():
    parent = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5
    root = tempfile.mkdtemp(prefix="depot-disk-", dir=parent)
    try:
        for count in (1, threads):
            rate = run(root, count, seconds)
            print(f"{count:>3} thread(s): {rate:,.0f} durable 4 KiB files/s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
