"""KWDB's CSV dialect: validation, minimal quoting, value formatting and the streaming reader."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import io
import itertools
import math
import uuid

import pytest

from kwtui.errors import UsageError
from kwtui.transfer import csvdialect
from kwtui.transfer.csvdialect import (
    CsvDialect,
    Record,
    count_records,
    format_value,
    format_values,
    iter_records,
    normalise_charset,
    read_header,
)

DELIMITERS = [",", "|", "\t", ";"]
ENCLOSED = ['"', "'"]
ESCAPED = ['"', "\\"]
NULLAS = ["", "NULL", "\\N"]
ALL_DIALECTS = [CsvDialect(d, e, c, n) for d, e, c, n in itertools.product(DELIMITERS, ENCLOSED, ESCAPED, NULLAS)]


def dialect_id(d: CsvDialect) -> str:
    names = {",": "comma", "|": "pipe", "\t": "tab", ";": "semi", '"': "dq", "'": "sq", "\\": "bs"}
    return f"{names[d.delimiter]}-{names[d.enclosed]}-{names[d.escaped]}-{d.nullas or 'empty'}".replace("\\", "bs")


#: values a migration must carry unchanged (text as the caller formats it; None is NULL)
AWKWARD: list[str | None] = [
    None, "", " ", "plain", "NULL", "null", "\\N", "N", "\\.", "\\", "\\\\", "a\\b", "end\\",
    '"', '""', 'say "hi"', '"begin', 'end"', "'", "it's", "'begin", "end'", "\\'", '\\"',
    ",", "a,b", ",lead", "trail,", "|", "a|b", ";", "a;b", "\t", "a\tb",
    "line\nbreak", "\n", "two\n\nblank", "cr\rhere", "crlf\r\nhere", "\r\n", "ends\n",
    " lead", "trail ", "  both  ", "\u3000ideographic space",
    "x" * 70_000,
]
CHINESE = ["中文", "基础测试,分隔符", '引号"中', "换行\n跨行", " 前导空格", "NULL中"]
TRADITIONAL = ["繁體中文", "資料庫,測試", '引號"中', "換行\n跨行"]


def read_all(data: bytes, dialect: CsvDialect, **kw: object) -> list[Record]:
    return list(iter_records(io.BytesIO(data), dialect, **kw))  # type: ignore[arg-type]


def roundtrip(dialect: CsvDialect, rows: list[list[str | None]]) -> list[list[str | None] | None]:
    data = dialect.format_rows(rows).encode(dialect.python_codec)
    recs = read_all(data, dialect)
    assert all(r.error is None for r in recs), [r.error for r in recs if r.error]
    return [r.fields for r in recs]


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"delimiter": ""}, "exactly one character"),
    ({"delimiter": ",,"}, "exactly one character"),
    ({"delimiter": "\n"}, "line break"),
    ({"delimiter": '"'}, "double quote"),
    ({"enclosed": "`"}, "enclosed"),
    ({"enclosed": ""}, "enclosed"),
    ({"escaped": "'"}, "escaped"),
    ({"delimiter": "'", "enclosed": "'"}, "delimiter and enclosed"),
    ({"delimiter": "\\", "escaped": "\\"}, "delimiter and escaped"),
    ({"nullas": "a,b"}, "nullas"),
    ({"nullas": 'x"'}, "nullas"),
    ({"nullas": "N\nA"}, "nullas"),
    ({"nullas": " NULL"}, "space"),
    ({"charset": "latin1"}, "not supported"),
])
def test_invalid_options_are_usage_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        CsvDialect(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("spelling, canon, codec", [
    ("utf8", "UTF-8", "utf-8"), ("UTF-8", "UTF-8", "utf-8"), ("utf-8", "UTF-8", "utf-8"),
    ("gbk", "GBK", "gbk"), ("CP936", "GBK", "gbk"),
    ("gb18030", "GB18030", "gb18030"), ("GB-18030", "GB18030", "gb18030"),
    ("big5", "BIG5", "big5"), ("Big-5", "BIG5", "big5"),
])
def test_charset_spellings_normalise(spelling: str, canon: str, codec: str) -> None:
    d = CsvDialect(charset=spelling)
    assert d.charset == canon
    assert d.python_codec == codec
    assert normalise_charset(spelling) == canon
    assert d == CsvDialect(charset=canon)  # equal (and hashable) whatever the spelling
    assert hash(d) == hash(CsvDialect(charset=canon))


def test_kwdb_option_values_are_accepted() -> None:
    for d, e, c, n in itertools.product(DELIMITERS + [".", "/"], ENCLOSED, ESCAPED, NULLAS + ["Null", "null"]):
        CsvDialect(d, e, c, n)


# --- writing ------------------------------------------------------------------------------------


def test_default_dialect_is_postgres_copy_csv() -> None:
    d = CsvDialect()
    assert d.format_row(["a", None, "", "b"]) == 'a,,"",b'
    assert d.format_row(["x,y", 'q"z', "line\nbreak", "cr\rx"]) == '"x,y","q""z","line\nbreak","cr\rx"'
    assert d.format_row([" lead", "trail ", "in side", "tab\t"]) == '" lead","trail ",in side,"tab\t"'
    assert d.format_row(["\\.", "\\", "NULL"]) == '\\.,\\,NULL'
    assert d.format_row(["\\."]) == '"\\."'
    assert d.format_row(["2025-01-31 12:47:24.22+00:00", "225.0", "M26"]) == "2025-01-31 12:47:24.22+00:00,225.0,M26"
    assert d.format_row([None]) == ""
    assert d.format_row([""]) == '""'


def test_escape_rules_for_each_enclosed_escaped_pair() -> None:
    value = ['say "hi"', "it's", "back\\slash"]
    assert CsvDialect().format_row(value) == '"say ""hi""",it\'s,back\\slash'
    assert CsvDialect(escaped="\\").format_row(value) == '"say \\"hi\\"",it\'s,"back\\\\slash"'
    assert CsvDialect(enclosed="'").format_row(value) == "'say \"\"hi\"\"','it\"'s',back\\slash"
    assert CsvDialect(enclosed="'", escaped="\\").format_row(value) == "say \"hi\",'it\\'s','back\\\\slash'"


