"""A process launched while ``jvm_output_to`` holds goes on writing to the log for its whole
life; the caller's own output returns to where it was."""

from __future__ import annotations

import subprocess

import pytest

from pipelines.session import jvm_output_to


def test_a_child_launched_inside_keeps_writing_to_the_log(tmp_path, capfd):
    log = tmp_path / "logs" / "spark.log"
    with jvm_output_to(log):
        child = subprocess.Popen(
            ["sh", "-c", "echo resolving; echo warning >&2; sleep 0.3; echo still-running"]
        )
    print("the project's own line")
    child.wait()
    out, err = capfd.readouterr()
    assert out == "the project's own line\n" and err == ""
    assert log.read_text().split() == ["resolving", "warning", "still-running"]


def test_a_failed_launch_shows_the_end_of_the_log(tmp_path, capfd):
    log = tmp_path / "spark.log"
    log.write_text("an earlier run\n")
    with pytest.raises(RuntimeError), jvm_output_to(log):
        subprocess.run(["sh", "-c", "echo 'Error: JAVA_HOME is not set' >&2"], check=True)
        raise RuntimeError("Java gateway process exited before sending its port number")
    _, err = capfd.readouterr()
    assert "JAVA_HOME is not set" in err
    assert "an earlier run" not in err
