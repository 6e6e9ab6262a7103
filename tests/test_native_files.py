"""kwtui.transfer.native_files without a server: nodelocal paths, the node's extern dir, file order."""

from __future__ import annotations

from pathlib import Path

import pytest

from kwtui.errors import UsageError
from kwtui.transfer import native
from kwtui.transfer.native_files import (
    csv_files,
    extern_dir_from_args,
    import_statement,
    is_file_url,
    reject_file_hint,
    split_nodelocal,
)


def test_split_nodelocal() -> None:
    assert split_nodelocal("nodelocal://1/a/b/") == (1, "a/b")
    assert split_nodelocal("NODELOCAL://12") == (12, "")
    assert split_nodelocal("http://x/a") is None
    with pytest.raises(UsageError):
        split_nodelocal("nodelocal://1/a/../../etc")
    assert is_file_url("nodelocal://1/d/n1.0.csv") and not is_file_url("nodelocal://1/d")


def test_extern_dir_from_kwbase_args() -> None:
    # as kwdb_internal.kv_node_status.args shows it on the live node
    args = ["/x/kwbase", "start-single-node", "--insecure", "--listen-addr=127.0.0.1:1", "--store=/tmp/s",
            "--pid-file=/tmp/s/kwbase.pid"]
    assert extern_dir_from_args(args) == Path("/tmp/s/extern")
    assert extern_dir_from_args(["kwbase", "start", "--store", "path=/data/k,attrs=ssd"]) == Path("/data/k/extern")
    assert extern_dir_from_args(["kwbase", "--store=/d", "--external-io-dir=/io"]) == Path("/io")
    assert extern_dir_from_args(["kwbase", "--external-io-dir=disabled"]) is None
    assert extern_dir_from_args(["kwbase", "--store=type=mem,size=1GiB"]) is None
    assert extern_dir_from_args(None) is None


def test_csv_files_in_chunk_order(tmp_path: Path) -> None:
    for name in ("n1.10.csv", "n1.2.csv", "n2.0.csv", "meta.sql", "reject.n1.0.txt", "extra.csv", "n1.0.csv"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "n1.1.csv").write_text("")
    assert csv_files(tmp_path) == ["n1.0.csv", "n1.2.csv", "n1.10.csv", "n2.0.csv", "extra.csv"]


async def test_import_statement_offline_is_as_written() -> None:
    opts = native.ImportOptions(delimiter="|")
    stmt = await import_statement(None, "nodelocal://1/d", into="t", options=opts)
    assert stmt.sql == "IMPORT INTO t CSV DATA (\"nodelocal://1/d\") WITH delimiter = '|'"
    stmt = await import_statement(None, "nodelocal://1/d/n1.0.csv", create=True)
    assert stmt.sql == 'IMPORT TABLE CREATE USING "nodelocal://1/d/meta.sql" CSV DATA ("nodelocal://1/d/n1.0.csv")'
    stmt = await import_statement(None, "nodelocal://1/db", database=True)
    assert stmt.sql == 'IMPORT DATABASE CSV DATA ("nodelocal://1/db")'
    with pytest.raises(UsageError):
        await import_statement(None, "nodelocal://1/d")


def test_reject_file_hint() -> None:
    assert reject_file_hint(["nodelocal://1/d"]) == "nodelocal://1/d/reject.n1.<idx>.txt"
    assert reject_file_hint(["nodelocal://3/d/n1.0.csv"]) == "nodelocal://3/d/reject.n3.<idx>.txt"
    assert "beside the data" in reject_file_hint([])