def test_nullas_text_is_quoted_when_it_is_a_value() -> None:
    d = CsvDialect(nullas="NULL")
    assert d.format_row([None, "NULL", "", "null"]) == 'NULL,"NULL","",null'
    n = CsvDialect(nullas="\\N", escaped="\\")
    assert n.format_row([None, "\\N", "a"]) == '\\N,"\\\\N",a'


def test_format_rows_terminates_every_record() -> None:
    d = CsvDialect(delimiter="|")
    assert d.format_rows([]) == ""
    assert d.format_rows([[None]]) == "\n"
    assert d.format_rows([["a", "b|c"], ["d", None]]) == 'a|"b|c"\nd|\n'
    assert d.format_rows(iter([["x"]])) == "x\n"
    assert d.header_line(["id", "my col", "a|b"]) == 'id|my col|"a|b"'


def test_format_row_rejects_python_values() -> None:
    with pytest.raises(TypeError, match="format_value"):
        CsvDialect().format_row(["a", 1])  # type: ignore[list-item]


class Colour(enum.IntEnum):
    RED = 1


def test_format_value() -> None:
    utc = dt.UTC
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert format_value(None) is None
    assert format_value("x") == "x"
    assert format_value(True) == "true" and format_value(False) == "false"
    assert format_value(-42) == "-42"
    assert format_value(Colour.RED) == "1"
    assert format_value(0.1) == "0.1" and float(format_value(1 / 3)) == 1 / 3  # type: ignore[arg-type]
    assert format_value(250.0) == "250.0"
    assert format_value(1e300) == "1e+300"
    assert format_value(math.nan) == "NaN"
    assert format_value(math.inf) == "Infinity" and format_value(-math.inf) == "-Infinity"
    assert format_value(decimal.Decimal("1.50")) == "1.50"
    assert format_value(decimal.Decimal("-0.000000001")) == "-1E-9"
    assert format_value(dt.datetime(2025, 1, 31, 12, 47, 24, 220000, tzinfo=utc)) == "2025-01-31 12:47:24.22+00:00"
    assert format_value(dt.datetime(1969, 1, 1, 0, 0, 1, tzinfo=ist)) == "1969-01-01 00:00:01+05:30"
    assert format_value(dt.datetime(2024, 2, 29, 23, 59, 59, 999999)) == "2024-02-29 23:59:59.999999"
    assert format_value(dt.date(2025, 4, 7)) == "2025-04-07"
    assert format_value(dt.time(8, 30, 0, 500)) == "08:30:00.0005"
    assert format_value(dt.time(8, 30, tzinfo=utc)) == "08:30:00+00:00"
    assert format_value(dt.timedelta(days=1, hours=2, seconds=3, microseconds=400000)) == "1 day 02:00:03.4"
    assert format_value(dt.timedelta(days=-3)) == "-3 days 00:00:00"
    assert format_value(b"\xaa\x00") == "\\xaa00"
    assert format_value(bytearray(b"ab")) == "\\x6162"
    assert format_value(memoryview(b"\x01")) == "\\x01"
    assert format_value({"k": "中", "n": [1, None]}) == '{"k": "中", "n": [1, null]}'
    assert format_value([1, "a"]) == '[1, "a"]'
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert format_value(u) == "12345678-1234-5678-1234-567812345678"
    assert format_values([1, None, "a"]) == ["1", None, "a"]


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ALL_DIALECTS, ids=dialect_id)
def test_awkward_values_round_trip(dialect: CsvDialect) -> None:
    rows: list[list[str | None]] = [
        AWKWARD,
        AWKWARD[::-1],
        [None], [""], [None, None], ["", ""], [None, ""], ["", None],
        [dialect.nullas, None], [dialect.delimiter * 3, dialect.enclosed * 3, dialect.escaped * 3],
    ]
    rows += [[v] for v in AWKWARD]  # each alone: the whole record is that one field
    assert roundtrip(dialect, rows) == rows


