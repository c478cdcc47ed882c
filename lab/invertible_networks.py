# %% [markdown] {"id": "title"}
# # Invertible neural networks: from a plain conv net to i-RevNets and i-ResNets
#
# A classifier throws information away: many images map to the same label. Yet
# two families of deep networks keep *all* of it, layer after layer, and can be
# run backwards:
#
# - **i-RevNets** ([Jacobsen, Smeulders & Oyallon, 2018](https://arxiv.org/abs/1802.07088)) are invertible *by
#   construction*: whatever their layers compute, the architecture lets you
#   undo them exactly (Part 2, where you design it).
# - **i-ResNets** ([Behrmann, Grathwohl, Chen, Duvenaud & Jacobsen, 2019](https://arxiv.org/abs/1811.00995)) are
#   ordinary residual networks made invertible by a constraint on their
#   residual functions (Part 3, where you find the constraint, a way to compute
#   the inverse, and a way to enforce the constraint during training).
#
# On MNIST you will train a plain convolutional network, then both invertible
# families, check that they really are invertible, and walk between two digits
# through feature space.
#
# **Plan.** Part 1 (Q1–Q2): data and training loop. Part 2 (Q3–Q9): i-RevNets.
# Part 3 (Q10–Q15): i-ResNets. Part 4 (Q16–Q17): interpolation and discussion.
#
# **Time.** Running the whole notebook takes well under a minute on a 2-core
# laptop CPU; no GPU is needed. Doing the lab takes about 6–8 hours if you know
# PyTorch (an estimate, not a measurement).

# %% [markdown] {"id": "how-checked"}
# ## How your work is checked
#
# Write your code between the line `# YOUR CODE HERE` and the end of the cell,
# and your maths in the cells that say *YOUR ANSWER HERE*. Keep the names and
# signatures the questions give.
#
# - **Visible tests.** Each code question is followed by a test cell: run it
#   after your answer, and it tells you in one sentence what fails and why. A
#   test that needs an earlier answer waits until that one works, and says so.
# - **Hidden tests.** When your notebook is graded, it is run from the top, then
#   hidden tests call your functions and classes on other inputs and check what
#   they return, property by property: a partly right answer earns the share of
#   the points of what it gets right. A later question is graded with the
#   course's own correct versions of the earlier pieces it builds on, so a
#   mistake costs points once, where it is made.
# - **By hand.** The maths and discussion questions are graded by a person with
#   a mark scheme; the points of each are in its heading.
#
# Do not delete, copy or edit the test cells: they are restored from the
# original when your notebook is graded. Before you submit, restart the kernel
# and run all cells, then press **Validate**.

# %% [markdown] {"id": "setup-md"}
# ## Setup
#
# The data root is read from the environment variable `INN_DATA_ROOT` (default:
# `~/data`). With internet access, MNIST is downloaded there on first use.
# Offline, put the four original MNIST files (`train-images-idx3-ubyte`,
# `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`,
# uncompressed) in `<data root>/MNIST/raw/`.
#
# The data are the handout's: the first 500 training images, all 10,000 test
# images, each turned into a tensor by `transforms.ToTensor()` (pixels in
# $[0, 1]$) and reshaped by `view(16, 7, 7)`. They are converted once, into
# `train_x` and `test_x`, instead of image by image in a `DataLoader` at every
# epoch: the same values, much faster. The handout's loaders, `trainloader`
# (batches of 64, reshuffled every epoch) and `testloader` (batches of 16),
# are built over them: use them, or index `train_x` and `test_x` yourself.

# %% {"id": "setup", "kind": "readonly"}
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import torchvision
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)  # every training cell below re-seeds as well

DATA_ROOT = Path(os.environ.get("INN_DATA_ROOT", "~/data")).expanduser()
N_TRAIN = 500  # the lab trains on the first 500 training images
BATCH_SIZE = 64  # the handout's training batches: 8 optimiser steps per epoch (7 of 64 images, one of 52)


def load_mnist(train: bool) -> torchvision.datasets.MNIST:
    """Load MNIST from DATA_ROOT, downloading it if it is not there yet."""
    try:
        return torchvision.datasets.MNIST(DATA_ROOT, train=train, download=True)
    except RuntimeError:  # torchvision reports a failed download as a RuntimeError
        raise FileNotFoundError(
            f"MNIST is not in {DATA_ROOT / 'MNIST' / 'raw'} and could not be downloaded: "
            "put the four MNIST files there, or set INN_DATA_ROOT to a folder whose "
            "MNIST/raw/ holds them."
        ) from None


def to_network_view(images: torch.Tensor) -> torch.Tensor:
    """(n, 28, 28) uint8 images -> (n, 16, 7, 7) network inputs, as the handout builds them.

    `transforms.ToTensor()` (pixels / 255, in [0, 1]) then `view(16, 7, 7)`: the 784 pixels,
    read row by row, cut into 16 channels of 49 consecutive pixels each.
    """
    return (images.float() / 255).view(-1, 16, 7, 7)


