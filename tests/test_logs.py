"""Where facecast's warnings go: the command line's stderr set-up leaves the process's logging as it
found it, and what native code writes to the stderr file can be caught to be logged instead."""

import json
import logging
import os

from facecast.logs import PLAIN, JsonFormatter, logging_to_stderr, native_stderr_caught


def test_a_commands_log_set_up_is_undone_levels_included(caplog, capsys):
    device = logging.getLogger("facecast.device")
    with logging_to_stderr(JsonFormatter(), "ERROR"):
        device.warning("below the command's level")  # and the logger below caches that it is disabled
    assert capsys.readouterr().err == ""
    device.warning("after the command")  # the cache cleared: it reaches the program's own handlers
    assert [r.getMessage() for r in caplog.records] == ["after the command"]


def test_a_json_line_names_its_event_and_keeps_the_sentence(capsys):
    with logging_to_stderr(JsonFormatter(), "INFO"):
        logging.getLogger("facecast.device").warning("CUDA cannot run (%s)", "no GPU",
                                                     extra={"event": "cuda_unavailable", "fields": {"model": "x"}})
        logging.getLogger("facecast.serve").info("listening", extra={"fields": {"endpoint": "tcp://a:1"}})
    first, second = map(json.loads, capsys.readouterr().err.splitlines())
    assert (first["level"], first["event"], first["message"], first["model"]) == \
        ("warning", "cuda_unavailable", "CUDA cannot run (no GPU)", "x")
    assert second["event"] == "listening" and "message" not in second and second["endpoint"] == "tcp://a:1"


def test_a_person_reads_facecast_lines(capsys):
    with logging_to_stderr(PLAIN):
        logging.getLogger("facecast.render").warning("CUDA graphs cannot run")
        logging.getLogger("facecast.render").info("not for a person")
    assert capsys.readouterr().err == "facecast: CUDA graphs cannot run\n"


def test_what_native_code_writes_to_the_stderr_file_is_caught_as_lines(capfd):
    with native_stderr_caught() as lines:
        os.write(2, b"[E:onnxruntime:Default] Failed to load library\n\n  second line\n")
    os.write(2, b"after\n")
    assert lines == ["[E:onnxruntime:Default] Failed to load library", "  second line"]
    assert capfd.readouterr().err == "after\n"


def test_threads_that_catch_the_stderr_file_at_once_leave_it_as_it_was(capfd):
    """The stderr file is the process's: blocks in several threads, nested ones too, take turns, and the
    file is the process's own stderr again after every one."""
    import threading

    caught: dict[int, tuple[list[str], list[str]]] = {}

    def catch(k: int) -> None:
        with native_stderr_caught() as lines, native_stderr_caught() as inner:
            os.write(2, f"thread {k}\n".encode())
        caught[k] = lines, inner

    threads = [threading.Thread(target=catch, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os.write(2, b"after\n")
    assert caught == {k: ([f"thread {k}"], []) for k in range(8)}
    assert capfd.readouterr().err == "after\n"