@pytest.mark.parametrize("charset, values", [
    ("GBK", CHINESE), ("GB18030", CHINESE + ["😀 emoji", "𠀀"]), ("BIG5", TRADITIONAL), ("UTF-8", CHINESE + TRADITIONAL),
])
@pytest.mark.parametrize("dialect", [CsvDialect(), CsvDialect("|", "'", "\\", "\\N"), CsvDialect("\t", '"', "\\", "NULL")],
                         ids=dialect_id)
def test_non_ascii_round_trip_in_each_charset(charset: str, values: list[str], dialect: CsvDialect) -> None:
    d = CsvDialect(dialect.delimiter, dialect.enclosed, dialect.escaped, dialect.nullas, charset)
    rows: list[list[str | None]] = [[*values, None, ""], [v + "\\" for v in values], [None, *values]]
    data = d.format_rows(rows).encode(d.python_codec)
    if charset != "UTF-8":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")  # really encoded in the charset
    assert [r.fields for r in read_all(data, d)] == rows


def test_very_long_and_many_line_fields() -> None:
    d = CsvDialect()
    long = "中" * 1_000_000
    many = "\n".join(f'line {i}, "q"' for i in range(20_000))
    rows: list[list[str | None]] = [["1", long], ["2", many], ["3", "after"]]
    data = d.format_rows(rows).encode()
    recs = read_all(data, d)
    assert [r.fields for r in recs] == rows
    assert [r.line for r in recs] == [1, 2, 20_002]
    assert recs[1].lines == 20_000


def test_header_is_skipped_and_readable() -> None:
    d = CsvDialect(header=True, delimiter=";")
    text = d.header_line(["id", "name;x"]) + "\n" + d.format_rows([["1", "a"], ["2", None]])
    data = text.encode()
    recs = read_all(data, d)
    assert [r.fields for r in recs] == [["1", "a"], ["2", None]]
    assert [r.line for r in recs] == [2, 3]
    names, offset = read_header(io.BytesIO(data), d)
    assert names == ["id", "name;x"]
    assert [r.fields for r in read_all(data, d, start_offset=offset, start_line=2)] == [["1", "a"], ["2", None]]


# --- the reader: details and errors ---------------------------------------------------------------


