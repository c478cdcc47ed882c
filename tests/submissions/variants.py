"""Answers that differ from the reference: correct alternatives and wrong answers.

Each ``Variant`` replaces a few answer cells (by grade id) of the reference
submission. Several independent answers share one variant, so one autograde
run checks them all: a correct variant must keep every point; a wrong variant
must lose exactly the test cells in ``loses`` (its wrong answers' questions),
score exactly ``partial`` on the cells graded property by property (a wrong
property costs its share), and keep every other point, which proves that a
wrong answer costs only what it gets wrong.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    name: str
    what: str
    answers: dict[str, str]  # grade id of an answer cell -> its new source
    loses: frozenset[str] = frozenset()  # test cells expected to score 0
    partial: tuple[tuple[str, float], ...] = ()  # test cells expected to score part of their points


# ---------------------------------------------------------------- correct, different style

SPLIT_CHUNK = '''
class SplitAlongChannels(nn.Module):
    def forward(self, x):
        if x.size(1) % 2 != 0:
            raise ValueError("odd number of channels")
        first, second = torch.chunk(x, 2, dim=1)
        return first, second

    def inverse(self, X):
        return torch.cat(X, 1)
'''

SPLIT_INTERLEAVED = '''
class SplitAlongChannels(nn.Module):
    """Even channels in one half, odd channels in the other."""

    def forward(self, x):
        if x.shape[1] % 2:
            raise ValueError("cannot split an odd number of channels")
        return x[:, 0::2], x[:, 1::2]

    def inverse(self, X):
        even, odd = X
        return torch.stack([even, odd], dim=2).flatten(1, 2)
'''

LAYER_OTHER_HALF = '''
class InvertibleLayer(nn.Module):
    """(a, b) -> (b + F(a), a): the other half is updated."""

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(8, 8, 7, padding=3), nn.ReLU())

    def forward(self, X):
        a, b = X
        return b + self.f(a), a

    def inverse(self, Y):
        u, v = Y
        return v, u - self.f(v)
'''

LAYER_NO_SWAP = '''
class InvertibleLayer(nn.Module):
    """(x, x~) -> (x + F(x~), x~): no swap; the network alternates the halves."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, kernel_size=7, padding=3)

    def forward(self, X):
        x, x_tilde = X
        return x + torch.relu(self.conv(x_tilde)), x_tilde

    def inverse(self, Y):
        y, y_tilde = Y
        return y - torch.relu(self.conv(y_tilde)), y_tilde
'''

IREVNET_SEQUENTIAL = '''
class iRevNet(nn.Module):
    def __init__(self, n_layers=4):
        super().__init__()
        self.splitter = SplitAlongChannels()
        self.blocks = nn.Sequential(*[InvertibleLayer() for _ in range(n_layers)])
        self.fc = nn.Linear(784, 10)

    def forward(self, x, classif=True):
        z = self.splitter.inverse(self.blocks(self.splitter(x)))
        if not classif:
            return z
        return self.fc(z.reshape(len(z), -1))

    def inverse(self, z):
        pair = self.splitter(z)
        for block in self.blocks[::-1]:
            pair = block.inverse(pair)
        return self.splitter.inverse(pair)
'''

IREVNET_ALTERNATING = '''
class iRevNet(nn.Module):
    """Odd layers see the halves in the other order, so both halves get updated."""

    def __init__(self, depth=4):
        super().__init__()
        self.split = SplitAlongChannels()
        self.layers = nn.ModuleList(InvertibleLayer() for _ in range(depth))
        self.classifier = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x, classif=True):
        a, b = self.split(x)
        for i, layer in enumerate(self.layers):
            if i % 2 == 0:
                a, b = layer((a, b))
            else:
                b, a = layer((b, a))
        features = self.split.inverse((a, b))
        return self.classifier(features.flatten(1)) if classif else features

    def inverse(self, features):
        a, b = self.split(features)
        for i in reversed(range(len(self.layers))):
            if i % 2 == 0:
                a, b = self.layers[i].inverse((a, b))
            else:
                b, a = self.layers[i].inverse((b, a))
        return self.split.inverse((a, b))
'''

TRAIN_DATALOADER = '''
from torch.utils.data import DataLoader, TensorDataset


