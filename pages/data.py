"""Data: administrators import files and manage platforms; staff merge members who are one person."""
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import streamlit as st

from cmcore import community, i18n, identities, ingest, platforms
from cmcore.ingest import canonical, listening
from cmcore.ingest.canonical import PLATFORM_KINDS, Rejected
from ui import widgets
from ui.page import open_page
from ui.text import lang, mention_words, plain, refusal, rejected, t, words

principal = open_page("data")
st.title(t("Data"))

SOURCES = {
    "canonical": "Canonical tables (CSV, JSON Lines, Parquet)",
    "stackexchange": "Stack Exchange data dump (XML or .7z)",
    "discourse": "Discourse (API JSON or Data Explorer CSV)",
    "discord": "Discord (DiscordChatExporter JSON)",
    "mentions": "Mentions (social-listening CSV or Excel)",
}
STATUSES = {"loaded": "Loaded", "rejected": "Rejected"}
SOURCE_NAMES = {"canonical": "Canonical tables", "stackexchange": "Stack Exchange", "discourse": "Discourse",
                "discord": "Discord", "mentions": "Mentions"}
TABLES = {"platforms": "Platforms", "members": "Members", "identities": "Accounts", "activities": "Activities",
          "votes": "Votes", "moderation_cases": "Moderation cases", "events": "Events", "attendance": "Attendance",
          "mentions": "Mentions", "sponsors": "Sponsors", "campaigns": "Campaigns", "delivery": "Delivery",
          "revenue": "Revenue"}
KINDS = {"discord": "Discord", "discourse": "Discourse", "reddit": "Reddit", "x": "X", "youtube": "YouTube",
         "stackexchange": "Stack Exchange", "meetup": "Meetup", "other": "Other"}
KEPT_UP = {"read": "Tables read whole", "refreshed": "Tables brought up to date by their changed rows",
           "updated": "Page results brought up to date by the changed rows",
           "rebuilt": "Page results computed whole",
           "fallback": "Changes that could not be followed (read or computed whole instead)"}
COUNTS = {"table": "Table", "inserted": "Inserted", "updated": "Updated", "skipped": "Unchanged"}
LABELS = {"created_at": "Date", "time": "Time", "source": "Source", "url": "Link", "author": "Author",
          "body": "Text", "title": "Title", "snippet": "Snippet", "reach": "Reach", "tool_lang": "Tool's language",
          "tool_sentiment": "Tool's sentiment", "lang": "Language", "sentiment": "Sentiment"}


def preview_mentions(uploads: list, date_format: str | None) -> None:
    """What importing each mentions export would do: which column became which field, the columns
    left out, the first rows as they would be imported, or why the file would be refused."""
    zone = community.timezone()
    for upload in uploads:
        seen = listening.preview(upload.name, upload.getvalue(), zone, date_format)
        with st.expander(t("What the import will do with {file}", file=plain(seen.file)), expanded=True):
            if seen.error is not None:
                st.error(t("It would be refused: {reason}", reason=rejected(seen.error)))
            shown = seen.mapping.with_columns(pl.col("field").replace_strict(words(LABELS)))
            widgets.table(shown, f"mapping_{upload.name}", {"field": "Field", "column": "Column of the file"})
            if seen.ignored:
                st.caption(t("Columns left out: {columns}", columns=plain(", ".join(seen.ignored))))
            if seen.sample is not None:
                st.caption(t("{rows} {rows|row|rows}, {repeated} {repeated|repeating|repeating} another identically"
                             " (kept once). The first ones, as they would be imported:", rows=seen.rows, repeated=seen.repeated))
                sample = mention_words(seen.sample)
                widgets.table(sample, f"sample_{upload.name}", LABELS, links=("url",))


