"""The results: every suite's tables as markdown, every plot as a PNG (matplotlib, Agg), error
bars from min to max around the median."""
import os


def _cell(x):
    return str(x).replace("|", "\\|").replace("\n", " ")


def table_markdown(t):
    cols = t["columns"]
    lines = ["#### " + t["title"], "", "| " + " | ".join(_cell(c) for c in cols) + " |",
             "|" + "---|" * len(cols)]
    for row in t["rows"]:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    if t.get("note"):
        lines += ["", t["note"]]
    return "\n".join(lines) + "\n"


def render_plot(p, out_dir):
    """Writes OUT_DIR/<name>.png; returns the file name."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for s in p["series"]:
        med = s["median"]
        lo = [m - mn for m, mn in zip(med, s["min"])]
        hi = [mx - m for m, mx in zip(med, s["max"])]
        ax.errorbar(s["x"], med, yerr=[lo, hi], label=s["label"], marker="o", capsize=3,
                    linewidth=1.2, markersize=4)
    if p.get("logx"):
        ax.set_xscale("log")
    if p.get("logy"):
        ax.set_yscale("log")
    ax.set_title(p["title"])
    ax.set_xlabel(p["xlabel"])
    ax.set_ylabel(p["ylabel"])
    ax.grid(True, which="both", alpha=0.3)
    if p["series"]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    name = p["name"] + ".png"
    fig.savefig(os.path.join(out_dir, name))
    plt.close(fig)
    return name
