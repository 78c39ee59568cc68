"""Many chat requests on one model at once: continuous batching with a key-value cache.

One scheduler thread owns the model. Requests wait on a queue; between two decoding steps
the scheduler admits whoever is waiting, so a request never waits for another to finish,
and every active sequence moves one token per step in one forward pass.

The batch is left-padded (each row's last token sits in the last column), with an
attention mask and position ids that skip the padding. A finished sequence leaves by
dropping its row from the cache; a new one joins by one forward pass over every active
sequence's tokens so far, which rebuilds the cache with the new rows. Rebuilding costs one
prefill of the batch, far simpler than splicing caches of different lengths together.

Each sequence samples with its own `torch.Generator`, seeded from its request, so the
same seed and prompt give the same reply whatever else shares the batch.
"""

from __future__ import annotations

import atexit
import logging
import queue
import secrets
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache
from transformers.cache_utils import DynamicLayer

from trainer.ml.chat import INCOMPLETE, Message, conversation_encode, cut_character_dropped

logger = logging.getLogger(__name__)

STOP = "stop"
LENGTH = "length"
UNLOADED = "The model was unloaded: send the request again."


@dataclass(frozen=True)
class ChatRequest:
    """What one request asks for; `n` sequences sample the same prompt."""

    prompt_ids: list[int]
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Piece:
    """New text of sequence `index`; the last piece of a sequence has its finish reason
    and how many tokens the sequence generated."""

    index: int
    text: str
    finish_reason: str | None = None
    completion_tokens: int = 0


class Ticket:
    """A submitted request: its pieces arrive on a queue of its own, in order."""

    def __init__(self, request: ChatRequest):
        self.request = request
        self.pieces: queue.Queue[Piece | BaseException] = queue.Queue()
        self.cancelled = threading.Event()

    def stream(self, timeout_s: float = 600.0) -> Iterator[Piece]:
        """Every piece until each of the `n` sequences finished; raises what the
        scheduler failed with, or queue.Empty when nothing came for `timeout_s`."""
        unfinished = self.request.n
        while unfinished:
            piece = self.pieces.get(timeout=timeout_s)
            if isinstance(piece, BaseException):
                raise piece
            unfinished -= piece.finish_reason is not None
            yield piece

    def cancel(self) -> None:
        """Nobody reads any more (a streaming client went away): stop decoding for it."""
        self.cancelled.set()


@dataclass
class BatchStats:
    steps: int = 0
    # Steps whose batch held sequences of more than one request.
    shared_steps: int = 0
    largest_batch: int = 0  # requests in one step


@dataclass
class _Sequence:
    ticket: Ticket
    index: int
    ids: list[int]
    generator: torch.Generator | None
    generated: list[int] = field(default_factory=list)
    sent: int = 0  # characters of text already pushed
    finished: bool = False


