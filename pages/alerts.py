"""Alerts: one's notifications (read, marked read) and scheduled reports; managers also
set the rules (kind, threshold, channel, recipients; audited) and read the delivery log."""
import json
from urllib.parse import parse_qsl

import streamlit as st

from cmcore import i18n
from cmcore.alerts import inbox, messages, schedule
from cmcore.alerts import rules as alert_rules
from cmcore.alerts.kinds import KINDS
from cmcore.i18n import LANGUAGES
from ui import widgets
from ui.page import open_page
from ui.text import lang, plain, refusal, t, words

CHANNEL_NAMES = {"email": "E-mail", "webhook": "Webhook", "app": "In the app"}
FORMAT_NAMES = {"slack": "Slack", "discord": "Discord", "json": "JSON signed with HMAC-SHA256"}
OUTCOMES = {"sent": "sent", "retried": "failed, tried again", "failed": "failed for good"}
REPORT_NAMES = {"weekly_digest": "Weekly digest (Mondays, 08:00)",
                "approvals": "Rewards awaiting approval (daily, 09:00, when some wait)",
                "sponsor_monthly": "Monthly report to the sponsor's contact (the 1st, 08:00)"}

principal = open_page("alerts")
st.title(t("Alerts"))


def evidence(link: str) -> None:
    """A link to the page and filters that show a notification's evidence."""
    page, _, query = link.partition("?")
    st.page_link(f"pages/{page}.py", label=t("See the evidence"), icon=":material/search:",
                 query_params=dict(parse_qsl(query)) or None)


def my_notifications() -> None:
    listed = inbox.notifications(principal)
    unread = int((~listed["read"]).sum()) if listed.height else 0
    left, right = st.columns([3, 1])
    left.caption(t("{n} {n|unread|unread}", n=unread))
    if unread and right.button(t("Mark all read")):
        inbox.mark_read(principal)
        st.rerun()
    if widgets.empty(listed, "No notification yet: the alerts your managers set will show here."):
        return
    for row in listed.head(50).iter_rows(named=True):
        with st.container(border=True):
            title = messages.title(row["kind"], lang())
            rule = f" — {plain(row['rule'])}" if row["rule"] else ""
            st.markdown(("🔵 " if not row["read"] else "") + f"**{plain(title)}**{rule}")
            st.markdown(messages.sentence(row["kind"], json.loads(row["facts"]), lang(), quote=plain))
            cols = st.columns([2, 2, 1])
            cols[0].caption(t("{when}, by {channel}", when=i18n.moment(row["created_at"], lang()) + " UTC",
                              channel=t(CHANNEL_NAMES[row["channel"]])))
            with cols[1]:
                evidence(row["link"])
            if not row["read"] and cols[2].button(t("Mark read"), key=f"read_{row['id']}"):
                inbox.mark_read(principal, [row["id"]])
                st.rerun()


def my_settings() -> None:
    """The reports one gets, written in one's interface language."""
    reports()
    st.caption(t("Your e-mails are written in the language of your interface: {language} (Language, in the sidebar).",
                 language=LANGUAGES[lang()]))


def tested(report: str, sponsor_id: int | None = None) -> None:
    """Send a report to oneself now, and say how it went."""
    outcome = schedule.send_test(principal, report, sponsor_id)
    if outcome == "sent":
        st.success(t("Sent to you."))
    else:
        st.error(t("Not sent: see the delivery log."))


def reports() -> None:
    """The scheduled reports one gets: a switch and a test for each."""
    st.subheader(t("Scheduled reports"))
    for report, on in schedule.subscriptions(principal).items():
        left, right = st.columns([3, 1])
        wanted = left.toggle(t(REPORT_NAMES[report]), value=on, key=f"report_{report}")
        if wanted != on:
            schedule.subscribe(principal, report, wanted)
            st.rerun()
        if right.button(t("Send a test now"), key=f"test_{report}"):
            tested(report)


def sponsor_reports() -> None:
    """Managers: which sponsors' contacts get their monthly report; a test of one, sent to oneself."""
    st.subheader(t(REPORT_NAMES["sponsor_monthly"]))
    listed = schedule.sponsor_subscriptions(principal)
    if widgets.empty(listed, "No sponsor has a contact address yet (Monetisation)."):
        return
    for row in listed.iter_rows(named=True):
        left, right = st.columns([3, 1])
        wanted = left.toggle(f"{plain(row['name'])} ({plain(row['contact_email'])})", value=row["subscribed"],
                             key=f"sponsor_{row['sponsor_id']}")
        if wanted != row["subscribed"]:
            schedule.subscribe(principal, "sponsor_monthly", wanted, row["sponsor_id"])
            st.rerun()
        if right.button(t("Send me a test now"), key=f"sponsor_test_{row['sponsor_id']}"):
            tested("sponsor_monthly", row["sponsor_id"])


