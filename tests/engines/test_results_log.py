from fakescope.engines import ResultLog


def test_rows_stream_and_a_cut_line_is_ignored(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultLog(path) as log:
        log.write({"path": "a", "v": 1})
        log.write({"path": "b", "v": 2})
    with open(path, "a") as fh:
        fh.write('{"path": "c", "v"')  # a run killed mid-write
    assert set(ResultLog(path).done()) == {"a", "b"}
    with ResultLog(path) as log:  # the next run starts on a fresh line
        log.write({"path": "c", "v": 3})
    assert ResultLog(path).done()["c"]["v"] == 3
