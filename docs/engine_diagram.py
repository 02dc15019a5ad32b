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
    fig = plt.figure(figsize=(8, 4.8))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 8)
    ax.set_ylim(0, 4.8)
    ax.set_axis_off()
    w, h = 2.2, 1.45
    # Two rows, read like a loop: left to right on top, right to left below.
    corners = [(0.3, 3.0), (2.9, 3.0), (5.5, 3.0), (5.5, 0.95), (2.9, 0.95), (0.3, 0.95)]
    for (name, text), (x, y) in zip(STAGES, corners, strict=True):
        dashed = name.startswith("(")
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.03",
                                    fc="white" if dashed else "#eef4fb", ec="#2a5d9f",
                                    ls="--" if dashed else "-", lw=1.4))
        ax.text(x + w / 2, y + h - 0.25, name, ha="center", va="center", fontsize=11,
                family="monospace", weight="bold")
        ax.text(x + w / 2, y + 0.55, text, ha="center", va="center", fontsize=9)

    def arrow(start, end, **kw):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14,
                                     color=kw.pop("color", "#2a5d9f"), **kw))

    arrow((0.3 + w, 3.0 + h / 2), (2.9, 3.0 + h / 2))
    arrow((2.9 + w, 3.0 + h / 2), (5.5, 3.0 + h / 2))
    arrow((5.5 + w / 2, 3.0), (5.5 + w / 2, 0.95 + h))
    arrow((5.5, 0.95 + h / 2), (2.9 + w, 0.95 + h / 2))
    arrow((2.9, 0.95 + h / 2), (0.3 + w, 0.95 + h / 2))
    arrow((0.3 + w / 2, 0.95 + h), (0.3 + w / 2, 3.0), color="#888888")
    ax.text(0.3 + w / 2 + 0.08, 2.7, "next\nbatch", fontsize=8, color="#666666", va="center")
    ax.text(4.0, 0.45, "all in C, without the GIL; Python is entered only between spans of "
            "about 0.1 s\n(progress bars, callbacks, Ctrl-C)", ha="center", va="center",
            fontsize=9, color="#444444")
    return fig
