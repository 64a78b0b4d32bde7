"""The connectors' resolution is remembered per package list and used only while every jar
it named is still on disk."""

from __future__ import annotations

from pipelines.session import remember_jars, resolved_jars

PACKAGES = ["io.delta:delta-spark_4.2_2.13:4.4.0", "org.example:other:1.0"]


def _jars(tmp_path, *names):
    paths = []
    for name in names:
        jar = tmp_path / "jars" / name
        jar.parent.mkdir(exist_ok=True)
        jar.write_bytes(b"PK")
        paths.append(f"file://{jar}")
    return paths


def test_nothing_is_remembered_before_a_resolving_start(tmp_path):
    assert resolved_jars(str(tmp_path), PACKAGES) is None


def test_a_remembered_resolution_is_used_for_the_same_packages_in_any_order(tmp_path):
    jars = _jars(tmp_path, "a.jar", "b.jar")
    remember_jars(str(tmp_path), PACKAGES, ",".join(jars))
    assert resolved_jars(str(tmp_path), PACKAGES) == jars
    assert resolved_jars(str(tmp_path), list(reversed(PACKAGES))) == jars


def test_other_packages_or_a_missing_jar_resolve_again(tmp_path):
    jars = _jars(tmp_path, "a.jar", "b.jar")
    remember_jars(str(tmp_path), PACKAGES, ",".join(jars))
    assert resolved_jars(str(tmp_path), [*PACKAGES, "org.example:new:2.0"]) is None
    (tmp_path / "jars" / "b.jar").unlink()
    assert resolved_jars(str(tmp_path), PACKAGES) is None


def test_an_empty_jar_list_is_not_remembered(tmp_path):
    remember_jars(str(tmp_path), PACKAGES, "")
    assert resolved_jars(str(tmp_path), PACKAGES) is None
