"""Driving pages under streamlit.testing: the signed-in user, the sidebar's period, and the bytes
of a download button (AppTest keeps them in a media store of its own, which `app` records)."""
from __future__ import annotations

import csv
import io
from datetime import date

from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from tests.builders import session

STORES: list[MemoryMediaFileStorage] = []  # the media stores of the AppTest runs of the current test


class RecordedStorage(MemoryMediaFileStorage):
    """AppTest's media store, kept reachable after the run for `download`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        STORES.append(self)


def as_user(at, username):
    """Seed a signed-in session (AppTest cannot carry the login cookie)."""
    at.session_state["session"] = session(username)
    return at.run()


def choose_period(at, first: date, last: date):
    """Set the sidebar's period to the custom days first–last (inclusive)."""
    at.sidebar.selectbox(key="period_preset").set_value("custom").run()
    at.sidebar.date_input(key="period_custom").set_value((first, last))
    return at.run()


def download(at, key: str) -> bytes:
    """The bytes the download button `key` hands the browser."""
    filename = at.download_button(key=key).proto.url.rsplit("/", 1)[1]
    for store in reversed(STORES):
        try:
            return store.get_file(filename).content
        except MediaFileStorageError:  # another run's store
            continue
    raise LookupError(f"no stored file behind the download button {key!r}")


def csv_rows(data: bytes) -> list[list[str]]:
    """A CSV download's cells, row by row, as a spreadsheet reads them (UTF-8 with its BOM)."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def excel_rows(data: bytes) -> list[list[object]]:
    """An Excel download's first sheet, row by row, as a spreadsheet shows it; a formula cell is
    its formula text ("=…"). openpyxl leaves the file's escape of a carriage return (_x000D_) as it is."""
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [[c.value.replace("_x000D_", "\r") if isinstance(c.value, str) else c.value for c in row]
            for row in sheet.iter_rows()]
