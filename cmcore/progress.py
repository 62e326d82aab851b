"""How long work reports how far it got: a callback taking the fraction done (0–1) and what it is
doing, drawn as a progress bar by the command line (tqdm) and the pages (st.progress)."""
from collections.abc import Callable

Progress = Callable[[float, str], None]
