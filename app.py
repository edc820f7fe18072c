"""`python app.py` serves the whole genmodels hub (offline, on the embedded default models)."""
from genmodels.hub import build, launch_kwargs

demo = build()

if __name__ == "__main__":
    demo.launch(**launch_kwargs())