def train(model, n_epoch=40, learning_rate=0.05):
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=BATCH_SIZE, shuffle=True)
    opt = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    model.losses = []
    model.train()
    for epoch in range(n_epoch):
        running = 0.0
        for images, labels in loader:
            opt.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            opt.step()
            running += loss.item() * len(labels)
        model.losses.append(running / len(loader.dataset))
    print(f"trained {n_epoch} epochs, final loss {model.losses[-1]:.3f}")
    return model


@torch.inference_mode()
def test(model):
    model.eval()
    hits = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in zip(test_x.split(1000), test_y.split(1000)))
    return hits / len(test_y) * 100


def plot_losses(model):
    figure = plt.figure()
    plt.plot(list(range(len(model.losses))), model.losses)
    plt.xlabel("epoch number")
    plt.ylabel("loss")
    return figure
'''

PLOT_DIGITS_OTHER_STYLE = '''
def plot_digits(images, labels, ncols=8):
    fig = plt.figure(figsize=(10, 4))
    rows = -(-len(images) // ncols)
    for i, (image, label) in enumerate(zip(images, labels)):
        ax = fig.add_subplot(rows, ncols, i + 1)
        ax.imshow(255 * image.numpy(), cmap="gray_r")
        ax.set_xlabel(str(label.item()))
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_network_view(x, label):
    fig, axs = plt.subplots(4, 4)
    for c in range(16):
        axs[c // 4, c % 4].imshow(x[c].numpy(), cmap="gray")
        axs[c // 4, c % 4].set_title(str(c))
        axs[c // 4, c % 4].axis("off")
    fig.suptitle(f"digit {label}")
    return fig
'''

COMPARE_COMPREHENSION = '''
def train_and_compare(models):
    def seeded_accuracy(model):
        torch.manual_seed(0)
        return test(train(model))
    return {name: float(seeded_accuracy(model)) for name, model in models.items()}
'''

ERROR_AMAX = '''
def reconstruction_error(model, x):
    features = model(x, classif=False)
    return (x - model.inverse(features)).abs().amax().item()
'''

# ---------------------------------------------------------------- wrong

SPLIT_WRONG_DIMENSION = '''
class SplitAlongChannels(nn.Module):
    def forward(self, x):
        return torch.chunk(x, 2, dim=2)  # wrong: splits the height

    def inverse(self, X):
        return torch.cat(X, dim=2)
'''

SPLIT_NO_ODD_CHECK = '''
class SplitAlongChannels(nn.Module):
    def forward(self, x):
        half = x.shape[1] // 2
        return x[:, :half], x[:, half:]  # wrong: 5 channels give halves of 2 and 3

    def inverse(self, X):
        return torch.cat(X, dim=1)
'''

LAYER_WRONG_SIGN = '''
class InvertibleLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, kernel_size=7, padding=3)

    def forward(self, X):
        x, x_tilde = X
        return x_tilde, x + F.relu(self.conv(x_tilde))

    def inverse(self, Y):
        y, y_tilde = Y
        return y_tilde + F.relu(self.conv(y)), y  # wrong sign
'''

LAYER_CACHED_INVERSE = '''
class InvertibleLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, kernel_size=7, padding=3)

    def forward(self, X):
        self.last_input = X  # wrong: the inverse returns what it saw last
        x, x_tilde = X
        return x_tilde, x + F.relu(self.conv(x_tilde))

    def inverse(self, Y):
        return self.last_input
'''

LAYER_WITHOUT_CONV = '''
class InvertibleLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, kernel_size=7, padding=3)  # created, never used

    def forward(self, X):
        x, x_tilde = X
        return x_tilde, x

    def inverse(self, Y):
        y, y_tilde = Y
        return y_tilde, y
'''

IREVNET_INVERSE_IN_FORWARD_ORDER = '''
class iRevNet(nn.Module):
    def __init__(self, depth=4):
        super().__init__()
        self.split = SplitAlongChannels()
        self.layers = nn.ModuleList([InvertibleLayer() for _ in range(depth)])
        self.classifier = nn.Linear(784, 10)

    def forward(self, x, classif=True):
        X = self.split(x)
        for layer in self.layers:
            X = layer(X)
        features = self.split.inverse(X)
        return self.classifier(features.flatten(1)) if classif else features

    def inverse(self, features):
        X = self.split(features)
        for layer in self.layers:  # wrong: must undo the last layer first
            X = layer.inverse(X)
        return self.split.inverse(X)
'''

IREVNET_IDENTITY = '''
class iRevNet(nn.Module):
    def __init__(self, depth=4):
        super().__init__()
        self.layers = nn.ModuleList([InvertibleLayer() for _ in range(depth)])
        self.classifier = nn.Linear(784, 10)

    def forward(self, x, classif=True):
        return self.classifier(x.flatten(1)) if classif else x  # wrong: layers never applied

    def inverse(self, features):
        return features
'''

COMPARE_ASSUMED = '''
def train_and_compare(models):
    return {name: 85.0 for name in models}  # wrong: assumed, not measured
'''

ERROR_NORM = '''
def reconstruction_error(model, x):
    with torch.no_grad():
        return float(torch.norm(model.inverse(model(x, classif=False)) - x))  # wrong: the norm, not the max entry
'''

TEST_FRACTION = '''
def train(net, n_epoch=40, learning_rate=0.05):
    optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9)
    net.losses = []
    for epoch in range(n_epoch):
        order, total = torch.randperm(len(train_x)), 0.0
        for start in range(0, len(train_x), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        net.losses.append(total / len(train_x))
    return net


def test(net):
    with torch.no_grad():
        return (net(test_x).argmax(1) == test_y).float().mean().item()  # wrong: a fraction, not percent


def plot_losses(net):
    fig, ax = plt.subplots()
    ax.plot(net.losses)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    return fig
'''

TEST_TENSOR = TEST_FRACTION.replace(
    "return (net(test_x).argmax(1) == test_y).float().mean().item()  # wrong: a fraction, not percent",
    "return 100 * (net(test_x).argmax(1) == test_y).float().mean()  # wrong: a tensor, not a float",
)
assert TEST_TENSOR != TEST_FRACTION

# ---------------------------------------------------------------- Part 3 answers

TRAIN_NORM_REFERENCE_STYLE = '''

def train_norm(net, n_epoch=40, learning_rate=0.05):
    optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9)
    net.losses = []
    for epoch in range(n_epoch):
        order, total = torch.randperm(len(train_x)), 0.0
        for start in range(0, len(train_x), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
            net.normalize()
            total += loss.item() * len(batch)
        net.losses.append(total / len(train_x))
    return net
'''

TRAIN_NORM_DATALOADER = '''

def train_norm(net, n_epoch=40, learning_rate=0.05):
    from torch.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=BATCH_SIZE, shuffle=True)
    sgd = torch.optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9)
    net.losses = []
    for _ in range(n_epoch):
        epoch_losses = []
        for xb, yb in loader:
            sgd.zero_grad()
            loss = nn.functional.cross_entropy(net(xb), yb)
            loss.backward()
            sgd.step()
            with torch.no_grad():
                net.normalize(0.9)
            epoch_losses.append(loss.item())
        net.losses.append(sum(epoch_losses) / len(epoch_losses))
    return net
