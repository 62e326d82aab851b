"""The ISO 4217 currencies the app offers, with the decimals of their minor unit."""

CURRENCIES = {"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "SEK": 2, "NOK": 2, "DKK": 2,
              "PLN": 2, "JPY": 0}
