"""Connections (administrators): the platforms' APIs the worker syncs — add one (its secrets never
shown again), test it, set its schedule, pause, sync now, remove; each one's state."""
import polars as pl
import streamlit as st

from cmcore import connections
from cmcore.connections import http
from cmcore.settings import ConfigError
from ui import widgets
from ui.page import open_page
from ui.text import plain, refusal, t, words

SOURCE_NAMES = {"discourse": "Discourse (an admin's API key)",
                "stackexchange": "Stack Exchange (API 2.3, a site, an optional app key)",
                "discord": "Discord (a bot's token, REST)",
                "reddit": "Reddit (an app's client id and secret)",
                "feed": "Mentions from an RSS or Atom feed"}
STATUSES = {"new": "not synced yet", "ok": "working", "failing": "failing", "revoked": "credentials refused"}
LABELS = {"url": "Address (https://…)", "username": "API user (Api-Username)", "api_key": "API key",
          "site": "Site (stackoverflow, superuser…)", "key": "App key (optional)", "guild": "Server id",
          "channels": "Channel ids (comma-separated)", "token": "Bot token", "token_url": "Token address (https://…)",
          "subreddit": "Subreddit (without r/)", "client_id": "Client id", "client_secret": "Client secret"}

principal = open_page("connections")
st.title(t("Connections"))
st.caption(t("The worker syncs each connection on its schedule through the importer: every sync is a run of "
             "Data → Past imports. Secrets are encrypted and never shown again."))

listed = connections.listing(principal)
shown = listed.with_columns(
    pl.col("kind").replace_strict({k: t(v) for k, v in SOURCE_NAMES.items()}, default=pl.col("kind")),
    pl.when(pl.col("paused")).then(pl.lit(t("paused"))).otherwise(
        pl.col("state").replace_strict({k: t(v) for k, v in STATUSES.items()})).alias("state"))
if not widgets.empty(shown, "No connection yet: add one below, and the worker keeps its platform's data flowing."):
    widgets.table(shown, "connections", {"id": "#", "name": "Name", "kind": "Platform's API", "platform": "Platform",
                                         "state": "State", "every_minutes": "Every (minutes)",
                                         "last_success_at": "Last success", "last_rows": "Rows added",
                                         "lag_minutes": "Lag (minutes)", "last_error": "Last error"})
    for row in listed.iter_rows(named=True):
        if row["state"] in ("failing", "revoked") and not row["paused"]:
            st.error(t("{name}: {error}", name=plain(row["name"]), error=plain(row["last_error"] or "")))
    names = dict(zip(listed["id"], listed["name"], strict=True))
    chosen = st.selectbox(t("Connection"), list(names), format_func=lambda i: f"#{i} {names[i]}")
    row = listed.row(by_predicate=pl.col("id") == chosen, named=True)
    cols = st.columns(4)
    try:
        if cols[0].button(t("Test: fetch one page now"), key="try_now"):
            try:
                items = connections.try_now(principal, chosen)
            except (http.Fault, ConfigError) as err:
                st.error(t("The test failed: {reason}", reason=plain(str(err))))
            else:
                st.success(t("The API answered: {n} {n|item|items} on the first page.", n=items))
        if cols[1].button(t("Sync now"), key="sync_now"):
            connections.request_sync(principal, chosen)
            st.success(t("Asked: the worker syncs it within a minute."))
        if cols[2].button(t("Resume") if row["paused"] else t("Pause"), key="pause"):
            connections.set_paused(principal, chosen, not row["paused"])
            st.rerun()
        if cols[3].button(t("Remove"), key="remove", help=t("Stops syncing and forgets the secrets; "
                                                           "what was imported stays.")):
            connections.remove(principal, chosen)
            st.rerun()
        with st.form("schedule"):
            minutes = st.number_input(t("Sync every (minutes)"), 5, 10080, int(row["every_minutes"]))
            if st.form_submit_button(t("Save the schedule")):
                connections.set_schedule(principal, chosen, int(minutes))
                st.rerun()
    except ValueError as err:
        st.error(refusal(err))

st.subheader(t("Add a connection"))
kind = st.selectbox(t("Platform's API"), list(SOURCE_NAMES), format_func=words(SOURCE_NAMES).get)
connector = connections.CONNECTORS[kind]
form = st.session_state.setdefault("connection_form", 0)  # a new form once one is added: the key is gone
with st.form(f"add_connection_{form}"):
    name = st.text_input(t("Name"))
    platform = None if kind == "feed" else st.text_input(t("Platform (slug the rows go to)"), value=kind)
    settings = {key: st.text_input(t(LABELS[key]), value=connector.DEFAULTS.get(key, "")) for key in connector.SETTINGS}
    secrets = {key: st.text_input(t(LABELS[key]), type="password") for key in connector.SECRETS}
    every = st.number_input(t("Sync every (minutes)"), 5, 10080, 60)
    if st.form_submit_button(t("Add")):
        try:
            connections.add(principal, kind, name, platform, settings, secrets, int(every))
        except (ValueError, ConfigError) as err:
            st.error(t("Not added: {reason}", reason=refusal(err) if isinstance(err, ValueError) else plain(str(err))))
        else:
            st.session_state["connection_form"] = form + 1
            st.rerun()