'''

BLOCK_POWER_ITERATION = '''
class InvertibleResidual(nn.Module):
    """Normalised with a power-iteration estimate of the true norm, warm-started from the vector of the
    previous call (200 steps from a random start, then 20); fixed 200-step inverse."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 16, 7, padding=3)
        self.v = None

    def forward(self, x):
        return x + F.relu(self.conv(x))

    def normalize(self, rho=0.9):
        w = self.conv.weight.data
        if self.v is None or self.v.dtype != w.dtype:
            v, steps = torch.randn(1, 16, 7, 7, dtype=w.dtype), 200
        else:
            v, steps = self.v, 20  # the weights moved by one optimiser step: the previous vector is close
        for _ in range(steps):
            v = v / v.norm()
            u = F.conv2d(v, w, padding=3)
            v = F.conv_transpose2d(u, w, padding=3)
        self.v = v
        estimate = u.norm()
        if estimate > rho:
            self.conv.weight.data = w * (rho / estimate)

    def inverse(self, y):
        with torch.no_grad():
            x = y
            for _ in range(200):
                x = y - F.relu(self.conv(x))
        return x
'''

BLOCK_LARGE_GRID = '''
class InvertibleResidual(nn.Module):
    """FFT bound on a 16 x 16 grid (larger than needed: still an upper bound); relative-change stop."""

    def __init__(self, channels=16):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=7, padding=3)

    def F(self, x):
        return torch.relu(self.conv(x))

    def forward(self, x):
        return x + self.F(x)

    def normalize(self, rho=0.9):
        with torch.no_grad():
            transfer = torch.fft.fftn(self.conv.weight, s=(16, 16), dim=(-2, -1))
            sigma = torch.linalg.svdvals(transfer.permute(2, 3, 0, 1)).max()
            if sigma > rho:
                self.conv.weight.data /= sigma / rho

    def inverse(self, y):
        with torch.no_grad():
            x = y.clone()
            for _ in range(1000):
                new_x = y - self.F(x)
                if torch.norm(new_x - x) <= 1e-7 * torch.norm(y):
                    return new_x
                x = new_x
            return x
'''

BLOCK_FFT_7 = BLOCK_LARGE_GRID.replace("s=(16, 16)", "s=(7, 7)").replace(
    "FFT bound on a 16 x 16 grid (larger than needed: still an upper bound)",
    "wrong: FFT on the 7 x 7 grid, which wraps around")

BLOCK_INVERSE_ONCE = BLOCK_LARGE_GRID[:BLOCK_LARGE_GRID.index("    def inverse")] + '''    def inverse(self, y):
        with torch.no_grad():
            return y - self.F(y)  # wrong: one step of the fixed-point iteration
'''

BLOCK_NORMALIZE_L1 = BLOCK_LARGE_GRID.replace('''            transfer = torch.fft.fftn(self.conv.weight, s=(16, 16), dim=(-2, -1))
            sigma = torch.linalg.svdvals(transfer.permute(2, 3, 0, 1)).max()''', '''            sigma = self.conv.weight.abs().sum()  # wrong: a valid but far too loose bound, crushes W''')

BLOCK_INVERSE_WRONG_SIGN = BLOCK_LARGE_GRID.replace("new_x = y - self.F(x)", "new_x = y + self.F(x)  # wrong sign")

TRAIN_NORM_NEVER = TRAIN_NORM_REFERENCE_STYLE.replace(
    "            net.normalize()\n", "            # wrong: never normalises\n")

TRAIN_NORM_ONCE = TRAIN_NORM_REFERENCE_STYLE.replace(
    "            net.normalize()\n", "").replace(
    "    net.losses = []\n", "    net.losses = []\n    net.normalize()  # wrong: only once, before training\n")

IRESNET_OTHER_STYLE = '''
class iResNet(nn.Module):
    def __init__(self, n_blocks=4):
        super().__init__()
        self.body = nn.Sequential(*[InvertibleResidual() for _ in range(n_blocks)])
        self.head = nn.Linear(784, 10)

    def normalize(self, rho=0.9):
        for block in self.body:
            block.normalize(rho)

    def forward(self, x, classif=True):
        z = self.body(x)
        return self.head(z.flatten(start_dim=1)) if classif else z

    def inverse(self, z):
        for block in reversed(list(self.body)):
            z = block.inverse(z)
        return z
'''

IRESNET_POWER_ITERATION = '''
class iResNet(nn.Module):
    """normalize bounds each block by a power iteration of its own (200 steps from a random start, then 20 from the
    vector of the previous call), not through the blocks' normalize."""

    def __init__(self):
        super().__init__()
        self.conv1 = InvertibleResidual()
        self.conv2 = InvertibleResidual()
        self.conv3 = InvertibleResidual()
        self.conv4 = InvertibleResidual()
        self.fc = nn.Linear(28 * 28, 10)
        self.vectors = {}

    def blocks(self):
        return [self.conv1, self.conv2, self.conv3, self.conv4]

    def normalize(self, rho=0.9):
        with torch.no_grad():
            for index, block in enumerate(self.blocks()):
                w = block.conv.weight
                v = self.vectors.get(index)
                steps = 20
                if v is None or v.dtype != w.dtype:
                    v, steps = torch.randn(1, 16, 7, 7, dtype=w.dtype), 200
                for _ in range(steps):
                    v = v / v.norm()
                    u = F.conv2d(v, w, padding=3)
                    v = F.conv_transpose2d(u, w, padding=3)
                self.vectors[index] = v
                norm = u.norm()
                if norm > rho:
                    w.mul_(rho / norm)
        return self

    def forward(self, x, classif=True):
        for block in self.blocks():
            x = block(x)
        return self.fc(x.flatten(1)) if classif else x

    def inverse(self, features):
        for block in reversed(self.blocks()):
            features = block.inverse(features)
        return features
