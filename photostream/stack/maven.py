"""Assemble a Java service's runtime jars from Maven Central with the machine's Maven."""

from __future__ import annotations

import shutil
from pathlib import Path

from photostream.stack.base import StackError, run_checked


def collect_runtime_jars(pom: Path, dest: Path, properties: dict[str, str]) -> Path:
    """Copy the runtime dependency closure of ``pom`` into ``dest/lib`` once; a marker makes it idempotent.

    ``properties`` are passed as ``-Dkey=value`` (e.g. the version to fetch); the marker records them so a
    version change re-assembles the folder.
    """
    lib = dest / "lib"
    marker = dest / ".assembled"
    wanted = ";".join(f"{k}={v}" for k, v in sorted(properties.items()))
    if marker.exists() and marker.read_text() == wanted and any(lib.glob("*.jar")):
        return lib
    if shutil.which("mvn") is None:
        raise StackError("Maven (mvn) is not on PATH; it is needed to assemble the Java services")
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    argv = [
        "mvn", "-q", "-B", "-f", str(pom),
        "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={lib}",
    ]
    argv += [f"-D{k}={v}" for k, v in properties.items()]
    run_checked(argv)
    marker.write_text(wanted)
    return lib


def java_binary() -> str:
    """The Java 17 runtime on PATH (or JAVA_HOME)."""
    import os

    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise StackError("java is not on PATH; the Kafka and Cassandra services need Java 17")
    return found
