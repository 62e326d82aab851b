"""Rewards: proposals from the rules or by hand, approval by another staff member within the
budget, payout batches exported for the payment provider, history and audit trail."""
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from cmcore import community, currencies, figures, i18n, leaderboard, money, rewards
from cmcore.reports import Scope
from ui import widgets
from ui.page import open_page
from ui.text import lang, refusal, t, words

STATUSES = {"proposed": "Proposed", "approved": "Approved", "paid": "Paid", "rejected": "Rejected",
            "cancelled": "Cancelled"}
TRIGGERS = {"top_n": "Top N of the month", "accepted_answer": "Each accepted answer",
            "events_attended": "N events attended"}
STEPS = {"reward.propose": "Proposed", "reward.approve": "Approved", "reward.reject": "Rejected",
         "reward.cancel": "Cancelled", "reward.pay": "Paid"}
REWARD_KINDS = {"points": "Points", "money": "Money", "gift": "Gift", "badge": "Badge"}
LABELS = {"id": "Reward", "member": "Member", "rule": "Rule", "kind": "Kind", "amount": "Amount", "reason": "Reason",
          "status": "Status", "proposed_by": "Proposed by", "approved_by": "Approved by", "paid_by": "Paid by",
          "payout_batch": "Batch", "rank": "Rank this month", "score": "Score this month"}

principal = open_page("rewards")
st.title(t("Rewards"))
months = {m: i18n.month(rewards.month_period(m).start, lang()) for m in rewards.recent_months(community.today())}
period = st.selectbox(t("Month"), list(months), key="rewards_month", format_func=months.get)
month = rewards.month_period(period)


def shown(frame: pl.DataFrame) -> pl.DataFrame:
    """Amounts as people read them, statuses and kinds translated, the rules' reasons in the reader's
    language."""
    language = lang()  # read here: Polars runs the formatting on threads of its own
    return frame.with_columns(
        pl.struct("amount_minor", "currency").map_elements(
            lambda r: i18n.money(r["amount_minor"], r["currency"], language), return_dtype=pl.String).alias("amount"),
        pl.col("kind").replace(words(REWARD_KINDS)),
        *([pl.col("status").replace(words(STATUSES))] if "status" in frame.columns else []),
        *([reasons("reason", language)] if "reason" in frame.columns else []))


def reasons(column: str, language: str) -> pl.Expr:
    """The reasons of `column` in `language` (rewards.reason)."""
    return pl.col(column).map_elements(lambda r: rewards.reason(r, language), return_dtype=pl.String)


def attempt(action, success: str) -> None:
    """Run one step; on success redraw the page (its tables changed) with the message on top."""
    try:
        action()
    except (rewards.RewardError, ValueError) as err:
        st.error(t("Refused: {reason}", reason=refusal(err)))
        return
    st.session_state.setdefault("rewards_done", []).append(success)
    st.rerun()


for message in st.session_state.pop("rewards_done", []):
    st.success(message)


budgets = rewards.budgets(principal, period)
if budgets.is_empty():
    st.info(t("No budget for this month yet: a manager sets it below."))
else:
    cols = st.columns(len(budgets))
    for col, b in zip(cols, budgets.iter_rows(named=True), strict=True):
        unit, places = b["currency"], currencies.decimals(b["currency"])
        used, limit = (float(currencies.major(v or 0, unit)) for v in (b["used"], b["budget"]))
        gauge = go.Figure(go.Indicator(mode="gauge+number", value=used,
                                       title={"text": t("Points") if unit == currencies.POINTS else unit},
                                       number={"valueformat": f",.{places}f"},
                                       gauge={"axis": {"range": [0, max(limit, used, 1)], "exponentformat": "none",
                                                       "separatethousands": True},
                                              "threshold": {"value": limit, "line": {"color": "red"}}}))
        gauge = figures.localised(gauge.update_layout(height=200, margin={"t": 40, "b": 0}), lang())
        col.plotly_chart(gauge, width="stretch")
        amount = lambda minor: i18n.money(minor, unit, lang())  # noqa: E731
        col.caption(t("Used {used} of {budget} (approved {approved}, paid {paid})",
                      used=amount(b["used"]), budget=amount(b["budget"]), approved=amount(b["approved"]),
                      paid=amount(b["paid"])))