'''

IRESNET_INVERSE_FORWARD_ORDER = IRESNET_OTHER_STYLE.replace(
    "for block in reversed(list(self.body)):", "for block in self.body:  # wrong order")

TRACE_OTHER_STYLE = '''
def fixed_point_trace(block, y, n_iter):
    x, out = y, []
    for _ in range(n_iter):
        with torch.no_grad():
            nxt = y - F.relu(block.conv(x))
        out.append((nxt - x).abs().max().item())
        x = nxt
    return out
'''

TRACE_WRONG_START = '''
def fixed_point_trace(block, y, n_iter):
    steps, x = [], torch.zeros_like(y)  # wrong: starts from 0, not from y
    with torch.no_grad():
        for _ in range(n_iter):
            x_next = y - (block(x) - x)
            steps.append(float((x_next - x).abs().max()))
            x = x_next
    return steps
'''

RESNET_UNTRAINED = '''
torch.manual_seed(0)
resnet = ResNet()  # wrong: never trained
resnet_accuracy = test(resnet)
'''

PLOT_PATHS = '''

def plot_paths(paths, title):
    rows, cols = len(paths), len(next(iter(paths.values())))
    fig, axes = plt.subplots(rows, cols, squeeze=False)
    for r, (name, path) in enumerate(paths.items()):
        for c in range(cols):
            axes[r][c].imshow(to_image_view(path[c:c + 1].detach())[0], cmap="gray")
            axes[r][c].axis("off")
            axes[0][c].set_title(f"t={c / (cols - 1):.2f}")
        axes[r][0].set_ylabel(name)
    fig.suptitle(title)
    return fig
