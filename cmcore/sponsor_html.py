"""The sponsor report as one self-contained HTML file: its Plotly charts carry plotly.js inline,
so it opens offline; every text from the database is escaped."""
from __future__ import annotations

from datetime import timedelta
from html import escape

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from cmcore import figures, i18n
from cmcore.money import SponsorReport
from cmcore.periods import Period


def delivery_figure(daily: pl.DataFrame, lang: str) -> go.Figure:
    """Impressions per day and campaign (the chart of the page and of the HTML report)."""
    t = lambda s: i18n.translate(s, lang)  # noqa: E731
    figure = px.bar(daily.rename({"day": t("Day"), "campaign": t("Campaign"), "impressions": t("Impressions")}),
                    x=t("Day"), y=t("Impressions"), color=t("Campaign"))
    return figure.update_layout(legend_title_text="", height=360, margin={"t": 30, "b": 10})


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in frame.iter_rows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def render(report: SponsorReport, period: Period, lang: str) -> str:
    """The whole report as HTML."""
    t = lambda s, **kw: i18n.translate(s, lang, **kw)  # noqa: E731
    metrics = "".join(
        f"<div class='metric'><div class='label'>{escape(t(m.label))}</div>"
        f"<div class='value'>{escape(i18n.metric_value(m.value, m.unit, lang, m.currency))}</div></div>"
        for m in report.metrics)
    campaigns = report.campaigns.select(
        pl.col("name").alias(t("Campaign")), pl.col("starts_on").alias(t("Starts")), pl.col("ends_on").alias(t("Ends")),
        pl.struct("amount_minor", "currency").map_elements(
            lambda r: i18n.money(r["amount_minor"], r["currency"], lang), return_dtype=pl.String).alias(t("Amount")),
        pl.col("impressions").alias(t("Impressions")), pl.col("clicks").alias(t("Clicks")),
        pl.col("engagements").alias(t("Engagements")),
        pl.col("ctr").map_elements(lambda v: i18n.percent(v, lang), return_dtype=pl.String).alias(t("Click-through rate")))
    checklist = "".join(
        f"<li>{'✅' if d['delivered'] >= d['target'] else '⬜'} {escape(d['campaign'])} — {escape(d['label'])}: "
        f"{d['delivered']} / {d['target']}</li>" for d in report.deliverables.iter_rows(named=True))
    chart = (figures.escaped(delivery_figure(report.daily, lang)).to_html(include_plotlyjs=True, full_html=False)
             if report.daily.height else f"<p>{escape(t('No delivery recorded in this period.'))}</p>")
    title = t("Sponsor report: {sponsor}", sponsor=report.sponsor["name"])
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; }}
.metrics {{ display: flex; gap: 1rem; flex-wrap: wrap; }}
.metric {{ border: 1px solid #ddd; border-radius: 8px; padding: .8rem 1rem; min-width: 150px; }}
.label {{ color: #666; font-size: .9rem; }} .value {{ font-size: 1.6rem; }}
table {{ border-collapse: collapse; width: 100%; }} th, td {{ border-bottom: 1px solid #eee; padding: .4rem; text-align: left; }}
li {{ list-style: none; margin: .3rem 0; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p>{escape(t("{start} to {end}", start=period.start, end=period.end - timedelta(days=1)))}</p>
<div class="metrics">{metrics}</div>
<h2>{escape(t("Delivery over time"))}</h2>{chart}
<h2>{escape(t("Campaigns"))}</h2>{_table(campaigns)}
<h2>{escape(t("Deliverables"))}</h2><ul>{checklist or escape(t("No deliverable."))}</ul>
</body></html>"""
