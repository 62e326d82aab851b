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


COLOURS = ["#3b5bdb", "#74c0fc", "#f59f00", "#37b24d", "#f06595", "#868e96"]  # the app's primary first


def delivery_figure(daily: pl.DataFrame, lang: str) -> go.Figure:
    """Impressions per day and campaign (the chart of the page and of the HTML report), in the
    app's colours and the reader's language."""
    t = lambda s: i18n.translate(s, lang)  # noqa: E731
    figure = px.bar(daily.rename({"day": t("Day"), "campaign": t("Campaign"), "impressions": t("Impressions")}),
                    x=t("Day"), y=t("Impressions"), color=t("Campaign"), color_discrete_sequence=COLOURS,
                    template="plotly_white")
    figure.update_layout(legend_title_text="", height=360, margin={"t": 30, "b": 10}, xaxis_title="",
                         legend={"orientation": "h", "y": -0.15})
    return figures.localised(figure, lang, counts=True)


def file_name(period: Period) -> str:
    """The download's name: the period's first and last days (the end is exclusive)."""
    return f"sponsor-report-{period.start}-{period.end - timedelta(days=1)}.html"


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in frame.iter_rows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def render(report: SponsorReport, period: Period, lang: str) -> str:
    """The whole report as HTML: the app's colours, numbers, amounts and dates as the reader's
    language writes them, deliverables ticked with marks drawn in CSS (no font needed)."""
    t = lambda s, **kw: i18n.translate(s, lang, **kw)  # noqa: E731
    metrics = "".join(
        f"<div class='metric'><div class='label'>{escape(t(m.label))}</div>"
        f"<div class='value'>{escape(i18n.metric_value(m.value, m.unit, lang, m.currency))}</div></div>"
        for m in report.metrics)
    rows = report.campaigns.to_dicts()
    campaigns = pl.DataFrame({
        t("Campaign"): [r["name"] for r in rows],
        t("Starts"): [i18n.day(r["starts_on"], lang) for r in rows],
        t("Ends"): [i18n.day(r["ends_on"], lang) for r in rows],
        t("Amount"): [i18n.money(r["amount_minor"], r["currency"], lang) for r in rows],
        t("Impressions"): [i18n.number(r["impressions"], lang) for r in rows],
        t("Clicks"): [i18n.number(r["clicks"], lang) for r in rows],
        t("Engagements"): [i18n.number(r["engagements"], lang) for r in rows],
        t("Click-through rate"): [i18n.percent(r["ctr"], lang) for r in rows]}, schema={
        name: pl.String for name in (t("Campaign"), t("Starts"), t("Ends"), t("Amount"), t("Impressions"), t("Clicks"),
                                     t("Engagements"), t("Click-through rate"))})
    checklist = "".join(
        f"<li><span class='mark {'done' if d['delivered'] >= d['target'] else 'todo'}' role='img' "
        f"aria-label='{escape(t('Delivered in full') if d['delivered'] >= d['target'] else t('Not delivered in full yet'))}'></span> "
        f"{escape(d['campaign'])} — {escape(d['label'])}: {i18n.number(d['delivered'], lang)} / "
        f"{i18n.number(d['target'], lang)}</li>" for d in report.deliverables.iter_rows(named=True))
    chart = (figures.escaped(delivery_figure(report.daily, lang)).to_html(include_plotlyjs=True, full_html=False)
             if report.daily.height else f"<p>{escape(t('No delivery recorded in this period.'))}</p>")
    title = t("Sponsor report: {sponsor}", sponsor=report.sponsor["name"])
    span = t("{start} to {end}", start=i18n.day(period.start, lang), end=i18n.day(period.end - timedelta(days=1), lang))
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1000px;
       color: #1f2937; padding: 0 1rem; }}
h1 {{ color: #3b5bdb; margin-bottom: .2rem; }} h2 {{ color: #364fc7; border-bottom: 2px solid #dbe4ff; padding-bottom: .2rem; }}
.period {{ color: #6b7280; margin-top: 0; }}
.metrics {{ display: flex; gap: 1rem; flex-wrap: wrap; }}
.metric {{ border: 1px solid #dbe4ff; border-left: 4px solid #3b5bdb; border-radius: 8px; padding: .8rem 1rem;
          min-width: 150px; background: #f8f9ff; }}
.label {{ color: #6b7280; font-size: .9rem; }} .value {{ font-size: 1.6rem; font-variant-numeric: tabular-nums; }}
table {{ border-collapse: collapse; width: 100%; }}
th {{ background: #edf2ff; color: #364fc7; text-align: left; }}
th, td {{ border-bottom: 1px solid #e5e7eb; padding: .45rem; }}
td {{ font-variant-numeric: tabular-nums; }}
li {{ list-style: none; margin: .35rem 0; }}
.mark {{ display: inline-block; width: .85em; height: .85em; border: 2px solid #3b5bdb; border-radius: 3px;
        vertical-align: -.1em; margin-right: .3em; }}
.mark.done {{ background: #3b5bdb; box-shadow: inset 0 0 0 2px #fff; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p class="period">{escape(span)}</p>
<div class="metrics">{metrics}</div>
<h2>{escape(t("Delivery over time"))}</h2>{chart}
<h2>{escape(t("Campaigns"))}</h2>{_table(campaigns)}
<h2>{escape(t("Deliverables"))}</h2><ul>{checklist or escape(t("No deliverable."))}</ul>
</body></html>"""