def test_offsets_and_raw_text() -> None:
    d = CsvDialect()
    data = 'a,b\n"x\ny",z\n中,文\r\nlast,no-newline'.encode()
    recs = read_all(data, d)
    assert [r.fields for r in recs] == [["a", "b"], ["x\ny", "z"], ["中", "文"], ["last", "no-newline"]]
    assert [r.line for r in recs] == [1, 2, 4, 5]
    assert recs[0].offset == 0 and recs[-1].end_offset == len(data)
    for a, b in zip(recs, recs[1:], strict=False):
        assert a.end_offset == b.offset
    for r in recs:
        chunk = data[r.offset:r.end_offset].decode()
        assert chunk.rstrip("\r\n") == r.raw
        assert r.ok


def test_crlf_bom_blank_lines_and_trailing_delimiter() -> None:
    d = CsvDialect()
    data = b'\xef\xbb\xbfa,b\r\n"q\r\nx",\r\n\r\nc,\r\n'
    recs = read_all(data, d)
    assert [r.fields for r in recs] == [["a", "b"], ["q\r\nx", None], [None], ["c", None]]
    assert recs[0].offset == 3
    assert [r.fields for r in read_all(data, d, skip_blank_lines=True)] == [["a", "b"], ["q\r\nx", None], ["c", None]]
    assert [r.fields for r in read_all(b"", d)] == []


@pytest.mark.parametrize("data, fields", [
    (b"1\n", [["1"]]), (b"1,\n", [["1", None]]), (b"a\nb", [["a"], ["b"]]), (b"\n", [[None]]),
    (b"x", [["x"]]), (b'""\n', [[""]]), (b"\xef\xbb\xbf", []), (b"\xef\xbb\xbf1\n", [["1"]]),
])
def test_tiny_files(data: bytes, fields: list[list[str | None]]) -> None:
    assert [r.fields for r in read_all(data, CsvDialect())] == fields
    if not data.startswith(b"\xef"):  # a BOM means UTF-8 only
        assert [r.fields for r in read_all(data, CsvDialect(charset="GBK"))] == fields


