"""Monetisation (KPIS.md, Monetisation). Amounts stay in integer minor units, and every total is
per currency: nothing here ever adds two currencies together. Totals are exact: summed as Int128
(`total`), where an Int64 sum wraps silently past 9.2 × 10^18 minor units."""
from __future__ import annotations

from datetime import date

import polars as pl

MONEY = pl.Int128  # a total of money, in minor units


def total(where: pl.Expr | None = None) -> pl.Expr:
    """The exact sum of `amount_minor` (of the rows `where` selects)."""
    amounts = pl.col("amount_minor").cast(MONEY)
    return (amounts if where is None else amounts.filter(where)).sum()


def revenue_booked(revenue: pl.DataFrame, start: date, end: date) -> dict[str, int]:
    """Revenue: sum of `amount_minor` booked in [start, end), per currency (never mixed)."""
    totals = (revenue.lazy().filter((pl.col("booked_on") >= start) & (pl.col("booked_on") < end))
              .group_by("currency").agg(total()).sort("currency").collect())
    return dict(totals.iter_rows())


def revenue_received(revenue: pl.DataFrame, start: date, end: date) -> dict[str, int]:
    """Cash received: sum of `amount_minor` received in [start, end), per currency."""
    return revenue_booked(revenue.drop("booked_on").rename({"received_on": "booked_on"}), start, end)


def outstanding(revenue: pl.DataFrame, end: date) -> dict[str, int]:
    """Outstanding at `end`: booked before it and not received before it, per currency."""
    owed = revenue.filter((pl.col("booked_on") < end)
                          & (pl.col("received_on").is_null() | (pl.col("received_on") >= end)))
    return dict(owed.group_by("currency").agg(total()).sort("currency").iter_rows())


def monthly_by_stream(revenue: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """Per month of booking, stream and currency: booked, received (of those lines, whenever) and
    outstanding (not received yet)."""
    return (revenue.filter((pl.col("booked_on") >= start) & (pl.col("booked_on") < end))
            .group_by(pl.col("booked_on").dt.truncate("1mo").alias("month"), "stream", "currency")
            .agg(total().alias("booked"),
                 total(pl.col("received_on").is_not_null()).alias("received"))
            .with_columns((pl.col("booked") - pl.col("received")).alias("outstanding"))
            .sort("month", "stream", "currency"))


def mrr(revenue: pl.DataFrame, month: date) -> dict[str, int]:
    """MRR: the recurring monthly membership revenue booked in the month of `month`, per currency."""
    first = month.replace(day=1)
    lines = revenue.filter(pl.col("recurring") & (pl.col("stream") == "membership")
                           & (pl.col("booked_on").dt.truncate("1mo") == first))
    return dict(lines.group_by("currency").agg(total()).sort("currency").iter_rows())


def per_active_member(totals: dict[str, int], mau: int) -> dict[str, float | None]:
    """Revenue per active member: the period's revenue over the MAU of its last day, per currency."""
    return {currency: (amount / mau if mau else None) for currency, amount in totals.items()}


def deliverables(campaigns: pl.DataFrame) -> pl.DataFrame:
    """One row per deliverable of each campaign: label, target, delivered and the share delivered."""
    rows = [{"campaign_id": c["id"], "kind": d.get("kind"), "label": d.get("label"),
             "target": int(d.get("target", 0)), "delivered": int(d.get("delivered", 0))}
            for c in campaigns.iter_rows(named=True) for d in c["deliverables"]]
    frame = pl.DataFrame(rows, schema={"campaign_id": pl.Int64, "kind": pl.String, "label": pl.String,
                                       "target": pl.Int64, "delivered": pl.Int64})
    return frame.with_columns((pl.min_horizontal("delivered", "target") / pl.col("target")).fill_nan(None)
                              .alias("share_delivered"))


def campaign_delivery(campaigns: pl.DataFrame, delivery: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """Per campaign, over its delivery days in [start, end): impressions, clicks, CTR = clicks /
    impressions, engagements; eCPM = amount / lifetime impressions × 1000 (minor units), and the
    share of its deliverables delivered."""
    period = delivery.filter((pl.col("day") >= start) & (pl.col("day") < end))
    sums = period.group_by("campaign_id").agg(pl.col("impressions", "clicks", "engagements").sum())
    lifetime = delivery.group_by("campaign_id").agg(pl.col("impressions").sum().alias("lifetime_impressions"))
    shares = (deliverables(campaigns).group_by("campaign_id")
              .agg((pl.min_horizontal("delivered", "target").sum() / pl.col("target").sum()).alias("deliverables_done")))
    return (campaigns.select(pl.col("id").alias("campaign_id"), "sponsor_id", "name", "starts_on", "ends_on",
                             "amount_minor", "currency")
            .join(sums, on="campaign_id", how="left").join(lifetime, on="campaign_id", how="left")
            .join(shares, on="campaign_id", how="left")
            .with_columns(pl.col("impressions", "clicks", "engagements", "lifetime_impressions").fill_null(0))
            .with_columns((pl.col("clicks") / pl.col("impressions")).fill_nan(None).alias("ctr"),
                          (pl.col("amount_minor") / pl.col("lifetime_impressions") * 1000).fill_nan(None)
                          .alias("ecpm_minor"))
            .with_columns(pl.when(pl.col("lifetime_impressions") > 0).then("ecpm_minor").alias("ecpm_minor"))
            .sort("starts_on", "campaign_id"))


def pipeline(campaigns: pl.DataFrame, revenue: pl.DataFrame, start: date, end: date, today: date) -> pl.DataFrame:
    """Sponsorship pipeline of the campaigns running in [start, end), per currency: contracted
    (their amounts), delivered (amounts × share of deliverables delivered), invoiced (revenue lines
    booked for them) and received (those lines paid by `today`)."""
    running = campaigns.filter((pl.col("starts_on") < end) & (pl.col("ends_on") >= start))
    done = (deliverables(running).group_by("campaign_id")
            .agg((pl.min_horizontal("delivered", "target").sum() / pl.col("target").sum()).alias("done")))
    lines = revenue.filter(pl.col("campaign_id").is_in(running["id"].implode()))
    contracted = (running.join(done, left_on="id", right_on="campaign_id", how="left")
                  .group_by("currency").agg(total().alias("contracted"),
                                            (pl.col("amount_minor") * pl.col("done").fill_null(0)).sum().round()
                                            .cast(MONEY).alias("delivered")))
    paid = (lines.group_by("currency")
            .agg(total().alias("invoiced"),
                 total(pl.col("received_on") <= today).alias("received")))
    return (contracted.join(paid, on="currency", how="full", coalesce=True)
            .with_columns(pl.col("contracted", "delivered", "invoiced", "received").fill_null(0).cast(MONEY))
            .sort("currency"))
