"""Balance a pole on a cart with a spiking policy trained by REINFORCE (1.1.0's ``cartpole``).

The policy sees the cart's four state variables, encoded (split into positive and negative
parts) by constant-current LIF encoders over ``--seq-length`` steps, and picks "push left" or
"push right" from the largest readout voltage of a recurrent spiking layer: LIF neurons
(``--policy snn``, :class:`Policy`), adaptive LSNN neurons (``--policy lsnn``,
:class:`LSNNPolicy`), or a non-spiking network (``--policy ann``, :class:`ANNPolicy`). After
every episode the policy gradient of the discounted, normalised returns updates it
(:func:`finish_episode`). The environment is ``gymnasium``'s ``--environment`` (default
``CartPole-v1``; ``pip install gymnasium``); ``--synthetic`` uses a built-in simulation of
the same equations instead (no gymnasium; what the tests run). 1.1.0's flags are kept
(``--device``, ``--episodes``, ``--learning-rate``, ``--gamma``, ``--log-interval``,
``--model``, ``--policy``, ``--render``, ``--environment``, ``--random-seed``); it also takes
``--logdir``, ``--checkpoint`` / ``--resume`` (per episode) and ``--max-steps``. It runs as one
process (episodes are sequential; there is no ``torchrun`` mode)::

    python -m norse.task.cartpole --policy ann --episodes 300
    python -m norse.task.cartpole --synthetic --episodes 50

Example:
    >>> reward = main(["--synthetic", "--episodes", "2", "--seq-length", "4",
    ...                "--max-steps", "20", "--quiet"])
    running reward: ...
    >>> reward > 0
    True
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from norse.task._training import (
    add_arguments,
    at_least_one,
    check_arguments,
    load_checkpoint,
    parse_bool,
    save_checkpoint,
    summary_writer,
)
from norse.torch import (
    ConstantCurrentLIFEncoder,
    LIFParameters,
    LIFRecurrentCell,
    LILinearCell,
    LSNNParameters,
    LSNNRecurrentCell,
)

__all__ = [
    "ANNPolicy",
    "CartPoleSimulation",
    "LSNNPolicy",
    "Policy",
    "finish_episode",
    "main",
    "parse_args",
    "select_action",
]


class _PolicyBase(nn.Module):
    """Keeps the episode's log-probabilities and rewards (as 1.1.0's policies did)."""

    def __init__(self) -> None:
        super().__init__()
        self.saved_log_probs: list[Tensor] = []
        self.rewards: list[float] = []


class ANNPolicy(_PolicyBase):
    """A non-spiking policy: 4 inputs, 128 ReLU units (dropout 0.6), softmax over 2 actions.

    Example:
        >>> ANNPolicy()(torch.zeros(1, 4)).sum().item()
        1.0
    """

    def __init__(self, state_space: int = 4, action_space: int = 2) -> None:
        super().__init__()
        self.state_space = state_space
        self.action_space = action_space
        self.l1 = nn.Linear(state_space, 128, bias=False)
        self.l2 = nn.Linear(128, action_space, bias=False)
        self.dropout = nn.Dropout(p=0.6)

    def forward(self, x: Tensor) -> Tensor:
        x = self.dropout(torch.relu(self.l1(x)))
        return torch.softmax(self.l2(x), dim=-1)


class _SpikingPolicy(_PolicyBase):
    def __init__(self, cell: nn.Module, state_dim: int, hidden: int, actions: int,
                 seq_length: int, scale: float) -> None:  # fmt: skip
        super().__init__()
        if seq_length < 1:
            raise ValueError(f"seq_length must be at least 1, got {seq_length}")
        self.state_dim = state_dim
        self.hidden_features = hidden
        self.output_features = actions
        self.seq_length = seq_length
        self.scale = scale
        self.constant_current_encoder = ConstantCurrentLIFEncoder(seq_length)
        self.cell = cell
        self.dropout = nn.Dropout(p=0.5)
        self.readout = LILinearCell(hidden, actions)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.state_dim:
            raise ValueError(f"expected states (B, {self.state_dim}), got {tuple(x.shape)}")
        pos = self.constant_current_encoder(torch.relu(self.scale * x))
        neg = self.constant_current_encoder(torch.relu(-self.scale * x))
        spikes = torch.cat([pos, neg], dim=2)
        state = readout_state = None
        voltages = []
        for step in spikes:
            z, state = self.cell(step, state)
            v, readout_state = self.readout(self.dropout(z), readout_state)
            voltages.append(v)
        return torch.softmax(torch.stack(voltages).amax(0), dim=1)


class Policy(_SpikingPolicy):
    """A spiking policy: encoded state -> 128 recurrent LIF neurons -> 2 leaky integrators;
    the softmax of the largest voltages gives the action probabilities.

    Example:
        >>> Policy(seq_length=4)(torch.zeros(1, 4)).shape
        torch.Size([1, 2])
    """

    def __init__(self, model: str = "super", seq_length: int = 40, hidden: int = 128) -> None:
        cell = LIFRecurrentCell(8, hidden, p=LIFParameters(method=model, alpha=100.0))
        super().__init__(cell, 4, hidden, 2, seq_length, scale=50.0)


class LSNNPolicy(_SpikingPolicy):
    """Like :class:`Policy` with adaptive LSNN neurons (surrogate ``model``).

    Example:
        >>> LSNNPolicy(seq_length=4)(torch.zeros(2, 4)).shape
        torch.Size([2, 2])
    """

    def __init__(self, model: str = "super", seq_length: int = 40, hidden: int = 128) -> None:
        cell = LSNNRecurrentCell(8, hidden, p=LSNNParameters(method=model, alpha=100.0))
        super().__init__(cell, 4, hidden, 2, seq_length, scale=50.0)
        self.model = model


def select_action(state: Any, policy: nn.Module, device: torch.device | str) -> int:
    """Sample an action for ``state`` (four numbers) from ``policy``; remember its
    log-probability in ``policy.saved_log_probs``.

    Example:
        >>> policy = ANNPolicy()
        >>> select_action(np.zeros(4), policy, "cpu") in (0, 1), len(policy.saved_log_probs)
        (True, 1)
    """
    x = torch.as_tensor(np.asarray(state, dtype=np.float32), device=device).reshape(1, -1)
    probs = policy(x)
    dist = torch.distributions.Categorical(probs)
    action = dist.sample()
    policy.saved_log_probs.append(dist.log_prob(action))
    return int(action.item())


def finish_episode(policy: nn.Module, optimizer: torch.optim.Optimizer, gamma: float) -> float:
    """One REINFORCE step on the episode in ``policy.rewards`` / ``saved_log_probs``
    (returns discounted by ``gamma`` and normalised); clears both; returns the loss.

    Example:
        >>> policy = ANNPolicy()
        >>> opt = torch.optim.Adam(policy.parameters())
        >>> for _ in range(3):
        ...     _ = select_action(np.zeros(4), policy, "cpu")
        ...     policy.rewards.append(1.0)
        >>> isinstance(finish_episode(policy, opt, 0.99), float), policy.rewards
        (True, [])
    """
    if not policy.saved_log_probs:
        raise ValueError("finish_episode: the episode is empty (call select_action first)")
    returns, running = [], 0.0
    for r in reversed(policy.rewards):
        running = r + gamma * running
        returns.insert(0, running)
    ret = torch.tensor(returns, device=policy.saved_log_probs[0].device)
    if len(ret) > 1:
        ret = (ret - ret.mean()) / (ret.std() + np.finfo(np.float32).eps.item())
    loss = -(torch.cat(policy.saved_log_probs) * ret).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    policy.saved_log_probs.clear()
    policy.rewards.clear()
    return float(loss.item())


class CartPoleSimulation:
    """The cart-pole equations of ``CartPole-v1`` (Barto, Sutton & Anderson 1983; Euler
    steps of 20 ms), with gymnasium's ``reset`` / ``step`` interface: reward 1 per step, the
    episode ends when the pole tilts more than 12 degrees or the cart leaves +-2.4, and is
    truncated after ``max_episode_steps``.

    Example:
        >>> env = CartPoleSimulation()
        >>> state, _ = env.reset(seed=0)
        >>> state.shape, env.step(1)[1]
        ((4,), 1.0)
    """

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4
    reward_threshold = 475.0

    def __init__(self, max_episode_steps: int = 500) -> None:
        self.max_episode_steps = max_episode_steps
        self.rng = np.random.default_rng()
        self.state = np.zeros(4)
        self.steps = 0

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.state = self.rng.uniform(-0.05, 0.05, size=4)
        self.steps = 0
        return self.state.astype(np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if action not in (0, 1):
            raise ValueError(f"action must be 0 or 1, got {action!r}")
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        cos, sin = math.cos(theta), math.sin(theta)
        total_mass = self.masspole + self.masscart
        pml = self.masspole * self.length
        temp = (force + pml * theta_dot**2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * cos**2 / total_mass)
        )
        x_acc = temp - pml * theta_acc * cos / total_mass
        x, x_dot = x + self.tau * x_dot, x_dot + self.tau * x_acc
        theta, theta_dot = theta + self.tau * theta_dot, theta_dot + self.tau * theta_acc
        self.state = np.array([x, x_dot, theta, theta_dot])
        self.steps += 1
        terminated = bool(abs(x) > self.x_threshold or abs(theta) > self.theta_threshold)
        truncated = self.steps >= self.max_episode_steps
        return self.state.astype(np.float32), 1.0, terminated, truncated, {}

    def close(self) -> None:
        pass


def make_environment(name: str, synthetic: bool, render: bool = False) -> Any:
    """``gymnasium.make(name)``, or the built-in :class:`CartPoleSimulation` when
    ``synthetic``; without gymnasium a clear ``ImportError``."""
    if synthetic:
        return CartPoleSimulation()
    try:
        import gymnasium
    except ImportError as e:
        raise ImportError(
            "the cartpole task needs gymnasium: pip install gymnasium, or run with "
            "--synthetic (a built-in cart-pole simulation)"
        ) from e
    try:
        return gymnasium.make(name, render_mode="human" if render else None)
    except gymnasium.error.Error as e:
        raise ValueError(f"--environment {name!r}: {e}") from e


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m norse.task.cartpole", description="CartPole with a spiking policy."
    )
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--gamma", type=float, default=0.99, help="discount factor")
    parser.add_argument("--log-interval", type=int, default=10, help="episodes between reports")
    parser.add_argument("--model", default="super", help="surrogate gradient method")
    parser.add_argument("--policy", default="snn", choices=["snn", "lsnn", "ann"])
    parser.add_argument("--render", type=parse_bool, nargs="?", const=True, default=False)
    parser.add_argument("--environment", default="CartPole-v1")
    parser.add_argument("--random-seed", "--seed", dest="seed", type=int, default=1234)
    parser.add_argument("--seq-length", type=int, default=40, help="encoder steps per action")
    parser.add_argument("--max-steps", type=int, default=None, help="steps per episode at most")
    parser.add_argument("--synthetic", action="store_true", help="built-in simulation, no gym")
    parser.add_argument("--quiet", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    at_least_one(parser, args, "episodes", "log_interval", "seq_length")
    if args.max_steps is not None and args.max_steps < 1:
        parser.error("--max-steps must be at least 1")
    if not 0.0 <= args.gamma <= 1.0:
        parser.error("--gamma must lie in [0, 1]")
    if args.learning_rate <= 0:
        parser.error("--learning-rate must be positive")
    return args


def make_policy(name: str, model: str = "super", seq_length: int = 40) -> nn.Module:
    """The policy ``--policy`` names."""
    if name == "ann":
        return ANNPolicy()
    if name == "snn":
        return Policy(model, seq_length)
    if name == "lsnn":
        return LSNNPolicy(model, seq_length)
    raise ValueError(f"policy must be snn, lsnn or ann, got {name!r}")


def main(argv: Sequence[str] | None = None) -> float:
    """Train the policy; returns the final running reward (an exponential average of the
    episode lengths)."""
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    env = make_environment(args.environment, args.synthetic, args.render)
    threshold = getattr(getattr(env, "spec", None), "reward_threshold", None) or getattr(
        env, "reward_threshold", 475.0
    )
    policy = make_policy(args.policy, args.model, args.seq_length).to(device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
    first, running_reward = 1, 10.0
    if args.resume and Path(args.checkpoint).exists():
        state = load_checkpoint(args.checkpoint, policy, optimizer, map_location=device)
        first = state["epoch"] + 1
        running_reward = float(state["extra"].get("running_reward", running_reward))
    writer = summary_writer(args.logdir)
    start = time.perf_counter()
    episodes = tqdm(
        range(first, args.episodes + 1), disable=args.quiet, leave=False, unit="episode"
    )
    for episode in episodes:
        state, _ = env.reset(seed=args.seed + episode)
        reward_sum = 0.0
        steps = 0
        while True:
            action = select_action(state, policy, device)
            state, reward, terminated, truncated, _ = env.step(action)
            policy.rewards.append(float(reward))
            reward_sum += float(reward)
            steps += 1
            if terminated or truncated or (args.max_steps is not None and steps >= args.max_steps):
                break
        running_reward = 0.05 * reward_sum + 0.95 * running_reward
        loss = finish_episode(policy, optimizer, args.gamma)
        if writer is not None:
            writer.add_scalar("reward/episode", reward_sum, episode)
            writer.add_scalar("reward/running", running_reward, episode)
            writer.add_scalar("loss", loss, episode)
        episodes.set_postfix(running_reward=f"{running_reward:.1f}")
        if not args.quiet and episode % args.log_interval == 0:
            episodes.write(f"episode {episode:>4}: last reward {reward_sum:.0f}, running reward "
                           f"{running_reward:.2f}")  # fmt: skip
        if args.checkpoint:
            save_checkpoint(args.checkpoint, policy, optimizer, episode,
                            running_reward=running_reward)  # fmt: skip
        if running_reward > threshold:
            if not args.quiet:
                print(f"solved after {episode} episodes (running reward {running_reward:.2f})")
            break
    env.close()
    if writer is not None:
        writer.close()
    print(f"running reward: {running_reward:.2f} ({time.perf_counter() - start:.1f} s)")
    return running_reward


if __name__ == "__main__":
    try:
        main()
    except ImportError as e:  # a missing file or package: say so, no traceback
        raise SystemExit(f"error: {e}") from None