'''

INTERPOLATE_LERP_LOOP = '''
def interpolate(model, x0, x1, n_points=9):
    """One t at a time, torch.lerp, t from a list of fractions."""
    model.eval()
    f0 = model(x0.unsqueeze(0), classif=False)
    f1 = model(x1.unsqueeze(0), classif=False)
    images = []
    for i in range(n_points):
        t = i / (n_points - 1)
        images.append(model.inverse(torch.lerp(f0, f1, t)).detach())
    return torch.cat(images)
''' + PLOT_PATHS

INTERPOLATE_STACKED = '''
def interpolate(model, x0, x1, n_points=9):
    with torch.no_grad():
        z0, z1 = model(x0[None], classif=False)[0], model(x1[None], classif=False)[0]
        ts = torch.linspace(0.0, 1.0, steps=n_points).tolist()
        return model.inverse(torch.stack([z0 + t * (z1 - z0) for t in ts]))
''' + PLOT_PATHS

INTERPOLATE_PIXELS = '''
def interpolate(model, x0, x1, n_points=9):
    t = torch.linspace(0, 1, n_points).reshape(-1, 1, 1, 1)
    return (1 - t) * x0 + t * x1  # wrong: a blend of the inputs, not of their features
''' + PLOT_PATHS

INTERPOLATE_NO_ENDPOINT = '''
def interpolate(model, x0, x1, n_points=9):
    with torch.no_grad():
        f0, f1 = model(x0[None], classif=False), model(x1[None], classif=False)
        t = (torch.arange(n_points) / n_points).reshape(-1, 1, 1, 1)  # wrong: t never reaches 1
        return model.inverse((1 - t) * f0 + t * f1)
''' + PLOT_PATHS

INTERPOLATE_FEATURES = '''
def interpolate(model, x0, x1, n_points=9):
    with torch.no_grad():
        f0, f1 = model(x0[None], classif=False), model(x1[None], classif=False)
        t = torch.linspace(0, 1, n_points).reshape(-1, 1, 1, 1)
        return (1 - t) * f0 + t * f1  # wrong: the features, never mapped back by the inverse
