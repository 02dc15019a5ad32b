"""The engine's training step as a diagram (drawn at build time by matplotlib)."""
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

STAGES = [
    ("gather", "batch rows (or their\nnon-zeros) and targets\ninto buffers made once"),
    ("forward", "$z^l = W^l a^{l-1} + b^l$\n$a^l = f(z^l)$\n(sparse kernel for layer 1)"),
    ("output_error", "BP1\n$\\delta^L = \\nabla_a C \\odot f'(z^L)$"),
    ("backprop", "BP2  $\\delta^l$\nBP3  $\\partial C / \\partial b^l$\nBP4  $\\partial C / \\partial W^l$"),
    ("(reduce)", "MPI only: one Allreduce\nof the flat gradient"),
    ("update", "optimizer over the\nflat parameter buffer"),
]



def draw():
    """The diagram on the current pyplot figure (the plot directive collects it)."""
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(11, 3.3))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 3.3)
    ax.set_axis_off()
    w, h, y0 = 1.75, 1.6, 1.1
    for i, (name, text) in enumerate(STAGES):
        x = 0.15 + i * 2.0
        dashed = name.startswith("(")
        ax.add_patch(FancyBboxPatch((x, y0), w, h, boxstyle="round,pad=0.03",
                                    fc="#eef4fb" if not dashed else "white", ec="#2a5d9f",
                                    ls="--" if dashed else "-", lw=1.4))
        ax.text(x + w / 2, y0 + h - 0.25, name, ha="center", va="center", fontsize=10,
                family="monospace", weight="bold")
        ax.text(x + w / 2, y0 + 0.62, text, ha="center", va="center", fontsize=7.5)
        if i < len(STAGES) - 1:
            ax.add_patch(FancyArrowPatch((x + w + 0.02, y0 + h / 2), (x + 2.0 - 0.02, y0 + h / 2),
                                         arrowstyle="-|>", mutation_scale=12, color="#2a5d9f"))
    ax.add_patch(FancyArrowPatch((0.15 + 5 * 2.0 + w / 2, y0 - 0.05), (0.15 + w / 2, y0 - 0.05),
                                 connectionstyle="arc3,rad=-0.12", arrowstyle="-|>",
                                 mutation_scale=12, color="#888888"))
    ax.text(6, 0.25, "next mini-batch: all in C, without the GIL; Python is entered only "
            "between spans of about 0.1 s (progress, callbacks, Ctrl-C)", ha="center",
            fontsize=8.5, color="#444444")
    return fig
