"""The ISO 4217 currencies the app offers, with the decimals of their minor unit, and the one
conversion from minor units to the amounts people read."""
import polars as pl

CURRENCIES = {"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "SEK": 2, "NOK": 2, "DKK": 2,
              "PLN": 2, "JPY": 0}
POINTS = "PTS"  # the rewards programme's own unit for points, gifts and badges: whole numbers


def decimals(currency: str) -> int:
    """Decimals of the currency's minor unit: as listed, 0 for points, ISO's usual 2 otherwise."""
    return 0 if currency == POINTS else CURRENCIES.get(currency, 2)


def major(minor: float, currency: str) -> float:
    """5000 EUR minor units → 50.0."""
    return minor / 10 ** decimals(currency)


def major_expr(amount: str, currency: str = "currency") -> pl.Expr:
    """The same conversion on columns: `amount` in minor units of the row's `currency`."""
    units = {c: 10 ** d for c, d in CURRENCIES.items()} | {POINTS: 1}
    return pl.col(amount) / pl.col(currency).replace_strict(units, default=100, return_dtype=pl.Int64)


def text(minor: int, currency: str) -> str:
    """Minor units as a plain amount with the currency's decimals: 5000, 'EUR' → '50.00'."""
    return f"{major(minor, currency):.{decimals(currency)}f}"