''' + PLOT_PATHS


PLOT_DIGITS_INDEX_TITLES = '''
def plot_digits(images, labels, ncols=8):
    fig, axes = plt.subplots(-(-len(images) // ncols), ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(images):
            ax.imshow(images[k], cmap="gray")
            ax.set_title(str(k))  # wrong: the position, not the label
    return fig


def plot_network_view(x, label):
    fig, axes = plt.subplots(4, 4)
    for channel, ax in enumerate(axes.flat):
        ax.imshow(x[channel], cmap="gray")
        ax.set_title(str(channel))
        ax.axis("off")
    return fig
'''



# ---------------------------------------------------------------- the handout's own style

TRAIN_TEST_HANDOUT = '''
def train(net, n_epoch=40, learning_rate=0.05):
    loss = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9)
    net.losses = []
    for epoch in range(n_epoch):  # loop over the dataset multiple times
        running_loss = []
        for i, data in enumerate(trainloader, 0):
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data
            optimizer.zero_grad()
            outputs = net(inputs)
            l = loss(outputs, labels)
            l.backward()
            optimizer.step()
            running_loss.append(l.item())
        net.losses.append(sum(running_loss) / len(running_loss))

    correct = 0
    total = 0
    with torch.no_grad():
        for data in trainloader:
            images, labels = data
            outputs = net(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

    print('Accuracy of the network on the 500 train images: %d %%' % (
        100 * correct / total))

    return net

def test(net):
    correct = 0
    total = 0
    with torch.no_grad():
        for data in testloader:
            images, labels = data
            outputs = net(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    print('Accuracy of the network on the 10000 test images: %d %%' % (100 * correct / total))
    return 100 * correct / total

def plot_losses(net):
    fig = plt.figure()
    plt.plot(net.losses)
    plt.xlabel("epoch")
    plt.ylabel("training loss")
    return fig
'''

BLOCK_HANDOUT_MINIMAL_GRID = '''
from torch.fft import fft
from torch.fft import ifft
class InvertibleResidual(nn.Module):

    def __init__(self, kernel_size=7):
        super(InvertibleResidual, self).__init__()
        self.conv = nn.Conv2d(16, 16, kernel_size,padding=kernel_size//2)

    def forward(self, x):
        return x + F.relu(self.conv(x))

    def normalize(self, rho=0.9):
        grid = 7 + self.conv.kernel_size[0] // 2  # the smallest grid where the padding never wraps onto the input
        W = torch.fft.fft2(self.conv.weight.data, s=(grid, grid))
        norm = torch.linalg.svdvals(W.permute(2, 3, 0, 1)).max()
        if norm > rho:
            self.conv.weight.data = self.conv.weight.data * rho / norm

    def inverse(self,y):
        x = y
        with torch.no_grad():
            for k in range(100):
                x = y - F.relu(self.conv(x))
        return x

def train_norm(net, n_epoch=40, learning_rate=0.05):
    loss = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9)
    net.losses = []
    for epoch in range(n_epoch):
        running_loss = []
        for inputs, labels in trainloader:
            optimizer.zero_grad()
            l = loss(net(inputs), labels)
            l.backward()
            optimizer.step()
            net = net.normalize()
            running_loss.append(l.item())
        net.losses.append(sum(running_loss) / len(running_loss))
    return net
'''

IRESNET_HANDOUT = '''
class iResNet(nn.Module):
    def __init__(self):
        super(iResNet, self).__init__()
        self.conv1 = InvertibleResidual()
        self.conv2 = InvertibleResidual()
        self.conv3 = InvertibleResidual()
        self.conv4 = InvertibleResidual()
        self.fc = nn.Linear(28*28, 10)

    def normalize(self, rho=0.9):
        self.conv1.normalize(rho)
        self.conv2.normalize(rho)
        self.conv3.normalize(rho)
        self.conv4.normalize(rho)
        return self

    def forward(self, x, classif=True):
        x = self.conv4(self.conv3(self.conv2(self.conv1(x))))
        if classif:
            x = self.fc(x.view(-1, 28*28))
        return x

    def inverse(self, x):
        return self.conv1.inverse(self.conv2.inverse(self.conv3.inverse(self.conv4.inverse(x))))
'''

IREVNET_HANDOUT = '''
class iRevNet(nn.Module):
    def __init__(self):
        super(iRevNet, self).__init__()
        self.split = SplitAlongChannels()
        self.conv1 = InvertibleLayer()
        self.conv2 = InvertibleLayer()
        self.conv3 = InvertibleLayer()
        self.conv4 = InvertibleLayer()
        self.fc = nn.Linear(28*28, 10)

    def forward(self, x, classif=True):
        x = self.split.inverse(self.conv4(self.conv3(self.conv2(self.conv1(self.split(x))))))
        if classif:
            x = self.fc(x.view(-1, 28*28))
        return x

    def inverse(self, x):
        X = self.split(x)
        X = self.conv1.inverse(self.conv2.inverse(self.conv3.inverse(self.conv4.inverse(X))))
        return self.split.inverse(X)
'''

BLOCK_ALWAYS_RHO = BLOCK_LARGE_GRID.replace('''            if sigma > rho:
                self.conv.weight.data /= sigma / rho''', '''            self.conv.weight.data /= sigma / rho  # wrong: also inflates a kernel already below rho''')
assert BLOCK_ALWAYS_RHO != BLOCK_LARGE_GRID


# Q17's table without the timings (graded by hand, no autograded points): the cases whose inverse is
# slow by design (a fixed 100 or 200 iterations, or diverging for lack of normalisation) would otherwise
# spend up to a minute timing it, which tests nothing the catalogue checks.
Q17_BRIEF = '''
for name, model in {"i-RevNet": irevnet, "i-ResNet": iresnet}.items():
    n_parameters = sum(p.numel() for p in model.parameters())
    print(f"{name}: {n_parameters} parameters, test accuracy {test(model):.1f} %")
'''

VARIANTS = [
    Variant(
        "correct_other_style",
        "other half updated, torch.chunk split, nn.Sequential network, DataLoader training loop, "
        "xlabel titles and 0-255 pixels, dict comprehension, amax; FFT on a 16x16 grid with svdvals, "
        "stop on the relative change, DataLoader train_norm, nn.Sequential iResNet, .item() trace, "
        "interpolation one t at a time with torch.lerp",
        {
            "q01_visualise_data_answer": PLOT_DIGITS_OTHER_STYLE,
            "q02_train_test_answer": TRAIN_DATALOADER,
            "q05_split_answer": SPLIT_CHUNK,
            "q06_invertible_layer_answer": LAYER_OTHER_HALF,
            "q07_irevnet_answer": IREVNET_SEQUENTIAL,
            "q08_train_and_compare_answer": COMPARE_COMPREHENSION,
            "q09_exact_inverse_answer": ERROR_AMAX,
            "q13_invertible_residual_answer": BLOCK_LARGE_GRID + TRAIN_NORM_DATALOADER,
            "q14_iresnet_answer": IRESNET_OTHER_STYLE,
            "q15_fixed_point_trace_answer": TRACE_OTHER_STYLE,
            "q16_interpolate_answer": INTERPOLATE_LERP_LOOP,
        },
    ),
    Variant(
        "correct_alternating",
        "no swap in the layer, the network alternates the halves; interleaved (even/odd) channel split; "
        "normalisation by a warm-started power iteration (200 steps, then 20 from the last vector), inverse by a "
        "fixed 200 iterations; iResNet.normalize by a power iteration of its own, not through the blocks; "
        "interpolation as z0 + t (z1 - z0) over a list of t; Q17's table without timings",
        {
            "q16_interpolate_answer": INTERPOLATE_STACKED,
            "q05_split_answer": SPLIT_INTERLEAVED,
            "q06_invertible_layer_answer": LAYER_NO_SWAP,
            "q07_irevnet_answer": IREVNET_ALTERNATING,
            "q13_invertible_residual_answer": BLOCK_POWER_ITERATION + TRAIN_NORM_REFERENCE_STYLE,
            "q14_iresnet_answer": IRESNET_POWER_ITERATION,
            "q17_measure": Q17_BRIEF,
        },
    ),
    Variant(
        "correct_handout_style",
        "written to the handout's skeletons and given code: train and test loop over trainloader and testloader "
        "and print as the handout does, torch.max, nn.CrossEntropyLoss, optim.SGD; iRevNet and iResNet "
        "composed as conv4(conv3(conv2(conv1(x)))) with normalize returning self and train_norm writing "
        "net = net.normalize(); the FFT bound on the smallest exact grid (10 = 7 + 3); a fixed 100-step inverse; "
        "Q17's table without timings",
        {
            "q02_train_test_answer": TRAIN_TEST_HANDOUT,
            "q07_irevnet_answer": IREVNET_HANDOUT,
            "q13_invertible_residual_answer": BLOCK_HANDOUT_MINIMAL_GRID,
            "q14_iresnet_answer": IRESNET_HANDOUT,
            "q17_measure": Q17_BRIEF,
        },
    ),
    Variant(
        "wrong_normalize_crushes",
        "normalize divides by the sum of |w| (a bound hundreds of times too loose): Lipschitz safe, expressivity lost; "
        "plot_digits titles each digit with its position instead of its label",
        {"q13_invertible_residual_answer": BLOCK_NORMALIZE_L1 + TRAIN_NORM_REFERENCE_STYLE,
         "q01_visualise_data_answer": PLOT_DIGITS_INDEX_TITLES},
        frozenset({"q01_visualise_data"}),
        partial=(("q13_invertible_residual", 2.5),),  # loses the bound's share (1) and leaving small kernels (0.5)
    ),
    Variant(
        "wrong_normalize_always_rho",
        "normalize rescales every kernel to exactly rho, also those already below it (the bound still holds)",
        {"q13_invertible_residual_answer": BLOCK_ALWAYS_RHO + TRAIN_NORM_REFERENCE_STYLE},
        partial=(("q13_invertible_residual", 3.5),),  # loses only the share of leaving small kernels alone
    ),
    Variant(
        "wrong_split_sign_norm",
        "split along the height; inverse with the wrong sign; error measured as a norm; "
        "size-7 FFT (wraps around); iResNet inverse in forward order; interpolation blends the pixels; "
        "test() returns a tensor (the Q8 and Q10 answers that pass it on keep their points)",
        {
            "q02_train_test_answer": TEST_TENSOR,
            "q05_split_answer": SPLIT_WRONG_DIMENSION,
            "q06_invertible_layer_answer": LAYER_WRONG_SIGN,
            "q09_exact_inverse_answer": ERROR_NORM,
            "q13_invertible_residual_answer": BLOCK_FFT_7 + TRAIN_NORM_REFERENCE_STYLE,
            "q14_iresnet_answer": IRESNET_INVERSE_FORWARD_ORDER,
            "q16_interpolate_answer": INTERPOLATE_PIXELS,
        },
        frozenset({"q02_train_test", "q05_split", "q06_invertible_layer", "q09_exact_inverse",
                   "q14_iresnet", "q16_interpolate"}),
        partial=(("q13_invertible_residual", 3.0),),  # the size-7 FFT loses only the bound's share (1)
    ),
    Variant(
        "wrong_cache_order_assumed",
        "inverse returns the stored input; network inverse in forward order; assumed accuracies; "
        "block inverse with the wrong sign; train_norm never normalises; trace started from 0; ResNet never trained; "
        "interpolation whose t never reaches 1; Q17's table without timings",
        {
            "q06_invertible_layer_answer": LAYER_CACHED_INVERSE,
            "q07_irevnet_answer": IREVNET_INVERSE_IN_FORWARD_ORDER,
            "q08_train_and_compare_answer": COMPARE_ASSUMED,
            "q13_invertible_residual_answer": BLOCK_INVERSE_WRONG_SIGN + TRAIN_NORM_NEVER,
            "q15_fixed_point_trace_answer": TRACE_WRONG_START,
            "q10_resnet_answer": RESNET_UNTRAINED,
            "q16_interpolate_answer": INTERPOLATE_NO_ENDPOINT,
            "q17_measure": Q17_BRIEF,
        },
        frozenset({"q06_invertible_layer", "q07_irevnet", "q08_train_and_compare", "q10_resnet",
                   "q13_train_norm", "q15_fixed_point_trace", "q16_interpolate"}),
        partial=(("q13_invertible_residual", 2.5),),  # the inverse's share (1.5) lost
    ),
    Variant(
        "wrong_noconv_identity_fraction",
        "layer skips its conv; network never applies its layers; no odd-channel check; test() as a fraction; "
        "ResNet never trained (caught though Q2 failed: it never went through train()); "
        "block inverse is one step; train_norm normalises only once; interpolation returns features, not inputs",
        {
            "q02_train_test_answer": TEST_FRACTION,
            "q05_split_answer": SPLIT_NO_ODD_CHECK,
            "q06_invertible_layer_answer": LAYER_WITHOUT_CONV,
            "q07_irevnet_answer": IREVNET_IDENTITY,
            "q10_resnet_answer": RESNET_UNTRAINED,
            "q13_invertible_residual_answer": BLOCK_INVERSE_ONCE + TRAIN_NORM_ONCE,
            "q16_interpolate_answer": INTERPOLATE_FEATURES,
        },
        frozenset({"q02_train_test", "q06_invertible_layer", "q07_irevnet", "q10_resnet",
                   "q13_train_norm", "q16_interpolate"}),
        # no odd-channel check: only that share (0.5) of Q5; a one-step inverse: the inverse's share (1.5) of Q13
        partial=(("q05_split", 1.5), ("q13_invertible_residual", 2.5)),
    ),
]


def apply(nb, variant: Variant):
    """The notebook ``nb`` (a reference submission) with the variant's answers in place."""
    from inn_course import notebooks

    remaining = dict(variant.answers)
    for cell in nb.cells:
        gid = notebooks.grade_id(cell)
        if gid in remaining:
            cell.source = remaining.pop(gid).strip("\n")
    assert not remaining, f"{variant.name}: no answer cells {sorted(remaining)}"
    return nb