def last_result(last: ingest.Result) -> None:
    """The latest import's result (one: a new import's replaces it): what changed, table by table."""
    changed = sum(c["inserted"] + c["updated"] for c in last.counts.values())
    if changed:
        st.success(t("Imported {rows} {rows|row|rows} in {seconds} s.", rows=i18n.number(changed, lang()),
                     seconds=i18n.number(last.seconds, lang(), 1)))
    else:
        st.info(t("Nothing changed: every row of these files was already there, as it is."))
    widgets.table(pl.DataFrame([{"table": words(TABLES).get(name, name), **counts}
                                for name, counts in last.counts.items()]),
                  "import_counts", COUNTS)
    for reason, count in last.notes.items():
        st.info(t("{reason}: {rows}", reason=t(reason), rows=i18n.number(count, lang())))


def import_files() -> None:
    source = st.selectbox(t("Source"), list(SOURCES), format_func=words(SOURCES).get)
    platform = None
    if ingest.SOURCES[source][1]:
        platform = st.text_input(t("Platform slug"), value=source,
                                 help=t("The platform the rows go to; created if it does not exist."))
    if source == "canonical":
        with st.expander(t("The canonical format: one file per table, named for it (members.csv, activities.jsonl…)")):
            described = canonical.describe()
            allowed = {v: t(v) for v in described["allowed"].drop_nulls().unique()}
            described = described.with_columns(pl.col("allowed").replace(allowed))
            widgets.table(described, "canonical_format", {
                "table": "Table", "column": "Column", "type": "Type", "required": "Required", "allowed": "Allowed"})
    round_ = st.session_state.setdefault("upload_round", 0)  # a new uploader, empty, after each import
    uploads = st.file_uploader(t("Files"), accept_multiple_files=True, key=f"upload_{source}_{round_}")
    date_format = None
    if source == "mentions":
        date_format = st.text_input(t("Format of the dates"), placeholder="%d/%m/%Y %H:%M", help=t(
            "Only for dates the importer does not read by itself (strftime directives)")) or None
        if uploads:
            preview_mentions(uploads, date_format)
    if not st.button(t("Import"), type="primary", disabled=not uploads):
        st.caption(t("Every file is checked whole before anything is written: a bad file changes nothing."))
        if last := st.session_state.get("last_import"):
            last_result(last)
        return
    st.session_state.pop("last_import", None)
    bar = st.progress(0.0, text=t("Reading the files…"))
    with tempfile.TemporaryDirectory(prefix="cm-upload-") as tmp:
        paths = []
        for number, upload in enumerate(uploads):
            path = Path(tmp) / str(number) / Path(upload.name).name  # the name tells the table
            path.parent.mkdir()
            path.write_bytes(upload.getvalue())
            paths.append(path)
        try:
            result = ingest.run(source, paths, principal, lambda f, m: bar.progress(f, text=m),
                                platform=platform, date_format=date_format)
        except ValueError as err:
            bar.empty()
            reason = (rejected(err) if isinstance(err, Rejected) else
                      t("the import failed: {reason}", reason=plain(err.reason)) if isinstance(err, ingest.ImportFailed)
                      else refusal(err))
            st.error(t("Nothing was imported: {reason}", reason=reason))
            return
    st.session_state["last_import"] = result
    st.session_state["upload_round"] = round_ + 1
    st.rerun()


def history() -> None:
    runs = ingest.history(principal)
    if widgets.empty(runs, "No import yet: import files in the first tab."):
        return
    names = words(TABLES)
    runs = runs.with_columns(pl.col("status").replace(words(STATUSES)), pl.col("source").replace(words(SOURCE_NAMES)),
                             pl.col("counts").str.replace_many([f"{k} " for k in names], [f"{v} " for v in names.values()]))
    widgets.table(runs, "imports", {"id": "Import", "at": "When", "actor": "By", "source": "Source",
                                    "files": "Files", "status": "Status", "counts": "Counts",
                                    "notes": "Notes", "error": "Error",
                                    "rows_per_s": "Rows per second"})


def keeping_up() -> None:
    since, done = ingest.kept_up(principal)
    st.subheader(t("How the pages keep up with new data"))
    zone = community.timezone()
    st.caption(t("Since {since} ({zone}), when this server first opened a page. A page's first view reads its tables"
                 " and computes its results whole; after an import or a sync, the pages read only the rows that"
                 " changed and bring their results up to date with them. The last row counts the changes that could"
                 " not be followed row by row (over a million rows in one statement): it should stay at or near 0.",
                 since=i18n.moment(since.astimezone(ZoneInfo(zone)), lang()), zone=zone))
    widgets.table(done.with_columns(pl.col("what").replace_strict(words(KEPT_UP))), "keeping_up",
                  {"what": "What was done", "times": "Times"})