all_rewards = rewards.rewards(principal, period)
board = leaderboard.leaderboard(principal, Scope(month)).select("member_id", "rank", "score")
queue_tab, pay_tab, propose_tab, history_tab, rules_tab = st.tabs(
    [t("To approve"), t("To pay"), t("Propose"), t("History"), t("Rules and budget")])

with queue_tab:
    queue = all_rewards.filter(pl.col("status") == "proposed").join(board, on="member_id", how="left",
                                                                     maintain_order="left")
    if not widgets.empty(queue, "Nothing to approve this month."):
        widgets.table(shown(queue), "rewards_to_approve", {k: LABELS[k] for k in (
            "id", "member", "rank", "score", "rule", "kind", "amount", "reason", "proposed_by")})
        chosen = st.multiselect(t("Rewards"), queue["id"].to_list(), key="queue_choice",
                                format_func=lambda i: f"#{i} {queue.filter(pl.col('id') == i)['member'][0]}")
        reason = st.text_input(t("Reason (to reject)"), key="reject_reason")
        sure = st.checkbox(t("I have checked these rewards"), key="queue_confirm")
        left, right = st.columns(2)
        step = None
        if left.button(t("Approve"), disabled=not (chosen and sure), key="approve_chosen"):
            step = (lambda r: rewards.approve(principal, r), t("Reward {id} approved."))
        if right.button(t("Reject"), disabled=not (chosen and sure), key="reject_chosen"):
            step = (lambda r: rewards.reject(principal, r, reason), t("Reward {id} rejected."))
        if step:
            done = []
            for reward_id in chosen:  # each its own transaction: one refusal does not undo the others
                try:
                    step[0](reward_id)
                    done.append(step[1].format(id=reward_id))
                except rewards.RewardError as err:
                    st.error(t("Refused: {reason}", reason=refusal(err)))
            if done:
                st.session_state.setdefault("rewards_done", []).extend(done)
                st.rerun()

with pay_tab:
    ready = all_rewards.filter(pl.col("status") == "approved")
    if not widgets.empty(ready, "Nothing approved waits for payment."):
        widgets.table(shown(ready), "rewards_to_pay", {k: LABELS[k] for k in (
            "id", "member", "kind", "amount", "reason", "approved_by")})
        chosen = st.multiselect(t("Rewards"), ready["id"].to_list(), default=ready["id"].to_list(), key="pay_choice")
        sure = st.checkbox(t("Mark these rewards paid, in one batch"), key="pay_confirm")
        if st.button(t("Pay and export the batch"), disabled=not (chosen and sure), key="pay_chosen"):
            attempt(lambda: st.session_state.update(last_batch=rewards.pay(principal, chosen)), t("Paid."))
    if "last_batch" in st.session_state:
        batch, csv = st.session_state["last_batch"]
        st.success(t("Batch {batch} is paid.", batch=batch))
        st.download_button(t("Download the batch for the payment provider (CSV)"), csv, f"{batch}.csv", "text/csv",
                           key="batch_csv")

with propose_tab:
    if st.button(t("Propose from the rules"), key="propose_rules"):
        attempt(lambda: rewards.propose_from_rules(principal, period),
                t("Proposals made from the rules (running it again proposes nothing new)."))
    top = leaderboard.leaderboard(principal, Scope(month)).filter(pl.col("rank").is_not_null()).head(200)
    names = dict(zip(top["member_id"], top["display_name"], strict=True))
    with st.form("propose_by_hand", clear_on_submit=True):
        member = st.selectbox(t("Member"), list(names), format_func=names.get)
        kind = st.selectbox(t("Kind"), list(REWARD_KINDS), format_func=words(REWARD_KINDS).get)
        amount = st.text_input(t("Amount (points, or money e.g. 25.00)"))
        currency = widgets.currency(t("Currency (money only)"))
        reason = st.text_input(t("Reason"))
        if st.form_submit_button(t("Propose")):
            attempt(lambda: rewards.propose(principal, member, period, kind, money.typed(amount, lang()), currency, reason),
                    t("Proposed: another staff member approves it."))

