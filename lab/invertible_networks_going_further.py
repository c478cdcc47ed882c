# %% [markdown] {"id": "further"}
# # Going further (self-study; not graded)
#
# Three results the papers are known for, made concrete on the networks of
# this lab: what exact invertibility buys in training (memory that does not
# grow with depth), what the i-ResNet's contraction buys (a log-determinant
# that a power series computes), and what that log-determinant is for (a
# density, learned by a small i-ResNet). The first two run in a few seconds;
# the third trains for 1,000 steps and prints how long that took.

# %% [markdown] {"id": "further-memory-md"}
# ## 1. Backpropagation without storing activations
#
# To compute gradients, autograd keeps, for every layer, the tensors its
# backward pass needs: for a coupling layer $(x, \tilde x) \mapsto (\tilde x,
# x + F(\tilde x))$ with $F = \mathrm{ReLU} \circ \mathrm{conv}$, the input of
# the convolution and the output of the ReLU. That memory grows linearly with
# depth. An invertible network does not need it (Jacobsen et al., Section 3;
# Gomez et al. 2017 for RevNets): in the backward pass, each layer's input can
# be **recomputed from its output** with `inverse`, from the last layer to the
# first, and the layer's own backward pass run on it. Only the network's output
# is kept. The price: each layer is evaluated twice more (its inverse, then its
# forward pass again to record what its backward pass needs), one layer at a
# time.
#
# `ReversibleStack` is that backward pass, as a `torch.autograd.Function` over
# a stack of Q6's `InvertibleLayer`s. The parameters are passed to `apply` so
# that autograd asks for their gradients.

# %% {"id": "further-memory-code"}
class ReversibleStack(torch.autograd.Function):
    """Coupling layers run without recording; the backward pass recomputes each layer's input from its output."""

    @staticmethod
    def forward(ctx, layers: nn.ModuleList, x: torch.Tensor, x_tilde: torch.Tensor, *weights: torch.Tensor):
        ctx.layers = layers
        with torch.no_grad():
            X = (x, x_tilde)
            for layer in layers:
                X = layer(X)
        ctx.save_for_backward(*X)  # the output only: everything else is recomputed
        return X

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor, grad_y_tilde: torch.Tensor):
        Y, grads, weight_grads = ctx.saved_tensors, (grad_y, grad_y_tilde), []
        for layer in reversed(ctx.layers):
            with torch.no_grad():
                X = layer.inverse(Y)  # this layer's input, from its output
            with torch.enable_grad():
                X = tuple(t.detach().requires_grad_() for t in X)
                params = tuple(layer.parameters())
                found = torch.autograd.grad(layer(X), X + params, grads)
            grads, Y = found[:2], tuple(t.detach() for t in X)
            weight_grads = list(found[2:]) + weight_grads
        return (None, *grads, *weight_grads)


