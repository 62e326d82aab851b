"""Streamlit helpers shared by app.py and the pages (cmcore stays free of Streamlit)."""
