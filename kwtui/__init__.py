"""kwtui: plan, run, watch and prove data migrations into and out of KWDB (KaiwuDB).

The package root is the core: plain Python that never imports Textual. The user
interface lives in :mod:`kwtui.screens` and is only imported when the TUI starts.
"""

__version__ = "0.1.0"