class BatchedGenerator:
    """A saved causal LM answering concurrent requests in shared decoding steps."""

    def __init__(self, model_dir: str | Path, *, max_batch: int = 64, gather_s: float = 0.005):
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).to(device).eval()
        self.device = self.model.device
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.max_batch = max_batch
        # Requests arriving this close together start in the same first step.
        self.gather_s = gather_s
        self.stats = BatchStats()
        self._waiting: queue.Queue[Ticket] = queue.Queue()
        # Held while a ticket is queued and while the scheduler stops, so that no ticket
        # enters the queue after its last look at it.
        self._gate = threading.Lock()
        self._closed = False  # no new requests; those already queued are still answered
        self._stopped = False  # the scheduler has exited
        self._active = 0  # sequences decoding, as of the scheduler's last step
        self._thread = threading.Thread(target=self._run, name=f"batched {model_dir}", daemon=True)
        self._thread.start()
        _running.add(self)

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        return conversation_encode(self.tokenizer, messages, generation_prompt=True)[0]

    def submit(self, request: ChatRequest) -> Ticket:
        if len(request.prompt_ids) >= self.max_positions:
            raise ValueError(
                f"The prompt is {len(request.prompt_ids)} tokens; "
                f"this model reads at most {self.max_positions - 1}."
            )
        ticket = Ticket(request)
        with self._gate:
            if self._closed:
                raise RuntimeError(UNLOADED)
            self._waiting.put(ticket)
        return ticket

    def close(self) -> None:
        """Take no more requests; the scheduler stops once those already queued or
        decoding have their answer."""
        with self._gate:
            self._closed = True

    @property
    def alive(self) -> bool:
        """Whether requests submitted now will be answered."""
        return not self._closed and self._thread.is_alive()

    @property
    def busy(self) -> bool:
        """Whether some request is queued or decoding."""
        return self._active > 0 or not self._waiting.empty()

    # --- the scheduler ------------------------------------------------------------------

    def _run(self) -> None:
        active: list[_Sequence] = []
        failure = RuntimeError(UNLOADED)
        try:
            self._schedule(active)
        except BaseException as exc:
            # Whatever broke, nobody may wait on this scheduler any more: every request
            # it holds or that is queued hears it, and no new one is taken.
            logger.exception("The scheduler failed")
            failure = RuntimeError(f"The model failed: {exc}")
        finally:
            with self._gate:
                self._closed = self._stopped = True
                left = self._drain()
            _fail([s.ticket for s in active] + left, failure)

    def _schedule(self, active: list[_Sequence]) -> None:
        """Until closed with nothing queued or decoding: admit, step, drop the finished.
        `active` is the caller's, so that what it holds can be failed if this raises."""
        batch: _Batch | None = None
        while active or not self._closed or not self._waiting.empty():
            joined = self._admit(active)
            self._active = len(active)
            if not active:
                continue
            try:
                with torch.no_grad():
                    batch = self._step(active, batch, joined=joined)
            except Exception as exc:  # the model failed: every request in the batch hears it
                logger.exception("Decoding step failed")
                _fail([s.ticket for s in active], RuntimeError(f"The model failed: {exc}"))
                active.clear()
                batch = None
                continue
            kept = [i for i, s in enumerate(active) if not s.finished]
            if len(kept) < len(active):
                batch = batch.select(kept) if kept else None
            active[:] = [active[i] for i in kept]
        self._active = 0

    def _admit(self, active: list[_Sequence]) -> int:
        """Move waiting requests to the end of the batch; how many sequences joined.
        Blocks briefly when there is no work."""
        tickets = []
        if not active:
            try:
                tickets.append(self._waiting.get(timeout=0.2))
            except queue.Empty:
                return 0
            time.sleep(self.gather_s)
        room = self.max_batch - len(active) - sum(t.request.n for t in tickets)
        while room > 0:
            try:
                ticket = self._waiting.get_nowait()
            except queue.Empty:
                break
            tickets.append(ticket)
            room -= ticket.request.n
        before = len(active)
        for ticket in tickets:
            if ticket.cancelled.is_set():  # its asker gave up while it waited
                continue
            try:
                active.extend(self._sequences(ticket))
            except Exception as exc:  # taken off the queue: it must hear why it ends here
                logger.exception("Admitting a request failed")
                _fail([ticket], RuntimeError(f"The model failed: {exc}"))
        return len(active) - before

    def _drain(self) -> list[Ticket]:
        tickets = []
        while True:
            try:
                tickets.append(self._waiting.get_nowait())
            except queue.Empty:
                return tickets

    def _sequences(self, ticket: Ticket) -> list[_Sequence]:
        request = ticket.request
        seed = secrets.randbits(63) if request.seed is None else request.seed
        sequences = []
        for index in range(request.n):
            generator = None
            if request.temperature > 0:
                # Sequence i of a request: its own stream, the same whatever the batch.
                generator = torch.Generator(device=self.device)
                generator.manual_seed((seed * 1_000_003 + index) % 2**63)
            sequences.append(_Sequence(ticket, index, list(request.prompt_ids), generator))
        return sequences

    def _step(self, active: list[_Sequence], batch: _Batch | None, *, joined: int) -> _Batch:
        """One token for every active sequence, the last `joined` of which are new: the
        others feed their last token, the new ones their whole prompt, and the two
        caches become one."""
        staying = len(active) - joined
        if batch is None or (joined and not batch.joinable):
            batch = _Batch.prefill(self.model, [s.ids for s in active], self.tokenizer)
        else:
            batch.decode(self.model, [s.ids[-1] for s in active[:staying]])
            if joined:
                fresh = [s.ids for s in active[staying:]]
                batch.join(_Batch.prefill(self.model, fresh, self.tokenizer))
        tokens = self._sample(batch.logits, active)  # (B,)
        for sequence, token in zip(active, tokens, strict=True):
            self._advance(sequence, token)
        requests = len({id(s.ticket) for s in active})
        self.stats.steps += 1
        self.stats.shared_steps += requests > 1
        self.stats.largest_batch = max(self.stats.largest_batch, requests)
        return batch

    def _sample(self, logits: torch.Tensor, active: list[_Sequence]) -> list[int]:
        logits = logits.float()  # (B, V)
        temperature = torch.tensor(
            [max(s.ticket.request.temperature, 1e-5) for s in active], device=logits.device
        )
        # Above 0, so the most likely token always stays in.
        top_p = torch.tensor(
            [max(s.ticket.request.top_p, 1e-6) for s in active], device=logits.device
        )
        probs = torch.softmax(logits / temperature[:, None], dim=-1)
        ranked, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest set of most likely tokens whose mass reaches top_p.
        outside = ranked.cumsum(dim=-1) - ranked >= top_p[:, None]
        ranked = ranked.masked_fill(outside, 0.0)
        greedy = logits.argmax(dim=-1).tolist()
        tokens = []
        for row, sequence in enumerate(active):
            if sequence.generator is None:
                tokens.append(greedy[row])
                continue
            pick = torch.multinomial(ranked[row], 1, generator=sequence.generator)
            tokens.append(int(order[row, pick]))
        return tokens

    def _advance(self, sequence: _Sequence, token: int) -> None:
        request = sequence.ticket.request
        finish = None
        if token == self.tokenizer.eos_token_id:
            finish = STOP
        else:
            sequence.generated.append(token)
            sequence.ids.append(token)
        text = self.tokenizer.decode(sequence.generated, skip_special_tokens=True)
        cut = _stop_at(text, request.stop, start=sequence.sent)
        if cut is not None:
            text, finish = text[:cut], STOP
        elif finish is None and (
            len(sequence.generated) >= request.max_tokens or len(sequence.ids) >= self.max_positions
        ):
            finish = LENGTH
        if finish is None and sequence.ticket.cancelled.is_set():
            finish = STOP
        # A reply cut at its token limit may end inside a character: that half is dropped.
        ready = cut_character_dropped(text) if finish else _safe_prefix(text, request.stop)
        if finish is None and len(ready) <= sequence.sent:
            return
        piece = Piece(sequence.index, ready[sequence.sent :], finish)
        if finish:
            tokens = len(sequence.generated) + (token == self.tokenizer.eos_token_id)
            piece = Piece(sequence.index, piece.text, finish, tokens)
            sequence.finished = True
        sequence.sent = len(ready)
        sequence.ticket.pieces.put(piece)


