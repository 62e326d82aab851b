"""The community manager's console: the core package (no Streamlit below this line)."""