with history_tab:
    status = st.multiselect(t("Status"), list(STATUSES), format_func=words(STATUSES).get, key="history_status")
    history = all_rewards.filter(pl.col("status").is_in(status)) if status else all_rewards
    if not widgets.empty(history, "No reward this month."):
        widgets.table(shown(history), "rewards_history", {k: LABELS[k] for k in (
            "id", "member", "rule", "kind", "amount", "reason", "status", "proposed_by", "approved_by", "paid_by",
            "payout_batch")})
        which = st.selectbox(t("Audit trail of reward"), history["id"].to_list(), key="trail_of")
        trail = rewards.trail(principal, which).with_columns(
            pl.col("action").replace(words(STEPS)),  # what a person wrote at the step: a reason, a batch
            pl.coalesce(pl.col("detail").str.json_path_match("$.reason"),
                        pl.col("detail").str.json_path_match("$.batch")).alias("detail")).with_columns(
            reasons("detail", lang()))
        widgets.table(trail, f"reward_{which}_trail", {"at": "Date", "actor": "By", "action": "Step", "detail": "Detail"})

with rules_tab:
    all_rules = rewards.rules(principal)
    if not widgets.empty(all_rules, "No rule yet: a manager adds one below."):
        widgets.table(shown(all_rules.with_columns(
            pl.col("trigger").replace(words(TRIGGERS)),
            pl.coalesce(pl.col("params").str.json_path_match("$.n"), pl.col("params").str.json_path_match("$.count"))
            .cast(pl.Int64, strict=False).alias("n"))), "reward_rules",
            {"code": "Code", "title": "Title", "trigger": "Trigger", "n": "N", "kind": "Kind", "amount": "Amount",
             "active": "Active"})
    if principal.role in rewards.MANAGERS:
        if not all_rules.is_empty():
            titles = dict(zip(all_rules["id"], all_rules["title"], strict=True))
            active = dict(zip(all_rules["id"], all_rules["active"], strict=True))
            rule = st.selectbox(t("Rule"), list(titles), format_func=titles.get, key="toggle_rule")
            label = t("Switch off") if active[rule] else t("Switch on")
            if st.button(label, key="toggle_rule_button"):
                attempt(lambda: rewards.set_rule_active(principal, rule, not active[rule]), t("Saved."))
        with st.form("set_budget"):
            currency = widgets.currency(t("Currency"), points=True)
            amount = st.text_input(t("Budget of the month"))
            if st.form_submit_button(t("Set the budget")):
                attempt(lambda: rewards.set_budget(principal, period, currency, money.typed(amount, lang())), t("Saved."))
        with st.form("add_rule", clear_on_submit=True):
            code = st.text_input(t("Code (e.g. top3)"))
            title = st.text_input(t("Title"))
            trigger = st.selectbox(t("Trigger"), list(TRIGGERS), format_func=words(TRIGGERS).get, key="trigger")
            number = st.number_input(t("N (top N, or events to attend)"), min_value=1, value=3)
            kind = st.selectbox(t("Kind"), list(REWARD_KINDS), format_func=words(REWARD_KINDS).get, key="rule_kind")
            amount = st.text_input(t("Amount (points, or money e.g. 25.00)"), key="rule_amount")
            currency = widgets.currency(t("Currency (money only)"), key="rule_currency")
            if st.form_submit_button(t("Add the rule")):
                params = {"top_n": {"n": int(number)}, "events_attended": {"count": int(number)}}.get(trigger, {})
                attempt(lambda: rewards.add_rule(principal, code, title, trigger, params, kind, money.typed(amount, lang()), currency),
                        t("Saved."))