def _fail(tickets: list[Ticket], error: BaseException) -> None:
    """`error` to each ticket once, however many of its sequences were held."""
    for ticket in {id(t): t for t in tickets}.values():
        ticket.pieces.put(error)


def _stop_at(text: str, stops: tuple[str, ...], *, start: int) -> int | None:
    """Where the first stop string begins, looking only where a new one could be."""
    found = [at for stop in stops if (at := text.find(stop, max(0, start - len(stop) + 1))) != -1]
    return min(found) if found else None


def _safe_prefix(text: str, stops: tuple[str, ...]) -> str:
    """The text that can be sent now: not a half-decoded character, nor the start of
    what may become a stop string."""
    text = text.rstrip(INCOMPLETE)
    hold = max((len(s) - 1 for s in stops), default=0)
    return text[: len(text) - hold] if hold else text


# Stopped before the interpreter exits: a daemon thread still inside a torch call when
# the process goes down aborts it ("terminate called without an active exception").
_running: weakref.WeakSet[BatchedGenerator] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for generator in list(_running):
        generator.close()
    for generator in list(_running):
        generator._thread.join(timeout=5)


class _Batch:
    """The key-value cache of the active rows, their attention mask and last logits."""

    def __init__(self, cache: DynamicCache, mask: torch.Tensor, logits: torch.Tensor):
        self.cache = cache
        self.mask = mask  # (B, T): 0 on the left padding
        self.logits = logits  # (B, V) at each row's last token

    @classmethod
    def prefill(cls, model, rows: list[list[int]], tokenizer) -> _Batch:
        width = max(len(r) for r in rows)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=model.device)
        mask = torch.tensor(
            [[0] * (width - len(r)) + [1] * len(r) for r in rows], device=model.device
        )  # (B, T)
        positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=DynamicCache(),
            use_cache=True,
            logits_to_keep=1,
        )
        return cls(out.cache, mask, out.logits[:, -1])

    def decode(self, model, last: list[int]) -> None:
        ids = torch.tensor(last, device=model.device)[:, None]  # (B, 1)
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(last), 1)], dim=-1)
        positions = self.mask.sum(dim=-1, keepdim=True) - 1  # (B, 1)
        out = model(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=positions,
            cache=self.cache,
            use_cache=True,
        )
        self.cache = out.cache
        self.logits = out.logits[:, -1]

    @property
    def joinable(self) -> bool:
        """Whether another batch's cache can be appended: only plain per-layer key and
        value tensors can (a sliding-window or quantized cache is rebuilt instead)."""
        return all(type(layer) is DynamicLayer for layer in self.cache.layers)

    def join(self, other: _Batch) -> None:
        """Append `other`'s rows, left-padding the shorter cache to the longer one."""
        width = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            # (B, heads, T, head size): T is dimension 2.
            mine.keys = torch.cat(
                [_left_pad(mine.keys, width, 2), _left_pad(theirs.keys, width, 2)]
            )
            mine.values = torch.cat(
                [_left_pad(mine.values, width, 2), _left_pad(theirs.values, width, 2)]
            )
        self.mask = torch.cat([_left_pad(self.mask, width, 1), _left_pad(other.mask, width, 1)])
        self.logits = torch.cat([self.logits, other.logits])

    def select(self, rows: list[int]) -> _Batch:
        index = torch.tensor(rows, device=self.mask.device)
        self.cache.batch_select_indices(index)
        return _Batch(self.cache, self.mask[index], self.logits[index])


def _left_pad(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """Zeros before the existing entries along `dim`, up to `width`: padding the mask
    leaves out, so what sits there in the cache is never read."""
    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)