@pytest.mark.parametrize("chunk", [1, 2, 7, 64])
def test_read_buffer_boundaries_anywhere(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Records, multi-byte characters and CRLF pairs cut by the read buffer at every place."""
    monkeypatch.setattr(csvdialect, "_CHUNK", chunk)
    for d in (CsvDialect(), CsvDialect("|", "'", "\\", "NULL", "GB18030")):
        rows: list[list[str | None]] = [["中文", None, "a\r\nb"], ["", "x|y", "q'\"z"], ["end", "值", " "]]
        data = d.format_rows(rows).replace("\n", "\r\n").encode(d.python_codec)
        recs = read_all(data, d)
        assert [r.fields for r in recs] == [["中文", None, "a\r\r\nb"], ["", "x|y", "q'\"z"], ["end", "值", " "]]
        assert recs[-1].end_offset == len(data)


def test_unquoted_fields_keep_escapes_and_refuse_bare_quotes() -> None:
    d = CsvDialect(escaped="\\")
    assert [r.fields for r in read_all(b'5 screen,a\\b\n', d)] == [['5 screen', "a\\b"]]
    # a quote inside an unquoted field is an error of that line (KWDB IMPORT's rule)
    recs = read_all(b'5" screen,a\n1,2\n', d)
    assert recs[0].error is not None and "bare" in recs[0].error and recs[1].fields == ["1", "2"]
    # an escape before an ordinary character stays as written
    assert [r.fields for r in read_all(b'"a\\xb",1\n', d)] == [["a\\xb", "1"]]


def test_unterminated_quote_at_end_of_file() -> None:
    d = CsvDialect()
    data = b'a,b\n"open,x\nc,d\ne,f\n'
    recs = read_all(data, d)
    assert recs[0].fields == ["a", "b"]
    bad = recs[1]
    assert bad.fields is None and bad.line == 2 and bad.lines == 3
    assert "starts on line 2" in (bad.error or "") and "never closed" in (bad.error or "")
    assert bad.end_offset == len(data)
    assert len(recs) == 2


def test_stray_characters_after_a_closing_quote() -> None:
    d = CsvDialect()
    data = b'1,ok\n"abc"x,2\n"multi\nline"junk,3\n4,fine\n'
    recs = read_all(data, d)
    assert [r.line for r in recs] == [1, 2, 3, 5]
    assert recs[1].error is not None and recs[1].error.startswith("line 2:") and "'x'" in recs[1].error
    assert recs[2].error is not None and recs[2].error.startswith("line 4:")
    assert recs[3].fields == ["4", "fine"]
    assert recs[2].raw == '"multi\nline"junk,3'


def test_bad_encoding_is_reported_and_reading_goes_on() -> None:
    gbk = CsvDialect(charset="GBK")
    good = "中文,1\n".encode("gbk")
    data = good + b"\xff\xfe,2\n" + good + b'"' + "开始".encode("gbk") + b"\n" + b"x\xff\",3\n" + good
    recs = read_all(data, gbk)
    assert [(r.line, r.ok) for r in recs] == [(1, True), (2, False), (3, True), (4, False), (6, True)]
    assert recs[1].error == "line 2 is not valid GBK text"
    assert recs[3].error is not None and "line 5 is not valid GBK text" in recs[3].error
    assert recs[3].lines == 2
    assert [r.fields for r in recs if r.ok] == [["中文", "1"]] * 3
    utf8 = read_all("é,1\n".encode("latin-1") + b"ok,2\n", CsvDialect())
    assert [r.ok for r in utf8] == [False, True] and utf8[1].line == 2


def test_a_record_after_a_multi_line_record_has_the_right_line() -> None:
    d = CsvDialect(delimiter="|", enclosed="'", escaped="\\")
    rows: list[list[str | None]] = [["1", "a\nb\nc"], ["2", "x"], ["3", "p\nq"], ["4", None]]
    data = d.format_rows(rows).encode() + b"'broken|5\n"
    recs = read_all(data, d)
    assert [r.line for r in recs] == [1, 4, 5, 7, 8]
    assert recs[-1].error is not None and "starts on line 8" in recs[-1].error


def test_max_record_bytes_bounds_an_open_quote() -> None:
    d = CsvDialect()
    data = b'"never closed,1\n' + b"filler,2\n" * 50 + b"ok,3\n"
    recs = read_all(data, d, max_record_bytes=100)
    assert recs[0].error is not None and "still open after" in recs[0].error
    assert recs[0].line == 1 and recs[0].lines > 1
    assert recs[-1].fields == ["ok", "3"] and recs[-1].line == 52
    assert all(r.ok for r in recs[1:])


@pytest.mark.parametrize("dialect", [CsvDialect(), CsvDialect("\t", "'", "\\", "NULL", "GB18030", True)],
                         ids=["default", "tab-gb18030-header"])
def test_resume_from_any_record_offset(dialect: CsvDialect) -> None:
    rows: list[list[str | None]] = [[str(i), f"值 {i}\n第二行" if i % 3 == 0 else f"v{i}", None if i % 4 else ""]
                                    for i in range(40)]
    text = (dialect.header_line(["id", "v", "n"]) + "\n" if dialect.header else "") + dialect.format_rows(rows)
    data = text.encode(dialect.python_codec)
    full = read_all(data, dialect)
    assert [r.fields for r in full] == rows
    for k in (1, 7, 20, 39):
        rec = full[k]
        again = read_all(data, dialect, start_offset=rec.offset, start_line=rec.line)
        assert [(r.line, r.offset, r.end_offset, r.fields) for r in again] == \
               [(r.line, r.offset, r.end_offset, r.fields) for r in full[k:]]
    assert read_all(data, dialect, start_offset=full[-1].end_offset) == []


def test_split_record_and_count_fields() -> None:
    d = CsvDialect(nullas="NULL")
    assert d.split_record('a,"b,c",NULL,"NULL",,"x\ny"') == ["a", "b,c", None, "NULL", "", "x\ny"]
    assert d.count_fields('1,"2",3') == 3
    with pytest.raises(ValueError, match="unterminated"):
        d.split_record('"open')
    with pytest.raises(ValueError, match="after the closing"):
        d.split_record('"a"b')


def test_count_records() -> None:
    d = CsvDialect()
    assert count_records(io.BytesIO(b""), d) == 0
    assert count_records(io.BytesIO(b"a\nb\nc"), d) == 3
    assert count_records(io.BytesIO(b"\xef\xbb\xbfa\nb\n"), d) == 2
    assert count_records(io.BytesIO(b'a\n"b\nc"\nd\n'), d) == 3
    assert count_records(io.BytesIO(b"h\n1\n2\n"), CsvDialect(header=True)) == 2