def rule_form() -> None:
    listed = alert_rules.listing(principal)
    names = {r["id"]: r["name"] for r in listed.iter_rows(named=True)}
    # Words made here, on the script's thread (a widget's format_func may run elsewhere).
    rules = {None: t("A new rule")} | {i: f"#{i} {plain(name)}" for i, name in names.items()}
    kinds, channels = {k: t(kind.title) for k, kind in KINDS.items()}, words(CHANNEL_NAMES)
    chosen = st.selectbox(t("Rule"), list(rules), key="rule_chosen", format_func=rules.get)
    current = next((r for r in listed.iter_rows(named=True) if r["id"] == chosen), None)
    kind = st.selectbox(t("What to watch"), list(KINDS), format_func=kinds.get,
                        index=list(KINDS).index(current["kind"]) if current else 0, key=f"kind_{chosen}")
    name = st.text_input(t("Name"), value=current["name"] if current else t(KINDS[kind].title), max_chars=120,
                         key=f"name_{chosen}_{kind}")
    threshold = st.number_input(t("Threshold: {meaning}", meaning=t(KINDS[kind].threshold)), min_value=0.0,
                                max_value=1e9, value=float(current["threshold"] if current else KINDS[kind].default),
                                key=f"threshold_{chosen}_{kind}")
    channel = st.radio(t("Channel"), list(CHANNEL_NAMES), format_func=channels.get, horizontal=True,
                       index=list(CHANNEL_NAMES).index(current["channel"]) if current else 0, key=f"channel_{chosen}")
    people, url, fmt = [], None, None
    if channel == "webhook":
        url = st.text_input(t("Webhook address"), value=(current or {}).get("webhook_url") or "",
                            key=f"url_{chosen}")
        fmt = st.selectbox(t("Format"), list(FORMAT_NAMES), format_func=words(FORMAT_NAMES).get, key=f"fmt_{chosen}",
                           index=list(FORMAT_NAMES).index(current["webhook_format"]) if current and current["webhook_format"]
                           else 0)
    else:
        users = alert_rules.recipients(principal)
        people = st.multiselect(t("Recipients"), users, key=f"people_{chosen}",
                                default=[u for u in (current["recipients"] if current else [principal.username])
                                         if u in users])
    active = st.checkbox(t("Active"), value=current["active"] if current else True, key=f"active_{chosen}")
    if st.button(t("Save the rule"), type="primary"):
        try:
            saved = alert_rules.save(principal, alert_rules.Rule(kind, name, threshold, channel, tuple(people), url,
                                                                 fmt, active), chosen)
        except ValueError as err:
            st.error(refusal(err))
        else:
            st.success(t("Rule #{id} saved: the worker evaluates it within a minute.", id=saved))
    widgets.table(listed.with_columns(listed["kind"].replace_strict({k: t(v.title) for k, v in KINDS.items()}),
                                      listed["recipients"].list.join(", "),
                                      listed["channel"].replace(words(CHANNEL_NAMES)),
                                      listed["webhook_format"].replace(words(FORMAT_NAMES))),
                  "alert_rules", {"id": "#", "name": "Name", "kind": "What to watch", "threshold": "Threshold",
                                  "channel": "Channel", "recipients": "Recipients", "webhook_format": "Format",
                                  "active": "Active", "messages": "Messages", "last_fired": "Last fired",
                                  "created_by": "Set by"})


def delivery_log() -> None:
    failing = inbox.failing(principal)
    for row in failing.filter(failing["status"] == "failed").head(5).iter_rows(named=True):
        st.error(t("“{rule}” could not be sent by {channel} to {recipient}: {error}", rule=plain(row["rule"] or ""),
                   channel=t(CHANNEL_NAMES[row["channel"]]), recipient=plain(row["recipient"]),
                   error=plain(row["last_error"] or "")))
    log = inbox.deliveries(principal)
    if widgets.empty(log, "Nothing sent yet by e-mail or webhook."):
        return
    log = log.with_columns(log["outcome"].replace_strict({k: t(v) for k, v in OUTCOMES.items()}),
                           log["channel"].replace_strict({k: t(v) for k, v in CHANNEL_NAMES.items()}))
    widgets.table(log, "deliveries", {"at": "When", "rule": "Rule", "channel": "Channel", "recipient": "Recipient",
                                      "outcome": "Outcome", "error": "Reason"})


if principal.role in alert_rules.MANAGERS:
    mine, rules_tab, log_tab = st.tabs([t("My notifications"), t("Rules"), t("Delivery log")])
    with mine:
        my_notifications()
        my_settings()
    with rules_tab:
        rule_form()
        sponsor_reports()
    with log_tab:
        delivery_log()
else:
    my_notifications()
    my_settings()
