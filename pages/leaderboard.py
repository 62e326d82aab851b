"""Key members: the leaderboard, rising and slipping members, each score explained, and the
scoring managers tune."""
import polars as pl
import streamlit as st

from cmcore import i18n, leaderboard
from cmcore.reports import Scope
from ui import widgets
from ui.page import filters, open_page
from ui.text import lang, refusal, t, words

KINDS = {"thread": "Threads", "answer": "Answers", "reply": "Replies", "comment": "Comments",
         "accepted": "Accepted answers", "reaction_received": "Reactions received",
         "reaction_given": "Reactions given", "event": "Events attended"}
# The main columns only, so the table fits the page: the points per kind are in "Why this score?".
LABELS = {"rank": "Rank", "rank_change": "Change", "display_name": "Member", "score": "Score",
          "activity": "Points per day", "love": "Love", "reach": "Reach", "gravity": "Gravity",
          "platforms": "Platforms"}
ACTIVITY_KINDS = {"thread": "Thread", "reply": "Reply", "comment": "Comment", "answer": "Answer",
                  "reaction": "Reaction"}
SHOWN = 100

principal = open_page("leaderboard")
st.title(t("Key members"))
f = filters()
scope = Scope(f.period, f.platforms, f.tz)
board = leaderboard.leaderboard(principal, scope)
widgets.anonymous_reactions(leaderboard.anonymous_platforms(principal, scope))
scored = board.filter(pl.col("rank").is_not_null())
if widgets.empty(scored):
    st.stop()
st.caption(t("Score: points per contribution, with a daily cap per kind; reactions count once a day "
             "per member; self-replies and self-reactions count for nothing. Love decays with a "
             "half-life; reach is how many members replied or reacted; gravity = love × reach."))
views = {"top": scored, "rising": scored.filter("rising").sort("score", descending=True),
         "slipping": board.filter("slipping").sort("previous_rank")}
tabs = st.tabs([t("Top"), t("Rising"), t("Slipping")])
for tab, (view, frame) in zip(tabs, views.items(), strict=True):
    with tab:
        if widgets.empty(frame, "Nobody here for this period."):
            continue
        head = frame.head(SHOWN)
        lines = leaderboard.activity_sparklines(principal, scope, head["member_id"].to_list())
        widgets.table(head.join(lines, on="member_id", how="left").with_columns(pl.col("score", "love", "gravity").round(1)),
                      f"leaderboard_{view}", LABELS, sparklines=("activity",))

st.subheader(t("Why this score?"))
names = dict(zip(scored["member_id"].head(SHOWN), scored["display_name"].head(SHOWN), strict=True))
member = st.selectbox(t("Member"), list(names), format_func=names.get, key="leaderboard_member")
explained, recent = leaderboard.explain(principal, scope, member)
row = scored.filter(pl.col("member_id") == member).row(0, named=True)
st.metric(t("Score"), i18n.number(row["score"], lang(), 1), help=t("The sum of the Points column below."))
widgets.table(explained.with_columns(pl.col("kind").replace(words(KINDS))),
              "score_explained", {"kind": "Kind", "items": "Done", "counted": "Counted", "weight": "Points each",
                                  "daily_cap": "Daily cap", "points": "Points"})
st.caption(t("Recent activity in the period"))
widgets.table(recent.with_columns(pl.col("kind").replace(words(ACTIVITY_KINDS))),
              "recent_activity", {"created_at": "Date", "kind": "Kind", "platform": "Platform",
                                          "thread": "Thread"})

if principal.role in leaderboard.EDITORS:
    with st.expander(t("Scoring (managers)")):
        rules = leaderboard.scoring()
        edited = st.data_editor(
            pl.DataFrame({"kind": list(KINDS), "label": list(words(KINDS).values()),
                          "weight": [float(rules.weights[k]) for k in KINDS],
                          "daily_cap": [int(rules.caps[k]) for k in KINDS]}),
            disabled=["kind", "label"], hide_index=True, key="scoring_editor",
            column_order=("label", "weight", "daily_cap"),  # the kind's words shown, its code kept to save
            column_config={"label": t("Kind"), "weight": t("Points each"), "daily_cap": t("Daily cap")})
        half_life = st.number_input(t("Love half-life (days)"), 1.0, 3650.0, float(rules.half_life_days))
        if st.button(t("Save the scoring")):
            frame = pl.DataFrame(edited)
            try:
                leaderboard.save_scoring(principal, leaderboard.Scoring(
                    weights=dict(zip(frame["kind"], frame["weight"], strict=True)),
                    caps={k: int(v) for k, v in zip(frame["kind"], frame["daily_cap"], strict=True)},
                    half_life_days=half_life))
            except ValueError as err:
                st.error(t("Not saved: {reason}", reason=refusal(err)))
            else:
                st.toast(t("Saved."))
                st.rerun()