def manage_platforms() -> None:
    listing = platforms.listing(principal)
    if not widgets.empty(listing, "No platform yet: add one below, or import a platform's export."):
        widgets.table(listing.with_columns(pl.col("kind").replace(words(KINDS))), "platforms", {"slug": "Slug", "name": "Name", "kind": "Kind",
                                             "accounts": "Accounts", "activities": "Activities"})
    with st.form("platform_form", clear_on_submit=True):
        st.caption(t("Add a platform, or rename one by giving its slug."))
        slug = st.text_input(t("Slug"))
        name = st.text_input(t("Name"))
        kind = st.selectbox(t("Kind"), PLATFORM_KINDS, format_func=words(KINDS).get)
        if st.form_submit_button(t("Save")):
            try:
                platforms.save(principal, slug, name, kind)
            except ValueError as err:
                st.error(t("Refused: {reason}", reason=refusal(err)))
            else:
                st.rerun()


def pick_member(column, label: str, key: str) -> int | None:
    """A member found by name or handle (the first 50 that match)."""
    with column:
        found = identities.people(principal, st.text_input(t("Find by name or handle"), key=f"{key}_search"))
        options = {r["member_id"]: f"{r['display_name']} (#{r['member_id']}) — {r['accounts'] or '—'}"
                   for r in found.iter_rows(named=True)}
        return st.selectbox(label, list(options), format_func=options.get, index=None, key=key,
                            placeholder=t("Choose a member") if options else t("No member matches"))


def merge_people() -> None:
    st.caption(t("Merge two members who are one person with accounts on different platforms."
                 " A merge can be undone."))
    pairs = identities.candidates(principal)
    st.subheader(t("Possible duplicates"))
    if not widgets.empty(pairs, "No two members share a name or handle across platforms."):
        widgets.table(pairs, "merge_candidates", {"member_id": "Member", "display_name": "Name",
                                                  "into_member_id": "Into member", "into_display_name": "Into name",
                                                  "shared_name": "Shared name"})
    left, right = st.columns(2)
    source = pick_member(left, t("Member to merge"), "merge_source")
    target = pick_member(right, t("Into member"), "merge_target")
    if st.button(t("Merge"), disabled=source is None or target is None):
        try:
            identities.merge(principal, source, target)
        except identities.MergeError as err:
            st.error(t("Refused: {reason}", reason=refusal(err)))
        else:
            st.rerun()
    done = identities.merges(principal)
    st.subheader(t("Merges"))
    if widgets.empty(done, "No merge yet."):
        return
    widgets.table(done, "merges", {"merge_id": "Merge", "display_name": "Merged member",
                                   "into_display_name": "Into", "merged_by": "By", "merged_at": "When",
                                   "undone_by": "Undone by", "undone_at": "Undone at"})
    active = done.filter(pl.col("undone_at").is_null())
    if active.height:
        undoable = {r["merge_id"]: t("#{id}: {name} into {into}", id=r["merge_id"], name=r["display_name"],
                                     into=r["into_display_name"]) for r in active.iter_rows(named=True)}
        choice = st.selectbox(t("Merge to undo"), list(undoable), format_func=undoable.get)
        if st.button(t("Undo the merge")):
            try:
                identities.undo(principal, choice)
            except identities.MergeError as err:
                st.error(t("Refused: {reason}", reason=refusal(err)))
            else:
                st.rerun()


if principal.role in ingest.IMPORTERS:
    tabs = st.tabs([t("Import"), t("Past imports"), t("Platforms"), t("People & merges")])
    for tab, shows in zip(tabs, ((import_files,), (history, keeping_up), (manage_platforms,), (merge_people,))):
        with tab:
            for show in shows:
                show()
else:
    merge_people()