def reversible(layers: nn.ModuleList, X: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    weights = [p for layer in layers for p in layer.parameters()]
    return ReversibleStack.apply(layers, *X, *weights)


def stored(layers: nn.ModuleList, X: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    for layer in layers:
        X = layer(X)
    return X


def loss_of(Y: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return Y[0].sin().sum() + (Y[1] ** 2).sum()  # any scalar function of the output


def gradients(run, layers, X) -> list[torch.Tensor]:
    X = tuple(t.detach().requires_grad_() for t in X)
    layers.zero_grad()
    loss_of(run(layers, X)).backward()
    return [X[0].grad, X[1].grad] + [p.grad.clone() for p in layers.parameters()]


# The same gradients, to rounding: float64, 8 layers, the inputs' and every weight's.
torch.manual_seed(0)
layers = nn.ModuleList(InvertibleLayer() for _ in range(8)).double()
X = SplitAlongChannels()(torch.randn(32, 16, 7, 7, dtype=torch.float64))
difference = max(float((a - b).abs().max()) for a, b in zip(gradients(stored, layers, X),
                                                              gradients(reversible, layers, X)))
print(f"largest difference between the two backward passes' gradients (float64): {difference:.1e}")

# %% [markdown] {"id": "further-memory-measure-md"}
# What autograd keeps for the backward pass is measured with
# `torch.autograd.graph.saved_tensors_hooks`: every tensor saved during the
# forward pass goes through the hook, which adds up its bytes (each tensor
# once; the weights, which exist anyway, are left out). Depths from 4 to 64
# layers, a batch of 64 images in float32; the times are forward and backward
# together, the best of three runs.

# %% {"id": "further-memory-plot", "tags": ["figure"]}
def saved_bytes(run, layers, X) -> int:
    weights = {p.data_ptr() for p in layers.parameters()}
    seen: dict[tuple[int, int], int] = {}  # (address, elements) -> bytes: a tensor saved twice counts once

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in weights:
            seen[t.data_ptr(), t.numel()] = t.numel() * t.element_size()
        return t

    X = tuple(t.detach().clone().requires_grad_() for t in X)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_of(run(layers, X))
    loss.backward()
    return sum(seen.values())


def seconds(run, layers, X, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        gradients(run, layers, X)
        best = min(best, time.perf_counter() - start)
    return best


torch.manual_seed(0)
X = SplitAlongChannels()(test_x[:64])
depths = [4, 8, 16, 32, 64]
memory = {"stored": [], "reversible": []}
timing = {"stored": [], "reversible": []}
print(f"{'layers':>6s} {'kept, stored (MB)':>18s} {'kept, reversible (MB)':>22s} {'time, stored':>13s} {'time, reversible':>17s}")
for depth in depths:
    layers = nn.ModuleList(InvertibleLayer() for _ in range(depth))
    for name, run in (("stored", stored), ("reversible", reversible)):
        memory[name].append(saved_bytes(run, layers, X) / 1e6)
        timing[name].append(seconds(run, layers, X))
    print(f"{depth:6d} {memory['stored'][-1]:18.2f} {memory['reversible'][-1]:22.2f} "
          f"{1000 * timing['stored'][-1]:10.1f} ms {1000 * timing['reversible'][-1]:14.1f} ms")
per_layer = (memory["stored"][-1] - memory["stored"][0]) / (depths[-1] - depths[0])
print(f"stored: {1000 * per_layer:.0f} kB more per layer; reversible: {1000 * memory['reversible'][-1]:.0f} kB at every depth; "
      f"time, reversible / stored at 64 layers: {timing['reversible'][-1] / timing['stored'][-1]:.1f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
for name, style in (("stored", "o-"), ("reversible", "s-")):
    left.plot(depths, memory[name], style, label=name)
    right.plot(depths, [1000 * t for t in timing[name]], style, label=name)
left.set(xlabel="layers", ylabel="kept for the backward pass (MB)", title="Memory: activations stored or recomputed")
right.set(xlabel="layers", ylabel="forward + backward (ms)", title="Time")
for axes in (left, right):
    axes.set_xscale("log", base=2)
    axes.set_xticks(depths, [str(d) for d in depths])
    axes.legend()
fig.tight_layout()
plt.show()

# %% [markdown] {"id": "further-memory-comment"}
# Both backward passes give the same gradients, to $4.5 \times 10^{-13}$ in
# float64: rounding. The stored activations grow by 201 kB with every layer
# (the input of its convolution and the output of its ReLU, two tensors of
# $64 \times 8 \times 7 \times 7$ floats), while the reversible backward pass
# keeps only the output, 201 kB, whatever the depth. It costs more time (the
# ratio at 64 layers is printed above), since each layer runs its inverse and
# its forward pass again in the backward pass. The same trick
# would not serve the i-ResNet: its inverse is an iteration, tens of forward
# evaluations per block and approximate, in every backward pass.

# %% [markdown] {"id": "further-logdet-md"}
# ## 2. The i-ResNet's log-determinant
#
# An invertible map $\Phi$ turns a density on its output into one on its
# input (change of variables): $\log p_X(x) = \log p_Z(\Phi(x)) + \log|\det
# J_\Phi(x)|$, and for the block $x \mapsto x + F(x)$ the Jacobian is $I +
# J_F(x)$. Its log-determinant costs $O(d^3)$ exactly ($d = 784$ here, and far
# more for real images), but Behrmann et al. (Section 3) expand it:
#
# $$\log\det(I + J_F) = \mathrm{tr}\log(I + J_F) = \sum_{k \ge 1} \frac{(-1)^{k+1}}{k}\,\mathrm{tr}\big(J_F^k\big).$$
#
# **Why it converges.** After `normalize`, $\|J_F(x)\|_2 \le \mathrm{Lip}(F) \le
# \rho < 1$ (ReLU is 1-Lipschitz and the convolution's norm is at most $\rho$,
# Q12), so every eigenvalue $\lambda$ of $J_F$ has $|\lambda| \le \rho$: the
# series $\log(1 + \lambda) = \sum_k (-1)^{k+1}\lambda^k / k$ converges for
# each, and with them the matrix series. Since $|\mathrm{tr}(J_F^k)| \le d\,\rho^k$,
# stopping after $n$ terms errs by at most
# $\sum_{k > n} d\rho^k / k \le \frac{d\,\rho^{n+1}}{(n+1)(1-\rho)}$: geometric, at
# the rate $\rho$. The determinant is positive (every eigenvalue of $I + J_F$ has
# real part at least $1 - \rho > 0$), so $\log|\det| = \log\det$.
#
# **Hutchinson's estimator.** $\mathrm{tr}(A) = \mathbb E[v^\top A v]$ for any
# random $v$ with $\mathbb E[v v^\top] = I$, so each term needs only products
# $J_F^k v$: $k$ Jacobian-vector products, one forward-mode pass each, never
# the $d \times d$ matrix. With $m$ probes, the estimate's error falls as
# $1/\sqrt m$.
#
# Below, on the first block of the i-ResNet trained in Q14 (float64), at one
# test image: the exact value (`slogdet` of the dense Jacobian), the series with
# exact traces against the number of terms $n$ with the bound above, and
# Hutchinson's estimate against the number of probes $m$ (Rademacher probes,
# 20 terms, the root-mean-square error over 20 repetitions; the products
# $J_F^k v$ are taken with the dense Jacobian here, to repeat the estimate
# cheaply, after checking that one equals its forward-mode product).

# %% {"id": "further-logdet", "tags": ["figure"]}
import copy
import warnings

block = copy.deepcopy(iresnet.conv1).double()
x = test_x[:1].double()


def residual(v: torch.Tensor) -> torch.Tensor:
    return F.relu(block.conv(v))


d = x.numel()
J = torch.autograd.functional.jacobian(lambda v: residual(v.view_as(x)).flatten(), x.flatten(), vectorize=True).detach()
sign, exact = torch.linalg.slogdet(torch.eye(d, dtype=torch.float64) + J)
rho = float(torch.linalg.matrix_norm(J, 2))
print(f"d = {d}; ||J_F(x)||_2 = {rho:.3f} (<= 0.9 after normalize); det > 0: {bool(sign > 0)}; "
      f"log det(I + J_F) = {float(exact):.4f}")

# One Jacobian-vector product, by forward-mode autodiff, is the dense Jacobian's product: the estimator needs only it.
v = torch.randn_like(x)
with warnings.catch_warnings():  # torch.func warns about its own internal use of torch.jit
    warnings.simplefilter("ignore", FutureWarning)
    jvp = torch.func.jvp(residual, (x,), (v,))[1].detach()
print(f"a Jacobian-vector product against the dense Jacobian: largest difference {float((jvp.flatten() - J @ v.flatten()).abs().max()):.1e}")

eigenvalues = torch.linalg.eigvals(J)
terms = torch.arange(1, 31)
traces = torch.stack([(eigenvalues ** k).sum().real for k in terms])
partial = torch.cumsum((-1.0) ** (terms + 1) * traces / terms, 0)
truncation = (partial - exact).abs()
bound = d * rho ** (terms + 1) / ((terms + 1) * (1 - rho))
for n in (1, 5, 10, 20):
    print(f"{n:2d} terms: error {float(truncation[n - 1]):.1e} (bound {float(bound[n - 1]):.1e})")


def hutchinson(probes: int, n_terms: int = 20) -> float:
    v = (torch.randint(0, 2, (probes, d), dtype=torch.float64) * 2 - 1)  # Rademacher: E[v v^T] = I
    w, total = v.T, torch.zeros(probes, dtype=torch.float64)
    for k in range(1, n_terms + 1):
        w = J @ w  # J_F^k v; without J, one jvp as above per term and probe
        total += (-1) ** (k + 1) * (v.T * w).sum(0) / k
    return float(total.mean())


torch.manual_seed(0)
probe_counts = [1, 4, 16, 64]
rms = [float(torch.tensor([hutchinson(m) - float(exact) for _ in range(20)]).pow(2).mean().sqrt()) for m in probe_counts]
for m, error in zip(probe_counts, rms):
    print(f"{m:3d} probes: root-mean-square error {error:.3f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
left.semilogy(terms.numpy(), truncation.numpy(), "o-", label="series, exact traces")
left.semilogy(terms.numpy(), bound.numpy(), "--", label=r"bound $d\rho^{n+1}/((n+1)(1-\rho))$")
left.set(xlabel="terms n", ylabel="|error| of log det", title="Truncating the power series")
left.legend()
right.loglog(probe_counts, rms, "s-", label="Hutchinson, 20 terms")
right.loglog(probe_counts, [rms[0] / m ** 0.5 for m in probe_counts], "--", label=r"$\propto 1/\sqrt{m}$")
right.set(xlabel="probes m", ylabel="root-mean-square error", title="Estimating the traces")
right.legend()
fig.tight_layout()
plt.show()

# %% [markdown] {"id": "further-logdet-comment"}
# At this image the Jacobian's norm is $0.611$, below the guaranteed $\rho$,
# and $\log\det(I + J_F) = 6.7868$. The truncation error falls geometrically:
# $6.5 \times 10^{-7}$ after 10 terms, well inside the bound ($0.82$; plotted
# with the norm measured at this image in place of $\rho$, and assuming every
# eigenvalue as large as it, where most are far smaller). The
# estimator's error falls as $1/\sqrt m$, from $1.576$ with one probe to
# $0.226$ with 64: a handful of terms is exact enough, and the cost is then in
# the probes. That is the i-ResNet's price for
# densities (Behrmann et al. train with a truncated series, a few terms and one
# probe per example, which biases the estimate a little; Chen et al.'s
# Residual Flows, 2019, remove the bias by stopping the series at a random
# term and reweighting); the i-RevNet's additive
# couplings, by contrast, have $\log|\det| = 0$ for free, and must get their
# change of volume elsewhere (Q17's model answer).

# %% [markdown] {"id": "further-density-md"}
# ## 3. A density, learned by an i-ResNet
#
# With the log-determinant, an i-ResNet is a **normalizing flow**: for $\Phi =
# \phi_T \circ \dots \circ \phi_1$, $\phi_t(x) = x + F_t(x)$, and a standard
# normal $p_Z$ on its output, the change of variables gives every point a
# density,
#
# $$\log p(x) = \log p_Z(\Phi(x)) + \sum_{t=1}^{T} \log\det\big(I + J_{F_t}(x_{t-1})\big), \qquad x_0 = x,\ x_t = \phi_t(x_{t-1}),$$
#
# and training is maximum likelihood. Sampling runs the flow backwards: draw
# $z \sim p_Z$ and invert each block by the fixed-point iteration of Q11.
#
# Here in two dimensions, on points scattered around two interleaved half
# circles ("two moons"). Each branch is a small dense network, $F_t(x) = W_2\,
# \mathrm{ELU}(W_1 x + b_1) + b_2$ with 32 hidden units, and there are $T =
# 16$ blocks. Three choices differ from the classifier's blocks, each for a
# reason:
#
# - **ELU instead of ReLU.** The density contains $J_F$, and training it
#   differentiates $J_F$ once more. With ReLU, $J_F = W_2\,\mathrm{diag}(\mathbb
#   1[W_1 x + b_1 > 0])\,W_1$ is piecewise constant in $x$: the
#   log-determinant jumps where a unit switches, and its gradient with respect
#   to the biases $b_1$, which decide where the switches fall, is zero almost
#   everywhere. ELU is smooth and still 1-Lipschitz.
# - **The exact spectral norm.** $\mathrm{Lip}(F) \le \|W_2\|_2\,\|W_1\|_2$, and
#   for a $32 \times 2$ matrix the norm is its largest singular value, computed
#   exactly (`torch.linalg.matrix_norm(W, 2)`; Q12's FFT is what makes the same
#   bound affordable for a convolution). `normalize` scales each matrix to at
#   most $\sqrt\rho$ after every optimiser step, as `train_norm` does, so
#   $\mathrm{Lip}(F) \le \rho = 0.95$.
# - **The exact log-determinant for training.** In $d = 2$ the determinant of
#   $I + J_F$ costs nothing and $J_F = W_2\,\mathrm{diag}(\mathrm{ELU}'(W_1 x +
#   b_1))\,W_1$ is known in closed form, so the training loss uses it and
#   avoids the truncated series' bias. The density plotted below is then
#   computed as in item 2, by the power series (exact traces of the $2 \times
#   2$ powers), and checked against the exact value on the whole grid.

# %% {"id": "further-density-code"}
import math


def two_moons(n: int) -> torch.Tensor:
    """n points near two interleaved half circles, with noise, roughly standardised: shape (n, 2)."""
    angle = torch.rand(n) * math.pi
    upper = torch.rand(n) < 0.5
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    points = torch.stack([x, y], dim=1) + 0.08 * torch.randn(n, 2)
    return (points - torch.tensor([0.5, 0.25])) / torch.tensor([0.87, 0.5])


class DenseResidual(nn.Module):
    """x + F(x), F(x) = W2 ELU(W1 x + b1) + b2; Lip(F) <= rho after normalize(); inverse by fixed-point iteration."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.inner = nn.Linear(2, width)
        self.outer = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.outer(F.elu(self.inner(x)))

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """J_F at every point, shape (n, 2, 2): W2 diag(ELU'(W1 x + b1)) W1."""
        h = self.inner(x)
        slope = torch.where(h > 0, torch.ones_like(h), torch.exp(h))  # ELU'(h)
        return self.outer.weight @ (slope[:, :, None] * self.inner.weight)

    @torch.no_grad()
    def normalize(self, rho: float = 0.95) -> None:
        for layer in (self.inner, self.outer):
            norm = torch.linalg.matrix_norm(layer.weight, 2)
            if norm > rho ** 0.5:
                layer.weight.mul_(rho ** 0.5 / norm)

    @torch.no_grad()
    def inverse(self, y: torch.Tensor, tol: float = 1e-6, max_iter: int = 1000) -> tuple[torch.Tensor, int]:
        """The x with x + F(x) = y, and the number of iterations it took."""
        x, scale = y.clone(), float(y.abs().max()) + 1e-12
        for iteration in range(1, max_iter + 1):
            x_next = y - (self(x) - x)
            step = float((x_next - x).abs().max())
            x = x_next
            if step <= tol * scale:
                break
        return x, iteration


def exact_log_det(J: torch.Tensor) -> torch.Tensor:
    return torch.linalg.slogdet(torch.eye(2) + J).logabsdet


def series_log_det(J: torch.Tensor, n_terms: int) -> torch.Tensor:
    """Item 2's power series, sum_k (-1)^(k+1) tr(J^k) / k, with exact traces (cheap for 2 x 2)."""
    total, power = torch.zeros(J.shape[0]), torch.eye(2).expand_as(J)
    for k in range(1, n_terms + 1):
        power = power @ J
        total = total + (-1) ** (k + 1) * power.diagonal(dim1=1, dim2=2).sum(1) / k
    return total


class Flow(nn.Module):
    def __init__(self, n_blocks: int = 16):
        super().__init__()
        self.blocks = nn.ModuleList(DenseResidual() for _ in range(n_blocks))
        self.normalize()

    def normalize(self, rho: float = 0.95) -> "Flow":
        for block in self.blocks:
            block.normalize(rho)
        return self

    def log_prob(self, x: torch.Tensor, log_det=exact_log_det) -> torch.Tensor:
        total = torch.zeros(x.shape[0])
        for block in self.blocks:
            total = total + log_det(block.jacobian(x))
            x = block(x)
        return total - 0.5 * (x ** 2).sum(1) - math.log(2 * math.pi)

    @torch.no_grad()
    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """n points x = Phi^{-1}(z), their z, and the most iterations a block needed."""
        z = torch.randn(n, 2)
        x, most = z, 0
        for block in reversed(self.blocks):
            x, iterations = block.inverse(x)
            most = max(most, iterations)
        return x, z, most


torch.manual_seed(0)
train_points, test_points = two_moons(4096), two_moons(2048)
flow = Flow()
first, some = flow.blocks[0], test_points[:100]
with torch.no_grad():
    autograd_J = torch.func.vmap(torch.func.jacrev(first))(some) - torch.eye(2)  # the Jacobian of x + F(x), minus I
    print(f"J_F in closed form against autograd's: largest difference {float((first.jacobian(some) - autograd_J).abs().max()):.1e}")

optimizer = optim.Adam(flow.parameters(), lr=0.01)
steps = 1000
schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
start = time.perf_counter()
for step in range(steps):
    batch = train_points[torch.randint(0, len(train_points), (256,))]
    loss = -flow.log_prob(batch).mean()  # maximum likelihood
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    flow.normalize()
print(f"trained: {steps} steps in {time.perf_counter() - start:.0f} s")

# %% [markdown] {"id": "further-density-measure-md"}
# How good is the density? The mean log-likelihood of 2,048 held-out points
# (in nats per point; higher is better) against the best single Gaussian (the
# data's own mean and covariance), the largest difference on a $150 \times 150$
# grid between the series' log-density and the exact one, and samples drawn by
# inverting the flow, with the round trip $\Phi(\Phi^{-1}(z)) - z$.

# %% {"id": "further-density-plot", "tags": ["figure"]}
with torch.no_grad():
    centred = test_points - test_points.mean(0)
    gaussian = torch.distributions.MultivariateNormal(test_points.mean(0), centred.T @ centred / len(centred))
    print(f"held-out log-likelihood (nats per point): i-ResNet flow {float(flow.log_prob(test_points).mean()):.3f}, "
          f"one Gaussian {float(gaussian.log_prob(test_points).mean()):.3f}")

    side = torch.linspace(-2.5, 2.5, 150)
    grid = torch.stack(torch.meshgrid(side, side, indexing="xy"), dim=-1).reshape(-1, 2)
    exact = flow.log_prob(grid)
    for n_terms in (5, 10, 40):
        series = flow.log_prob(grid, log_det=lambda J: series_log_det(J, n_terms))
        print(f"log-density by the series, {n_terms:2d} terms per block: largest difference from exact "
              f"{float((series - exact).abs().max()):.1e}")
    norms, x_t = [], grid  # each block's Jacobian where that block works: at the grid's image so far
    for block_t in flow.blocks:
        norms.append(torch.linalg.matrix_norm(block_t.jacobian(x_t), 2))
        x_t = block_t(x_t)
    print(f"||J_F||_2 at the grid's points, over the blocks: at most {float(torch.cat(norms).max()):.3f} (rho = 0.95)")

    samples, z, most = flow.sample(2000)
    round_trip = samples
    for block_t in flow.blocks:
        round_trip = block_t(round_trip)
    print(f"sampling: at most {most} fixed-point iterations per block; "
          f"round trip |Phi(Phi^-1(z)) - z| at most {float((round_trip - z).abs().max()):.1e}")

fig, (data_ax, density_ax, sample_ax) = plt.subplots(1, 3, figsize=(13, 4))
data_ax.scatter(test_points[:, 0], test_points[:, 1], s=1)
data_ax.set_title("Held-out data")
image = density_ax.imshow(series.exp().reshape(150, 150), origin="lower", extent=(-2.5, 2.5, -2.5, 2.5))
fig.colorbar(image, ax=density_ax, label="density p(x)")
density_ax.set_title("Learned density (series, 40 terms)")
sample_ax.scatter(samples[:, 0], samples[:, 1], s=1, color="tab:orange")
sample_ax.set_title(r"Samples $\Phi^{-1}(z)$, $z \sim N(0, I)$")
for axes in (data_ax, density_ax, sample_ax):
    axes.set(xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
fig.tight_layout()
plt.show()

# %% [markdown] {"id": "further-density-comment"}
# The flow gives the held-out points a mean log-likelihood of $-1.856$ nats
# against $-2.733$ for the best single Gaussian: far better, and far from
# perfect. The density puts its mass along the two arcs but joins them by a
# band across the gap, where many samples fall, and it thins out towards the
# moons' inner tips. A flow maps the whole plane onto the whole plane, so its
# density is positive everywhere: the gap can only be thinned, by the map
# squeezing it, and this small network, trained for 1,000 steps, has thinned
# it only partly.
#
# The series needs many terms here. With $\|J_F\|_2$ up to $0.935$ where the
# blocks work (close to $\rho = 0.95$, which lets each block do more), it
# converges at about that rate: 5 terms per block are off by $1.2$ nats
# somewhere on the grid, 10 terms by $0.50$,
# 40 terms by $1.7 \times 10^{-2}$. Training on a 5-term series would have
# maximised a biased objective (the bias Residual Flows remove); in two dimensions the exact
# determinant was free, in 784 the choice of $\rho$ is a trade between what a
# block can express and how many terms (and probes) its log-determinant needs.
#
# Sampling inverts each block by fixed-point iteration in at most 122
# iterations, slowly for the same reason, and $\Phi(\Phi^{-1}(z))$ returns to
# $z$ within $1.8 \times 10^{-5}$ (float32).