def to_image_view(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `to_network_view` (without the rescaling): (n, 16, 7, 7) -> (n, 28, 28)."""
    return x.reshape(-1, 28, 28)


train_set, test_set = load_mnist(train=True), load_mnist(train=False)
train_x, train_y = to_network_view(train_set.data[:N_TRAIN]), train_set.targets[:N_TRAIN]
test_x, test_y = to_network_view(test_set.data), test_set.targets
# The handout's loaders, over the converted tensors: batches of 64 reshuffled every epoch, and of 16 for testing.
trainloader = DataLoader(TensorDataset(train_x, train_y), batch_size=BATCH_SIZE, shuffle=True, num_workers=0)
testloader = DataLoader(TensorDataset(test_x, test_y), batch_size=16, shuffle=False, num_workers=0)
print(f"train: {tuple(train_x.shape)}, test: {tuple(test_x.shape)}")

# %% [markdown] {"id": "part1"}
# # Part 1 — Data and a plain convolutional network
#
# ## Q1. Look at the data
#
# Write `plot_digits(images, labels)`, which shows `images` (a tensor of shape
# `(n, 28, 28)`) in a grid of `ncols` columns, each image in its own axes,
# titled with its label; and `plot_network_view(x, label)`, which shows the
# 16 channels of one network input `x` (shape `(16, 7, 7)`) as a 4×4 grid, each
# channel in its own axes, titled with its channel index. Both return the
# `matplotlib` figure. Use a grey colour map, and hide the ticks.
#
# The cell after the tests uses them to show some digits and what the network
# sees of one of them; the note below it explains that view.

# %% {"id": "q01_visualise_data_answer", "kind": "solution"}
def plot_digits(images: torch.Tensor, labels: torch.Tensor, ncols: int = 8) -> plt.Figure:
    """Show (n, 28, 28) `images` in a grid, each titled with its label."""
    ### BEGIN SOLUTION
    n = len(images)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.2 * ncols, 1.4 * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k < n:
            ax.imshow(images[k], cmap="gray")
            ax.set_title(f"label {int(labels[k])}", fontsize=9)
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig
    ### END SOLUTION


def plot_network_view(x: torch.Tensor, label: int) -> plt.Figure:
    """Show the 16 channels (7x7 each) of one network input `x`, titled by channel index."""
    ### BEGIN SOLUTION
    fig, axes = plt.subplots(4, 4, figsize=(4.5, 5))
    for channel, ax in enumerate(axes.flat):
        ax.imshow(x[channel], cmap="gray")
        ax.set_title(f"channel {channel}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"a {int(label)} as the network sees it: 16 channels of 7×7")
    fig.tight_layout()
    return fig
    ### END SOLUTION

# %% {"id": "q01_visualise_data", "kind": "tests", "points": 2}
# Visible tests: the figures have the right number of images.
_fig = plot_digits(to_image_view(train_x[:10]), train_y[:10], ncols=5)
assert isinstance(_fig, plt.Figure), "plot_digits must return the matplotlib Figure it drew."
_shown = [ax for ax in _fig.axes if ax.images]
assert len(_shown) == 10, f"plot_digits showed {len(_shown)} images for 10 digits: use one axes per digit."
plt.close(_fig)
_fig = plot_network_view(train_x[0], int(train_y[0]))
assert isinstance(_fig, plt.Figure), "plot_network_view must return the matplotlib Figure it drew."
assert len([ax for ax in _fig.axes if ax.images]) == 16, "plot_network_view must show 16 channels, one axes each."
plt.close(_fig)
print("Visible tests passed.")

# %% {"id": "q01_show", "tags": ["figure"]}
plot_digits(to_image_view(train_x[:16]), train_y[:16])
plt.show()
plot_network_view(train_x[0], int(train_y[0]))
plt.show()

# %% [markdown] {"id": "q01_comment"}
# The handout builds the network's input with `view(16, 7, 7)`: the 784
# pixels, read row by row, are cut into 16 channels of 49 consecutive pixels,
# i.e. each channel holds $1\tfrac34$ rows of the image folded into 7×7, and
# the channels go down the digit from top to bottom (the first is almost
# always blank, and only the ends of long strokes reach the last). Nothing is
# lost — `to_image_view` puts the pixels back, so the reshape is itself an
# invertible map — but neighbours in a channel are not always neighbours in
# the image, so a 7×7 convolution over the channels mixes pixels from all over
# the digit. (The i-RevNet paper uses an invertible "space-to-depth"
# reshuffle instead, which at each downsampling stage moves every 2×2 block of
# pixels into 4 channels, so that neighbours stay together: 4×4 blocks after
# two stages; `F.pixel_unshuffle` does one.)

# %% [markdown] {"id": "q02-md"}
# ## Q2. Training and testing
#
# `Net` below, the handout's own, is a plain (VGG-like) convolutional network:
# four 16→16 convolutions (kernel 7, padding 3, so the 7×7 size is kept) with
# ReLUs, then a linear classifier on the 16·7·7 = 784 features.
#
# Write `train(net, n_epoch=40, learning_rate=0.05)`: it trains `net` on
# `(train_x, train_y)` with SGD (momentum 0.9) and the cross-entropy loss, on
# the handout's mini-batches of 64 images reshuffled every epoch (`trainloader`
# gives them, or draw them from `train_x` yourself); it stores the mean
# training loss of each epoch in the list `net.losses` (a float per epoch) and
# returns `net`. Print at most one compact line per 10 epochs.
#
# Write `test(net)`: the accuracy of `net` on the 10,000 test images, in
# percent, as a Python `float`. It must not train `net` (no gradients, no
# optimiser step); it may switch `net` to `eval` mode, the mode to evaluate in.
#
# Write `plot_losses(net)`: the training loss against the epoch, with labelled
# axes; return the figure.

# %% {"id": "net", "kind": "readonly"}
class Net(nn.Module):
    """A plain (non-invertible) convolutional classifier on 16x7x7 inputs, as the handout gives it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(16, 16, 7, padding=3)
        self.conv2 = nn.Conv2d(16, 16, 7, padding=3)
        self.conv3 = nn.Conv2d(16, 16, 7, padding=3)
        self.conv4 = nn.Conv2d(16, 16, 7, padding=3)
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = x.view(-1, 28 * 28)
        return self.fc(x)

# %% {"id": "q02_train_test_answer", "kind": "solution"}
def train(net: nn.Module, n_epoch: int = 40, learning_rate: float = 0.05) -> nn.Module:
    """Train `net` on (train_x, train_y); record the mean loss of each epoch in `net.losses`."""
    ### BEGIN SOLUTION
    optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9)
    net.losses = []
    net.train()
    for epoch in range(n_epoch):
        order = torch.randperm(len(train_x))
        total = 0.0
        for start in range(0, len(train_x), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        net.losses.append(total / len(train_x))
        if (epoch + 1) % 10 == 0 or epoch == n_epoch - 1:
            print(f"epoch {epoch + 1:3d}/{n_epoch}: training loss {net.losses[-1]:.4f}")
    return net
    ### END SOLUTION


def test(net: nn.Module) -> float:
    """Accuracy of `net` on the 10,000 test images, in percent."""
    ### BEGIN SOLUTION
    net.eval()
    with torch.no_grad():
        predictions = net(test_x).argmax(dim=1)
    return 100.0 * (predictions == test_y).float().mean().item()
    ### END SOLUTION


def plot_losses(net: nn.Module) -> plt.Figure:
    """Plot `net.losses` against the epoch, with labelled axes."""
    ### BEGIN SOLUTION
    fig, ax = plt.subplots(figsize=(5, 3))
    epochs = range(1, len(net.losses) + 1)
    ax.plot(epochs, net.losses, marker=".")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean training loss (cross-entropy)")
    ax.set_title(f"Training of {type(net).__name__}")
    fig.tight_layout()
    return fig
    ### END SOLUTION

# %% {"id": "q02_train_test", "kind": "tests", "points": 3}
# Visible tests: a short training run on a small network (a linear classifier: quick).
torch.manual_seed(1)
_small = nn.Sequential(nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
_before = [p.detach().clone() for p in _small.parameters()]
_returned = train(_small, n_epoch=3, learning_rate=0.05)
assert _returned is _small, "train must return the network it was given, trained."
assert any(not torch.equal(a, b) for a, b in zip(_before, _small.parameters())), \
    "train did not change the weights: does the optimiser take a step after each backward pass?"
assert isinstance(_small.losses, list) and len(_small.losses) == 3, \
    "train must store one mean loss per epoch in net.losses (3 epochs, 3 floats)."
assert all(isinstance(v, float) for v in _small.losses), \
    "net.losses must hold Python floats (use loss.item()), not tensors."
assert _small.losses[-1] < _small.losses[0], "The training loss did not decrease over 3 epochs."
_accuracy = test(_small)
assert isinstance(_accuracy, float) and 0.0 <= _accuracy <= 100.0, \
    "test must return the accuracy in percent, as a Python float between 0 and 100."
_fig = plot_losses(_small)
_ax = _fig.axes[0]
assert _ax.get_xlabel() and _ax.get_ylabel(), "Label both axes of the loss plot."
plt.close(_fig)
print("Visible tests passed.")

# %% [markdown] {"id": "q02-run-md"}
# Train `Net` with the recipe of the lab (40 epochs, learning rate 0.05) and
# look at its training loss. Accuracies vary from seed to seed; this plain
# network is the most fragile of the lab.

# %% {"id": "q02_run", "tags": ["figure"]}
torch.manual_seed(0)
start = time.perf_counter()
net = train(Net())
net_accuracy = test(net)
print(f"Net: test accuracy {net_accuracy:.1f} % ({time.perf_counter() - start:.1f} s)")
plot_losses(net)
plt.show()

# %% [markdown] {"id": "part2"}
# # Part 2 — i-RevNets: invertible by construction
#
# An i-RevNet never throws information away: each of its layers is a
# bijection built from arbitrary functions $F_j$ and additions only, so the
# whole network can be run backwards exactly. Q3 asks you to find such a
# layer.

# %% [markdown] {"id": "q03_architecture", "kind": "task", "points": 3}
# ## Q3. An invertible architecture made of additions (maths)
#
# For a layer $j$, write the features as $X_j = [x_j, \tilde x_j]$ with
# $\dim(x_j) = n_j$ and $\dim(\tilde x_j) = m_j$, and let
# $F_j : \mathbb{R}^{n_j} \to \mathbb{R}^{m_{j+1}}$. Propose an invertible
# architecture $\Phi_F$ that uses only $F = (F_1, \dots, F_J)$ and additions,
# and give its inverse. We write $\mathcal F_J = \bigcup_F \{\Phi_F\}$ for the
# set of such networks of depth $J$, for any widths $n_j, m_j$.
#
# Say how the widths $n_j, m_j$ evolve from layer to layer, and what they are
# for the inputs of this lab ($16 \times 7 \times 7$, cut into two halves of
# 8 channels). Use one consistent notation and say what it is.
#
# ### BEGIN MARK SCHEME
# **Model answer.**
#
# **Notation.** $X_j = [x_j, \tilde x_j] \in \mathbb{R}^{n_j} \times \mathbb{R}^{m_j}$
# are the features that enter layer $j$ ($X_1$: the input, cut in two by a
# split $S$ whose inverse $S^{-1}$ concatenates). Layers are numbered
# $j = 1, \dots, J$, as in the statement and in Q4, and layer $j$ maps $X_j$ to
# $X_{j+1}$ with $F_j$.
#
# **Layer (with a swap).**
# $$x_{j+1} = \tilde x_j + F_j(x_j), \qquad \tilde x_{j+1} = x_j .$$
# $F_j$ reads the half $x_j$ that the layer passes through unchanged; its
# output is added to the other half, so it has that half's width $m_j$.
#
# **Inverse**, $X_{j+1} \mapsto X_j$, with $F_j$ and a subtraction only:
# $$x_j = \tilde x_{j+1}, \qquad \tilde x_j = x_{j+1} - F_j(\tilde x_{j+1}).$$
# Indeed $x_{j+1} - F_j(\tilde x_{j+1}) = \tilde x_j + F_j(x_j) - F_j(x_j) = \tilde x_j$:
# no property of $F_j$ is needed (it need not be injective), only that it is
# evaluated on the half that the layer keeps.
#
# **Widths.** The halves swap places: $n_{j+1} = m_j$ and $m_{j+1} = n_j$, so
# $n_j + m_j = n_1 + m_1$ for every $j$: the total width never changes, as
# every homeomorphism requires (by invariance of domain, $\mathbb{R}^p$ and
# $\mathbb{R}^q$ are not homeomorphic for $p \ne q$). $F_j$ maps
# $\mathbb{R}^{n_j}$ to $\mathbb{R}^{m_j} = \mathbb{R}^{n_{j+1}}$, and the
# widths alternate $(n_1, m_1), (m_1, n_1), (n_1, m_1), \dots$
# Written without the swap, $x_{j+1} = x_j$, $\tilde x_{j+1} = \tilde x_j + F_j(x_j)$,
# the widths stay $(n_1, m_1)$ and $F_j : \mathbb{R}^{n_j} \to \mathbb{R}^{m_{j+1}}$
# literally as in the statement; but then consecutive layers must alternate
# which half they update (which is the swap again, the halves relabelled at
# every layer), otherwise $J$ layers collapse into one coupling
# $\tilde x_{J+1} = \tilde x_1 + \sum_j F_j(x_1)$ that never changes $x_1$.
#
# **Network.** With $L_{F_j}$ the layer $X_j \mapsto X_{j+1}$,
# $\Phi_F = S^{-1} \circ L_{F_J} \circ \dots \circ L_{F_1} \circ S$,
# and $\Phi_F^{-1} = S^{-1} \circ L_{F_1}^{-1} \circ \dots \circ L_{F_J}^{-1} \circ S$:
# the layers undone in reverse order. Inverting costs the same as a forward
# pass: $J$ evaluations of the $F_j$.
#
# (Q6's worked solution uses the mirror image, $F$ reading the second half:
# $(x, \tilde x) \mapsto (\tilde x, x + F(\tilde x))$. Both are right.)
#
# **In this lab.** $n_j = m_j = 8 \times 7 \times 7 = 392$ for every $j$ (the
# $16 \times 7 \times 7$ input cut into two halves of 8 channels), each pair
# $X_j$ has $784$ numbers, as many as the $28 \times 28$ image, and each
# $F_j = \mathrm{ReLU} \circ \mathrm{conv}_j$ maps $\mathbb{R}^{8 \times 7 \times 7}$
# to itself (an 8→8 convolution, 7×7 kernel, padding 3). The classifier is a
# linear map on $\Phi_F(x)$.
#
# **Mark scheme (3 points; whole points only).**
# - **1 point — layer and inverse.** A layer built from $F_j$ and additions only, and its inverse built from $F_j$ and subtractions only, with the one-line check that the inverse undoes the layer (or an equivalent argument). Any convention is right: updating either half, with or without the swap, interleaved or other channel splits, any indexing of the layers. No point if the inverse needs $F_j^{-1}$ or assumes $F_j$ invertible, or if the check is missing.
# - **1 point — network and inverse.** $\Phi_F$ as the composition of the split, the $J$ layers and the merge, and $\Phi_F^{-1}$ with the layers undone in *reverse* order (with the inverse split and merge). Without a swap, the answer must make the updated half alternate from layer to layer (or argue why it need not for its own design); a network whose layers all update the same half from the same other half is one coupling, and loses this point.
# - **1 point — widths and notation.** One notation, stated, used consistently; how the widths evolve (they swap with the swap, $n_{j+1} = m_j$, $m_{j+1} = n_j$, so $n_j + m_j$ is constant; or they stay the same without it), and the lab's widths: each half $8 \times 7 \times 7$ (392), each pair 784, each $F_j$ from $\mathbb{R}^{8 \times 7 \times 7}$ to itself. Lose it for any wrong width or for mixing the indices of layers and halves.
# ### END MARK SCHEME

# %% [markdown] {"id": "q03_answer", "kind": "answer"}

# %% [markdown] {"id": "q04_group", "kind": "task", "points": 4}
# ## Q4. When do these networks form a group? (maths)
#
# Let $\mathcal G$ be the set of functions allowed for each $F_j$ and
# $\mathcal F = \bigcup_{J \ge 0} \{ \Phi_F : F \in \mathcal G^J \}$ the set of
# all networks of Q3, of any depth. Give a necessary and sufficient condition
# on $\mathcal G$ for $\mathcal F$ to be a group. Say what the group operation
# is and on which space the maps act; prove that the condition is sufficient
# and argue carefully that it is necessary. Does the family used in this lab,
# $\mathcal G = \{\mathrm{ReLU} \circ \mathrm{conv}\}$, satisfy it?
#
# After Q9 you may back your answer with a numerical check (optional).
#
# ### BEGIN MARK SCHEME
# **Model answer.**
#
# **Setting.** Take, as in the lab, two halves of the same width:
# $H = \mathbb{R}^{8 \times 7 \times 7}$, each $G \in \mathcal G$ a map
# $H \to H$, and the layers (with the swap of Q3)
# $L_G(a, b) = (b + G(a),\, a)$ on $H \times H$. The maps of $\mathcal F$ are
# bijections of $E = \mathbb{R}^{16 \times 7 \times 7}$; conjugating by the
# fixed bijection $S$ changes nothing, so work on $H \times H$. The operation
# is composition, $\Phi \cdot \Psi = \Phi \circ \Psi$; the bijections of
# $H \times H$ form a group under it, so $\mathcal F$ is a group iff it is a
# subgroup: it contains the identity, and is closed under composition and
# inverses.
#
# Two facts hold for every $\mathcal G$:
# *closure under composition* — $\Phi_F \circ \Phi_{F'} = \Phi_{(F', F)}$,
# the concatenation of the layer lists, of depth $J + J'$; and *the identity*
# is the network of depth $J = 0$.
# Write $T(a, b) = (b, a)$ for the swap, and note the identity
# $$L_G^{-1}(a, b) = (b,\, a - G(b)) = T \circ L_{-G} \circ T\,(a, b),$$
# since $T(a,b) = (b, a) \mapsto L_{-G} \mapsto (a - G(b), b) \mapsto T \mapsto (b, a - G(b))$.
#
# **Condition (necessary and sufficient).** $\mathcal F$ is a group iff for
# every $G \in \mathcal G$ the inverse $L_G^{-1}$ of the one-layer network is a
# network of $\mathcal F$. This sharp condition is close to a restatement of
# "closed under inverses", reduced to one layer; what makes it useful is the
# sufficient condition it yields: **$\mathcal G$ symmetric,
# $-\mathcal G \subseteq \mathcal G$, and $0 \in \mathcal G$** (then
# $T = L_0 \in \mathcal F$ and $L_G^{-1} = L_0 \circ L_{-G} \circ L_0$).
#
# *Sufficiency.* If $L_G^{-1} \in \mathcal F$ for every $G \in \mathcal G$,
# then for any network, $\Phi_F^{-1} = L_{F_1}^{-1} \circ \dots \circ L_{F_J}^{-1}$
# is a composition of elements of $\mathcal F$, hence in $\mathcal F$ by
# closure. With the identity, $\mathcal F$ is a subgroup. If $\mathcal G$ is
# symmetric and contains 0, $L_G^{-1} = L_0 \circ L_{-G} \circ L_0$ is a
# network of depth 3, so the condition holds.
#
# *Necessity.* If $\mathcal F$ is a group, the one-layer network $L_G$ is in
# $\mathcal F$, hence so is its inverse $L_G^{-1}$: that is the condition.
# Symmetry of $\mathcal G$ is *not* necessary, even with $0 \in \mathcal G$,
# because $L_{-G}$ may be realised by several layers. For instance with
# $H = \mathbb{R}^2$ and $\mathcal G = \{0, M\}$, $M$ the rotation by $\pi/2$:
# $L_0 = T$ is its own inverse, and the linear layer
# $L_M = \begin{pmatrix} M & I \\ I & 0 \end{pmatrix}$ has eigenvalues
# $e^{\pm i\pi/6}$ and $e^{\pm 5i\pi/6}$ (roots of $t^2 \mp i t - 1$), all
# distinct 12-th roots of unity, so $L_M^{12} = \mathrm{id}$ and
# $L_M^{-1} = L_M^{11} \in \mathcal F$: $\mathcal F$ is a group although
# $-M \notin \mathcal G$.
#
# **The lab's family is not a group.** For $G = \mathrm{ReLU} \circ \mathrm{conv}$,
# $G \ge 0$ entry-wise. Let $s(a, b)$ be the sum of all entries of $a$ and $b$.
# Each layer satisfies $s(L_G(a, b)) = s(a, b) + \sum G(a) \ge s(a, b)$, so every
# network of $\mathcal F$ never decreases $s$. But
# $s(L_G^{-1}(a, b)) = s(a, b) - \sum G(b) < s(a, b)$ as soon as $G(b) \ne 0$:
# for any $G \in \mathcal G$ that is not identically 0, $L_G^{-1} \notin \mathcal F$.
# So $\mathcal F$ is only a monoid (closed under composition, with identity,
# inverses outside it). A symmetric family such as
# $\{\mathrm{conv}_2 \circ \mathrm{ReLU} \circ \mathrm{conv}_1\}$ (the i-RevNet
# paper's blocks: $\mathrm{conv}_2 \mapsto -\mathrm{conv}_2$ gives $-G$) does
# form a group.
#
# **Mark scheme (4 points; whole points only).**
# - **1 point — the setting.** The operation is composition, on bijections of $E$ (or of $H \times H$); the identity is the network of depth 0 (or an explicit identity network) and networks are closed under composition (concatenate the layer lists).
# - **1 point — the condition.** A condition that is necessary and sufficient, stated as such: the sharp one of the model answer (the inverse of every one-layer network is a network of $\mathcal F$, or an equivalent form). $\mathcal G$ symmetric (with $0 \in \mathcal G$ or the swap available) earns the point only when it is presented as a *sufficient* condition next to a sharp one; "symmetric" alone, claimed necessary and sufficient, does not (it is not necessary: see the counterexample).
# - **1 point — the proofs.** Sufficiency (e.g. $L_G^{-1} = T \circ L_{-G} \circ T$ with $T = L_0$, hence $\Phi_F^{-1} \in \mathcal F$) *and* necessity of the condition the student states as necessary (for the sharp condition, one line: $L_G \in \mathcal F$ and a group contains inverses). A "proof" that symmetry is necessary is wrong and loses the point.
# - **1 point — the lab's family.** It is *not* a group (a monoid), with a valid argument: an invariant that every layer increases and the inverse decreases (the sum of the entries, since $\mathrm{ReLU} \ge 0$), or another correct proof. The numerical check of the notebook supports the answer but does not replace the argument. No point for "yes, it is a group".
# ### END MARK SCHEME

# %% [markdown] {"id": "q04_answer", "kind": "answer"}

# %% [markdown] {"id": "q05-md"}
# ## Q5. `SplitAlongChannels`
#
# Write the module that cuts a batch of feature maps into two halves along
# the channels, and puts them back together:
#
# - `forward(x)`: `x` of shape `(batch, chan, N, N)` → a tuple of two tensors,
#   each of shape `(batch, chan // 2, N, N)`, which together hold every channel
#   of `x` exactly once;
# - `inverse(X)`: the inverse, from such a pair back to `(batch, chan, N, N)`;
# - an odd number of channels cannot be split in two halves: raise a
#   `ValueError` that says so.

# %% {"id": "q05_split_answer", "kind": "solution"}
class SplitAlongChannels(nn.Module):
    """x (batch, chan, N, N) <-> (x1, x2), two halves of chan // 2 channels each."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ### BEGIN SOLUTION
        channels = x.shape[1]
        if channels % 2:
            raise ValueError(f"cannot split {channels} channels into two halves: the count must be even")
        half = channels // 2
        return x[:, :half], x[:, half:]
        ### END SOLUTION

    def inverse(self, X: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        ### BEGIN SOLUTION
        x1, x2 = X
        return torch.cat([x1, x2], dim=1)
        ### END SOLUTION

# %% {"id": "q05_split", "kind": "tests", "points": 2}
def _visible_tests():
    split = SplitAlongChannels()
    x = torch.randn(2, 16, 7, 7)
    halves = split(x)
    assert isinstance(halves, (tuple, list)) and len(halves) == 2, "forward must return a pair of tensors."
    assert all(tuple(h.shape) == (2, 8, 7, 7) for h in halves), \
        "Each half of a (2, 16, 7, 7) input must have shape (2, 8, 7, 7): split along the channels (dim 1)."
    assert torch.equal(split.inverse(halves), x), "inverse(forward(x)) must give x back exactly."
    try:
        split(torch.randn(2, 5, 7, 7))
    except ValueError:
        pass
    else:
        raise AssertionError("Splitting 5 channels must raise a ValueError, not return unequal halves.")


_visible_tests()
print("Visible tests passed.")

# %% [markdown] {"id": "q06-md"}
# ## Q6. `InvertibleLayer`
#
# Write the layer of Q3 as a module: `forward(X)` takes a pair
# `X = (x, x_tilde)` of tensors of shape `(batch, 8, 7, 7)` and returns the
# pair of the next layer; `inverse(Y)` undoes it exactly. Its function
# $F$ is a ReLU after the 8→8 convolution that the constructor (given, as in
# the handout) builds: a 7×7 kernel and padding 3, so sizes are kept. The
# layer must also work in double precision (`layer.double()`), which you will
# use in Q9.

# %% {"id": "q06_invertible_layer_answer", "kind": "solution"}
class InvertibleLayer(nn.Module):
    """The layer of Q3, with F = ReLU o conv (8 -> 8 channels, 7x7 kernel)."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, kernel_size, padding=kernel_size // 2)

    def forward(self, X: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ### BEGIN SOLUTION
        x, x_tilde = X
        return x_tilde, x + F.relu(self.conv(x_tilde))
        ### END SOLUTION

    def inverse(self, Y: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ### BEGIN SOLUTION
        y, y_tilde = Y
        return y_tilde - F.relu(self.conv(y)), y
        ### END SOLUTION

# %% {"id": "q06_invertible_layer", "kind": "tests", "points": 3}
torch.manual_seed(0)
_layer = InvertibleLayer()
assert any(isinstance(m, nn.Conv2d) and (m.in_channels, m.out_channels, m.kernel_size) == (8, 8, (7, 7))
           for m in _layer.modules()), "The layer needs an 8 -> 8 convolution with a 7x7 kernel."
_X = (torch.randn(4, 8, 7, 7), torch.randn(4, 8, 7, 7))
with torch.no_grad():
    _Y = _layer(_X)
assert isinstance(_Y, (tuple, list)) and len(_Y) == 2 and all(tuple(y.shape) == (4, 8, 7, 7) for y in _Y), \
    "forward must return a pair of (batch, 8, 7, 7) tensors."
with torch.no_grad():
    _X_back = _layer.inverse(_Y)
assert max(float((a - b).abs().max()) for a, b in zip(_X_back, _X)) < 1e-4, \
    "inverse(forward(X)) does not give X back: check the inverse of the coupling."
print("Visible tests passed.")

# %% [markdown] {"id": "q07-md"}
# ## Q7. `iRevNet`
#
# Assemble the network of Q3 from your two modules, analogous to `Net`: split
# the 16×7×7 input into two halves of 8 channels, apply the four invertible
# layers, merge the halves back into 16×7×7 features, and classify them with
# the linear layer on the 784 features. The constructor is given (the
# handout's).
#
# - `forward(x, classif=True)`: the logits `(batch, 10)`, or, with
#   `classif=False`, the features `(batch, 16, 7, 7)`;
# - `inverse(features)`: the input `x` whose features these are.
#
# Build the halves with `SplitAlongChannels` and the layers with
# `InvertibleLayer` (the hidden tests check this network with reference
# versions of those two modules, so that a mistake in Q5 or Q6 costs only
# those questions).

# %% {"id": "q07_irevnet_answer", "kind": "solution"}
class iRevNet(nn.Module):
    """Split -> four invertible layers -> merge (invertible features) -> linear classifier; analogous to Net."""

    def __init__(self):
        super().__init__()
        self.split = SplitAlongChannels()
        self.conv1 = InvertibleLayer()
        self.conv2 = InvertibleLayer()
        self.conv3 = InvertibleLayer()
        self.conv4 = InvertibleLayer()
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x: torch.Tensor, classif: bool = True) -> torch.Tensor:
        ### BEGIN SOLUTION
        X = self.split(x)
        for layer in (self.conv1, self.conv2, self.conv3, self.conv4):
            X = layer(X)
        features = self.split.inverse(X)
        return self.fc(features.flatten(1)) if classif else features
        ### END SOLUTION

    def inverse(self, features: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        X = self.split(features)
        for layer in (self.conv4, self.conv3, self.conv2, self.conv1):
            X = layer.inverse(X)
        return self.split.inverse(X)
        ### END SOLUTION

# %% {"id": "q07_irevnet", "kind": "tests", "points": 4}
# Visible tests: they use your Q5 and Q6 modules, so they run only once those work.
def _q5_q6_work() -> bool:
    try:
        with torch.no_grad():
            _x, _layer = torch.randn(2, 16, 7, 7), InvertibleLayer()
            _X = SplitAlongChannels()(_x)
            _back = _layer.inverse(_layer(_X))
            return (torch.equal(SplitAlongChannels().inverse(_X), _x)
                    and max(float((a - b).abs().max()) for a, b in zip(_back, _X)) < 1e-4)
    except Exception:
        return False


if _q5_q6_work():
    torch.manual_seed(0)
    _net = iRevNet()
    _x = torch.randn(3, 16, 7, 7)
    with torch.no_grad():
        assert tuple(_net(_x).shape) == (3, 10), "forward(x) must return logits of shape (batch, 10)."
        _features = _net(_x, classif=False)
        assert tuple(_features.shape) == (3, 16, 7, 7), \
            "forward(x, classif=False) must return features of shape (batch, 16, 7, 7)."
        assert float((_net.inverse(_features) - _x).abs().max()) < 1e-4, \
            "inverse(forward(x, classif=False)) must give x back."
    print("Visible tests passed.")
else:
    print("Visible tests skipped: make the Q5 and Q6 tests pass first.")

# %% [markdown] {"id": "q08-md"}
# ## Q8. Training the i-RevNet, and a comparison
#
# Write `train_and_compare(models)`: for each `name: model` of the dictionary
# `models`, seed with `torch.manual_seed(0)`, train the model with your `train`
# (Part 1 recipe), and measure its accuracy with your `test`; return a
# dictionary `name: accuracy` (floats, percent). The next cell uses it on the
# `iRevNet` and prints a small table beside Q2's `Net`, trained with the same
# recipe (training it again would only cost time). Then comment on the result
# in the cell after it: how do the two models compare, and is it what you
# expected?

# %% {"id": "q08_train_and_compare_answer", "kind": "solution"}
def train_and_compare(models: dict[str, nn.Module]) -> dict[str, float]:
    """Train each model (seed 0) with train(); return its test accuracy (%) by name."""
    ### BEGIN SOLUTION
    accuracies = {}
    for name, model in models.items():
        torch.manual_seed(0)
        train(model)
        accuracies[name] = test(model)
    return accuracies
    ### END SOLUTION

# %% {"id": "q08_run"}
start = time.perf_counter()
torch.manual_seed(0)
models = {"iRevNet": iRevNet()}
accuracies = {"Net": net_accuracy, **train_and_compare(models)}  # Net: trained in Q2, same recipe
irevnet = models["iRevNet"]
print(f"{'model':10s} {'test accuracy':>14s}")
for name, accuracy in accuracies.items():
    print(f"{name:10s} {accuracy:13.1f} %")
print(f"({time.perf_counter() - start:.1f} s)")

# %% {"id": "q08_train_and_compare", "kind": "tests", "points": 2}
# Visible tests: on the table the cell above computed with your train, test and iRevNet (and Q2's Net).
if "accuracies" in globals():
    assert isinstance(accuracies, dict) and set(accuracies) == {"Net", "iRevNet"}, \
        "train_and_compare must return one accuracy per model name."
    # Each accuracy is what your test returns (a float if your Q2 is right; Q2's tests check that).
    _returned = type(net_accuracy)
    assert all(type(v) in (float, _returned) for v in accuracies.values()), \
        "train_and_compare must return, for each model, the accuracy test(model) returns (a Python float)."
    assert all(0 <= v <= 100 for v in accuracies.values() if type(v) is float), "Accuracies must be in percent."
    print("Visible tests passed.")
else:
    # The table was not computed. With no model, train_and_compare runs none of train, test or
    # iRevNet: if it still raises NotImplementedError, Q8 itself is unanswered.
    try:
        train_and_compare({})
    except NotImplementedError:
        raise AssertionError("train_and_compare is not written yet, so the table above could not be computed.") from None
    except Exception:
        pass  # an error elsewhere is for the hidden tests to judge, with reference train, test and iRevNet
    print("Visible tests skipped: the cell above did not run to the end (check train, test and iRevNet).")

# %% [markdown] {"id": "q08_comparison", "kind": "task", "points": 1}
# **Q8, comment.** How do the two models compare, and is it what you expected?
#
# ### BEGIN MARK SCHEME
# **Model answer.**
#
# Measured in the table above (seed 0): `Net` 80.0 % (trained in Q2),
# `iRevNet` 84.7 %: the invertible network is more accurate than the plain
# one here, though not than a residual network of the same depth (Q10, and
# Q17's comparison): what it gains comes from the path each coupling gives its
# input, not from being invertible. One seed is not the whole
# story: over ten seeds (the course's docs/maintainers/thresholds.md) `Net` varies
# about four times more than the i-RevNet, and its training loss shows why —
# it stays high for the first epochs (1.4849 at epoch 10 in Q2's run, against
# 0.0545 for the i-RevNet in Q8's) before it drops: four ReLUs in a row, with
# nothing to pass the input through, learn slowly and can die. Each coupling
# of the i-RevNet adds $F(\tilde x)$ to a copy of its input, so the input — and the gradient —
# always flows through unchanged, as in a ResNet. With 500 training images the
# linear classifier on the 784 invertible features does not suffer from their
# size: the features keep all the information, and the linear layer chooses
# what to use.
#
# **Mark scheme (1 point).** The point needs both: the two accuracies quoted from the student's own table (or seeds), and a comparison with a plausible reason (the coupling passes its input through unchanged as a residual network does; the plain net's ReLUs can all die; variance from seed to seed; the linear classifier on 784 invertible features). No point for numbers that contradict the table above, or for a claim that invertibility must cost accuracy without any evidence.
# ### END MARK SCHEME

# %% [markdown] {"id": "q08_comparison_answer", "kind": "answer"}

# %% [markdown] {"id": "q09-md"}
# ## Q9. Exact invertibility
#
# Write `reconstruction_error(model, x)`: the largest absolute difference,
# over all entries, between `x` and `model.inverse(model(x, classif=False))`,
# as a Python float. The next cell prints it for the trained i-RevNet on test
# images, in single (float32) and double (float64) precision.

# %% {"id": "q09_exact_inverse_answer", "kind": "solution"}
def reconstruction_error(model: nn.Module, x: torch.Tensor) -> float:
    """max |x - model.inverse(model(x, classif=False))| over all entries."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        x_back = model.inverse(model(x, classif=False))
    return float((x_back - x).abs().max())
    ### END SOLUTION

# %% {"id": "q09_run"}
x = test_x[:100]
print(f"trained i-RevNet, 100 test images, max |x - inverse(forward(x))|:")
print(f"  float32: {reconstruction_error(irevnet, x):.2e}")
print(f"  float64: {reconstruction_error(irevnet.double(), x.double()):.2e}")
irevnet = irevnet.float()

# %% {"id": "q09_exact_inverse", "kind": "tests", "points": 1}
class _Halving(nn.Module):
    """A stand-in invertible model: features = x / 2, inverse = 2 * features."""

    def forward(self, x, classif=True):
        return x / 2

    def inverse(self, features):
        return 2 * features


_error = reconstruction_error(_Halving(), torch.randn(4, 16, 7, 7))
assert isinstance(_error, float), "reconstruction_error must return a Python float."
assert _error < 1e-6, "An exactly invertible model must have a reconstruction error near 0."
print("Visible tests passed.")

# %% [markdown] {"id": "q04-check-md"}
# ### Back to Q4: a numerical check (optional, not graded)
#
# Check your answer to Q4 numerically with two i-RevNets (any weights): the
# composition of their feature maps is inverted by composing their inverses in
# the reverse order; and check whether the inverse of a network of the lab's
# family can itself be such a network.

# %% {"id": "q04_check", "kind": "solution"}
# Optional, not graded: Run All goes on if you leave it unwritten.
try:
    ### BEGIN SOLUTION
    torch.manual_seed(4)
    phi, psi = iRevNet(), iRevNet()
    x = test_x[:50]
    with torch.no_grad():
        composed = phi(psi(x, classif=False), classif=False)  # a network of depth 8
        back = psi.inverse(phi.inverse(composed))
        print(f"(phi o psi)^-1 = psi^-1 o phi^-1: max error {float((back - x).abs().max()):.1e}")
        # Invariant of the ReLU family: the sum of all entries never decreases through a layer.
        gain_forward = (phi(x, classif=False) - x).sum(dim=(1, 2, 3))
        gain_inverse = (phi.inverse(x) - x).sum(dim=(1, 2, 3))
    print(f"sum of entries through phi:    smallest change {float(gain_forward.min()):+.2f}, "
          f"never negative: {bool((gain_forward >= 0).all())}")
    print(f"sum of entries through phi^-1: largest change {float(gain_inverse.max()):+.2f}, "
          f"always negative: {bool((gain_inverse < 0).all())}")
    print("so phi^-1 is not a network of this family: with F = ReLU o conv, the networks form a monoid, not a group")
    ### END SOLUTION
except NotImplementedError:
    print("Optional check not written yet: skipped.")

# %% [markdown] {"id": "part3"}
# # Part 3 — i-ResNets: a small change to get an invertible ResNet
#
# A residual network (He et al., 2016) adds to its input a function of it: its
# layers have *skip connections*. In general such a network is not invertible;
# Q11 asks you when it is, and how to compute its inverse, and Q12 how to
# enforce your condition during training.
#
# ## Q10. A residual network
#
# `ResNet` below, the handout's, has four residual layers
# $x \mapsto x - \mathrm{ReLU}(\mathrm{conv}(x))$ (16→16 channels, 7×7 kernels,
# padding 3) and a linear classifier. Train it with your `train` (seed 0),
# store it in `resnet` and its test accuracy (your `test`) in
# `resnet_accuracy`.

# %% {"id": "resnet", "kind": "readonly"}
class ResNet(nn.Module):
    """Net with skip connections: x -> x - ReLU(conv(x)) four times, then a linear classifier (the handout's)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(16, 16, 7, padding=3)
        self.conv2 = nn.Conv2d(16, 16, 7, padding=3)
        self.conv3 = nn.Conv2d(16, 16, 7, padding=3)
        self.conv4 = nn.Conv2d(16, 16, 7, padding=3)
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - F.relu(self.conv1(x))
        x = x - F.relu(self.conv2(x))
        x = x - F.relu(self.conv3(x))
        x = x - F.relu(self.conv4(x))
        x = x.view(-1, 28 * 28)
        return self.fc(x)

# %% {"id": "q10_resnet_answer", "kind": "solution"}
### BEGIN SOLUTION
torch.manual_seed(0)
resnet = train(ResNet())
resnet_accuracy = test(resnet)
### END SOLUTION
print(f"ResNet: test accuracy {resnet_accuracy:.1f} %")

# %% {"id": "q10_resnet", "kind": "tests", "points": 1}
assert "resnet" in globals() and "resnet_accuracy" in globals(), \
    "resnet and resnet_accuracy are not defined yet: write the cell above and run it."
assert isinstance(resnet, ResNet), "resnet must be the trained ResNet."
# A float if your test (Q2) is right; Q2's tests check that, so here it only has to be what test returns.
assert type(resnet_accuracy) in (float, type(test(resnet))), "resnet_accuracy must be the value test(resnet) returns."
print("Visible tests passed.")

# %% [markdown] {"id": "q11_fixed_point", "kind": "task", "points": 3}
# ## Q11. When is a residual network invertible? (maths)
#
# Consider the layers of a network given by $x_{j+1} = x_j - F_j x_j$, so that
# $\Phi = \phi_J \circ \dots \circ \phi_1$ with $\phi_j(x) = x - F_j(x)$ on
# $E = \mathbb{R}^{16 \times 7 \times 7}$ (Euclidean norm). Propose a condition
# on $F = (F_1, \dots, F_J)$ for $\Phi$ to be invertible. Propose a simple
# iterative way to compute the inverse, and justify it. How many iterations
# are needed to obtain a precision $\varepsilon$? After Q15 you may compare
# your answer with the error you measure.
#
# ### BEGIN MARK SCHEME
# **Model answer.**
#
# **Condition.** If each $F_j$ is a contraction, $\mathrm{Lip}(F_j) \le L_j < 1$,
# each layer is a bijection of $E$, hence so is $\Phi$, with
# $\Phi^{-1} = \phi_1^{-1} \circ \dots \circ \phi_J^{-1}$.
#
# **Iteration.** Fix $y$ and let $T_y(x) = y + F_j(x)$. Then
# $\phi_j(x) = y \iff x = T_y(x)$: the preimages of $y$ are the fixed points
# of $T_y$. Since $\|T_y(x) - T_y(x')\| = \|F_j(x) - F_j(x')\| \le L_j \|x - x'\|$,
# $T_y$ is a contraction of the complete space $E$, so by Banach's fixed-point
# theorem it has exactly one fixed point $x^\star$ ($\phi_j$ is bijective),
# and the iteration
# $$x^{(0)} = y, \qquad x^{(k+1)} = y + F_j(x^{(k)})$$
# converges to it: $\|x^{(k)} - x^\star\| \le L_j^k \|x^{(0)} - x^\star\|$.
# (Injectivity also follows directly: $x - F(x) = x' - F(x')$ gives
# $\|x - x'\| = \|F(x) - F(x')\| \le L\|x - x'\|$, so $x = x'$.)
# The sign is a convention: the blocks of Q13 are $x \mapsto x + F(x)$, the
# same with $-F$ in place of $F$ (same Lipschitz constant), and their
# iteration is $x^{(k+1)} = y - F(x^{(k)})$.
#
# **Iterations for precision $\varepsilon$.** By the triangle inequality,
# $\|x^{(0)} - x^\star\| \le \|x^{(0)} - x^{(1)}\| + \|x^{(1)} - x^\star\| \le \|x^{(1)} - x^{(0)}\| + L\|x^{(0)} - x^\star\|$,
# so $\|x^{(0)} - x^\star\| \le \frac{\|x^{(1)} - x^{(0)}\|}{1 - L}$ and
# $$\|x^{(k)} - x^\star\| \le \frac{L^k}{1 - L}\,\|x^{(1)} - x^{(0)}\| = \frac{L^k}{1-L}\,\|F_j(y)\|.$$
# This is $\le \varepsilon$ as soon as
# $$k \ \ge\ \frac{\log\big(\|F_j(y)\| / (\varepsilon (1 - L))\big)}{\log(1/L)}
#   \ =\ \frac{\log\big(\varepsilon (1 - L) / \|F_j(y)\|\big)}{\log L}.$$
# Each decade of precision costs $1/\log_{10}(1/L)$ iterations: about 22 with
# $L = 0.9$ (the bound that `normalize` enforces), and with the measured $L$
# of the trained block (the plot after Q15 prints it, with this count) fewer.
# The same estimate gives a computable stopping rule: once
# $\|x^{(k+1)} - x^{(k)}\| \le \delta$, $\|x^{(k+1)} - x^\star\| \le \frac{L}{1 - L}\,\delta$.
# Without the contraction (the plain `ResNet` of Q10) the iteration may
# diverge.
#
# Measured after Q15 on block 0 of the trained i-ResNet: $L = 0.642$ (power
# iteration), so the bound needs $5.2$ iterations per decade; the error
# actually falls by a factor of $2.8$ per iteration, against $1/L = 1.56$ for
# the bound: $2.3$ iterations per decade. The bound is a worst case over all directions; near
# the fixed point the error is multiplied at each step by the Jacobian
# $-\mathrm{diag}(\mathbb 1_{\text{active units}})\,A$ (for $F = \mathrm{ReLU} \circ A$,
# $A$ the convolution as a $784 \times 784$ matrix), so after many steps the
# rate is its spectral radius: $0.30$–$0.35$ at the first test images (the
# check prints it), against $\|A\| = 0.64$. The switched-off units are not
# what makes the difference: $A$ alone has spectral radius $0.39$. $A$ is far
# from normal: its norm is reached in directions that one step turns into
# others, and repeated steps are governed by its eigenvalues, not its norm.
#
# **The whole network.** $\Phi^{-1}$ inverts the layers one after the other,
# the last first, each to some precision $\delta$; an error made at layer $j$
# then goes through the inverses of the layers before it, and each inverse
# $\phi_i^{-1}$ is $(1 - L)^{-1}$-Lipschitz (from $\|\phi_i(x) - \phi_i(x')\| \ge (1 - L)\|x - x'\|$).
# So the errors add up to at most $\delta \sum_{j=1}^{J} (1 - L)^{-(j-1)} \le J\,\delta\,(1 - L)^{-(J-1)}$,
# and precision $\varepsilon$ on $\Phi^{-1}$ needs each layer inverted to
# $\delta = \varepsilon (1 - L)^{J-1} / J$: by the bound above,
# $$k \ \ge\ \frac{\log\big(J \|F_j(y_j)\| / (\varepsilon (1 - L)^{J})\big)}{\log(1/L)}$$
# iterations per layer, i.e. $(J - 1)\log_{10}\frac{1}{1-L} + \log_{10} J$ decades
# more than for one layer: with $L = 0.9$ and $J = 4$, about $3.6$ decades,
# some 80 iterations more per layer. (In the lab, the measured rates above and
# float32's rounding, not this worst case, set what the inverse reaches.)
#
# **Mark scheme (3 points; whole points only).**
# - **1 point — the condition.** Each $F_j$ a contraction, $\mathrm{Lip}(F_j) < 1$ (a bound $L < 1$ for every layer), and why this makes each layer, hence $\Phi$, a bijection (surjective by the fixed point, injective by the contraction), with $\Phi^{-1}$ the inverse layers in reverse order. Either sign convention.
# - **1 point — iteration and convergence.** The iteration $x^{(k+1)} = y + F_j(x^{(k)})$ (or $y - F_j(x^{(k)})$ for blocks $x + F(x)$), a reason why its fixed point is the preimage of $y$, and a proof that it converges: Banach's fixed-point theorem quoted with its hypotheses checked (a contraction of a complete space), or the geometric series argued directly. No point if the contraction property of $T_y$ is asserted without the one-line inequality.
# - **1 point — number of iterations.** A correct explicit count for precision $\varepsilon$, e.g. $k \ge \log(\|F_j(y)\| / (\varepsilon(1-L))) / \log(1/L)$, or the same written $k \ge \log(\varepsilon(1-L)/\|F_j(y)\|) / \log L$, derived from an a priori bound. Also accepted: $k \ge \log(\|x^{(0)} - x^\star\| / \varepsilon) / \log(1/L)$ *with* a computable bound on $\|x^{(0)} - x^\star\|$. No point for a count with no derivation, or with a logarithm whose sign makes $k$ negative.
# ### END MARK SCHEME

# %% [markdown] {"id": "q11_answer", "kind": "answer"}

# %% [markdown] {"id": "q12_fft_norm", "kind": "task", "points": 4}
# ## Q12. The norm of a convolution, and a renormalisation (maths)
#
# Let $N$ be an integer and $x \in \ell^2([0, N-1])$.
#
# 1. Compute the operator norm of $W : y \mapsto x \circledast y$, the
#    circular convolution on $\ell^2([0, N-1])$, and prove your formula.
# 2. Extend it to the convolutions of this lab: several input and output
#    channels ($C_\text{out} \times C_\text{in}$), two dimensions.
# 3. The layers of this lab pad with zeros instead of wrapping around. Does
#    your formula on the $N \times N$ grid still bound their norm? If not, how
#    can you get an upper bound? Be precise about the sizes.
# 4. Deduce a simple renormalisation procedure that constrains
#    $\|DF_j\| \le \rho$, for some $0 < \rho < 1$, for the residual
#    functions $F_j = \mathrm{ReLU} \circ \mathrm{conv}_j$ of an i-ResNet, and
#    say why it works.
#
# Check your formula numerically on a small convolution against the singular
# values of its dense matrix (cell below). *Hint:* the columns of the dense
# matrix of a linear map are the images of the basis vectors, and one call of
# `F.conv2d` on a batch of all the basis vectors (`torch.eye`, reshaped to
# images) computes them all.
#
# ### BEGIN MARK SCHEME
# **Model answer.**
#
# **1. One channel.** Let $\mathcal U$ be the unitary DFT (not the family $\mathcal F$ of Q3),
# $(\mathcal U y)(\omega) = N^{-1/2} \sum_n y(n) e^{-2i\pi \omega n / N}$, and
# $\hat x = \sum_n x(n) e^{-2i\pi\omega n/N}$ (unnormalised). The convolution
# theorem reads $\mathcal U (x \circledast y) = \hat x \cdot \mathcal U y$: in
# the Fourier basis $W$ is the diagonal matrix $D = \mathrm{diag}(\hat x)$, i.e.
# $W = \mathcal U^{*} D \mathcal U$ with $\mathcal U$ unitary. By Parseval,
# $\|W y\| = \|D \mathcal U y\| \le \max_\omega |\hat x(\omega)|\, \|\mathcal U y\| = \max_\omega |\hat x(\omega)|\,\|y\|$,
# with equality for $y = \mathcal U^{*} e_{\omega^\star}$ (a pure frequency at
# the maximiser). So $\|W\| = \max_\omega |\hat x(\omega)|$.
#
# **2. Several channels, 2-D.** A convolution with kernel
# $w \in \mathbb{R}^{C_\text{out} \times C_\text{in} \times k \times k}$ acts as
# $(Wy)_o = \sum_i w_{o,i} \circledast y_i$. The 2-D DFT diagonalises every
# $w_{o,i} \circledast \cdot$ at once, so in the Fourier basis $W$ is block
# diagonal: at each frequency $\omega \in [0, N-1]^2$ it multiplies the vector
# $(\hat y_i(\omega))_i \in \mathbb{C}^{C_\text{in}}$ by the matrix
# $\hat w(\omega) = (\hat w_{o,i}(\omega))_{o,i} \in \mathbb{C}^{C_\text{out}\times C_\text{in}}$.
# The norm of a block-diagonal operator is the largest norm of its blocks:
# $$\|W\| = \max_{\omega} \sigma_{\max}\big(\hat w(\omega)\big),$$
# the largest singular value over all frequencies. To compute it, note that
# $\sigma_{\max}(G)^2 = \lambda_{\max}(G^{*} G)$ for any complex matrix $G$:
# $G^{*}G$ is Hermitian and positive semi-definite, and its eigenvalues are the
# squared singular values of $G$ (write $G = U \Sigma V^{*}$, then
# $G^{*} G = V \Sigma^2 V^{*}$). So the worked solution takes the FFT of the
# kernel, forms the $C_\text{in} \times C_\text{in}$ matrix
# $\hat w(\omega)^{*} \hat w(\omega)$ at every frequency, and asks
# `torch.linalg.eigvalsh` (the eigenvalues of Hermitian matrices, batched) for
# the largest one: the same number as an SVD of every $\hat w(\omega)$, up to
# rounding (the check below prints the difference), for less work.
#
# **3. Zero padding.** The layer computes $A y = R\,(w * P y)$: $P$ embeds the
# $N \times N$ input into a larger zero image, $*$ is the *linear* (not
# circular) convolution, and $R$ keeps the $N \times N$ outputs of the "same"
# padding. The size-$N$ FFT describes the circular convolution on
# $N \times N$, where the kernel wraps around; it is a different operator, and
# its norm can be smaller than $\|A\|$ (the check below shows it on a small
# case). On an $M \times M$ grid, the circular convolution of the zero-padded
# input reads, for an output $n \in [0, N-1]$ and an odd kernel size $k$ with
# padding $p = \lfloor k/2 \rfloor$, the inputs $n - p, \dots, n + p$, i.e.
# indices in $[-p, N - 1 + p]$; they wrap onto zeros, never onto the input,
# as soon as $M \ge N + p$. Then $A = R\, C_M\, P$, with $C_M$ the circular
# convolution on $M \times M$ and $\|P\| = \|R\| = 1$, so
# $$\|A\| \le \|C_M\| = \max_{\omega \in [0, M-1]^2} \sigma_{\max}\big(\hat w_M(\omega)\big)$$
# for every $M \ge N + p$: here $N = 7$, $p = 3$, so $M \ge 10$; on a grid of
# 9 the wrap-around reaches the input again and the bound can fail (check
# below). (`conv2d` computes a cross-correlation, its taps at offsets
# $-p, \dots, p$, while `rfft2(w, s=(M, M))` is the symbol of taps at
# $0, \dots, k - 1$: the two symbols differ by $\omega \mapsto -\omega$ and a
# unit phase $e^{-i p (\omega_1 + \omega_2)}$, neither of which changes a singular
# value, so the FFT of the kernel as stored gives the same bound.) $M \ge N + k - 1$ (13 here, the size of the full linear convolution)
# is a safe, simpler choice; the worked solution uses the minimal grid, 10,
# and `rfft2`: for a real kernel $\hat w(-\omega) = \overline{\hat w(\omega)}$,
# whose singular values are the same, so half the frequencies give the same
# maximum. Neither shortcut loosens the bound: the grid is the one the argument
# above needs, and `rfft2` and `eigvalsh` compute the same maximum as the full
# FFT and an SVD at every frequency (the check below compares `fft_norm_bound`
# with the singular values of the dense matrix).
# The bound is not tight, and its tightness does not follow the grid: each grid
# samples the trigonometric polynomial $\theta \mapsto \hat w(\theta)$ on the
# torus, so the bound is not monotone in $M$ (in the check below, the random
# kernel's is closer to $\|A\|$ on the grid of 13 than on 10 and 64, the
# checkerboard's on 13 than on 10, because its worst frequency lies on even
# grids only), and as $M$ grows it tends to
# $\sup_\theta \sigma_{\max}(\hat w(\theta))$, not to $\|A\|$. For a constant kernel it overestimates $\|A\|$ by a
# factor of about 1.6 on every grid (check below); on the trained i-ResNet,
# block 0's norm is 0.642 against its bound of 0.900 (printed after Q15). The FFT is this lab's choice
# (the singular values of a circular convolution by FFT are those of
# [Sedghi, Gupta & Long, 2019](https://arxiv.org/abs/1805.10408)); Behrmann et al.
# estimate the norm by power iteration, which approaches $\|A\|$ from below.
#
# **4. Renormalisation.** If the bound $b = \|C_M\|$ exceeds $\rho < 1$,
# replace $w$ by $\rho\, w / b$. The bound is homogeneous
# ($\|C_M(\lambda w)\| = \lambda \|C_M(w)\|$), so afterwards
# $\|A\| \le \|C_M\| = \rho$; a kernel already below $\rho$ is left alone. Then
# for $F_j(x) = \mathrm{ReLU}(A x + b_j)$, since ReLU is 1-Lipschitz (it acts
# entry-wise, $|\max(a,0) - \max(a',0)| \le |a - a'|$) and the bias cancels,
# $\|F_j(x) - F_j(x')\| \le \|A(x - x')\| \le \rho\,\|x - x'\|$. Where $F_j$
# is differentiable, $DF_j(x) = \mathrm{diag}(\mathbb 1_{Ax + b > 0})\,A$ and
# $\|DF_j(x)\| \le \|A\| \le \rho$. So $\mathrm{Lip}(F_j) \le \rho < 1$: each
# block is invertible (Q11). Renormalising after every optimiser step keeps
# this true throughout training.
#
# **Mark scheme (4 points; one per part; whole points only).**
# - **Part 1.** The DFT diagonalises the circular convolution (convolution theorem), the DFT is unitary up to a known constant (Parseval), so $\|W\| \le \max|\hat x|$, and equality is reached by a pure frequency. Both the upper bound and its attainment are needed.
# - **Part 2.** At each frequency the $C_\text{out} \times C_\text{in}$ matrix $\hat w(\omega)$; the operator is block diagonal in the Fourier basis, so its norm is the largest singular value over all frequencies (not the largest entry, not a sum over channels).
# - **Part 3.** Why the size-$N$ FFT fails (it describes the circular convolution, a different operator, and can under-estimate: the kernel wraps around), and a grid that gives an upper bound with the argument ($A = R\,C_M\,P$ with $\|R\|, \|P\| \le 1$, no wrap-around onto the input): $M \ge N + \lfloor k/2 \rfloor$ (10 here, the minimal grid) with the index argument, or $M \ge N + k - 1$ (13) with the full-convolution argument, or any larger grid. No point for a grid below 10, or for a grid with no argument.
# - **Part 4.** Homogeneity of the bound, so the rescaled kernel has bound $\rho$ (and kernels below $\rho$ are left alone), and $\mathrm{Lip}(\mathrm{ReLU} \circ A) \le \|A\|$ because ReLU is 1-Lipschitz (the bias cancels).
#
# The numerical check (the cell below) is part of the question: without a check that compares the FFT formula with the singular values of a dense matrix, at most 3 points.
# ### END MARK SCHEME

# %% [markdown] {"id": "q12_answer", "kind": "answer"}

# %% {"id": "q12_check", "kind": "solution"}
### BEGIN SOLUTION
def fft_norm_bound(weight: torch.Tensor, grid: int) -> torch.Tensor:
    """max over frequencies of the largest singular value of the kernel's DFT on a grid x grid.

    `weight` is one kernel (out, in, k, k), or a stack of kernels (..., out, in, k, k): one bound each.
    """
    # A real kernel's spectrum is conjugate-symmetric, w^(-omega) = conj(w^(omega)), with the same singular
    # values: rfft2 keeps half the frequencies and gives the same maximum.
    spectrum = torch.fft.rfft2(weight, s=(grid, grid))  # (..., out, in, grid, grid // 2 + 1)
    spectrum = spectrum.movedim((-2, -1), (-4, -3))  # (..., grid, grid // 2 + 1, out, in): a matrix per frequency
    # sigma_max(G)^2 is the largest eigenvalue of the Hermitian matrix G^H G: eigvalsh, batched over every
    # frequency (and kernel), gives exactly that value, and costs less than an SVD of each G.
    eigenvalues = torch.linalg.eigvalsh(spectrum.mH @ spectrum)  # ascending, >= 0 up to rounding
    return eigenvalues[..., -1].amax(dim=(-2, -1)).clamp_min(0).sqrt()


def dense_matrix(weight: torch.Tensor, size: int) -> torch.Tensor:
    """The matrix of the zero-padded convolution on size x size inputs, column by column."""
    c_in = weight.shape[1]
    basis = torch.eye(c_in * size * size, dtype=weight.dtype).reshape(-1, c_in, size, size)
    columns = F.conv2d(basis, weight, padding=weight.shape[-1] // 2)
    return columns.reshape(len(basis), -1).T


torch.manual_seed(12)
size, k = 7, 7  # as in the lab's layers: 7x7 inputs, 7x7 kernels, padding 3 (4 channels: a small matrix)
p = k // 2
checker = (-1.0) ** (torch.arange(k)[:, None] + torch.arange(k)[None, :])
kernels = {"random": torch.randn(4, 4, k, k, dtype=torch.float64),
           "checkerboard": torch.randn(4, 4, 1, 1, dtype=torch.float64) * checker,
           "constant": torch.randn(4, 4, 1, 1, dtype=torch.float64) * torch.ones(k, k, dtype=torch.float64)}
grids = [size, size + p - 1, size + p, size + k - 1, 64]  # N, N + p - 1, N + p, N + k - 1, large
print(f"{'kernel':12s} {'dense SVD':>9s} | FFT bound / dense SVD on a grid of " + " ".join(f"{g:>5d}" for g in grids))
for name, w in kernels.items():
    true_norm = float(torch.linalg.matrix_norm(dense_matrix(w, size), ord=2))
    ratios = [float(fft_norm_bound(w, g)) / true_norm for g in grids]
    print(f"{name:12s} {true_norm:9.4f} | {'':33s}" + " ".join(f"{r:5.3f}" for r in ratios))
    failed = [g for g, r in zip(grids, ratios) if r < 1 - 1e-9]
    print(f"{'':12s} grids that gave no upper bound (ratio below 1): {failed or 'none'}")
# The circular case is exact: the same kernel, wrapped around on the size grid.
w = torch.randn(2, 3, k, k, dtype=torch.float64)
basis = torch.eye(3 * size * size, dtype=torch.float64).reshape(-1, 3, size, size)
circular = F.conv2d(F.pad(basis, (p, p, p, p), mode="circular"), w).reshape(len(basis), -1).T
print(f"circular conv: dense SVD {float(torch.linalg.matrix_norm(circular, ord=2)):.6f}"
      f" = FFT on its own grid {float(fft_norm_bound(w, size)):.6f}")
# The shortcuts (rfft2, eigvalsh of G^H G) against the plain formula (fft2, an SVD at every frequency).
differences = []
for w in [*kernels.values(), torch.randn(4, 16, 16, 7, 7)]:  # and a float32 stack, as the i-ResNet's kernels
    full = torch.linalg.matrix_norm(torch.fft.fft2(w, s=(10, 10)).movedim((-2, -1), (-4, -3)), ord=2)
    differences.append(float(((fft_norm_bound(w, 10) - full.amax(dim=(-2, -1))) / full.amax(dim=(-2, -1))).abs().max()))
print(f"rfft2 + eigvalsh against fft2 + SVD, grid 10: relative differences {differences[0]:.0e}, "
      f"{differences[1]:.0e}, {differences[2]:.0e} (float64), {differences[3]:.0e} (float32)")
### END SOLUTION

# %% [markdown] {"id": "q13-md"}
# ## Q13. `InvertibleResidual` and `train_norm`
#
# Write the invertible residual block $y = x + F(x)$, $F = \mathrm{ReLU} \circ \mathrm{conv}$
# (16→16 channels, 7×7 kernel, padding 3), with:
#
# (Mind the sign: `ResNet` and Q11 subtract $F$; this block adds it, as the
# i-ResNet paper does. Your answer to Q11 applies to it with $-F$ in place of
# $F$.)
#
# - `forward(x)`;
# - `normalize(rho=0.9)`: if the bound of Q12 on the operator norm of the
#   convolution *as the layer uses it* (7×7 inputs, zero padding) exceeds
#   `rho`, rescale the weights (`.data`, in place) so that it equals `rho`;
#   compute it with `torch.fft`;
# - `inverse(y)`: the iterative inverse you proposed in Q11, stopped by a rule
#   of your choice, precise to $10^{-4}$: on a normalised block, in float32 and
#   in float64, the inverse of `forward(x)` must give $x$, and `forward` of the
#   inverse of $y$ must give $y$, to $10^{-4}$ of the largest entry (or of 1, if
#   that is larger). That is far above float32's rounding (about $10^{-7}$ of
#   each value, which the four blocks of Q14 compound, inverse after
#   inverse): any sensible stopping rule meets it; an iteration stopped far
#   too early does not.
#
# Then write `train_norm(net, n_epoch=40, learning_rate=0.05)`: the training
# loop of `train`, which calls `net.normalize()` after every optimiser step
# (so that every block stays invertible during training), stores the
# epoch losses in `net.losses` and returns `net`.

# %% {"id": "q13_invertible_residual_answer", "kind": "solution"}
class InvertibleResidual(nn.Module):
    """y = x + ReLU(conv(x)), kept invertible by normalize(); inverse by the iteration of Q11."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(16, 16, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return x + F.relu(self.conv(x))
        ### END SOLUTION

    @torch.no_grad()
    def normalize(self, rho: float = 0.9) -> None:
        ### BEGIN SOLUTION
        weight = self.conv.weight
        # Q12's bound (fft_norm_bound, written with Q12's check), on the smallest grid on which the
        # padded 7x7 input never wraps onto itself (Q12, part 3): 7 + k // 2 = 10; the circular
        # convolution there bounds the layer's norm from above.
        bound = fft_norm_bound(weight, grid=7 + weight.shape[-1] // 2)
        if bound > rho:
            weight.data.mul_(rho / bound)
        ### END SOLUTION

    @torch.no_grad()
    def inverse(self, y: torch.Tensor, tol: float = 1e-7, max_iter: int = 500) -> torch.Tensor:
        ### BEGIN SOLUTION
        x = y.clone()
        scale = float(y.abs().max()) + 1e-12
        for _ in range(max_iter):
            x_next = y - F.relu(self.conv(x))
            step = float((x_next - x).abs().max())
            x = x_next
            # A practical rule, checked by the errors measured after Q15. (Q11's a-posteriori bound,
            # |x - x*| <= L / (1 - L) * |step|, is in the Euclidean norm, and |step|_2 <= sqrt(n) * step.)
            if step <= tol * scale:
                break
        return x
        ### END SOLUTION


def train_norm(net: nn.Module, n_epoch: int = 40, learning_rate: float = 0.05) -> nn.Module:
    """train(), with net.normalize() after every optimiser step."""
    ### BEGIN SOLUTION
    optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9)
    net.losses = []
    net.train()
    net.normalize()
    for epoch in range(n_epoch):
        order = torch.randperm(len(train_x))
        total = 0.0
        for start in range(0, len(train_x), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
            net.normalize()
            total += loss.item() * len(batch)
        net.losses.append(total / len(train_x))
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1:3d}/{n_epoch}: training loss {net.losses[-1]:.4f}")
    return net
    ### END SOLUTION

# %% {"id": "q13_invertible_residual", "kind": "tests", "points": 4}
def _visible_tests():
    torch.manual_seed(0)
    block = InvertibleResidual()
    with torch.no_grad():
        block.conv.weight.mul_(10)  # far above rho
        x = torch.randn(2, 16, 7, 7)
        assert tuple(block(x).shape) == (2, 16, 7, 7), "forward must keep the shape (batch, 16, 7, 7)."
        block.normalize(0.9)
        y = block(x)
        assert float((block.inverse(y) - x).abs().max()) < 1e-4, "inverse(forward(x)) must give x back."
        # A checkerboard kernel: its norm with zero padding is larger than on the 7x7 circle.
        sign = (-1.0) ** (torch.arange(7)[:, None] + torch.arange(7)[None, :])
        block.conv.weight.copy_(torch.randn(16, 16, 1, 1) * sign)
        block.normalize(0.9)
        v = torch.randn(1, 16, 7, 7)
        for _ in range(300):  # power iteration on the convolution as the layer applies it
            v = v / v.norm()
            u = F.conv2d(v, block.conv.weight, padding=3)
            v = F.conv_transpose2d(u, block.conv.weight, padding=3)
        assert float(u.norm()) <= 0.9 * 1.001, \
            f"After normalize(0.9), the convolution of a checkerboard kernel, as the layer applies it " \
            f"(zero padding, 7x7 inputs), still has norm {float(u.norm()):.2f} > 0.9."


_visible_tests()
print("Visible tests passed.")

# %% {"id": "q13_train_norm", "kind": "tests", "points": 2}
torch.manual_seed(0)
_net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
_calls = []


def _counting_normalize(rho=0.9):
    _calls.append(rho)
    return _net  # as iResNet.normalize does


_net.normalize = _counting_normalize
_returned = train_norm(_net, n_epoch=2)
assert _returned is _net and len(_net.losses) == 2, "train_norm must return the net, with one loss per epoch."
assert len(_calls) >= 2 * len(train_x) // BATCH_SIZE, \
    f"train_norm called net.normalize() {len(_calls)} times in 2 epochs: call it after every optimiser step."
print("Visible tests passed.")

# %% [markdown] {"id": "q14-md"}
# ## Q14. `iResNet`
#
# The constructor (the handout's) builds four `InvertibleResidual` blocks and
# a linear classifier on the 784 features. Write `normalize(rho=0.9)`
# (normalises every block and returns the network, as the handout's skeleton
# does), `forward(x, classif=True)` (logits, or the 16×7×7 features) and
# `inverse(features)`. The next cell trains it with `train_norm` (seed 0).

# %% {"id": "q14_iresnet_answer", "kind": "solution"}
class iResNet(nn.Module):
    """Four invertible residual blocks (Lipschitz constant of each F <= rho) and a linear classifier."""

    def __init__(self):
        super().__init__()
        self.conv1 = InvertibleResidual()
        self.conv2 = InvertibleResidual()
        self.conv3 = InvertibleResidual()
        self.conv4 = InvertibleResidual()
        self.fc = nn.Linear(28 * 28, 10)

    def normalize(self, rho: float = 0.9) -> "iResNet":
        ### BEGIN SOLUTION
        # What each block.normalize(rho) does, for the four kernels in one batched call (the same bounds):
        # this runs after every optimiser step, and one call costs less than four.
        with torch.no_grad():
            weights = [block.conv.weight for block in (self.conv1, self.conv2, self.conv3, self.conv4)]
            bounds = fft_norm_bound(torch.stack(weights), grid=10)  # the minimal grid for 7x7 kernels
            for weight, bound in zip(weights, bounds):
                if bound > rho:
                    weight.mul_(rho / bound)
        ### END SOLUTION
        return self

    def forward(self, x: torch.Tensor, classif: bool = True) -> torch.Tensor:
        ### BEGIN SOLUTION
        for block in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = block(x)
        return self.fc(x.flatten(1)) if classif else x
        ### END SOLUTION

    def inverse(self, features: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        x = features
        for block in (self.conv4, self.conv3, self.conv2, self.conv1):
            x = block.inverse(x)
        return x
        ### END SOLUTION

# %% {"id": "q14_run"}
torch.manual_seed(0)
start = time.perf_counter()
iresnet = train_norm(iResNet())
iresnet_accuracy = test(iresnet)
print(f"iResNet: test accuracy {iresnet_accuracy:.1f} % ({time.perf_counter() - start:.1f} s)")

# %% {"id": "q14_iresnet", "kind": "tests", "points": 3}
torch.manual_seed(0)
_net = iResNet()
_x = torch.randn(3, 16, 7, 7)
with torch.no_grad():
    assert tuple(_net(_x).shape) == (3, 10), "forward(x) must return logits of shape (batch, 10)."
    assert tuple(_net(_x, classif=False).shape) == (3, 16, 7, 7), "forward(x, classif=False) must return 16x7x7 features."
print("Visible tests passed.")

# %% [markdown] {"id": "q15-md"}
# ## Q15. Invertibility of the trained i-ResNet
#
# Write `fixed_point_trace(block, y, n_iter)`: run the iteration you proposed
# in Q11 to invert `block` (an `InvertibleResidual`, $y = x + F(x)$), in its
# simplest form (one evaluation of $F$ per step, nothing else to choose), from
# $x^{(0)} = y$ for `n_iter` steps and return the list of the `n_iter` step sizes
# $\max |x^{(k+1)} - x^{(k)}|$ (floats). The cells below use it to report how
# many iterations the trained network needs, to measure its reconstruction
# error, and to compare the convergence with the bound of Q11.

# %% {"id": "q15_fixed_point_trace_answer", "kind": "solution"}
def fixed_point_trace(block: nn.Module, y: torch.Tensor, n_iter: int) -> list[float]:
    """Step sizes max|x_{k+1} - x_k| of the iteration of Q11 that inverts `block`, from x_0 = y."""
    ### BEGIN SOLUTION
    steps = []
    with torch.no_grad():
        x = y.clone()
        for _ in range(n_iter):
            x_next = y - (block(x) - x)  # F(x) = block(x) - x
            steps.append(float((x_next - x).abs().max()))
            x = x_next
    return steps
    ### END SOLUTION

# %% {"id": "q15_fixed_point_trace", "kind": "tests", "points": 2}
class _HalfShift(nn.Module):
    """A stand-in block y = x + ReLU(conv(x)) whose 1x1 conv gives F(x) = x / 2 + 1 here."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 16, kernel_size=1)
        with torch.no_grad():
            self.conv.weight.copy_(0.5 * torch.eye(16).reshape(16, 16, 1, 1))
            self.conv.bias.fill_(1.0)

    def forward(self, x):
        return x + F.relu(self.conv(x))


_steps = fixed_point_trace(_HalfShift(), torch.zeros(1, 16, 7, 7), 5)
assert isinstance(_steps, list) and len(_steps) == 5 and all(isinstance(s, float) for s in _steps), \
    "fixed_point_trace must return a list of n_iter floats."
assert abs(_steps[0] - 1.0) < 1e-6 and abs(_steps[1] - 0.5) < 1e-6, \
    "For this stand-in block and y = 0, the first two steps are 1 and 1/2: check your iteration against Q11."
print("Visible tests passed.")

# %% {"id": "q15_run"}
x = test_x[:200]
with torch.no_grad():
    features = iresnet(x, classif=False)
    error = float((iresnet.inverse(features) - x).abs().max())
print(f"trained i-ResNet, 200 test images: max |x - inverse(forward(x))| = {error:.2e}")
blocks = [m for m in iresnet.modules() if isinstance(m, InvertibleResidual)]
y = features
for index, block in reversed(list(enumerate(blocks))):
    steps = fixed_point_trace(block, y, 60)
    needed = next((k + 1 for k, s in enumerate(steps) if s <= 1e-6 * float(y.abs().max())), None)
    print(f"block {index}: {needed} iterations to a step below 1e-6 (relative)")
    with torch.no_grad():
        y = block.inverse(y)

# %% [markdown] {"id": "q11-check-md"}
# ### Back to Q11: measured convergence against the bound (optional, not graded)
#
# Plot, for one block of the trained i-ResNet, the error $\|x^{(k)} - x^\star\|$
# (Euclidean norm, as in Q11) of your iteration against $k$, with
# the bound of Q11 for the block's Lipschitz constant (estimate it), on a log
# scale. How fast does the error fall, compared with the bound?

# %% {"id": "q11_check", "kind": "solution", "tags": ["figure"]}
# Optional, not graded: Run All goes on if you leave it unwritten.
try:
    ### BEGIN SOLUTION
    import copy

    first = next(m for m in iresnet.modules() if isinstance(m, InvertibleResidual))
    block = copy.deepcopy(first).double()  # float64: follow the error below float32's floor
    x_true = test_x[:20].double()
    with torch.no_grad():
        y = block(x_true)
        weight = block.conv.weight
        v = torch.randn(1, 16, 7, 7, dtype=torch.float64)
        for _ in range(300):  # power iteration: the true norm of the padded convolution
            v = v / v.norm()
            u = F.conv2d(v, weight, padding=3)
            v = F.conv_transpose2d(u, weight, padding=3)
        lipschitz = float(u.norm())
        fft_bound = float(fft_norm_bound(weight, 10))  # the bound normalize() holds at 0.9
        errors, x = [], y.clone()
        for _ in range(40):
            x = y - F.relu(block.conv(x))
            errors.append(float((x - x_true).norm()))
        first_step = float(F.relu(block.conv(y)).norm())
    k = torch.arange(1, 41)
    bound = lipschitz ** k / (1 - lipschitz) * first_step
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.semilogy(k, errors, "o-", markersize=3, label="measured $\\|x^{(k)} - x^\\star\\|$")
    ax.semilogy(k, bound, "--", label=f"bound $L^k \\|F(y)\\| / (1-L)$, $L$ = {lipschitz:.2f}")
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel("error (Euclidean norm, 20 images)")
    ax.set_title("Fixed-point inverse of block 0 of the trained i-ResNet")
    ax.legend()
    fig.tight_layout()
    plt.show()
    import math

    measured_rate = (errors[19] / errors[9]) ** (1 / 10)  # error ratio per iteration, k = 10 to 20
    print(f"block 0: norm of its convolution L = {lipschitz:.3f} (power iteration), FFT bound {fft_bound:.3f}")
    print(f"error after 10 / 20 / 40 iterations: {errors[9]:.1e} / {errors[19]:.1e} / {errors[39]:.1e}")
    print(f"per iteration the error is divided by {1 / measured_rate:.1f} (k = 10 to 20); the bound divides it by "
          f"1/L = {1 / lipschitz:.2f}")
    print(f"iterations per decade of precision: {1 / math.log10(1 / lipschitz):.1f} by the bound, "
          f"{1 / math.log10(1 / measured_rate):.1f} measured")
    # Why faster than the bound: near x* one step multiplies the error by the Jacobian -D A (A the convolution as
    # a 784 x 784 matrix, D the units active at x*), so the rate is its spectral radius, not the norm of A.
    with torch.no_grad():
        A = F.conv2d(torch.eye(784, dtype=torch.float64).reshape(784, 16, 7, 7), weight, padding=3)
        A = A.reshape(784, 784).T
        active = (block.conv(x_true[:5]) > 0).reshape(5, 784).double()
        print(f"spectral radius of A alone {float(torch.linalg.eigvals(A).abs().max()):.2f} "
              f"(its norm: {lipschitz:.2f})")
        for image, units in enumerate(active):
            rate = float(torch.linalg.eigvals(units[:, None] * A).abs().max())
            print(f"test image {image}: spectral radius of the Jacobian at x* {rate:.2f} ({int(units.sum())} of 784 "
                  "units active)")
    ### END SOLUTION
except NotImplementedError:
    print("Optional check not written yet: skipped.")

# %% [markdown] {"id": "part4"}
# # Part 4 — Walking through feature space
#
# An invertible network is a change of coordinates: every point of its
# feature space is the feature vector of exactly one input. So we can move in
# feature space and come back to images. The simplest move is a straight line.
#
# ## Q16. Interpolating between two digits
#
# For an invertible model $\Phi$ (`model(x, classif=False)` and
# `model.inverse`), the path
# $$x_t = \Phi^{-1}\big((1 - t)\,\Phi(x_0) + t\,\Phi(x_1)\big), \qquad t \in [0, 1],$$
# goes from $x_0$ to $x_1$ along a straight line in feature space.
#
# 1. Write `interpolate(model, x0, x1, n_points=9)`: `x0` and `x1` are two
#    network inputs of shape `(16, 7, 7)`; return the `n_points` inputs $x_t$
#    for $t$ evenly spaced from 0 to 1 (both included), in order, as one
#    tensor of shape `(n_points, 16, 7, 7)`.
# 2. Write `plot_paths(paths, title)`: `paths` maps a name (e.g.
#    `"i-RevNet"`) to such a tensor; draw one row per path and one column per
#    $t$, each input shown as its 28×28 image (`to_image_view`), each row
#    labelled with its name and each column with its $t$; return the figure.
# 3. Draw, for three pairs of test digits of different classes, the pixel
#    blend $(1 - t)\,x_0 + t\,x_1$ (the baseline), and the paths of the trained
#    `irevnet` and `iresnet`. Measure how well the endpoints are reproduced.
# 4. Measure what each classifier predicts along its path and along the pixel
#    blend (the probability of the class of $x_0$ and of $x_1$ against $t$),
#    and plot it.

# %% {"id": "q16_interpolate_answer", "kind": "solution"}
def interpolate(model: nn.Module, x0: torch.Tensor, x1: torch.Tensor, n_points: int = 9) -> torch.Tensor:
    """Inputs x_t = model.inverse((1 - t) model(x0) + t model(x1)), t evenly spaced in [0, 1]."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        features = model(torch.stack([x0, x1]), classif=False)
        t = torch.linspace(0, 1, n_points, dtype=features.dtype).reshape(-1, 1, 1, 1)
        path = (1 - t) * features[0] + t * features[1]  # (n_points, 16, 7, 7)
        return model.inverse(path)
    ### END SOLUTION


def plot_paths(paths: dict[str, torch.Tensor], title: str) -> plt.Figure:
    """One row per path (its name on the left), one column per t; images in the 28x28 view."""
    ### BEGIN SOLUTION
    n_points = len(next(iter(paths.values())))
    fig, axes = plt.subplots(len(paths), 1, figsize=(1.1 * n_points + 0.6, 1.25 * len(paths) + 0.5),
                             squeeze=False)
    for row, (ax, (name, path)) in enumerate(zip(axes[:, 0], paths.items())):
        # The path's images side by side, drawn as one image (one grey scale for the whole row).
        ax.imshow(torch.cat(list(to_image_view(path.detach())), dim=1), cmap="gray")
        if row == 0:  # t above the first row, at the centre of each image
            ax.set_xticks([28 * k + 13.5 for k in range(n_points)],
                          [f"t = {k / (n_points - 1):.2g}" for k in range(n_points)], fontsize=9)
            ax.xaxis.tick_top()
        else:
            ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
    ### END SOLUTION

# %% {"id": "q16_interpolate", "kind": "tests", "points": 3}
class _Cube(nn.Module):
    """A stand-in invertible model: features = x ** 3, inverse = cube root."""

    def forward(self, x, classif=True):
        return x ** 3

    def inverse(self, features):
        return features.sign() * features.abs() ** (1 / 3)


_x0, _x1 = torch.full((16, 7, 7), -1.0), torch.full((16, 7, 7), 2.0)
_path = interpolate(_Cube(), _x0, _x1, n_points=3)
assert torch.is_tensor(_path) and tuple(_path.shape) == (3, 16, 7, 7), \
    "interpolate(model, x0, x1, n_points=3) must return a tensor of shape (3, 16, 7, 7)."
assert torch.allclose(_path[0], _x0, atol=1e-4) and torch.allclose(_path[-1], _x1, atol=1e-4), \
    "The path must start at x0 (t = 0) and end at x1 (t = 1)."
assert torch.allclose(_path[1], torch.full((16, 7, 7), 3.5 ** (1 / 3)), atol=1e-4), \
    "The middle input must be model.inverse of the mean of the two feature vectors, not a blend of the inputs."
print("Visible tests passed.")

# %% {"id": "q16_paths", "kind": "solution", "tags": ["figure"]}
# Q16.3: the three paths (pixel blend, i-RevNet, i-ResNet) for three pairs of test digits, and the endpoint errors.
### BEGIN SOLUTION
invertible_models = {"i-RevNet": irevnet, "i-ResNet": iresnet}
candidates_x, candidates_y = test_x[:1000], test_y[:1000]  # about 100 of each class: enough to choose from
with torch.no_grad():
    predictions = [model.eval()(candidates_x).argmax(dim=1) for model in invertible_models.values()]
both_right = (predictions[0] == candidates_y) & (predictions[1] == candidates_y)


def first_recognised(label: int) -> torch.Tensor:
    """The first test input of class `label` that both networks classify correctly."""
    return candidates_x[int((both_right & (candidates_y == label)).nonzero()[0])]


pairs = [(3, 8), (1, 7), (4, 9)]
for a, b in pairs:
    x0, x1 = first_recognised(a), first_recognised(b)
    t = torch.linspace(0, 1, 9).reshape(-1, 1, 1, 1)
    paths = {"pixel blend": (1 - t) * x0 + t * x1}
    for name, model in invertible_models.items():
        paths[name] = interpolate(model, x0, x1, n_points=9)
        ends = max(float((paths[name][0] - x0).abs().max()), float((paths[name][-1] - x1).abs().max()))
        middle = paths[name][4]
        gap = float((middle - paths["pixel blend"][4]).norm() / (x1 - x0).norm())
        print(f"{a} -> {b}, {name:8s}: endpoint error {ends:.1e}; at t = 0.5, pixel range "
              f"[{float(middle.min()):+.1f}, {float(middle.max()):+.1f}], distance to the pixel blend "
              f"{gap:.2f} x |x1 - x0|")
    plot_paths(paths, f"From a {a} to a {b}: straight lines in pixel space and in feature space")
    plt.show()
print(f"range of the inputs' pixels: [{float(test_x.min()):+.1f}, {float(test_x.max()):+.1f}]")
### END SOLUTION

# %% {"id": "q16_predictions", "kind": "solution", "tags": ["figure"]}
# Q16.4: what each classifier predicts along its path and along the pixel blend, plotted against t.
### BEGIN SOLUTION
t = torch.linspace(0, 1, 41)
fig, axes = plt.subplots(len(pairs), 2, figsize=(9, 2.6 * len(pairs)), sharex=True, sharey=True, squeeze=False)
for row, (a, b) in zip(axes, pairs):
    x0, x1 = first_recognised(a), first_recognised(b)
    pixel_blend = (1 - t.reshape(-1, 1, 1, 1)) * x0 + t.reshape(-1, 1, 1, 1) * x1
    for ax, (name, model) in zip(row, invertible_models.items()):
        with torch.no_grad():
            for path, style, where in [(interpolate(model, x0, x1, n_points=41), "-", "feature path"),
                                       (pixel_blend, "--", "pixel blend")]:
                logits = model(path)
                probabilities = F.softmax(logits, dim=1)
                others = probabilities.clone()
                others[:, [a, b]] = 0
                ax.plot(t, probabilities[:, a], style, color="tab:blue", label=f"class of x0, {where}")
                ax.plot(t, probabilities[:, b], style, color="tab:orange", label=f"class of x1, {where}")
                ax.plot(t, others.max(dim=1).values, style, color="tab:gray", label=f"best other class, {where}")
                predicted = logits.argmax(dim=1).tolist()
                changes = [(round(float(t[k]), 3), c) for k, c in enumerate(predicted) if k == 0 or c != predicted[k - 1]]
                # The classifier is linear and model(x_t, classif=False) is the interpolated feature
                # vector, so along the feature path the logits are linear in t.
                linear = (1 - t[:, None]) * logits[0] + t[:, None] * logits[-1]
                print(f"{a} -> {b} {name:8s} {where:12s}: predicted (t, class) at each change {changes}; "
                      f"largest distance of the logits from a straight line {float((logits - linear).abs().max()):.1e}")
        ax.set_title(f"{name}, from a {a} to a {b}", fontsize=10)
    row[0].set_ylabel("softmax probability")
for ax in axes[-1]:
    ax.set_xlabel("t")
axes[0, 1].legend(fontsize=7, loc="center right")
fig.tight_layout()
plt.show()
### END SOLUTION

# %% [markdown] {"id": "q16_discussion", "kind": "task", "points": 4}
# **What do you think?** Discuss your figures: what the endpoints reproduce
# (and how precisely), what the paths look like and why, how the two
# networks differ from each other and from the pixel blend, and what the
# classifiers predict along the paths (use your measurements).
#
# ### BEGIN MARK SCHEME
# **Model answer** (numbers of the worked solution, seed 0; a student's own runs differ slightly).
#
# *Endpoints.* Both networks give $x_0$ and $x_1$ back to float32 rounding (largest pixel error $4.2 \times 10^{-7}$–$8.9 \times 10^{-7}$ for the i-RevNet, $1.8 \times 10^{-7}$ for the i-ResNet, on pixels in $[0, 1]$): $\Phi^{-1}(\Phi(x)) = x$, exactly for the i-RevNet, to the fixed-point tolerance for the i-ResNet. The pixel blend reproduces them trivially.
#
# *The paths.* None of them morphs a 3 into an 8: all three are cross-fades, the first digit fading out while the second fades in, both visible at $t = 0.5$. The i-ResNet path is almost the pixel blend: at $t = 0.5$ it lies $0.05$–$0.06\,\|x_1 - x_0\|$ from it and its pixels stay in $[-0.0, +1.0]$, close to the range of real inputs. The i-RevNet path is the same cross-fade drowned in a texture of horizontal streaks over the whole image: at $t = 0.5$ it lies $0.65$–$0.98\,\|x_1 - x_0\|$ from the pixel blend, with pixels from $-1.6$ to $+1.6$, far outside $[0, 1]$. The streaks are the handout's input view at work: each channel holds consecutive pixels of image rows, so what the network adds in feature space comes back as horizontal runs.
#
# *Why.* Both maps are piecewise affine (convolutions, additions, ReLUs): where no ReLU switches along the segment, $\Phi^{-1}$ of a straight line is a straight line, i.e. the pixel blend; the paths bend only where activations switch. For the i-ResNet every residual is a contraction (the FFT bound of every convolution is $0.90$, an upper bound of its norm), so $\Phi$ and $\Phi^{-1}$ are Lipschitz, but with constants $(1 + 0.9)^4 \approx 13$ and $(1 - 0.9)^{-4} = 10^4$ that guarantee nothing small: that its path stays close to the pixel blend is an observation, not a consequence of the constraint. The i-RevNet's couplings are unconstrained (largest FFT bound $5.42$, an upper bound of the norm, not the norm): its inverse subtracts large, rapidly switching terms, and a straight line in feature space comes back with detail that no digit has. Neither network was trained to make feature space meaningful (only to classify 500 digits): nothing makes the middle of the segment the features of a digit. Meaningful interpolations need a generative objective, e.g. a normalising flow trained by maximum likelihood.
#
# *Predictions.* Along the feature path the logits are exactly linear in $t$ (largest deviation $2.4 \times 10^{-6}$–$5.7 \times 10^{-6}$, float32 rounding, against $0.33$–$2.2$ along the pixel blend), because the classifier is linear and $\Phi(x_t)$ *is* $(1-t)\Phi(x_0) + t\Phi(x_1)$. So the odds of the two end classes change monotonically and cross once; a third class can still win in between if its logit is high at both ends, but none does here: from a 3 to an 8 both networks switch once, from 3 to 8, the i-RevNet at $t = 0.575$ and the i-ResNet at $t = 0.55$ on their feature paths (the i-RevNet at $t = 0.625$ along the pixel blend). From a 1 to a 7 the prediction switches early, at $t = 0.25$–$0.275$ (a faint bar already makes a 7). From a 4 to a 9 the i-RevNet switches before the middle ($t = 0.425$ on its path), the i-ResNet past it.
#
# **Mark scheme (4 points; whole points only).**
# - **1 point — figures.** Three pairs of different classes, each with three labelled rows (pixel blend, i-RevNet, i-ResNet) and columns labelled by $t$, shown as 28×28 images; a plot of the predictions against $t$ with labelled axes and a legend.
# - **1 point — endpoints and paths.** The endpoint error *measured* and explained (the inverse undoes the forward pass), and the paths described correctly from the figures: cross-fades, not morphs, with a supported comparison of the two networks and the pixel blend (which is closer to it, which is noisier).
# - **1 point — why.** A correct explanation of the shape of the paths: the features are not semantic (trained to classify, no generative objective), and a reason for the difference between the networks (the contraction of the i-ResNet against the unconstrained couplings of the i-RevNet, or the piecewise-affine argument).
# - **1 point — predictions.** Measured predictions along the paths (where the prediction switches, which classes appear) and one correct insight about them: the logits are linear in $t$ along the feature path, or a third class wins in the middle, or the comparison with the pixel blend.
#
# Grade against the student's own figures: other pairs and other numbers are right if the figures show them; a claim the student's figures contradict loses its point.
# ### END MARK SCHEME

# %% [markdown] {"id": "q16_answer", "kind": "answer"}

# %% [markdown] {"id": "q17-md"}
# ## Q17. i-RevNet or i-ResNet?
#
# First measure, for both trained networks, what you need to compare them,
# and print it as a table: the number of parameters, the test accuracy, the
# time of a forward pass and of an inverse on 1,000 test images (and their
# ratio), the reconstruction error, and the largest bound on the operator
# norm of their convolutions (your tools of Q12).

# %% {"id": "q17_measure", "kind": "solution"}
# Q17: the comparison table of the two trained networks.
### BEGIN SOLUTION
def timed(function, repeats: int = 3) -> tuple[float, torch.Tensor]:
    """Best wall time of `repeats` calls, in seconds, and what the last call returned."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


x = test_x[:1000]
model_accuracies = {"i-RevNet": accuracies["iRevNet"], "i-ResNet": iresnet_accuracy}  # measured in Q8 and Q14
print(f"{'':9s} {'parameters':>10s} {'accuracy':>9s} {'forward':>8s} {'inverse':>8s} {'ratio':>6s} "
      f"{'max |x - inverse(forward(x))|':>30s} {'largest FFT bound':>18s}")
for name, model in invertible_models.items():
    with torch.no_grad():
        forward_time, features = timed(lambda: model(x, classif=False))
        inverse_time, x_back = timed(lambda: model.inverse(features))
        error = float((x_back - x).abs().max())
    n_parameters = sum(p.numel() for p in model.parameters())
    largest_norm = max(float(fft_norm_bound(m.weight.detach(), 10)) for m in model.modules() if isinstance(m, nn.Conv2d))
    print(f"{name:9s} {n_parameters:10d} {model_accuracies[name]:8.1f}% {1000 * forward_time:6.1f}ms {1000 * inverse_time:6.1f}ms "
          f"{inverse_time / forward_time:6.1f} {error:30.1e} {largest_norm:18.2f}")
### END SOLUTION

# %% [markdown] {"id": "q17_comparison", "kind": "task", "points": 5}
# Compare i-RevNets and i-ResNets, with their pros and cons: the exactness of
# the inverse and its cost, memory (what must be stored to train them),
# architectural constraints, the Lipschitz constraint and its effect on
# expressivity and accuracy (use the accuracies you measured), the stability
# of the inverse, and their use as normalising flows (the log-determinant of
# the Jacobian).
#
# ### BEGIN MARK SCHEME
# **Model answer** (numbers of the worked solution's table, seed 0).
#
# | | i-RevNet | i-ResNet |
# |---|---|---|
# | inverse | exact by construction (a subtraction per layer); error $1.1 \times 10^{-6}$ in float32 on the 1,000 images of the table above ($9.5 \times 10^{-7}$ on Q9's 100), $2.2 \times 10^{-15}$ in float64 (Q9): rounding only | a fixed-point iteration, approximate by nature; in float32 its error ($4.2 \times 10^{-7}$ here) is at rounding level too, so the stopping rule shows only in float64 (Q11's check); 13–21 iterations per block to a step below $10^{-6}$ (Q15) |
# | cost of the inverse | one forward pass (measured ratio inverse/forward about $1$) | one evaluation of each block per iteration (measured ratio about $20$) |
# | memory in training | activations need not be stored: each layer's input is recomputed from its output during backpropagation, so memory does not grow with depth | the same trick would need an iterative, approximate inverse in every backward pass: activations are stored in practice |
# | architecture | the input is split in two halves (an even number of channels), each $F_j$ sees half the channels (20426 parameters against 58090), dimensions are preserved (downsampling only by an invertible space-to-depth reshuffle), $F_j$ is arbitrary | dimensions preserved, every $F_j$ a contraction: 1-Lipschitz activations and a spectral normalisation after every optimiser step (an FFT of each kernel and, at every frequency, the largest eigenvalue of $\hat w(\omega)^* \hat w(\omega)$, at every step) |
# | Lipschitz constants | a coupling and its inverse are $(1 + \mathrm{Lip}\,F_j)$-Lipschitz, so $\mathrm{Lip}(\Phi^{\pm 1}) \le \prod_j (1 + \|\mathrm{conv}_j\|)$: bi-Lipschitz, but with constants that depend on the weights, are not controlled in training and can grow large (largest FFT bound $5.42$ here) | $\mathrm{Lip}(\Phi) \le (1+\rho)^J$, $\mathrm{Lip}(\Phi^{-1}) \le (1-\rho)^{-J}$: guaranteed in advance and independent of the weights, but loose ($\approx 13$ and $10^4$ here); each block can move points only by a contraction, which limits what a block can express (more blocks are needed) |
# | stability of the inverse | on the data it is exact to rounding (the endpoints of Q16); the streaks of Q16 come from $\Phi^{-1}$ away from the data, where nothing bounds it but the weights | bounded by the guarantee above, however loose; the path of Q16 stays close to the pixel blend |
# | accuracy here | 84.7 % | 84.2 %; the plain ResNet 86.8 % (Q10) |
# | as a normalising flow | with the swap, the Jacobian of a layer is a permutation of a unit-triangular matrix: $\log|\det J| = 0$, free and exact, but the map preserves volume, so a density model carries the change of volume elsewhere (a diagonal scaling in NICE, affine couplings in RealNVP, actnorm and invertible 1×1 convolutions in Glow; NICE and Glow use additive couplings too) | $\log\det(I + J_F) = \sum_{k \ge 1} \frac{(-1)^{k+1}}{k}\,\mathrm{tr}(J_F^k)$, convergent because $\|J_F\| \le \rho < 1$; estimated by a truncated series and Hutchinson's trace estimator: approximate and costly |
#
# In short: the two invertible networks are about as accurate as each other, and a little less than the plain ResNet (86.8 % here, ahead for every seed of the course's seed table, docs/maintainers/thresholds.md): invertibility costs a few points on this task, not more. The i-RevNet is the cheaper and exact choice when only invertibility and memory matter; the i-ResNet buys Lipschitz constants guaranteed in advance and a free-form residual architecture (no split), with a slower, approximate inverse and a constraint on every layer.
#
# **Mark scheme (5 points; one per theme; whole points only).** Each point needs a correct statement *and* its reason; where a measurement exists (cost, error, accuracy), the student's own number.
# - **Inverse: exactness and cost** (algebraic vs iterative; one pass vs several per block, with the measured ratio).
# - **Memory** (recomputing activations from outputs in the backward pass; why that is practical for the i-RevNet, not for the i-ResNet).
# - **Architectural constraints** (split and half-width functions, preserved dimensions; contraction and normalisation after every step).
# - **Lipschitz constraint: expressivity, accuracy, stability** (Lipschitz bounds for both: guaranteed in advance but loose for the i-ResNet, weight-dependent and uncontrolled for the i-RevNet — saying that the i-RevNet has no stable inverse at all is wrong, its inverse being Lipschitz with a constant the weights decide, and loses the point; the measured accuracies, compared correctly; a conclusion that follows from them, e.g. both invertible networks a few points below the plain ResNet, at every seed).
# - **Normalising flows** (log-determinant 0 for additive coupling, volume preserving; the power series with a trace estimator for the i-ResNet, and why it converges).
# ### END MARK SCHEME

# %% [markdown] {"id": "q17_answer", "kind": "answer"}
